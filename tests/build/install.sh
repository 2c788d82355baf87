#!/usr/bin/env bash
# install.sh - installs hone into a temporary prefix and builds a consumer
# program twice, with pkg-config and with find_package(hone); both run.
set -euo pipefail
bin=${TEST_BINARY_DIR:?}
cmake_cmd=${CMAKE_COMMAND:-cmake}
cc=${CMAKE_C_COMPILER:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
"$cmake_cmd" --install "$bin" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }

libdir=$(dirname "$(find "$prefix" -name 'libhone.so' | head -1)")
for f in "$prefix/include/hone.h" "$prefix/include/hone/core.h" "$libdir/libhone.a" "$libdir/pkgconfig/hone.pc" \
         "$libdir/cmake/hone/honeConfig.cmake" "$prefix/bin/hone" "$prefix/share/man/man1/hone.1" \
         "$prefix/share/bash-completion/completions/hone" "$prefix/share/zsh/vendor-completions/_hone" \
         "$prefix/share/fish/vendor_completions.d/hone.fish"; do
  [[ -e $f ]] || { echo "FAIL: $f was not installed"; exit 1; }
done

cat >"$tmp/consumer.c" <<'C'
#include <hone.h>
#include <stdio.h>
int main(void) {
    if (hone_version() != HONE_VERSION_HEX) return 1;
    uint64_t a = hone_now_ns(), b = hone_now_ns();
    printf("consumer: hone %s, %s, clock ok=%d\n", hone_version_string(), hone_strerror(HONE_ENOMEM), b >= a);
    return b >= a ? 0 : 1;
}
C

# 1. pkg-config, shared library.
export PKG_CONFIG_PATH=$libdir/pkgconfig
"$cc" -o "$tmp/pc-consumer" "$tmp/consumer.c" $(pkg-config --cflags --libs hone)
out=$(LD_LIBRARY_PATH=$libdir "$tmp/pc-consumer")
[[ $out == "consumer: hone "*", out of memory, clock ok=1" ]] || { echo "FAIL: pkg-config consumer printed: $out"; exit 1; }
# 1b. pkg-config --static links the archive with its private dependencies.
"$cc" -o "$tmp/pc-static" "$tmp/consumer.c" $(pkg-config --cflags hone) "$libdir/libhone.a" $(pkg-config --static --libs-only-l hone | sed 's/-lhone//')
"$tmp/pc-static" >/dev/null || { echo "FAIL: static pkg-config consumer failed"; exit 1; }

# 2. CMake find_package.
mkdir -p "$tmp/cm"
cp "$tmp/consumer.c" "$tmp/cm/"
cat >"$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(hone 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE hone::hone)
add_executable(consumer_static consumer.c)
target_link_libraries(consumer_static PRIVATE hone::hone_static)
CM
"$cmake_cmd" -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$tmp/cm.log" 2>&1 \
  && "$cmake_cmd" --build "$tmp/cm/build" >>"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; echo "FAIL: find_package(hone) consumer did not build"; exit 1; }
out=$(LD_LIBRARY_PATH=$libdir "$tmp/cm/build/consumer")
[[ $out == "consumer: hone "* ]] || { echo "FAIL: find_package consumer printed: $out"; exit 1; }
"$tmp/cm/build/consumer_static" >/dev/null || { echo "FAIL: static find_package consumer failed"; exit 1; }
"$prefix/bin/hone" --version | grep -q '^hone ' || { echo "FAIL: installed hone does not run"; exit 1; }

# 3. The installed demo, every step, needs no source tree: run from a
# directory outside it, with HOME and TMPDIR there too, and (where a user
# and mount namespace can be made) the source tree hidden under an empty
# tmpfs. The manifest step must work only on the tree it makes, in TMPDIR;
# the cache step reads the trace installed with hone.
src=${TEST_SOURCE_DIR:-}
mkdir -p "$tmp/run/home" "$tmp/run/tmp"
demo=(env -C "$tmp/run" HOME="$tmp/run/home" TMPDIR="$tmp/run/tmp" HONE_CACHE_DIR="$tmp/run/home/cache"
      LD_LIBRARY_PATH="$libdir" "$prefix/bin/hone" demo)
hidden=no
if [[ -n $src ]] && unshare -rm true 2>/dev/null; then
  out=$(unshare -rm sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$src" "${demo[@]}" 2>&1) ||
    { echo "FAIL: installed 'hone demo' failed with the source tree hidden:"; echo "$out"; exit 1; }
  hidden=yes
else
  out=$("${demo[@]}" 2>&1) || { echo "FAIL: installed 'hone demo' failed:"; echo "$out"; exit 1; }
fi
grep -q "in $tmp/run/tmp/hone-demo-manifest-" <<<"$out" || { echo "FAIL: the demo did not work in TMPDIR:"; echo "$out"; exit 1; }
if [[ -n $src ]] && grep -qF -- "$src" <<<"$out"; then
  echo "FAIL: the installed demo names the source tree:"; echo "$out"; exit 1
fi
ls -A "$tmp/run/tmp" | grep -q . && { echo "FAIL: the demo left files in TMPDIR: $(ls -A "$tmp/run/tmp")"; exit 1; }
grep -q "^demo: [0-9]* step(s), [0-9]* passed, 0 failed" <<<"$out" || { echo "FAIL: the installed demo did not pass every step:"; echo "$out"; exit 1; }
echo "ok: the installed 'hone demo' runs every step without the source tree (hidden: $hidden)"
echo "ok: installed, and consumers built with pkg-config and find_package(hone) run"
