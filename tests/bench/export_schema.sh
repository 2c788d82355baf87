#!/usr/bin/env bash
# export_schema.sh - hone bench's JSON export against hyperfine's schema:
# every hyperfine field with its type and meaning (times in seconds, one
# exit code and one memory figure per run), hone's extras added beside them,
# and, when hyperfine is installed, every key hyperfine itself writes present
# in hone's export with the same JSON type. Also the CSV and Markdown headers.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$hone" bench --runs 3 --warmup 0 --style none -L n 0 -n 'sleep {n}' \
  --export-json hone.json --export-csv hone.csv --export-markdown hone.md '/bin/sleep {n}' /bin/true

jq -e '
  (.results | type == "array" and length == 2) and
  all(.results[];
      (.command | type == "string") and
      all(.mean, .median, .user, .system, .min, .max; type == "number" and . >= 0) and
      (.stddev | type == "number" or type == "null") and
      (.times | type == "array" and length == 3 and all(.[]; type == "number")) and
      (.exit_codes | length == 3 and all(.[]; . == 0)) and
      (.memory_usage_byte | length == 3 and all(.[]; type == "number" and . > 0 and . == floor)) and
      (.min <= .median and .median <= .max) and
      (((.times | add / length) - .mean) | fabs < 1e-12) and
      (.statistics.mad | type == "number") and
      (.command_line | type == "string"))
  and (.results[0].parameters == {"n": "0"})
  and (.results[0].command == "sleep 0" and .results[0].command_line == "/bin/sleep 0")
  and (.results[1].parameters == {"n": "0"} and .results[1].command == "/bin/true")
  and (.results[1].comparison.verdict | IN("faster", "slower", "no significant difference"))
  and (.results[1].comparison.ratio_ci95 | length == 2)
  and (.results[1].comparison.p_value | . >= 0 and . <= 1)
  and (.results[0] | has("comparison") | not)
  and (.hone.reference == 1 and .hone.interleaved == true)
' hone.json >/dev/null || { echo "FAIL: hone.json does not match the schema"; cat hone.json; exit 1; }

[[ $(head -1 hone.csv) == "command,mean,stddev,median,user,system,min,max,parameter_n" ]] ||
  { echo "FAIL: CSV header: $(head -1 hone.csv)"; exit 1; }
[[ $(wc -l <hone.csv) == 3 ]] || { echo "FAIL: CSV lines"; cat hone.csv; exit 1; }
grep -Eq '^\| Command \| Mean \[.*\] \| Min \[.*\] \| Max \[.*\] \| Relative \|$' hone.md ||
  { echo "FAIL: Markdown header"; cat hone.md; exit 1; }

if command -v hyperfine >/dev/null; then
  hyperfine -N --runs 3 --warmup 0 --style none -L n 0 --export-json hf.json '/bin/sleep {n}' >/dev/null
  # Each key hyperfine writes must exist in hone's result with the same type.
  jq -e -n --slurpfile h hf.json --slurpfile o hone.json '
    ($h[0].results[0]) as $hr | ($o[0].results[0]) as $ho |
    all($hr | keys[]; . as $k | ($ho | has($k)) and
        (($hr[$k] | type) == ($ho[$k] | type) or ($hr[$k] == null or $ho[$k] == null)))
  ' >/dev/null || { echo "FAIL: a hyperfine key is missing or typed differently in hone's export";
                    jq -c '.results[0] | keys' hf.json; jq -c '.results[0] | keys' hone.json; exit 1; }
  # And hone reads hyperfine's export as a baseline.
  "$hone" bench --runs 3 --warmup 0 --style basic -n '/bin/sleep 0' --baseline hf.json '/bin/sleep 0' |
    grep -q "^Baseline (hf.json)" || { echo "FAIL: hyperfine export not usable as --baseline"; exit 1; }
fi
echo "ok: JSON export matches hyperfine's schema; CSV and Markdown headers match"
