#!/usr/bin/env bash
# report.sh - what `hone manifest check` and `diff` report: --json (one
# object, checked with jq, odd names escaped), moves (and ambiguous ones
# left missing + extra), --ignore-extra in JSON, algorithms named by the
# list's name or recorded in JSON, and the progress line erased before the
# first result on a terminal (run under script(1), which gives a pty).
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HONE_CACHE_DIR=$tmp/index
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs hone, which must exit with status $1; stdout to $tmp/out.
expect() {
  local want=$1 rc=0
  shift
  "$hone" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc == "$want" ]] || fail "hone $* exited $rc, expected $want: $(cat "$tmp/out" "$tmp/err")"
}

t=$tmp/tree
mkdir -p "$t/a" "$t/b"
printf 'one' >"$t/a/one"
printf 'two' >"$t/a/two"
printf 'same' >"$t/dup1"
printf 'same' >"$t/dup2"
printf 'quote' >"$t/q\"uote"$'\n'"nl"
: >"$t/empty"
"$hone" manifest build "$t" -q -o "$tmp/m.sha256"

# Changes: a rename (a move), a modified file, a removed and an added one,
# two copies removed and two added with their content (ambiguous), the
# empty file renamed (never a move), and the odd name renamed.
mv "$t/a/one" "$t/b/one-moved"
printf 'TWO' >"$t/a/two"
mv "$t/dup1" "$t/dup3"
mv "$t/dup2" "$t/dup4"
mv "$t/empty" "$t/empty2"
mv "$t/q\"uote"$'\n'"nl" "$t/b/q\"uote"$'\n'"nl"
printf 'added' >"$t/added"

expect 1 manifest check "$tmp/m.sha256" "$t" --json
jq -e . "$tmp/out" >/dev/null || fail "check --json is not JSON: $(cat "$tmp/out")"
[[ $(wc -l <"$tmp/out") -eq 1 ]] || fail "check --json printed more than the object: $(cat "$tmp/out")"
jq -e '.command == "check" and .algorithm == "sha256" and .ok == false' "$tmp/out" >/dev/null || fail "header: $(cat "$tmp/out")"
jq -e '.counts == {"same":0,"modified":1,"missing":3,"extra":4,"unreadable":0,"moved":2}' "$tmp/out" >/dev/null ||
  fail "counts: $(jq -c .counts "$tmp/out")"
jq -e '.modified == ["a/two"]' "$tmp/out" >/dev/null || fail "modified: $(cat "$tmp/out")"
jq -e '.missing == ["dup1","dup2","empty"]' "$tmp/out" >/dev/null || fail "missing (ambiguous copies and empty stay): $(cat "$tmp/out")"
jq -e '.extra == ["added","dup3","dup4","empty2"]' "$tmp/out" >/dev/null || fail "extra: $(cat "$tmp/out")"
jq -e '.moved == [{"from":"a/one","to":"b/one-moved"},{"from":"q\"uote\nnl","to":"b/q\"uote\nnl"}]' "$tmp/out" >/dev/null ||
  fail "moved (the odd name escaped and back): $(jq -c .moved "$tmp/out")"

# The same as text: one line per change, the odd name escaped as sha256sum does.
expect 1 manifest check "$tmp/m.sha256" "$t"
grep -qx 'moved: a/one -> b/one-moved' "$tmp/out" || fail "no moved line: $(cat "$tmp/out")"
grep -qxF '\moved: q"uote\nnl -> b/q"uote\nnl' "$tmp/out" || fail "odd moved line: $(cat "$tmp/out")"
grep -qx 'check: 0 same, 1 modified, 3 missing, 4 extra, 0 unreadable, 2 moved' "$tmp/out" || fail "summary: $(cat "$tmp/out")"

# --ignore-extra: no extra paths in JSON either; still counted.
expect 1 manifest check "$tmp/m.sha256" "$t" --json --ignore-extra
jq -e '.extra == [] and .counts.extra == 4' "$tmp/out" >/dev/null || fail "ignore-extra JSON: $(cat "$tmp/out")"

# diff --json, with a move, and a clean diff says ok.
"$hone" manifest build "$t" -q -o "$tmp/m2.sha256"
expect 1 manifest diff "$tmp/m.sha256" "$tmp/m2.sha256" --json
jq -e '.command == "diff" and .counts.moved == 2 and .moved[0] == {"from":"a/one","to":"b/one-moved"}' "$tmp/out" >/dev/null ||
  fail "diff --json: $(cat "$tmp/out")"
expect 0 manifest diff "$tmp/m2.sha256" "$tmp/m2.sha256" --json
jq -e '.ok == true and .counts.same == 7 and .modified == [] and .moved == []' "$tmp/out" >/dev/null || fail "clean diff --json: $(cat "$tmp/out")"
# diff --include selects on both sides.
expect 1 manifest diff "$tmp/m.sha256" "$tmp/m2.sha256" --include 'dup*' --exclude 'dup[34]' -q
grep -qx 'diff: 0 same, 0 modified, 2 missing, 0 extra, 0 unreadable, 0 moved' "$tmp/out" || fail "diff globs: $(cat "$tmp/out")"

# A BLAKE3 manifest named .b3 is written as BLAKE3 and read back as such
# (b3sum -c agrees), and the JSON form records its algorithm.
"$hone" manifest build "$t" -q -o "$tmp/m.b3"
(cd "$t" && b3sum --quiet -c "$tmp/m.b3") || fail "b3sum -c rejected the .b3 manifest"
expect 0 manifest check "$tmp/m.b3" "$t" -q
"$hone" manifest build "$t" -q -a blake3 --json -o "$tmp/m.json"
expect 0 manifest check "$tmp/m.json" "$t" -q
expect 2 manifest build "$t" -q -a sha256 -o "$tmp/x.b3"
[[ $(wc -l <"$tmp/err") -eq 1 ]] && grep -q 'the name says blake3' "$tmp/err" || fail "build conflict: $(cat "$tmp/err")"

# Progress on a terminal: every progress text ("... ETA Ns") is followed by
# \r (the next update or the erase), never by a result line on its own line.
command -v script >/dev/null || fail "script(1) (util-linux) is needed to give hone a terminal"
script -qec "'$hone' manifest check '$tmp/m2.sha256' '$t' --no-index" /dev/null >"$tmp/tty" </dev/null || true
printf 'x' >>"$t/a/two"
script -qec "'$hone' manifest check '$tmp/m2.sha256' '$t' --no-index" /dev/null >"$tmp/tty" </dev/null || true
grep -aq 'ETA' "$tmp/tty" || fail "no progress shown on a terminal: $(od -c "$tmp/tty" | head)"
grep -aq 'modified: a/two' "$tmp/tty" || fail "no result line: $(od -c "$tmp/tty" | head)"
if perl -0ne 'exit(/ETA \d+s(?!\r)/ ? 0 : 1)' "$tmp/tty"; then
  fail "a result was printed after the progress text on its line: $(od -c "$tmp/tty" | head -20)"
fi
echo "report: all passed"
