#!/usr/bin/env bash
# control_names.sh - defects a hostile tree or a slip of the user met:
# a file name holding control characters is shown escaped on a terminal
# (ESC must not drive the terminal of whoever checks the tree; a CR must
# not hide the start of its line), and printed as sha256sum prints it
# elsewhere; a directory given as the manifest and an -o that cannot be
# written are usage errors (exit 2), the latter before the tree is hashed.
set -uo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HONE_CACHE_DIR=$tmp/index
fail=0
mkdir tree
printf a >"tree/$(printf 'evil\033[2Jname')"
printf b >"tree/$(printf 'cr\rname')"
printf c >tree/plain
"$hone" manifest build tree -q -o m.sha256 || { echo "FAIL: build"; exit 1; }
rm tree/*name*
if command -v script >/dev/null; then
  script -qec "'$hone' manifest check m.sha256 tree" /dev/null >tty.txt 2>&1
  if grep -q $'\033\\[2J' tty.txt; then
    echo "FAIL: a raw ESC reached the terminal:"; cat -v tty.txt; fail=1
  fi
  grep -qF '\missing: evil\x1b[2Jname' tty.txt || { echo "FAIL: no escaped ESC name:"; cat -v tty.txt; fail=1; }
  grep -qF '\missing: cr\rname' tty.txt || { echo "FAIL: no escaped CR name:"; cat -v tty.txt; fail=1; }
else
  echo "skip: script(1) is not installed; the terminal case is not run"
fi
# Not a terminal: names as sha256sum prints them (raw control bytes).
"$hone" manifest check m.sha256 tree >pipe.txt 2>&1
grep -q $'^missing: evil\033\\[2Jname$' pipe.txt || { echo "FAIL: piped output changed:"; cat -v pipe.txt; fail=1; }

rc=0
"$hone" manifest check tree tree 2>err.txt >/dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q "tree is a directory: expected a manifest file" err.txt ||
  { echo "FAIL: a directory as the manifest: exit $rc, $(cat err.txt)"; fail=1; }
rc=0
"$hone" manifest build tree -o no/such/dir/m.sha256 2>err.txt >/dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "-o no/such/dir/m.sha256: no directory no/such/dir to write it in" err.txt ||
  { echo "FAIL: an -o in a missing directory: exit $rc, $(cat err.txt)"; fail=1; }
grep -q "files, .* bytes" err.txt && { echo "FAIL: the tree was hashed before -o was checked"; fail=1; }
rc=0
"$hone" manifest build tree -o tree 2>err.txt >/dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "-o tree is a directory" err.txt ||
  { echo "FAIL: -o naming a directory: exit $rc, $(cat err.txt)"; fail=1; }
[[ $fail -eq 0 ]] && echo "ok: control names, manifest and -o errors"
exit $fail
