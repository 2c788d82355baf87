#!/usr/bin/env bash
# long_paths.sh - a file whose path from the root passes the system's
# PATH_MAX is never dropped silently: manifest build names the path and
# the reason, counts it unreadable, and exits 1 (the manifest lists the
# rest); a check of that tree says the same.
set -uo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HONE_CACHE_DIR=$tmp/index
mkdir tree
printf ok >tree/short.txt
# Made one level at a time from inside, so no path given to the kernel is
# long; only the path from the root passes PATH_MAX (25 x 202 bytes).
(
  cd tree || exit 1
  for i in $(seq 1 25); do
    n=$(printf 'd%0200d' "$i")
    mkdir "$n" && cd "$n" || exit 1
  done
  printf deep >deep.txt
) || { echo "FAIL: could not make the deep tree"; exit 1; }
fail=0
rc=0
"$hone" manifest build tree -o m.sha256 2>err.txt || rc=$?
[[ $rc -eq 1 ]] || { echo "FAIL: build exited $rc, expected 1"; fail=1; }
grep -q "File name too long" err.txt || { echo "FAIL: the too-long path was not named:"; cut -c1-200 err.txt; fail=1; }
grep -q "unreadable: see above" err.txt || { echo "FAIL: the summary does not count it unreadable"; fail=1; }
grep -q "  short.txt$" m.sha256 || { echo "FAIL: the rest of the tree is not listed"; fail=1; }
[[ $fail -eq 0 ]] && echo "ok: paths past PATH_MAX are reported"
exit $fail
