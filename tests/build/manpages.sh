#!/usr/bin/env bash
# manpages.sh - every subcommand has a man page and a --help; every HONE_*
# variable hone reads is documented in hone(1)'s ENVIRONMENT section.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
fail=0
cmds=$("$hone" --help | awk '/^commands:/{f=1; next} f && /^  [a-z]/ {print $1}')
[[ -n $cmds ]] || { echo "FAIL: hone --help lists no commands"; exit 1; }
for c in $cmds; do
  [[ $c == help ]] && continue
  [[ -f $src/docs/hone-$c.1.scd ]] || { echo "FAIL: no man page docs/hone-$c.1.scd for '$c'"; fail=1; }
  "$hone" "$c" --help | grep -q "^usage: hone $c" || { echo "FAIL: 'hone $c --help' prints no usage"; fail=1; }
  grep -q "hone-$c\*\?(1)" "$src/docs/hone.1.scd" || { echo "FAIL: hone(1) does not mention hone-$c(1)"; fail=1; }
done
[[ -f $src/docs/hone.1.scd ]] || { echo "FAIL: no docs/hone.1.scd"; fail=1; }
# env_vars.def, and the variables of the settings table (settings.def).
for v in $(grep -o '^HONE_ENV(HONE_[A-Z0-9_]*' "$src/src/core/env_vars.def" | sed 's/HONE_ENV(//') \
         $(grep -o '"HONE_[A-Z0-9_]*"' "$src/src/core/settings.def" | tr -d '"'); do
  grep -q "^\*$v\*" "$src/docs/hone.1.scd" || { echo "FAIL: $v is not documented in hone(1) ENVIRONMENT"; fail=1; }
done
exit $fail
