#!/usr/bin/env bash
# calibrate_cli.sh - `hone cache calibrate` on the shipped pairs: a threshold in
# (0, 1], recall above 0 and a false hit rate near the target on the half it
# was not chosen on, no hard negative served at the default settings, the
# namespaces read by default when the pairs name them (--no-ns turns that
# off); a bad line stops it with exit 2 and one line naming FILE:LINE, a
# missing file with one line.
set -uo pipefail
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
pairs=$src/tests/data/simcache/pairs.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
die() { echo "FAIL: $*"; fail=1; }

# The shipped suite, as JSON.
rc=0; "$hone" cache calibrate --pairs "$pairs" --target-fpr 0.01 --json >out.json 2>err.txt || rc=$?
[[ $rc == 0 ]] || die "exit $rc on the shipped pairs: $(cat err.txt)"
jq -e . out.json >/dev/null || die "not JSON: $(head -c 300 out.json)"
check() { # check DESCRIPTION JQ-FILTER: the filter must be true on out.json
  jq -e "$2" out.json >/dev/null || die "$1: $(jq -c "${3:-.calibrated}" out.json)"
}
check "threshold in (0, 1]" '.calibrated.threshold > 0 and .calibrated.threshold <= 1'
check "recall on the evaluation half > 0" '.calibrated.recall > 0 and .calibrated.tp > 0'
# The target is 1 %; the evaluation half is other pairs, so allow sampling
# noise but not a threshold that misses the target by far.
check "false hit rate on the evaluation half <= 5 %" '.calibrated.fpr <= 0.05'
check "evaluation half holds pairs of both labels" '.calibrated.eval_pos > 0 and .calibrated.eval_neg > 0'
check "pair counts" '.pairs == .positives + .negatives and .positives > 0 and .negatives > 0' '.'
check "target echoed" '.target_fpr == 0.01' '.'
# The pairs name tenants, so namespaces are read without being asked.
check "namespaces read by default" '.ns_aware == true' '.'
check "no hard negative served at the default settings" \
  '[.rules_on_all_pairs[] | select(.rule == "hone default, gated") | .false_hits_by_kind
    | to_entries[] | select(.key != "other") | .value.hits] | length == 4 and add == 0' \
  '.rules_on_all_pairs[1]'
check "GPTCache's rule serves hard negatives (what the gates prevent)" \
  '.rules_on_all_pairs[] | select(.rule | startswith("GPTCache")) | .false_hits_by_kind.negation.hits > 0' \
  '.rules_on_all_pairs'

# --no-ns compares tenants' texts alone: the tenant pairs are no longer
# refused for their namespaces.
rc=0; "$hone" cache calibrate --pairs "$pairs" --no-ns --json >no.json 2>err.txt || rc=$?
[[ $rc == 0 ]] || die "exit $rc with --no-ns: $(cat err.txt)"
jq -e '.ns_aware == false' no.json >/dev/null || die "--no-ns: ns_aware $(jq .ns_aware no.json)"
a=$(jq .gate_refusals out.json) b=$(jq .gate_refusals no.json)
((a > b)) || die "gate refusals with namespaces $a, without $b: expected more with"
rc=0; "$hone" cache calibrate --pairs "$pairs" --no-ns --ns-aware >/dev/null 2>err.txt || rc=$?
[[ $rc == 2 && $(wc -l <err.txt) == 1 ]] || die "--no-ns with --ns-aware: exit $rc, $(cat err.txt)"

# Pairs without namespaces: not namespace-aware unless asked; the table
# (not JSON) names the rules.
head -n 200 "$pairs" | jq -c 'del(.ns_a, .ns_b)' >plain.jsonl
tail -n 200 "$pairs" | jq -c 'del(.ns_a, .ns_b)' >>plain.jsonl
rc=0; "$hone" cache calibrate --pairs plain.jsonl --json >plain.json 2>err.txt || rc=$?
[[ $rc == 0 ]] || die "exit $rc on pairs without namespaces: $(cat err.txt)"
jq -e '.ns_aware == false' plain.json >/dev/null || die "no ns fields: ns_aware $(jq .ns_aware plain.json)"
rc=0; "$hone" cache calibrate --pairs plain.jsonl >table.txt 2>err.txt || rc=$?
[[ $rc == 0 ]] && grep -q 'GPTCache' table.txt && grep -q 'calibrated, gated' table.txt ||
  die "table: exit $rc, $(cat table.txt err.txt)"

# A bad line: exit 2, one line naming the file and the line.
{
  echo '{"a": "How do I reset my password?", "b": "How can I reset my password?", "label": 1}'
  echo
  echo '{"a": "one", "b": "two", "label": 7}'
  echo '{"a": "three", "b": "four", "label": 0}'
} >bad.jsonl
rc=0; "$hone" cache calibrate --pairs bad.jsonl >out.txt 2>err.txt || rc=$?
[[ $rc == 2 ]] || die "bad line: exit $rc, expected 2"
[[ $(wc -l <err.txt) == 1 ]] || die "bad line: expected one error line, got: $(cat err.txt)"
grep -q 'bad.jsonl:3:' err.txt || die "bad line: error does not name bad.jsonl:3: $(cat err.txt)"
[[ ! -s out.txt ]] || die "bad line: printed figures: $(cat out.txt)"
echo 'not json' >bad2.jsonl
rc=0; "$hone" cache calibrate --pairs bad2.jsonl 2>err.txt >/dev/null || rc=$?
[[ $rc == 2 && $(wc -l <err.txt) == 1 ]] && grep -q 'bad2.jsonl:1:' err.txt ||
  die "not JSON: exit $rc, $(cat err.txt)"

# A missing file: one error line naming it.
rc=0; "$hone" cache calibrate --pairs missing.jsonl >out.txt 2>err.txt || rc=$?
[[ $rc != 0 ]] || die "missing file: exit 0"
[[ $(wc -l <err.txt) == 1 ]] && grep -q 'missing.jsonl' err.txt ||
  die "missing file: expected one line naming it, got: $(cat err.txt)"
exit $fail
