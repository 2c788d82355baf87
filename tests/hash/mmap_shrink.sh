#!/usr/bin/env bash
# mmap_shrink.sh - `hone hash --io mmap` of a file that another process
# truncates while it is hashed must not die of SIGBUS: it either reports
# the file (exit 1, one line naming it) or prints the digest of the file as
# it was or as it became. The truncating process waits until hone has the
# file mapped (/proc/PID/maps), so it usually lands during the hash; when it
# lands before or after, the outcome is still one of the accepted ones, so
# pass/fail never depends on timing - only a crash or a wrong digest fails.
set -u
hone=${TEST_HONE_CLI:?}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# 96 MiB: a few tens of milliseconds to hash, long enough for the shrinker
# to find the mapping.
head -c $((96 << 20)) /dev/zero | tr '\0' 'q' >orig
head -c 4096 orig >small
for algo in sha256 blake3; do
  for j in 1 2; do
    for round in 1 2 3; do
      cp orig f
      want_full=$("$hone" hash -a "$algo" orig | cut -d' ' -f1)
      want_small=$("$hone" hash -a "$algo" small | cut -d' ' -f1)
      "$hone" hash -a "$algo" -j "$j" --io mmap f >out 2>err &
      pid=$!
      # wait (bounded) for the mapping, then shrink to one page
      for _ in $(seq 1 20000); do
        grep -q "$tmp/f\$" "/proc/$pid/maps" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
      done
      truncate -s 4096 f
      wait "$pid"
      rc=$?
      got=$(cut -d' ' -f1 <out)
      if ((rc >= 128)); then
        fail "$algo -j$j round $round: killed by signal $((rc - 128))"
      elif ((rc == 0)); then
        [[ $got == "$want_full" || $got == "$want_small" ]] ||
          fail "$algo -j$j round $round: exit 0 with a digest of neither version: $got"
      elif ((rc == 1)); then
        grep -q '^hone hash: f: ' err || fail "$algo -j$j round $round: exit 1 without naming f: $(cat err)"
      else
        fail "$algo -j$j round $round: exit $rc"
      fi
    done
  done
done
[[ $fails == 0 ]] && echo "mmap_shrink: no crash"
exit $((fails > 0))
