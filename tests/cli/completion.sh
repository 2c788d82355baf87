#!/usr/bin/env bash
# completion.sh - the completion scripts `hone completion` prints offer what
# the commands take: subcommands, their actions, each option of the table,
# and option values (choices, files). bash always; zsh and fish where they
# are installed (said when they are not).
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
"$hone" completion bash >hone.bash
bash -n hone.bash

# Completes the words (the last one being completed) with the bash script.
complete_bash() {
  bash -c 'source ./hone.bash; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _hone; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
expect() { # expect WORD WORDS...: WORD is among the completions of WORDS
  local want=$1
  shift
  local got
  got=$(complete_bash "$@")
  if ! grep -qxF -- "$want" <<<"$got"; then
    echo "FAIL: bash completion of '$*' does not offer '$want'; got: $(tr '\n' ' ' <<<"$got")"
    fail=1
  fi
}
expect bench hone be
expect completion hone comp
expect sim hone cache s
expect --export-json hone bench --export-j
expect --warmup hone bench --war
expect -w hone bench -w
expect nocolor hone bench --style noc
expect --wide hone report --w
expect --policy hone cache sim --pol
expect s3fifo hone cache sim --policy s3
touch trace-file.xz
expect trace-file.xz hone cache sim --trace trace-
if grep -qx -- --warmup <<<"$(complete_bash hone report --w)"; then
  echo "FAIL: report completes bench's --warmup"; fail=1
fi

# Every long option of every table is offered for its command.
while IFS=$'\t' read -r cmd short long arg; do
  [[ $long == - ]] && continue
  read -r -a words <<<"hone $cmd ${long:0:4}"
  expect "$long" "${words[@]}"
done < <("$hone" completion --list)

if command -v zsh >/dev/null; then
  "$hone" completion zsh >_hone
  zsh -n _hone || { echo "FAIL: zsh script does not parse"; fail=1; }
else
  echo "skip: zsh is not installed; its script is the bash one through bashcompinit"
fi
if command -v fish >/dev/null; then
  "$hone" completion fish >hone.fish
  got=$(fish -c "source hone.fish; complete -C 'hone bench --warm'")
  grep -q -- '--warmup' <<<"$got" || { echo "FAIL: fish completion of --warm: $got"; fail=1; }
  got=$(fish -c "source hone.fish; complete -C 'hone bench --style '")
  grep -q nocolor <<<"$got" || { echo "FAIL: fish completion of --style values: $got"; fail=1; }
else
  echo "skip: fish is not installed"
fi
rc=0
"$hone" completion tcsh 2>err.txt || rc=$?
[[ $rc -eq 2 ]] && grep -q "shell=tcsh: expected one of bash, zsh, fish" err.txt ||
  { echo "FAIL: an unknown shell: exit $rc, $(cat err.txt)"; fail=1; }
[[ $fail -eq 0 ]] && echo "ok: completions"
exit $fail
