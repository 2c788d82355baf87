#!/usr/bin/env bash
# symbols.sh - libhone.so exports only hone_* names: everything else is
# hidden by -fvisibility=hidden, and internal helpers are hone__*.
set -euo pipefail
lib=${TEST_SHARED_LIB:?}
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sed 's/@.*//' | sort -u)
count=$(printf '%s\n' "$syms" | grep -c . || true)
bad=$(printf '%s\n' "$syms" | grep -v '^hone_' | grep -v '^_init$' | grep -v '^_fini$' || true)
internal=$(printf '%s\n' "$syms" | grep '^hone__' || true)
if [[ -n $bad || -n $internal ]]; then
  echo "FAIL: libhone.so exports names outside the public hone_ API:"
  printf '  %s\n' $bad $internal
  exit 1
fi
((count >= 20)) || { echo "FAIL: only $count symbols exported; expected the public API"; exit 1; }
for must in hone_strerror hone_now_ns hone_cpu_features hone_log hone_env_validate hone_sysinfo_new; do
  grep -qx "$must" <<<"$syms" || { echo "FAIL: $must is not exported"; exit 1; }
done
echo "ok: $count symbols, all hone_*"
