#!/usr/bin/env bash
# serve.sh - `hone serve` shows saved files through the server's API, reads
# a file again when it changes, keeps the last good version of one rewritten
# with garbage (one error line), and refuses a missing file or bad address.
set -uo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
die() { echo "FAIL: $*"; fail=1; }
cycle() { # cycle ID: one cycle of a history file
  printf '{"id":"%s","start_unix_ns":1000,"end_unix_ns":2000,"duration_ns":1000,"success":true,"cache_hits":1,"cache_misses":0,"validations":0,"validation_ns":0,"file_ops":0,"metadata":{}}' "$1"
}
printf '{"format":"hone-profile","version":1,"wall_ns":1000,"zones":[{"name":"saved","file":"f.c","function":"f","line":1,"count":2,"total_ns":10,"self_ns":10,"min_ns":5,"max_ns":5,"mean_ns":5,"std_ns":0,"p50_ns":5,"p90_ns":5,"p99_ns":5,"p999_ns":5}]}' >p.json
printf '{"format":"hone-cycles","version":1,"capacity":1000,"cycles":[%s]}' "$(cycle first)" >h.json

"$hone" serve --listen 127.0.0.1:0 --poll-ms 50 p.json h.json >out.txt 2>err.txt &
pid=$!
for _ in $(seq 100); do grep -q 'http://' out.txt && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' out.txt) || { die "no URL printed: $(cat out.txt err.txt)"; exit 1; }
get() { curl -sS --max-time 10 "$url$1"; }

src=$(get api/sources)
[[ $src == '{"live":false,"profiles":["p.json"],"cycles":["h.json"],"caches":[]}' ]] || die "sources: $src"
get 'api/profile?source=p.json' | grep -q '"name": "saved"' || die "profile not served"
get 'api/cycles?source=h.json' | grep -q '"id": "first"' || die "history not served"
get '' | grep -q '<html' || die "no dashboard at /"

# A rewritten file is read again.
printf '{"format":"hone-cycles","version":1,"capacity":1000,"cycles":[%s,%s]}' "$(cycle a)" "$(cycle second)" >h.new && mv h.new h.json
for _ in $(seq 100); do get 'api/cycles?source=h.json' | grep -q '"id": "second"' && break; sleep 0.1; done
get 'api/cycles?source=h.json' | grep -q '"id": "second"' || die "changed history not reloaded"
grep -q 'reloaded h.json' out.txt || die "no 'reloaded' line: $(cat out.txt)"

# Garbage keeps the last good version, with one error line naming the file.
echo '{broken' >p.json
for _ in $(seq 100); do grep -q 'p.json' err.txt && break; sleep 0.1; done
[[ $(grep -c 'p.json' err.txt) == 1 ]] || die "expected one error line about p.json, got: $(cat err.txt)"
grep -q 'still serving the last good version' err.txt || die "error line: $(cat err.txt)"
get 'api/profile?source=p.json' | grep -q '"name": "saved"' || die "last good profile lost"

kill -INT "$pid"
wait "$pid"
rc=$?
pid=
[[ $rc == 0 ]] || die "exit $rc after SIGINT"

# Bad input at start.
rc=0; "$hone" serve nope.json 2>e.txt || rc=$?
[[ $rc == 1 ]] && grep -q 'nope.json' e.txt || die "missing file: exit $rc, $(cat e.txt)"
rc=0; "$hone" serve --listen 1.2.3:4 h.json 2>e.txt || rc=$?
[[ $rc == 2 && $(wc -l <e.txt) == 1 ]] && grep -q "'1.2.3'" e.txt || die "bad address: exit $rc, $(cat e.txt)"
rc=0; "$hone" serve 2>e.txt || rc=$?
[[ $rc == 2 ]] || die "no file: exit $rc"
exit $fail
