#!/usr/bin/env bash
# self_exclusion.sh - `hone manifest build -o FILE` leaves out exactly FILE
# (glob characters in its name are not globs), and an index kept inside the
# tree (HONE_CACHE_DIR under DIR, or ~/.cache/hone when building ~) is never
# listed, so such manifests verify with sha256sum -c and hone manifest check.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HONE_CACHE_DIR=$tmp/index
fail() { echo "FAIL: $*" >&2; exit 1; }

t=$tmp/tree
mkdir -p "$t/d"
printf 'one' >"$t/d/out1.sha"
printf 'x' >"$t/d/outx.sha"
printf 'keep' >"$t/d/keep.txt"

# A '[1]' in the output name is part of the name, not a class matching out1.sha.
"$hone" manifest build "$t" -q -o "$t/d/out[1].sha" || fail "build -o 'out[1].sha'"
grep -q ' d/out1.sha$' "$t/d/out[1].sha" || fail "-o 'd/out[1].sha' dropped d/out1.sha: $(cat "$t/d/out[1].sha")"
grep -qF 'out[1].sha' "$t/d/out[1].sha" && fail "the manifest lists itself"
(cd "$t" && sha256sum --quiet -c "d/out[1].sha") || fail "sha256sum -c of d/out[1].sha"
# Built again, now that the file exists: still not listed.
"$hone" manifest build "$t" -q -o "$t/d/out[1].sha" || fail "second build"
grep -qF 'out[1].sha' "$t/d/out[1].sha" && fail "the manifest lists itself on the second build"
[ "$(wc -l <"$t/d/out[1].sha")" -eq 3 ] || fail "expected 3 lines: $(cat "$t/d/out[1].sha")"

# A '*' in the output name: every other out*.sha is still listed.
(cd "$t" && "$hone" manifest build . -q -o 'd/out*.sha') || fail "build -o 'd/out*.sha'"
for f in d/out1.sha d/outx.sha 'd/out[1].sha' d/keep.txt; do
    grep -qF "  $f" "$t/d/out*.sha" || fail "-o 'd/out*.sha' dropped $f: $(cat "$t/d/out*.sha")"
done
grep -qF 'out*.sha' "$t/d/out*.sha" && fail "the manifest lists itself"
(cd "$t" && sha256sum --quiet -c 'd/out*.sha') || fail "sha256sum -c of d/out*.sha"

# The same file reached through a symlinked directory is still itself.
ln -s d "$t/link"
"$hone" manifest build "$t" -q -o "$t/link/self.sha" || fail "build through a link"
"$hone" manifest build "$t" -q -o "$t/link/self.sha" || fail "second build through a link"
grep -q 'self.sha' "$t/d/self.sha" && fail "the manifest lists itself when named through a link"

# The index inside the tree: HONE_CACHE_DIR under DIR.
h=$tmp/home
mkdir -p "$h/docs"
printf 'doc' >"$h/docs/a.txt"
HONE_CACHE_DIR=$h/.cache/hone "$hone" manifest build "$h" -q -o "$tmp/home1.sha"
HONE_CACHE_DIR=$h/.cache/hone "$hone" manifest build "$h" -q -o "$tmp/home2.sha"
[ -e "$h/.cache/hone/manifest-index.mdb" ] || fail "the index was not made where HONE_CACHE_DIR says"
grep -q 'manifest-index' "$tmp/home2.sha" && fail "the manifest lists hone's own index: $(cat "$tmp/home2.sha")"
(cd "$h" && sha256sum --quiet -c "$tmp/home2.sha") || fail "sha256sum -c with the index inside the tree"
HONE_CACHE_DIR=$h/.cache/hone "$hone" manifest check "$tmp/home1.sha" "$h" -q >/dev/null ||
    fail "check with the index inside the tree"

# And the default: `hone manifest build ~` with ~/.cache/hone.
env -u HONE_CACHE_DIR -u XDG_CACHE_HOME HOME="$h" "$hone" manifest build "$h" -q -o "$tmp/home3.sha"
env -u HONE_CACHE_DIR -u XDG_CACHE_HOME HOME="$h" "$hone" manifest build "$h" -q -o "$tmp/home3.sha"
grep -q 'manifest-index' "$tmp/home3.sha" && fail "building ~ lists ~/.cache/hone's index"
(cd "$h" && sha256sum --quiet -c "$tmp/home3.sha") || fail "sha256sum -c of a manifest of ~"

# --timestamp-granularity: accepted as a duration, a bad value is one line and exit 2.
"$hone" manifest build "$t" -q --timestamp-granularity 2s >/dev/null || fail "--timestamp-granularity 2s"
set +e
"$hone" manifest build "$t" -q --timestamp-granularity soon 2>"$tmp/err" >/dev/null
rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --timestamp-granularity exit $rc"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "soon" "$tmp/err" || fail "bad --timestamp-granularity message: $(cat "$tmp/err")"
echo "self_exclusion: all passed"
