#!/usr/bin/env bash
# man_examples.sh - every command in a man page's EXAMPLES section reads, in
# the rendered page, exactly as it was written: one command per line, so a
# copy and paste runs it. scdoc joins consecutive indented lines into one
# paragraph ("cmd1 cmd2"), so examples must sit in ``` literal blocks; this
# renders each page with scdoc and groff and finds every example line on a
# line of its own.
set -euo pipefail
src=${TEST_SOURCE_DIR:?}
fail=0
checked=0
for scd in "$src"/docs/*.scd; do
  page=$(basename "$scd")
  # Example lines outside a literal block would be joined.
  loose=$(awk '/^# /{ex=($0=="# EXAMPLES")} ex && /^\t```/{lit=!lit; next} ex && !lit && /^\t/' "$scd")
  if [[ -n $loose ]]; then
    echo "FAIL: $page: EXAMPLES lines outside a \`\`\` block (scdoc joins them):"
    printf '  %s\n' "$loose"
    fail=1
  fi
  rendered=$(scdoc <"$scd" | groff -man -Tutf8 -P-cbou 2>/dev/null | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    want=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$line")
    checked=$((checked + 1))
    if ! grep -qxF -- "$want" <<<"$rendered"; then
      echo "FAIL: $page: the example '$want' is not one line of the rendered page"
      fail=1
    fi
  done < <(awk '/^# /{ex=($0=="# EXAMPLES")} ex && /^\t```/{lit=!lit; next} ex && lit' "$scd")
done
((checked > 0)) || { echo "FAIL: no example found in any man page"; exit 1; }
[[ $fail -eq 0 ]] && echo "ok: $checked example line(s), each one line of its rendered page"
exit $fail
