#!/usr/bin/env bash
# kill_loop.sh - `hone manifest build` killed with SIGKILL at random moments
# (in the walk, the hashing, the index update, the atomic write of -o) never
# leaves anything that makes a later build wrong: after at most 30 kills in
# at most 40 s, one more build lists every file with the digest sha256sum
# computes, and `hone manifest check` passes. The random delays only choose
# where the kills land; whether the test passes never depends on timing.
set -u
hone=${TEST_HONE_CLI:?}
command -v sha256sum >/dev/null || { echo "SKIP: sha256sum not installed"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A tree of 300 small files in 10 directories (some empty, some a few KB),
# with a private index, so that no other test's index is touched.
tree=$tmp/tree
for d in $(seq 0 9); do
  mkdir -p "$tree/d$d/sub"
  for f in $(seq 0 29); do
    if ((f % 3 == 0)); then
      head -c $((f * 97 + d)) /dev/urandom >"$tree/d$d/sub/f$f.bin"
    else
      printf 'file %d of dir %d\n' "$f" "$d" >"$tree/d$d/f$f.txt"
    fi
  done
done
export HONE_CACHE_DIR=$tmp/cache
out=$tmp/out.sha

RANDOM=42 # the same kill delays every run, as far as the scheduler allows
kills=0 finished=0
start=$SECONDS
for i in $(seq 1 30); do
  ((SECONDS - start >= 40)) && break
  # A file changes between runs now and then, so the index holds entries
  # that must be rehashed, not only ones it can trust.
  if ((i % 5 == 0)); then printf 'changed in round %d\n' "$i" >"$tree/d$((i % 10))/f1.txt"; fi
  "$hone" manifest build "$tree" -o "$out" -q &
  pid=$!
  # 0 to 50 ms.
  sleep "0.0$(printf '%02d' $((RANDOM % 51)))" 2>/dev/null || sleep 0.05
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=$?
  [[ $rc == 137 ]] && kills=$((kills + 1))
  # 137 is the kill; 0 a build that finished first. Anything else is a
  # build that failed by itself after an earlier kill.
  [[ $rc == 137 || $rc == 0 ]] || fail "round $i: hone manifest build exited $rc"
  [[ $rc == 0 ]] && finished=$((finished + 1))
  # The atomic write of -o: the file is whole or absent, never a torn one.
  if [[ -e $out ]]; then
    bad=$(grep -cvE '^[0-9a-f]{64}  ' "$out")
    [[ $bad == 0 ]] || fail "round $i: $out holds $bad lines that are not digest lines"
  fi
done
echo "kill_loop: $kills kills, $finished builds finished first, $((SECONDS - start)) s"

# The final build, with the index the kills left behind.
"$hone" manifest build "$tree" -o "$out" -q || fail "the build after the kills failed"
(cd "$tree" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum --) >"$tmp/ref.sha" ||
  fail "sha256sum failed"
[[ $(wc -l <"$out") == 300 ]] || fail "expected 300 lines, got $(wc -l <"$out")"
if ! cmp -s "$out" "$tmp/ref.sha"; then
  diff "$tmp/ref.sha" "$out" | head -20
  fail "the manifest differs from sha256sum's digests (above: < sha256sum, > hone)"
fi
"$hone" manifest check "$out" "$tree" -q >"$tmp/check" 2>&1 || fail "manifest check failed: $(cat "$tmp/check")"
echo "kill_loop: ok"
