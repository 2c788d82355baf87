#!/usr/bin/env bash
# profile_out.sh - HONE_PROFILE_OUT writes a profile at exit that
# `hone report` reads in every format; promtool accepts the prom output;
# HONE_PROFILE=trace adds a trace that --format chrome writes as Chrome
# trace-event JSON; the tree and folded stacks come from the same file.
set -eu
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

HONE_PROFILE_OUT="$tmp/prof.json" "$hone" demo sysinfo >/dev/null || fail "hone demo sysinfo failed"
[[ -s $tmp/prof.json ]] || fail "HONE_PROFILE_OUT wrote nothing"
ls "$tmp" | grep -q tmp && fail "a temporary file was left behind: $(ls "$tmp")"

out=$("$hone" report "$tmp/prof.json") || fail "report text failed"
grep -Eq '^sysinfo +1 ' <<<"$out" || fail "text report has no sysinfo row with 1 call: $out"

csv=$("$hone" report --format csv "$tmp/prof.json")
head -1 <<<"$csv" | grep -q '^name,src_file,src_line,total_ns,total_perc,counts,mean_ns,min_ns,max_ns,std_ns' ||
  fail "csv header: $(head -1 <<<"$csv")"
grep -q '^sysinfo,cli/demo.c,' <<<"$csv" || fail "csv has no sysinfo row: $csv"

"$hone" report --format json "$tmp/prof.json" | jq -e '.format == "hone-profile" and (.zones | length) == 1' >/dev/null ||
  fail "json report"
# The JSON report is itself a profile that report reads back.
"$hone" report --format json "$tmp/prof.json" >"$tmp/again.json"
"$hone" report "$tmp/again.json" | grep -Eq '^sysinfo ' || fail "json round trip"

"$hone" report --format md "$tmp/prof.json" | grep -q '^| sysinfo | 1 |' || fail "markdown report"

"$hone" report --format prom "$tmp/prof.json" >"$tmp/prof.prom"
grep -q '^hone_zone_duration_seconds_count{zone="sysinfo"' "$tmp/prof.prom" || fail "prom report: $(cat "$tmp/prof.prom")"
if command -v promtool >/dev/null; then
  promtool check metrics <"$tmp/prof.prom" || fail "promtool rejected the prom report"
else
  fail "promtool is not installed (Debian package prometheus)"
fi

# The tree, folded stacks and a trace. The demo runs each step in a zone
# (an outermost node each; tests/prof/test_tree.c checks nesting).
HONE_PROFILE=trace HONE_PROFILE_OUT="$tmp/trace.json" "$hone" demo sysinfo hash >/dev/null ||
  fail "hone demo with HONE_PROFILE=trace failed"
jq -e '.trace.threads | length >= 1' "$tmp/trace.json" >/dev/null || fail "the profile has no trace"
jq -e '.tree | length >= 2' "$tmp/trace.json" >/dev/null || fail "the profile has no tree"
tree=$("$hone" report --format tree "$tmp/trace.json") || fail "report tree failed"
grep -Eq '^sysinfo +1 ' <<<"$tree" || fail "tree has no outermost sysinfo node: $tree"
folded=$("$hone" report --format folded "$tmp/trace.json") || fail "report folded failed"
# Every line is "frame;frame... <integer>", and the sum of self times is
# at most the sum of the outermost zones' totals.
grep -Evq '^[^;]+(;[^;]+)* [0-9]+$' <<<"$folded" && fail "malformed folded line: $folded"
grep -q '^hash' <<<"$folded" || fail "folded has no hash stack: $folded"
"$hone" report --format chrome "$tmp/trace.json" >"$tmp/chrome.json" 2>"$tmp/chrome.err" || fail "report chrome failed"
jq -e '(.traceEvents | map(select(.ph == "X")) | length) >= 2
       and all(.traceEvents[] | select(.ph == "X"); .dur >= 0 and .ts >= 0)
       and any(.traceEvents[]; .ph == "M" and .name == "thread_name")' "$tmp/chrome.json" >/dev/null ||
  fail "chrome trace: $(head -c 600 "$tmp/chrome.json")"
# A profile without a trace: chrome is refused with a clear line.
set +e
err=$("$hone" report --format chrome "$tmp/prof.json" 2>&1 >/dev/null)
rc=$?
set -e
[[ $rc == 2 ]] || fail "chrome of an untraced profile: exit $rc, want 2"
grep -q 'HONE_PROFILE=trace' <<<"$err" || fail "chrome of an untraced profile: $err"

# A damaged file: exit 2, the line and column named, and the file untouched.
printf '{"format": "hone-profile",\n "zones": [\n' >"$tmp/bad.json"
cp "$tmp/bad.json" "$tmp/bad.orig"
set +e
err=$("$hone" report "$tmp/bad.json" 2>&1 >/dev/null)
rc=$?
set -e
[[ $rc == 2 ]] || fail "damaged file: exit $rc, want 2"
grep -q 'line 3, column' <<<"$err" || fail "damaged file error names no line/column: $err"
cmp -s "$tmp/bad.json" "$tmp/bad.orig" || fail "report changed the damaged file"
echo ok
