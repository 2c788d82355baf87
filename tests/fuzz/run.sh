#!/usr/bin/env bash
# run.sh - builds every fuzz target tests/fuzz/fuzz_*.c and runs it, two ways:
#  1. always: with the default compiler as a standalone program
#     (-DHONE_FUZZ_STANDALONE) over its seed corpus tests/fuzz/corpus/<name>/,
#     a fixed regression test;
#  2. when clang can: as a libFuzzer program with ASan and UBSan, from the
#     seed corpus (and tests/fuzz/<name>.dict when present), with seed 1, for
#     at most FUZZ_SECONDS (default 30) and the run count the target's
#     "FUZZ-OPTIONS:" line gives (FUZZ_RUNS overrides it), so a fast machine
#     stops at the same input every time and a slow one stops on time.
# The library is compiled once per run for each of the two, not once per
# target. FUZZ_TARGETS="manifest trace" runs only those targets; FUZZ_WORK=DIR
# builds and runs in DIR and keeps it (binaries, logs, crash inputs).
#
# CTest runs this as "fuzz.run" in the release build only: a sanitizer build
# adds nothing here (the libFuzzer build brings its own sanitizers) and
# would only spend CI time, so it skips there.
set -u
src=${TEST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [[ -n ${TEST_BINARY_DIR:-} && -f $TEST_BINARY_DIR/CMakeCache.txt ]] &&
  grep -Eq '^HONE_SANITIZE(:[A-Z]+)?=.+' "$TEST_BINARY_DIR/CMakeCache.txt"; then
  echo "SKIP: sanitizer build; fuzz.run runs in the release build"
  exit 0
fi
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
if [[ -n ${FUZZ_WORK:-} ]]; then
  work=$FUZZ_WORK
  mkdir -p "$work" || exit 1
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

targets=()
for f in "$src"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$f" .c)
  name=${name#fuzz_}
  if [[ -n ${FUZZ_TARGETS:-} && " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  targets+=("$name")
done
if ((${#targets[@]} == 0)); then
  echo "FAIL: no fuzz target matches FUZZ_TARGETS='${FUZZ_TARGETS:-}'"
  exit 1
fi
for t in "${targets[@]}"; do
  if ! compgen -G "$src/tests/fuzz/corpus/$t/*" >/dev/null; then
    echo "FAIL: target $t has no seed corpus in tests/fuzz/corpus/$t/"
    exit 1
  fi
done

# Every pkg-config dependency the modules declare (src/*/module.cmake), as
# the CMake build links them.
mapfile -t pkgs < <(sed -n 's/^hone_module_deps(\(.*\))/\1/p' "$src"/src/*/module.cmake | tr ' ' '\n' |
  sed '/^$/d' | sort -u)
dep_cflags=$(pkg-config --cflags "${pkgs[@]}") || { echo "FAIL: pkg-config ${pkgs[*]}"; exit 1; }
dep_libs="$(pkg-config --libs "${pkgs[@]}") -lpthread -lm"

# Compiles one library source into $out (for xargs -P): the SIMD files of
# BLAKE3 get their target flags, as src/hash/module.cmake gives them.
compile_one() {
  local f=$1 extra="" o
  case $(basename "$f") in
    blake3_sse41.c) extra="-msse4.1" ;;
    blake3_avx2.c) extra="-mavx2" ;;
    blake3_avx512.c) extra="-mavx512f -mavx512vl -mavx2" ;;
  esac
  o=$out/$(basename "$(dirname "$f")")_$(basename "$f" .c).o
  # cc, flags and out come from build_lib through the environment.
  # shellcheck disable=SC2086,SC2154
  $cc -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $flags $extra $dep_cflags \
    -I"$src/include" -I"$src/src" -c "$f" -o "$o"
}
export -f compile_one
export src dep_cflags

# Builds libhone.a from src/*/*.c with compiler $1 and flags $2 into $3.
build_lib() {
  mkdir -p "$3"
  # shellcheck disable=SC2016
  printf '%s\n' "$src"/src/*/*.c |
    cc=$1 flags=$2 out=$3 xargs -P "$jobs" -I{} bash -c 'compile_one "$1"' _ {} >"$3/log" 2>&1 &&
    ar rcs "$3/libhone.a" "$3"/*.o
}

# The target's FUZZ-OPTIONS line ("-max_len=4096 -runs=400000").
# Only flags are taken (words starting with '-'), so a comment's closing
# "*/" or a stray word can never become a corpus directory.
fuzz_opts() {
  sed -n 's/^.*FUZZ-OPTIONS:\(.*\)$/\1/p' "$src/tests/fuzz/fuzz_$1.c" | head -1 | tr ' ' '\n' | grep -E '^-[a-z_]+=[0-9]+$' | tr '\n' ' '
}

# 1. The seed corpora, with the default compiler: always. The library CTest
# just built (TEST_STATIC_LIB) is what the corpus checks when there is one.
cc=${CMAKE_C_COMPILER:-cc}
start=$(date +%s)
if [[ -n ${TEST_STATIC_LIB:-} && -f $TEST_STATIC_LIB ]]; then
  stdlib=$TEST_STATIC_LIB
else
  build_lib "$cc" "" "$work/std" || { cat "$work/std/log"; echo "FAIL: building the library with $cc"; exit 1; }
  stdlib=$work/std/libhone.a
fi
# A target whose corpus fails is reported and not fuzzed; the others go on,
# so that one bug does not hide another.
status=0
declare -A broken=()
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  $cc -std=c11 -D_GNU_SOURCE -DHONE_FUZZ_STANDALONE -O1 -g -Wall -Wextra -I"$src/include" \
    "$src/tests/fuzz/fuzz_$t.c" "$stdlib" $dep_libs -o "$work/standalone_$t" ||
    { echo "FAIL: building the standalone driver of $t"; exit 1; }
  # One input at a time, so a failure names its file.
  n=0
  for f in "$src/tests/fuzz/corpus/$t"/*; do
    if ! out=$("$work/standalone_$t" "$f" 2>&1); then
      echo "$out" | grep -av '^ran ' | tail -5
      echo "FAIL: corpus $t: tests/fuzz/corpus/$t/$(basename "$f") broke an invariant or crashed"
      broken[$t]=1
      status=1
    fi
    n=$((n + 1))
  done
  [[ -z ${broken[$t]:-} ]] && echo "corpus $t: $n inputs ok"
done
echo "seed corpora: done ($(($(date +%s) - start)) s)"

# 2. libFuzzer with ASan and UBSan.
if ! command -v clang >/dev/null 2>&1; then
  echo "SKIP: clang not installed; ran the seed corpora only"
  exit $status
fi
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
start=$(date +%s)
if ! build_lib clang "$san" "$work/fz"; then
  tail -5 "$work/fz/log"
  echo "SKIP: clang cannot build with -fsanitize=fuzzer; ran the seed corpora only"
  exit $status
fi
echo "libFuzzer library built ($(($(date +%s) - start)) s)"
for t in "${targets[@]}"; do
  if [[ -n ${broken[$t]:-} ]]; then
    echo "fuzz $t: not run, its seed corpus fails"
    continue
  fi
  # shellcheck disable=SC2086
  clang -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=all -I"$src/include" "$src/tests/fuzz/fuzz_$t.c" "$work/fz/libhone.a" \
    $dep_libs -o "$work/fuzzer_$t" || { echo "FAIL: linking the libFuzzer target $t"; exit 1; }
  mkdir -p "$work/corpus_$t"
  cp "$src/tests/fuzz/corpus/$t"/* "$work/corpus_$t/"
  opts=$(fuzz_opts "$t")
  # shellcheck disable=SC2001
  if [[ -n ${FUZZ_RUNS:-} ]]; then opts="$(sed 's/-runs=[0-9]*//' <<<"$opts") -runs=$FUZZ_RUNS"; fi
  dict=()
  [[ -f $src/tests/fuzz/$t.dict ]] && dict=(-dict="$src/tests/fuzz/$t.dict")
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$work/fuzzer_$t" -seed=1 $opts -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$work/crash_$t-" "$work/corpus_$t" \
    >"$work/log_$t" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log_$t")
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$work/log_$t" | tail -1)
  echo "fuzz $t: ${runs:-?} runs in $(($(date +%s) - start)) s, $cov, exit $rc"
  if [[ $rc != 0 ]]; then
    status=1
    echo "FAIL: fuzz target $t found a failure:"
    grep -a -B2 -A40 -E '^==[0-9]+==ERROR|invariant failed|runtime error|deadly signal|SUMMARY' \
      "$work/log_$t" | head -80
    for a in "$work/crash_$t"-*; do
      [[ -f $a ]] || continue
      echo "input ($(wc -c <"$a") bytes, hex; reproduce with the standalone driver on this file):"
      od -An -tx1 -v "$a" | head -40
    done
  fi
done
if [[ $status != 0 ]]; then exit 1; fi
echo "fuzz: ok"
