#!/usr/bin/env bash
# interop.sh - `hone hash` against the reference tools, both ways: its
# output is byte-identical to sha256sum, b3sum and xxhsum for awkward file
# names and stdin, the tools' -c accept hone's lists, hone's -c accepts
# theirs, and check mode prints and exits like sha256sum -c.
set -u
hone=${TEST_HONE_CLI:?}
fails=0
skip() { echo "SKIP: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# Awkward names: backslash, newline, carriage return, spaces, a leading
# space, a star, a leading dash, UTF-8; plus an empty file and one big
# enough for the mapped and multi-threaded paths.
printf 'x' >'a\b'
printf 'y' >$'n\nl'
printf 'z' >'sp ace'
printf 'w' >$'cr\rx'
printf 'v' >' lead'
printf 'u' >'st*ar'
printf 't' >'-dash'
printf 's' >'été'
printf 'r' >$'m\\i\nx'
: >empty
head -c 3000000 /dev/urandom >big
names=('a\b' $'n\nl' 'sp ace' $'cr\rx' ' lead' 'st*ar' ./-dash 'été' $'m\\i\nx' empty big)
# names without a newline, for tools that cannot read those back
plain=('a\b' 'sp ace' $'cr\rx' ' lead' 'st*ar' ./-dash 'été' empty big)

same_output() { # label, reference command..., --, hone args...
  local label=$1; shift
  local ref=() h=()
  while [[ $1 != -- ]]; do ref+=("$1"); shift; done
  shift
  h=("$@")
  "${ref[@]}" "${names[@]}" >ref.out 2>/dev/null
  "$hone" hash "${h[@]}" "${names[@]}" >hone.out 2>hone.err
  cmp -s ref.out hone.out || { fail "$label: output differs"; diff ref.out hone.out | head -5; }
  printf 'stdin data\n' | "${ref[@]}" >ref.out 2>/dev/null
  printf 'stdin data\n' | "$hone" hash "${h[@]}" >hone.out
  cmp -s ref.out hone.out || fail "$label: stdin output differs"
  printf 'stdin data\n' | "${ref[@]}" - >ref.out 2>/dev/null
  printf 'stdin data\n' | "$hone" hash "${h[@]}" - >hone.out
  cmp -s ref.out hone.out || fail "$label: '-' output differs"
}

if have sha256sum; then
  same_output sha256sum sha256sum -- -a sha256
  same_output "sha256sum --tag" sha256sum --tag -- --tag
  # both ways
  sha256sum "${names[@]}" >list.sha
  "$hone" hash -c list.sha >out 2>err || fail "hone -c of a sha256sum list failed: $(cat err)"
  [[ $(grep -c ': OK$' out) == "${#names[@]}" ]] || fail "hone -c: not every line OK: $(cat out)"
  "$hone" hash "${names[@]}" >list.hone
  sha256sum -c list.hone >out 2>err || fail "sha256sum -c of hone's list failed: $(cat err)"
  "$hone" hash --tag "${names[@]}" >list.tag
  sha256sum -c list.tag >/dev/null 2>err || fail "sha256sum -c of hone's --tag list failed: $(cat err)"
  sha256sum --tag "${names[@]}" >list.tag2
  "$hone" hash -c list.tag2 >/dev/null 2>err || fail "hone -c of sha256sum --tag list failed: $(cat err)"
  # check mode: same stdout, exit status and summary as sha256sum -c
  printf 'changed' >changed
  {
    sha256sum 'sp ace' $'n\nl'
    echo "this line is garbage"
    sha256sum changed
    echo "1111111111111111111111111111111111111111111111111111111111111111  missing file"
  } >mix.sha
  printf 'changed!' >changed
  for flags in "" "--quiet" "--status" "--ignore-missing" "--strict" "--quiet --ignore-missing"; do
    # shellcheck disable=SC2086
    sha256sum -c $flags mix.sha >ref.out 2>ref.err; r=$?
    # shellcheck disable=SC2086
    "$hone" hash -c $flags mix.sha >hone.out 2>hone.err; h=$?
    [[ $r == "$h" ]] || fail "-c $flags: exit $h, sha256sum $r"
    cmp -s ref.out hone.out || { fail "-c $flags: stdout differs"; diff ref.out hone.out; }
    diff <(grep -E 'WARNING|no file' ref.err | sed 's/^sha256sum: //') \
         <(grep -E 'WARNING|no file' hone.err | sed 's/^hone hash: //') >/dev/null ||
      { fail "-c $flags: summary differs"; cat ref.err hone.err; }
  done
  # malformed lines are named with their line number
  "$hone" hash -c mix.sha >/dev/null 2>hone.err
  grep -q '^hone hash: mix.sha:3: malformed sha256 line: expected a hex digest at column 1$' hone.err ||
    fail "malformed line not reported with its number: $(cat hone.err)"
  # only malformed lines: like sha256sum, exit 1 with "no properly formatted"
  printf 'nothing\n' >bad.sha
  "$hone" hash -c bad.sha >/dev/null 2>hone.err && fail "a list without a good line passed"
  grep -q 'no properly formatted checksum lines found' hone.err || fail "no-lines message missing"
  # --ignore-missing with nothing verified fails, as in coreutils 9.1
  echo "1111111111111111111111111111111111111111111111111111111111111111  missing" >miss.sha
  sha256sum -c --ignore-missing miss.sha >/dev/null 2>&1; r=$?
  "$hone" hash -c --ignore-missing miss.sha >/dev/null 2>&1; h=$?
  [[ $r == "$h" ]] || fail "--ignore-missing with nothing verified: exit $h, sha256sum $r"
  # list from stdin, CRLF lines
  sha256sum 'sp ace' | sed 's/$/\r/' | "$hone" hash -c >out 2>&1 || fail "CRLF list from stdin: $(cat out)"
else
  skip "sha256sum not installed"
fi

if have b3sum; then
  same_output b3sum b3sum -- -a blake3
  same_output "b3sum -j1" b3sum --num-threads 1 -- -a blake3 -j 1
  b3sum "${names[@]}" >list.b3
  "$hone" hash -a blake3 -c list.b3 >out 2>err || fail "hone -c of a b3sum list failed: $(cat err)"
  [[ $(grep -c ': OK$' out) == "${#names[@]}" ]] || fail "hone -a blake3 -c: not every line OK"
  # b3sum prints OK lines with its own escaping; hone follows it
  b3sum -c list.b3 >ref.out 2>/dev/null
  cmp -s ref.out out || { fail "blake3 -c OK lines differ from b3sum -c"; diff ref.out out; }
  "$hone" hash -a blake3 "${names[@]}" >list.hone3
  b3sum -c list.hone3 >/dev/null 2>err || fail "b3sum -c of hone's list failed: $(cat err)"
  # a mismatch: same FAILED line and exit status as b3sum
  b3sum 'sp ace' >one.b3
  printf 'Z' >'sp ace'
  b3sum -c one.b3 >ref.out 2>/dev/null; r=$?
  "$hone" hash -a blake3 -c one.b3 >hone.out 2>/dev/null; h=$?
  [[ $r == "$h" ]] || fail "blake3 mismatch: exit $h, b3sum $r"
  cmp -s ref.out hone.out || fail "blake3 mismatch line differs: $(cat hone.out)"
  printf 'z' >'sp ace'
  # a name ending in a carriage return: b3sum keeps it in the name
  printf 'q' >$'endcr\r'
  b3sum $'endcr\r' >cr.b3
  "$hone" hash -a blake3 -c cr.b3 >out 2>err || fail "hone -a blake3 -c of a name ending in CR: $(cat err)"
  # the digest does not depend on the thread count
  for j in 1 2 3 8; do
    [[ $("$hone" hash -a blake3 -j $j big) == $(b3sum big) ]] || fail "-j $j digest differs"
  done
else
  skip "b3sum not installed"
fi

if have xxhsum; then
  for pair in "-H3|-a xxh3" "-H2|-a xxh128" "-H2 --tag|-a xxh128 --tag"; do
    # shellcheck disable=SC2086
    same_output "xxhsum ${pair%%|*}" xxhsum ${pair%%|*} -- ${pair#*|}
  done
  "$hone" hash -a xxh3 "${plain[@]}" >list.xxh
  xxhsum -c list.xxh >/dev/null 2>err || fail "xxhsum -c of hone's xxh3 list failed: $(cat err)"
  xxhsum -H3 "${plain[@]}" 2>/dev/null >list.xxh2
  "$hone" hash -c list.xxh2 >/dev/null 2>err || fail "hone -c of an xxhsum -H3 list failed: $(cat err)"
  xxhsum -H2 "${plain[@]}" 2>/dev/null >list.xxh128
  "$hone" hash -a xxh128 -c list.xxh128 >/dev/null 2>err || fail "hone -c of an xxhsum -H2 list failed"
else
  skip "xxhsum not installed"
fi

# errors: a missing file is named, the others still printed, exit 1
"$hone" hash 'sp ace' nope >out 2>err; rc=$?
[[ $rc == 1 ]] || fail "missing file: exit $rc, want 1"
grep -q "^hone hash: nope: No such file or directory$" err || fail "missing file message: $(cat err)"
[[ $(wc -l <out) == 1 ]] || fail "the readable file was not printed"
"$hone" hash . >/dev/null 2>err && fail "a directory hashed"
grep -q "Is a directory" err || fail "directory message: $(cat err)"
"$hone" hash -a md5 x >/dev/null 2>err; [[ $? == 2 ]] || fail "bad -a not a usage error"
grep -q "expected one of sha256, blake3, xxh3, xxh128" err || fail "bad -a message: $(cat err)"

[[ $fails == 0 ]] && echo "interop: all good"
exit $((fails > 0))
