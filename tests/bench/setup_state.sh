#!/usr/bin/env bash
# setup_state.sh - --setup keeps hyperfine's meaning with several commands:
# it runs before its own command's series, and every run of that command
# sees the state it prepared, whatever the run order. The common use is
# `-L branch a,b --setup 'git checkout {branch} && make'`. Different setups
# turn interleaving off (with a line saying why); asking for it anyway is a
# usage error; the same setup for every command keeps runs interleaved.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0

"$hone" bench --runs 5 --warmup 1 --style basic -L v 1,2 \
  --setup 'sh -c "echo {v} > state"' 'sh -c "cat state >> log_{v}"' >out.txt
for v in 1 2; do
  seen=$(sort -u "log_$v" | tr '\n' ' ')
  if [[ $seen != "$v " ]]; then
    echo "FAIL: runs of v=$v saw state '$seen', expected only '$v'"
    fail=1
  fi
  n=$(wc -l <"log_$v")
  [[ $n -eq 6 ]] || { echo "FAIL: log_$v has $n lines, expected 6 (1 warm-up + 5 runs)"; fail=1; }
done
grep -q "^Runs are not interleaved: each command has its own --setup" out.txt ||
  { echo "FAIL: no line saying why runs are not interleaved:"; cat out.txt; fail=1; }

rc=0
"$hone" bench --runs 2 --warmup 0 --style none --interleave -L v 1,2 \
  --setup 'sh -c "echo {v} > state"' 'sh -c "cat state"' 2>err.txt >/dev/null || rc=$?
[[ $rc -eq 2 ]] || { echo "FAIL: --interleave with different setups exited $rc, expected 2"; fail=1; }
grep -q -- "--interleave: the commands have different --setup commands" err.txt ||
  { echo "FAIL: unexpected message:"; cat err.txt; fail=1; }

# One setup for all: still interleaved, and no such line.
"$hone" bench --runs 3 --warmup 0 --style basic --setup 'sh -c "echo x > state"' \
  /bin/true /bin/false --ignore-failure >same.txt 2>/dev/null
if grep -q "not interleaved" same.txt; then
  echo "FAIL: one setup for all commands turned interleaving off"; fail=1
fi
[[ $fail -eq 0 ]] && echo "ok: setup state per command"
exit $fail
