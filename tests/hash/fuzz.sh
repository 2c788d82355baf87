#!/usr/bin/env bash
# fuzz.sh - builds the digest-list line parser's fuzz target and runs it:
# with clang's libFuzzer (plus ASan and UBSan) for a few seconds from the
# seed corpus when clang is available, and always over the seed corpus as a
# fixed regression test. The number of fuzzing runs is FUZZ_RUNS (default 200000), from seed 1.
set -u
src=${TEST_SOURCE_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
corpus=$src/tests/fuzz/corpus/hash_line
target=$src/tests/fuzz/fuzz_hash_line.c
# A fixed seed and run count keep the test deterministic: the same inputs
# every time, however fast the machine is. FUZZ_RUNS raises it by hand.
runs=${FUZZ_RUNS:-200000}
deps=$(pkg-config --libs libcrypto libxxhash)

# Compiles the library sources the parser needs into objects, with the
# SIMD files' own target flags, using compiler $1 and flags $2.
build_objs() {
  local cc=$1 flags=$2 out=$3 f extra
  mkdir -p "$out"
  for f in "$src"/src/core/*.c "$src"/src/hash/*.c "$src"/src/exec/*.c "$src"/src/mem/*.c; do
    extra=""
    case $(basename "$f") in
      blake3_sse41.c) extra="-msse4.1" ;;
      blake3_avx2.c) extra="-mavx2" ;;
      blake3_avx512.c) extra="-mavx512f -mavx512vl -mavx2" ;;
    esac
    # shellcheck disable=SC2086
    $cc -std=c11 -D_GNU_SOURCE -O1 -g $flags $extra -I"$src/include" -I"$src/src" \
      -c "$f" -o "$out/$(basename "$f" .c).o" || return 1
  done
}

# Fixed corpus with the standalone driver (gcc or cc): always.
cc=${CMAKE_C_COMPILER:-cc}
build_objs "$cc" "" "$work/std" || { echo "FAIL: building the library objects"; exit 1; }
# shellcheck disable=SC2086
$cc -std=c11 -D_GNU_SOURCE -DHONE_FUZZ_STANDALONE -O1 -g -I"$src/include" "$target" "$work"/std/*.o \
  $deps -lpthread -lm -o "$work/standalone" || { echo "FAIL: building the standalone driver"; exit 1; }
"$work/standalone" "$corpus"/* || { echo "FAIL: the seed corpus crashed the parser"; exit 1; }

if ! command -v clang >/dev/null 2>&1; then
  echo "SKIP: clang not installed; ran the seed corpus only"
  exit 0
fi
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
if ! build_objs clang "$san" "$work/fz"; then
  echo "SKIP: clang cannot build with -fsanitize=fuzzer; ran the seed corpus only"
  exit 0
fi
# shellcheck disable=SC2086
clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src/include" "$target" "$work"/fz/*.o $deps -lpthread -lm -o "$work/fuzzer" ||
  { echo "FAIL: linking the libFuzzer target"; exit 1; }
mkdir -p "$work/corpus"
cp "$corpus"/* "$work/corpus/"
"$work/fuzzer" -seed=1 -runs="$runs" -max_total_time=120 -max_len=512 -timeout=10 -artifact_prefix="$work/" \
  "$work/corpus" >"$work/log" 2>&1
rc=$?
tail -3 "$work/log"
if [[ $rc != 0 ]]; then
  echo "FAIL: the fuzzer found a crash:"
  grep -A30 -E 'ERROR|SUMMARY|deadly' "$work/log" | head -60
  exit 1
fi
echo "fuzz: ok"
