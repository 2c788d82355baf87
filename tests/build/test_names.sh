#!/usr/bin/env bash
# test_names.sh - a test program run with a case name runs that case, and
# a name that matches no case fails (listing the cases) instead of passing
# with "0 test(s) run".
set -euo pipefail
bin=${TEST_BINARY_DIR:?}/tests/test_core_env
fail=0
out=$("$bin" 'parse_*' 2>&1) || { echo "FAIL: 'parse_*' failed: $out"; fail=1; }
grep -q "PASSED.*[1-9][0-9]* test" <<<"$out" || { echo "FAIL: 'parse_*' ran no case: $out"; fail=1; }
rc=0
out=$("$bin" no_such_case 2>&1) || rc=$?
[[ $rc -ne 0 ]] || { echo "FAIL: a name matching no case exited 0: $out"; fail=1; }
grep -q "no test case matches 'no_such_case'; the cases are:" <<<"$out" ||
  { echo "FAIL: no message naming the pattern: $out"; fail=1; }
# Every test program takes the same main (tests/support/testmain.c).
for t in "${TEST_BINARY_DIR}"/tests/test_*; do
  rc=0
  out=$("$t" zz_no_such_case_zz 2>&1) || rc=$?
  if [[ $rc -eq 0 ]]; then echo "FAIL: $(basename "$t") passes with a name that matches nothing"; fail=1; fi
done
[[ $fail -eq 0 ]] && echo "ok: case names are checked"
exit $fail
