#!/usr/bin/env bash
# stdout_errors.sh - output that cannot be written (a full disk: /dev/full;
# a closed stdout) makes hone exit non-zero with one line saying so, for
# every command that prints, instead of exit 0 with the report lost.
set -uo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
printf '%s' '{"format": "hone-profile", "version": 1, "wall_ns": 1000, "zones": []}' >p.json
fail=0
check() { # check ARGS...: hone ARGS > /dev/full fails, saying why
  local rc=0
  "$hone" "$@" >/dev/full 2>err.txt || rc=$?
  if [[ $rc -eq 0 ]] || ! grep -q "cannot write the" err.txt; then
    echo "FAIL: 'hone $*' > /dev/full: exit $rc, stderr: $(cat err.txt)"
    fail=1
  fi
}
check --help
check --version
check sysinfo
check report p.json
check bench --help
check bench --runs 2 --warmup 0 --style basic /bin/true
check completion bash
check cache sim --trace "${TEST_SOURCE_DIR:?}/data/traces/web07.trace.xz" --size 100
# A closed stdout.
rc=0
"$hone" --version >&- 2>err.txt || rc=$?
if [[ $rc -eq 0 ]] || ! grep -q "cannot write the output" err.txt; then
  echo "FAIL: 'hone --version' with stdout closed: exit $rc, stderr: $(cat err.txt)"
  fail=1
fi
[[ $fail -eq 0 ]] && echo "ok: unwritable output fails"
exit $fail
