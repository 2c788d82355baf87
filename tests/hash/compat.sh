#!/usr/bin/env bash
# compat.sh - the check-list forms, --ignore-missing, -z, --no-names, -l,
# --keyed and --derive-key against the real tools: `hone hash -c` accepts
# and reports exactly what `sha256sum -c` (coreutils 9.1) does for the
# one-space, tab, mixed, comment and blank-line lists; the printing options
# give byte-identical output to sha256sum -z and b3sum; and BLAKE3's keyed
# and derive-key modes give the official test vectors' outputs (131 bytes)
# through the command line.
set -u
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
fails=0
skip() { echo "SKIP: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

printf 'hello\n' >a
printf 'x\n' >' b'
printf 'y\n' >'*c'
printf 'n\n' >$'n\nl'
printf 'e\n' >'b\s'

if have sha256sum; then
  H=$(sha256sum a | cut -c1-64)
  # each list: one case, lines separated by '|' (printf escapes allowed)
  lists=(
    "$H  a" "$H *a" "$H a" "$H\ta" "$H\t a" "$H\t*a" "$H   b" "$H \ta" "$H  " "$H " "$H\t"
    "$H a|$H  a" "$H  a|$H a" "$H *a|$H a" "$H a|$H *a" "# comment|$H  a" "|$H  a" "  |$H  a"
    "$H  a\r" "$H a\r" "\t$H  a" "$H  a|| |#x" "#$H  a" "$H  a/x" "$H  nope|$H  a"
  )
  for l in "${lists[@]}"; do
    printf "${l//|/\\n}\n" >list
    for flags in "" "--ignore-missing" "--strict"; do
      # shellcheck disable=SC2086
      sha256sum -c $flags list >ref.out 2>ref.err; r=$?
      # shellcheck disable=SC2086
      "$hone" hash -c $flags list >hone.out 2>hone.err; h=$?
      what="list '$l' -c $flags"
      [[ $r == "$h" ]] || fail "$what: exit $h, sha256sum $r"
      cmp -s ref.out hone.out || { fail "$what: stdout differs"; diff ref.out hone.out; }
      diff <(grep -E 'WARNING|no file|no properly' ref.err | sed 's/^sha256sum: //') \
           <(grep -E 'WARNING|no file|no properly' hone.err | sed 's/^hone hash: //') >/dev/null ||
        { fail "$what: summary differs"; cat ref.err hone.err; }
    done
  done
  # coreutils keeps the form across lists of one run
  printf '%s a\n' "$H" >one.l
  printf '%s  a\n' "$H" >two.l
  for order in "two.l one.l" "one.l two.l"; do
    # shellcheck disable=SC2086
    sha256sum -c $order >ref.out 2>/dev/null; r=$?
    # shellcheck disable=SC2086
    "$hone" hash -c $order >hone.out 2>/dev/null; h=$?
    [[ $r == "$h" ]] && cmp -s ref.out hone.out || fail "-c $order: differs from sha256sum ($h vs $r)"
  done
  # -z: byte for byte sha256sum -z, also --tag and stdin
  for flags in "-z" "-z --tag"; do
    # shellcheck disable=SC2086
    sha256sum $flags a ' b' $'n\nl' 'b\s' >ref.out
    # shellcheck disable=SC2086
    "$hone" hash $flags a ' b' $'n\nl' 'b\s' >hone.out
    cmp -s ref.out hone.out || fail "hash $flags differs from sha256sum"
  done
  printf 'in' | sha256sum -z >ref.out
  printf 'in' | "$hone" hash -z >hone.out
  cmp -s ref.out hone.out || fail "stdin -z differs"
else
  skip "sha256sum not installed"
fi

if have b3sum; then
  names=(a ' b' $'n\nl' 'b\s')
  for flags in "--no-names" "-l 0" "-l 1" "-l 31" "-l 33" "-l 64" "-l 1000" "-l 20 --no-names" \
               "--derive-key ctx" "--derive-key ctx -l 77" "--derive-key '' "; do
    eval "b3sum $flags \"\${names[@]}\"" >ref.out
    eval "\"$hone\" hash -a blake3 $flags \"\${names[@]}\"" >hone.out
    cmp -s ref.out hone.out || { fail "hash $flags differs from b3sum"; diff ref.out hone.out | head -4; }
  done
  head -c 32 /dev/urandom >key
  for flags in "--keyed" "--keyed -l 50" "--keyed --no-names"; do
    # shellcheck disable=SC2086
    b3sum $flags "${names[@]}" <key >ref.out
    # shellcheck disable=SC2086
    "$hone" hash $flags "${names[@]}" <key >hone.out
    cmp -s ref.out hone.out || fail "hash $flags differs from b3sum"
  done
  printf 'stdin' | b3sum -l 40 >ref.out
  printf 'stdin' | "$hone" hash -l 40 >hone.out
  cmp -s ref.out hone.out || fail "stdin -l 40 differs"
else
  skip "b3sum not installed"
fi

# The official vectors through the command line: keyed_hash and derive_key,
# 131 bytes, for a few input lengths (input byte i is i % 251).
vec=$src/tests/hash/data/blake3_test_vectors.json
if have python3 && [[ -r $vec ]]; then
  python3 - "$vec" <<'PY' >vectors || fail "reading the vectors"
import json, sys
v = json.load(open(sys.argv[1]))
print(v["key"]); print(v["context_string"])
for c in v["cases"]:
    if c["input_len"] in (0, 1, 1023, 1025, 8193, 102400):
        print(c["input_len"], c["keyed_hash"], c["derive_key"])
PY
  { read -r key; read -r ctx; } <vectors
  printf '%s' "$key" >key
  tail -n +3 vectors | while read -r n keyed derive; do
    python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range($n)))" >in
    got=$("$hone" hash --keyed -l 131 --no-names in <key)
    [[ $got == "$keyed" ]] || echo "FAIL: keyed_hash of $n bytes: $got"
    got=$("$hone" hash --derive-key "$ctx" -l 131 --no-names in)
    [[ $got == "$derive" ]] || echo "FAIL: derive_key of $n bytes: $got"
  done >vec.out
  if grep -q FAIL vec.out; then cat vec.out; fails=$((fails + 1)); fi
else
  skip "python3 or the vectors missing"
fi

[[ $fails == 0 ]] && echo "compat: all good"
exit $((fails > 0))
