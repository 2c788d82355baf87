#!/usr/bin/env bash
# optimize.sh - `hone optimize`: status shows every setting's origin
# (default, file:line, env), level/cache/preset/set persist atomically and
# keep an existing file's comments, bad values are one line naming the valid
# ones and leave the file byte-identical, report and recommendations read a
# saved report, history and undo work on a journal, clear-cache removes only
# hone's files, every action's --json is one JSON object, and the settings
# table of hone-optimize(1) and hone(1)'s ENVIRONMENT list every variable.
set -euo pipefail
hone=${TEST_HONE_CLI:?}
src=${TEST_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HONE_CONFIG=$tmp/conf/hone.ini XDG_STATE_HOME=$tmp/state
unset HONE_LEVEL HONE_PRESET HONE_CACHE_STRATEGY HONE_CACHE_SIZE HONE_BATCH_SIZE || true
fail=0
bad() { echo "FAIL: $*"; fail=1; }
json_ok() { # json_ok FILE: one valid JSON object
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if isinstance(o, dict) else 1)' "$1"
}
origin() { # origin NAME: "origin where" of a setting in status --json
  "$hone" optimize status --json | python3 -c '
import json,sys
for s in json.load(sys.stdin)["settings"]:
    if s["name"] == sys.argv[1]: print(s["origin"], s["where"])' "$1"
}

# Defaults, then the file, then the environment.
[[ $(origin level) == "default built-in" ]] || bad "level without a file: $(origin level)"
"$hone" optimize level aggressive >out.txt || bad "level aggressive failed: $(cat out.txt)"
grep -q "moderate (default" out.txt && grep -q -- "-> aggressive (file" out.txt || bad "level: no old -> new: $(cat out.txt)"
grep -q "batch.size *= 256" out.txt || bad "level: the bundle is not printed: $(cat out.txt)"
[[ $(origin level) == "file $HONE_CONFIG:1" ]] || bad "level after 'level aggressive': $(origin level)"
[[ $(origin batch.size) == "level level aggressive" ]] || bad "batch.size at aggressive: $(origin batch.size)"
[[ $(HONE_LEVEL=basic origin level) == "env HONE_LEVEL" ]] || bad "level with HONE_LEVEL: $(HONE_LEVEL=basic origin level)"
HONE_LEVEL=basic "$hone" optimize level moderate >out.txt
grep -q "warning: HONE_LEVEL=basic" out.txt || bad "no warning when HONE_LEVEL overrides the file: $(cat out.txt)"
"$hone" optimize status >status.txt && grep -q "$HONE_CONFIG" status.txt || bad "status does not name the config file"
for a in "status" "status --component parser" "levels" "presets" "strategies hybrid" "history"; do
  read -r -a words <<<"$a"
  "$hone" optimize "${words[@]}" --json >j.json || bad "optimize $a --json failed"
  json_ok j.json || bad "optimize $a --json is not one JSON object: $(head -c 300 j.json)"
done

# A file with comments: kept; each choice replaces its line.
cat >"$HONE_CONFIG" <<'INI'
# my settings
level = basic   
; a comment in between

[cache]
# where entries live
strategy = memory
INI
"$hone" optimize level aggressive >/dev/null
"$hone" optimize cache hybrid --json >j.json && json_ok j.json || bad "cache hybrid --json"
"$hone" optimize preset batch >/dev/null
"$hone" optimize set batch.size 128 >/dev/null
grep -qx "# my settings" "$HONE_CONFIG" && grep -qx "; a comment in between" "$HONE_CONFIG" &&
  grep -qx "# where entries live" "$HONE_CONFIG" || bad "comments lost: $(cat "$HONE_CONFIG")"
[[ $(grep -c '^level' "$HONE_CONFIG") -eq 1 ]] && grep -q '^level = aggressive' "$HONE_CONFIG" || bad "level line not replaced: $(cat "$HONE_CONFIG")"
[[ $(grep -c '^strategy' "$HONE_CONFIG") -eq 1 ]] && grep -q '^strategy = hybrid' "$HONE_CONFIG" || bad "strategy not replaced: $(cat "$HONE_CONFIG")"
grep -q '^preset = batch' "$HONE_CONFIG" || bad "preset not written: $(cat "$HONE_CONFIG")"
[[ $(origin batch.size) == "file $HONE_CONFIG:"* ]] || bad "batch.size after set: $(origin batch.size)"
"$hone" optimize unset batch.size >/dev/null
grep -q 'size = 128' "$HONE_CONFIG" && bad "unset left the line: $(cat "$HONE_CONFIG")"
ls "$(dirname "$HONE_CONFIG")" | grep -v '^hone.ini$' && bad "a temporary file was left beside the config"

