#!/usr/bin/env bash
# interop.sh - `hone manifest` and sha256sum/b3sum read each other's lists,
# odd file names included; check and diff exit statuses; the manifest
# never lists itself.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HONE_CACHE_DIR=$tmp/index
fail() { echo "FAIL: $*" >&2; exit 1; }

t=$tmp/tree
mkdir -p "$t/dir with space/sub" "$t/.hid"
printf 'plain' >"$t/plain.txt"
printf 'space' >"$t/dir with space/sub/a b.txt"
printf 'back' >"$t/back\\slash"
printf 'nl' >"$t/new"$'\n'"line"
printf 'dash' >"$t/-dash"
printf 'utf' >"$t/ünï€ode"
printf 'hid' >"$t/.hid/x"
: >"$t/empty"
ln -s plain.txt "$t/link"

# hone -> sha256sum -c and b3sum -c (in the tree, as the man page says).
"$hone" manifest build "$t" -q -o "$tmp/m.sha" || fail "build sha256"
(cd "$t" && sha256sum --quiet -c "$tmp/m.sha") || fail "sha256sum -c rejected hone's manifest"
[ "$(wc -l <"$tmp/m.sha")" -eq 8 ] || fail "expected 8 lines: $(cat "$tmp/m.sha")"
"$hone" manifest build "$t" -q -a blake3 -o "$tmp/m.b3" || fail "build blake3"
(cd "$t" && b3sum --quiet -c "$tmp/m.b3") || fail "b3sum -c rejected hone's manifest"

# Byte-identical to sha256sum's own output for the same sorted names
# (names without a newline, which find -print0 | sort -z handles anyway).
(cd "$t" && find . -type f -print0 | sed -z 's|^\./||' | LC_ALL=C sort -z | xargs -0 sha256sum --) >"$tmp/ref.sha"
cmp "$tmp/ref.sha" "$tmp/m.sha" || { diff "$tmp/ref.sha" "$tmp/m.sha" >&2; fail "differs from sha256sum"; }
(cd "$t" && find . -type f -print0 | sed -z 's|^\./||' | LC_ALL=C sort -z | xargs -0 b3sum --) >"$tmp/ref.b3"
cmp "$tmp/ref.b3" "$tmp/m.b3" || fail "differs from b3sum"

# sha256sum / b3sum lists -> hone manifest check.
"$hone" manifest check "$tmp/ref.sha" "$t" -q >"$tmp/out" || fail "check of sha256sum's list: $(cat "$tmp/out")"
"$hone" manifest check "$tmp/ref.b3" "$t" -a blake3 -q >/dev/null || fail "check of b3sum's list"
(cd "$t" && "$hone" manifest check "$tmp/ref.sha" -q >/dev/null) || fail "check in the current directory"

# A change is caught, with exit status 1 and one line per difference.
printf 'PLAIN' >"$t/plain.txt"
rm "$t/-dash"
printf 'x' >"$t/extra"
set +e
"$hone" manifest check "$tmp/m.sha" "$t" >"$tmp/out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "check exit $rc, expected 1"
grep -qx 'modified: plain.txt' "$tmp/out" || fail "no modified line: $(cat "$tmp/out")"
grep -qx 'missing: -dash' "$tmp/out" || fail "no missing line"
grep -qx 'extra: extra' "$tmp/out" || fail "no extra line"
grep -qx 'check: 6 same, 1 modified, 1 missing, 1 extra, 0 unreadable, 0 moved' "$tmp/out" || fail "summary: $(cat "$tmp/out")"
(cd "$t" && ! sha256sum --quiet -c "$tmp/m.sha" >/dev/null 2>&1) || fail "sha256sum -c missed the change"
"$hone" manifest check "$tmp/m.sha" "$t" --ignore-extra -q >/dev/null && fail "ignore-extra must still fail on modified"

# diff between two builds.
"$hone" manifest build "$t" -q -o "$tmp/m2.sha"
set +e
"$hone" manifest diff "$tmp/m.sha" "$tmp/m2.sha" >"$tmp/out"
rc=$?
set -e
[ $rc -eq 1 ] || fail "diff exit $rc"
grep -qx 'diff: 6 same, 1 modified, 1 missing, 1 extra, 0 unreadable, 0 moved' "$tmp/out" || fail "diff summary: $(cat "$tmp/out")"
"$hone" manifest diff "$tmp/m2.sha" "$tmp/m2.sha" >/dev/null || fail "diff of a manifest with itself"

# JSON round trip: check accepts the JSON form too.
"$hone" manifest build "$t" -q --json -o "$tmp/m.json"
jq -e '.algo == "sha256" and (.files | length) == 8 and (.files[0].size | type) == "number"' "$tmp/m.json" >/dev/null || fail "JSON shape"
"$hone" manifest check "$tmp/m.json" "$t" -q >/dev/null || fail "check of the JSON manifest"

# The output file inside the tree is not listed in itself.
"$hone" manifest build "$t" -q -o "$t/MANIFEST"
grep -q 'MANIFEST' "$t/MANIFEST" && fail "the manifest lists itself"
(cd "$t" && sha256sum --quiet -c MANIFEST) || fail "sha256sum -c of an in-tree manifest"

# Bad input: one line naming the problem, exit 2.
printf 'garbage line\n' >"$tmp/bad.sha"
set +e
"$hone" manifest check "$tmp/bad.sha" "$t" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "malformed manifest exit $rc"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'line 1' "$tmp/err" || fail "malformed manifest message: $(cat "$tmp/err")"
echo "interop: all passed"
