#!/usr/bin/env bash
# options.sh - one vocabulary: every option in a subcommand's table (the one
# source of its parser, --help and completions) is in its --help and in its
# man page, every option the man page documents is in the table, and a short
# letter means one thing across subcommands but for the documented
# exceptions that follow the tools users know (hone-completion(1), LETTERS).
set -euo pipefail
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
fail=0
list=$("$hone" completion --list)
[[ -n $list ]] || { echo "FAIL: hone completion --list printed nothing"; exit 1; }

while IFS=$'\t' read -r cmd short long arg; do
  page=$src/docs/hone-${cmd%% *}.1.scd
  read -r -a words <<<"$cmd"
  help=$("$hone" "${words[@]}" --help)
  for opt in "$short" "$long"; do
    [[ $opt == - ]] && continue
    if ! grep -q -- "$opt\b" <<<"$help"; then
      echo "FAIL: '$opt' of 'hone $cmd' is not in its --help"; fail=1
    fi
    [[ $opt == --help || $opt == -h ]] && continue
    if ! grep -qF -- "*$opt*" "$page"; then
      echo "FAIL: '$opt' of 'hone $cmd' is not documented in $(basename "$page")"; fail=1
    fi
  done
done <<<"$list"

# The man pages' OPTIONS sections document nothing the tables lack.
for cmd in $(cut -f1 <<<"$list" | cut -d' ' -f1 | sort -u); do
  page=$src/docs/hone-$cmd.1.scd
  documented=$(awk '/^# /{on=($0=="# OPTIONS")} on' "$page" | grep -o -- '\*--[a-z0-9-]*\*' | tr -d '*' | sort -u)
  for opt in $documented; do
    if ! awk -F'\t' -v c="$cmd" -v o="$opt" '($1 == c || index($1, c " ") == 1) && $3 == o {f=1} END {exit !f}' <<<"$list"; then
      echo "FAIL: $(basename "$page") documents '$opt', which 'hone $cmd' does not take"; fail=1
    fi
  done
done

# One meaning per letter, but for these (letter, command, long option).
exceptions=$'-c\tbench\t--cleanup\n-n\tbench\t--command-name\n-w\tbench\t--warmup\n-L\tbench\t--parameter-list\n-c\thash\t--check\n-w\thash\t--warn\n-c\thttp get\t--concurrency\n-n\thttp get\t--requests\n-L\tmanifest build\t--follow\n-L\tmanifest check\t--follow\n-a\trun\t--arg-file\n-j\trun\t--jobs\n-n\trun\t--max-args'
meanings=$(awk -F'\t' '$2 != "-" {print $2 "\t" $1 "\t" $3}' <<<"$list" | sort -u)
for letter in $(cut -f1 <<<"$meanings" | sort -u); do
  kinds=$(awk -F'\t' -v l="$letter" '$1 == l' <<<"$meanings" |
    { grep -vxF -f <(printf '%s\n' "$exceptions") || true; } | cut -f3 | sort -u | grep -c . || true)
  if ((kinds > 1)); then
    echo "FAIL: $letter means several options: $(awk -F'\t' -v l="$letter" '$1 == l {printf "%s %s; ", $2, $3}' <<<"$meanings")"
    fail=1
  fi
done
[[ $fail -eq 0 ]] && echo "ok: $(wc -l <<<"$list") options in step with --help, man pages and one another"
exit $fail