# Bad values: one line naming the valid ones, exit 2, file untouched.
cp "$HONE_CONFIG" before.ini
check_bad() { # check_bad WANT ARGS...
  local want=$1 rc=0
  shift
  "$hone" optimize "$@" >out.txt 2>err.txt || rc=$?
  [[ $rc -eq 2 ]] || bad "optimize $*: exit $rc, expected 2"
  [[ $(wc -l <err.txt) -eq 1 ]] && grep -qF -- "$want" err.txt || bad "optimize $*: '$(cat err.txt)' does not say '$want' in one line"
  cmp -s before.ini "$HONE_CONFIG" || bad "optimize $* changed the file"
}
check_bad "expected one of basic, moderate, aggressive" level turbo
check_bad "expected one of memory, disk, hybrid" cache ssd
check_bad "expected one of none, large-repo, realtime, batch, api-heavy" preset huge
check_bad "did you mean 'cache.ttl'" set cache.tll 5
check_bad "cache.size" set cache.size 12
check_bad "expected one of status, level" frobnicate
check_bad "no report source: give --url" report
check_bad "expected one of basic, moderate, aggressive" levels fast

# Reports: a saved one with an undersized cache.
cat >report.json <<'JSON'
{"format": "hone-opt-report", "version": 1, "start_ns": 1000000000, "end_ns": 11000000000,
 "seconds": 10, "max_workers": 2, "zones": [], "batchers": [], "https": [],
 "caches": [{"name": "sessions", "hits": 5000, "misses": 15000, "evicted_capacity": 9000,
   "expired": 0, "entries": 1000, "bytes": 16777216, "max_entries": 0, "max_bytes": 16777216,
   "utilization": 100, "peak_utilization": 100, "memory_bytes": 20000000, "ttl_ns": 0}]}
JSON
"$hone" optimize report --from report.json >out.txt || bad "report --from failed: $(cat out.txt)"
grep -q sessions out.txt || bad "report does not show the cache: $(cat out.txt)"
"$hone" optimize report --from report.json --json >j.json && json_ok j.json || bad "report --json"
"$hone" optimize report --from j.json >/dev/null || bad "report --json does not read back"
"$hone" optimize recommendations --from report.json >out.txt || bad "recommendations failed"
grep -q "cache.undersized" out.txt || bad "recommendations miss cache.undersized: $(cat out.txt)"
"$hone" optimize recommendations --from report.json --all --json >j.json && json_ok j.json || bad "recommendations --json"
grep -q '"not enough data"\|not_enough_data' j.json || bad "--all shows no not-enough-data verdict"
rc=0; "$hone" optimize report --from missing.json 2>err.txt || rc=$?
[[ $rc -ne 0 && $(wc -l <err.txt) -eq 1 ]] && grep -q missing.json err.txt || bad "--from a missing file: exit $rc, $(cat err.txt)"
"$hone" optimize alerts --from report.json >out.txt || bad "alerts without rules failed"
grep -q "no alert configured" out.txt || bad "alerts without rules: $(cat out.txt)"
printf '\n[alert.low-hits]\nmetric = cache.sessions.hit_rate\nbelow = 50\nclear = 60\n' >>"$HONE_CONFIG"
rc=0; "$hone" optimize alerts --from report.json >out.txt || rc=$?
[[ $rc -eq 1 ]] && grep -q "low-hits" out.txt || bad "a firing alert: exit $rc, $(cat out.txt)"
"$hone" optimize alerts --from report.json --json >j.json || true
json_ok j.json || bad "alerts --json"

# Journal: history and undo on lines written here.
mkdir -p "$XDG_STATE_HOME/hone"
j=$XDG_STATE_HOME/hone/journal.jsonl
cat >"$j" <<'JL'
{"seq":1,"time":"2026-01-01T00:01:00Z","setting":"batch.size","component":null,"before":"64","after":"128","evidence":"mean 12 > 10 + 2 se","outcome":"kept","ref":null}
JL
"$hone" optimize history >out.txt || bad "history failed: $(cat out.txt)"
grep -q "batch.size" out.txt || bad "history does not show the change: $(cat out.txt)"
"$hone" optimize history --json >h.json && json_ok h.json || bad "history --json"
cp "$j" journal.before
"$hone" optimize undo >out.txt || bad "undo failed: $(cat out.txt)"
head -c "$(stat -c %s journal.before)" "$j" | cmp -s - journal.before || bad "undo rewrote the journal"
grep -q '"undone"' "$j" || bad "undo appended no undone line: $(cat "$j")"
rc=0; "$hone" optimize undo 2>err.txt || rc=$?
[[ $rc -eq 1 ]] && grep -q "nothing to undo" err.txt || bad "a second undo: exit $rc, $(cat err.txt)"

