#!/usr/bin/env bash
# profile_out.sh - HONE_PROFILE_OUT writes a profile at exit that
# `hone report` reads in every format; promtool accepts the prom output.
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
