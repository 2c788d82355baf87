#!/usr/bin/env bash
# run-case.sh HONE CASEFILE - runs one data-driven CLI case (curl's
# tests/data style). A case file holds lines "key: value":
#   name:       what the case checks (one line)
#   args:       the arguments, with shell quoting ('a b' is one argument)
#   env:        NAME=VALUE set for the run (repeatable)
#   stdin:      text fed on standard input (repeatable: one line each)
#   file:       NAME=TEXT creates file NAME in the run's scratch directory
#   exit:       the expected exit status (default 0)
#   stdout:     an extended regex some line of stdout must match (repeatable)
#   stderr:     likewise for stderr
#   stdout-not: an extended regex no line of stdout may match; stderr-not too
#   stdout-lines: the exact number of lines on stdout; stderr-lines too
#   json:       stdout must be valid JSON (value: stdout)
# Within values, %SRCDIR% is the source tree, %SHARED% ../shared, %TMP% the
# scratch directory (also the working directory of the run).
set -u
hone=$1
case_file=$2
src=${TEST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
shared=${TEST_SHARED_DIR:-$src/../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

subst() {
  local v=$1
  v=${v//%SRCDIR%/$src}
  v=${v//%SHARED%/$shared}
  v=${v//%TMP%/$tmp}
  printf '%s' "$v"
}

args="" exit_want=0 json=""
envs=() stdin_lines=() out_re=() err_re=() out_not=() err_not=() out_lines="" err_lines=""
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  key=${line%%:*}
  val=${line#*:}
  val=${val# }
  case $key in
    name) ;;
    args) args=$(subst "$val") ;;
    env) envs+=("$(subst "$val")") ;;
    stdin) stdin_lines+=("$(subst "$val")") ;;
    file) f=$(subst "$val"); mkdir -p "$(dirname "$tmp/${f%%=*}")"; printf '%s\n' "${f#*=}" >>"$tmp/${f%%=*}" ;;
    exit) exit_want=$val ;;
    stdout) out_re+=("$(subst "$val")") ;;
    stderr) err_re+=("$(subst "$val")") ;;
    stdout-not) out_not+=("$(subst "$val")") ;;
    stderr-not) err_not+=("$(subst "$val")") ;;
    stdout-lines) out_lines=$val ;;
    stderr-lines) err_lines=$val ;;
    json) json=$val ;;
    *) echo "FAIL $case_file: unknown key '$key'"; exit 1 ;;
  esac
done <"$case_file"

eval "set -- $args"
if ((${#stdin_lines[@]})); then
  printf '%s\n' "${stdin_lines[@]}" >"$tmp/.stdin"
else
  : >"$tmp/.stdin"
fi
(cd "$tmp" && env "${envs[@]}" "$hone" "$@" <"$tmp/.stdin" >"$tmp/.stdout" 2>"$tmp/.stderr")
status=$?

fail=0
report() { echo "FAIL: $*"; fail=1; }
[[ $status == "$exit_want" ]] || report "exit status: expected $exit_want, got $status"
for re in "${out_re[@]+"${out_re[@]}"}"; do grep -Eq -- "$re" "$tmp/.stdout" || report "stdout has no line matching /$re/"; done
for re in "${err_re[@]+"${err_re[@]}"}"; do grep -Eq -- "$re" "$tmp/.stderr" || report "stderr has no line matching /$re/"; done
for re in "${out_not[@]+"${out_not[@]}"}"; do ! grep -Eq -- "$re" "$tmp/.stdout" || report "stdout has a line matching /$re/, which it must not"; done
for re in "${err_not[@]+"${err_not[@]}"}"; do ! grep -Eq -- "$re" "$tmp/.stderr" || report "stderr has a line matching /$re/, which it must not"; done
if [[ -n $out_lines ]]; then n=$(wc -l <"$tmp/.stdout"); ((n == out_lines)) || report "stdout: expected $out_lines lines, got $n"; fi
if [[ -n $err_lines ]]; then n=$(wc -l <"$tmp/.stderr"); ((n == err_lines)) || report "stderr: expected $err_lines lines, got $n"; fi
if [[ $json == stdout ]]; then jq -e . "$tmp/.stdout" >/dev/null 2>&1 || report "stdout is not valid JSON"; fi

if ((fail)); then
  echo "--- case: $case_file"
  echo "--- command: hone $args"
  echo "--- stdout:"; head -c 4000 "$tmp/.stdout"
  echo "--- stderr:"; head -c 4000 "$tmp/.stderr"
  exit 1
fi
echo "ok: $(grep -m1 '^name:' "$case_file" | cut -d: -f2-)"
