#!/usr/bin/env bash
# examples.sh - the EXAMPLES of docs/hone-hash.1.scd cannot rot: every
# example line (a line of a ``` block of that section; scdoc joins indented
# lines outside one into a paragraph) must be one command -
# no ';', '&&', '||' or '&' joining several, so copying a line gives a
# command that works on its own - that bash parses, and all of them, run in
# order in a scratch directory with the files they name, must succeed.
# Lines whose first word is a tool that is not installed are skipped.
set -u
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
page=$src/docs/hone-hash.1.scd
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Indented lines outside a ``` literal block are joined by scdoc into one
# paragraph - the copy-paste trap this test exists for.
loose=$(awk '/^# /{ex=($0=="# EXAMPLES")} ex && /^\t```/{lit=!lit; next} ex && !lit && /^\t/' "$page")
[[ -z $loose ]] || fail "EXAMPLES lines outside a \`\`\` block, which scdoc joins into one line: $loose"
# The example lines: those inside the literal blocks (no scdoc escapes there).
mapfile -t examples < <(awk '/^# /{ex=($0=="# EXAMPLES")} ex && /^\t```/{lit=!lit; next} ex && lit' "$page" |
  sed -e 's/^\t//')
((${#examples[@]} >= 3)) || fail "found only ${#examples[@]} example lines in $page"

mkdir -p "$tmp/bin" "$tmp/run/data"
ln -s "$hone" "$tmp/bin/hone"
cd "$tmp/run" || exit 1
head -c 100000 /dev/urandom >model.safetensors
printf 'one\n' >data/a.txt
printf 'two\n' >data/b.txt
head -c 32 /dev/urandom >key.bin

for line in "${examples[@]}"; do
  # one command: bash's own parse, and no list operators outside quotes
  bash -n -c "$line" 2>/dev/null || { fail "does not parse: $line"; continue; }
  bare=$(sed -e "s/'[^']*'//g" -e 's/"[^"]*"//g' <<<"$line")
  if [[ $bare =~ (\;|\&\&|\|\||\&) ]]; then
    fail "more than one command on one line: $line"
    continue
  fi
  tool=${line%% *}
  if [[ $tool != hone ]] && ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP ($tool not installed): $line"
    continue
  fi
  PATH="$tmp/bin:$PATH" bash -c "$line" >out 2>err || fail "exit $?: $line: $(head -3 err)"
done
[[ $fails == 0 ]] && echo "examples: ${#examples[@]} lines, all one command each, all ran"
exit $((fails > 0))