# clear-cache: hone's files go, others stay.
mkdir cdir
echo "mine" >cdir/notes.txt
echo "not lmdb" >cdir/run.mdb
# A disk cache hone made: written by hone run --cache into the directory.
HONE_CACHE_DIR=$tmp/cdir2 "$hone" run -q --cache true ::: a b >/dev/null 2>&1 || true
cp cdir2/run.mdb cdir/cache.mdb 2>/dev/null || true
"$hone" optimize clear-cache --dir "$tmp/cdir" >out.txt || bad "clear-cache failed: $(cat out.txt)"
[[ -f cdir/notes.txt ]] || bad "clear-cache removed a file hone did not make"
[[ -f cdir/run.mdb ]] || bad "clear-cache removed a run.mdb hone did not write"
if [[ -f cdir2/run.mdb ]]; then
  [[ ! -f cdir/cache.mdb ]] || bad "clear-cache left hone's cache.mdb: $(cat out.txt)"
  grep -q "removed cache.mdb" out.txt || bad "clear-cache does not say what it removed: $(cat out.txt)"
  "$hone" optimize clear-cache --dir "$tmp/cdir2" --json >j.json && json_ok j.json || bad "clear-cache --json"
  [[ ! -f cdir2/run.mdb && ! -f cdir2/run-files.mdb ]] || bad "clear-cache left run.mdb or run-files.mdb"
fi

# --help of the command and of each action.
"$hone" optimize --help | grep -q "^usage: hone optimize" || bad "optimize --help"
for a in status level cache preset set unset levels strategies presets report recommendations alerts history undo clear-cache; do
  "$hone" optimize "$a" --help | grep -q "^usage: hone optimize $a" || bad "optimize $a --help"
done

# Every settings variable is in hone(1)'s ENVIRONMENT and hone-optimize(1)'s table.
HONE_CONFIG=off "$hone" optimize status --json | python3 -c '
import json,sys
for s in json.load(sys.stdin)["settings"]: print(s["variable"], s["name"])' >vars.txt
while read -r v n; do
  grep -q "^\*$v\*" "$src/docs/hone.1.scd" || bad "$v is not in hone(1) ENVIRONMENT"
  grep -q "^|  $n$" "$src/docs/hone-optimize.1.scd" || bad "$n is not in hone-optimize(1)'s settings table"
done <vars.txt

# The values of hone-optimize(1)'s settings table (variable, default, basic,
# moderate, aggressive) are the code's: the page cannot drift from the table.
HONE_CONFIG=off "$hone" optimize status --json >status-levels.json
python3 - status-levels.json "$src/docs/hone-optimize.1.scd" <<'PY' || bad "hone-optimize(1)'s settings table differs from the code"
import json,sys,re
settings=json.load(open(sys.argv[1]))["settings"]
lines=open(sys.argv[2]).read().split('\n')
rows={}
for i,l in enumerate(lines):
    m=re.match(r'^\|  (\S+)$',l)
    if m:
        cells=[]
        for l2 in lines[i+1:i+8]:
            if not l2.startswith(':  '): break
            cells.append(l2[3:].strip())
        rows[m.group(1)]=cells
bad=0
for s in settings:
    if s["name"] in ("level",): continue
    r=rows.get(s["name"])
    if not r or len(r)<7:
        print("no full row for",s["name"]); bad=1; continue
    lv=s["levels"]
    norm=lambda v: '""' if v=="" else v
    want=[s["variable"],None,norm(lv["moderate"]),norm(lv["basic"]),norm(lv["moderate"]),norm(lv["aggressive"])]
    for k,(w,g) in enumerate(zip(want,r)):
        if w is not None and w!=g:
            print("%s column %d: man page says %r, the code %r"%(s["name"],k,g,w)); bad=1
sys.exit(bad)
PY
[[ $fail -eq 0 ]] && echo "ok: hone optimize"
exit $fail
