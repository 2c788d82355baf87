#!/usr/bin/env bash
# cli_run.sh - `hone run` as a user drives it: GNU parallel's replacement
# strings, inputs from :::, -a, stdin and NUL-separated, inputs that look
# like options or shell code reaching the command as one word each (no
# shell runs unless --shell, and then they are quoted), -k order and whole
# job outputs, --halt, --joblog, --json, --retries, --timeout, --rate, the
# result cache (hits, each kind of miss, failures, restarts, two processes
# at once, clearing it, a shared Redis tier), bad usage, and the summary.
# Every case is named; a failure prints what was expected and what came.
# Nothing is written outside a temporary directory (HONE_CACHE_DIR points
# into it); waits are bounded polls, and times are only ever lower bounds
# or loose upper bounds (15 s) on things that take well under a second.
# shellcheck disable=SC1083 # the {} of replacement strings are literal on purpose
set -euo pipefail
hone=${TEST_HONE_CLI:?}
tmp=$(mktemp -d)
redis_pid=
bg_pids=()
cleanup() {
  [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
export HONE_CACHE_DIR=$tmp/cache
unset HONE_MAX_WORKERS NO_COLOR
nfail=0

fail() { # fail CASE EXPECTED ACTUAL
  printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"
  nfail=$((nfail + 1))
}
same() { # same CASE EXPECTED ACTUAL
  [[ $2 == "$3" ]] || fail "$1" "$2" "$3"
}
# hr ARGS...: hone run ARGS; stdout in out.txt, stderr in err.txt, status
# in $rc, elapsed milliseconds in $ms.
hr() {
  local t0=${EPOCHREALTIME/[.,]/}
  rc=0
  "$hone" run "$@" >out.txt 2>err.txt || rc=$?
  local t1=${EPOCHREALTIME/[.,]/}
  ms=$(((t1 - t0) / 1000))
  [[ -z ${CLI_RUN_TRACE:-} ]] || echo "$ms ms: $*" >>"$CLI_RUN_TRACE"
}
out() { echo "$(<out.txt)"; }
err() { echo "$(<err.txt)"; }
# expect CASE RC OUTPUT: the last hr exited RC and printed OUTPUT (without
# its last newline).
expect() {
  same "$1: exit status" "$2" "$rc"
  same "$1: stdout" "$3" "$(out)"
}
# alive PID: a process that is running (a zombie left to an init that does
# not reap is not running).
alive() {
  [[ -r /proc/$1/stat ]] || return 1
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z ]]
}
# gone PID: waits up to 5 s for PID to stop running.
gone() {
  for _ in $(seq 50); do alive "$1" || return 0; sleep 0.1; done
  return 1
}
jsonl_valid() { # jsonl_valid N: out.txt is N lines, each one JSON object
  [[ $(wc -l <out.txt) -eq $1 ]] && jq -e -s --argjson n "$1" 'length == $n and all(type == "object")' out.txt >/dev/null 2>&1
}

# ------------------------------------------------------------------
# Replacement strings (GNU parallel's meaning)
# ------------------------------------------------------------------

hr -q -k --no-history echo {} {.} {/} {//} {/.} {#} ::: a/b.c x.tar.gz /d/e plain
expect "replacement strings {} {.} {/} {//} {/.} {#}" 0 "a/b.c a/b b.c a b 1
x.tar.gz x.tar x.tar.gz . x.tar 2
/d/e /d/e e /d e 3
plain plain plain . plain 4"

hr -q -k --no-history -n 2 echo {2} {1} {1.} {2/} {#} ::: x.c d/y.h p q
expect "positional {N} {N.} {N/} with -n 2" 0 "d/y.h x.c x y.h 1
q p p q 2"

# Without replacement strings the inputs are appended, -n at a time; the
# last command gets what is left.
hr -q -k --no-history -n 2 sh -c 'echo "$#: $*"' sh ::: a b c d e
expect "-n 2 groups inputs, appended as words" 0 "2: a b
2: c d
1: e"

hr -q -k --no-history -n 2 printf '<%s>' {} ::: a b c
expect "-n 2: a word that is exactly {} is one word per input" 0 "<a><b><c>"

hr -q --no-history echo pre ::: a
expect "an input is appended when the template has no {}" 0 "pre a"

# ------------------------------------------------------------------
# Where inputs come from
# ------------------------------------------------------------------

printf 'a b\nc\n' >lines.in
hr -q -k --no-history -a lines.in printf '<%s>\n'
expect "inputs from -a FILE, one per line" 0 "<a b>
<c>"

hr -q -k --no-history printf '<%s>\n' <lines.in
expect "inputs from stdin" 0 "<a b>
<c>"

hr -q -k --no-history -a - printf '<%s>\n' <lines.in
expect "inputs from -a - (stdin)" 0 "<a b>
<c>"

printf 'a\0b c\0' >nul.in
hr -q -k --no-history -0 printf '<%s>\n' <nul.in
expect "-0: NUL-separated inputs from stdin" 0 "<a>
<b c>"

printf 'one\ntwo\0three\0' >nul2.in
hr -q -k --no-history -0 -a nul2.in printf '<%s>\n'
printf '<one\ntwo>\n<three>\n' >want.txt
cmp -s want.txt out.txt || fail "-0 -a FILE: a newline inside an input stays in it" "$(cat want.txt)" "$(out)"

# ------------------------------------------------------------------
# Odd inputs: each is exactly one argument, and no shell ever sees it
# ------------------------------------------------------------------

hr -q -k --no-history printf '%s\n' ::: -n --help -- -
expect "inputs that look like options reach the command" 0 "-n
--help
--
-"

odd=("it's \"quoted\"" '$(touch X1)' '; touch X2' '`touch X3`' 'a  b' '*' '$HOME' '| touch X4')
hr -q -k --no-history printf '<%s>\n' ::: "${odd[@]}"
expect "odd inputs are one argument each, unexpanded" 0 "$(printf '<%s>\n' "${odd[@]}")"
for x in X1 X2 X3 X4; do [[ ! -e $x ]] || fail "no shell without --shell" "no file $x" "$x was created"; done

hr -q -k --no-history --shell 'printf "<%s>\n" {}' ::: "${odd[@]}"
expect "--shell: inputs are quoted words" 0 "$(printf '<%s>\n' "${odd[@]}")"
for x in X1 X2 X3 X4; do [[ ! -e $x ]] || fail "--shell quotes the inputs" "no file $x" "$x was created"; done

hr -q -k --no-history --shell 'echo {} | tr a-z A-Z' ::: 'ab; touch X5' 'cd $(touch X6)'
expect "--shell: the template's own shell syntax works" 0 'AB; TOUCH X5
CD $(TOUCH X6)'
for x in X5 X6; do [[ ! -e $x ]] || fail "--shell quotes the inputs" "no file $x" "$x was created"; done

# GNU parallel: with -n 2, {} in a command line is one quoted shell word
# per input, so `printf "<%s>\n" {}` prints one line per input.
hr -q -k --no-history --shell -n 2 'printf "<%s>\n" {}' ::: 'a b' "c'd" e
expect "--shell -n 2: {} is one quoted shell word per input (GNU parallel)" 0 "<a b>
<c'd>
<e>"

# ------------------------------------------------------------------
# Output: -k order, and each job's output whole
# ------------------------------------------------------------------

hr -q -k -j4 --no-history sh -c 'sleep "$1"; echo "$1"' sh ::: 0.3 0.1 0.2 0
expect "-k prints in input order" 0 "0.3
0.1
0.2
0"

hr -q -j3 --no-history sh -c 'echo "$1 a"; sleep 0.1; echo "$1 b"; sleep 0.1; echo "$1 c"' sh ::: x y z
if ! awk 'NR % 3 == 1 { j = $1; if ($2 != "a") bad = 1; seen[j]++ }
          NR % 3 == 2 { if ($1 != j || $2 != "b") bad = 1 }
          NR % 3 == 0 { if ($1 != j || $2 != "c") bad = 1 }
          END { exit !(NR == 9 && !bad && seen["x"] == 1 && seen["y"] == 1 && seen["z"] == 1) }' out.txt; then
  fail "without -k each job's output is whole" "x a/x b/x c, y a/..., z a/... in blocks of 3" "$(out | tr '\n' '/')"
fi

# ------------------------------------------------------------------
# --halt
# ------------------------------------------------------------------

exit_with='echo "$1"; exit "$1"'
hr -q -j1 --no-history sh -c "$exit_with" sh ::: 0 3 0 4 0
expect "no --halt: every job runs, status = number failed" 2 "0
3
0
4
0"
hr -q -j1 --no-history --halt never sh -c "$exit_with" sh ::: 0 3 0 4 0
expect "--halt never: status = number failed" 2 "0
3
0
4
0"

hr -j1 --no-history --halt soon,fail=1 sh -c "$exit_with" sh ::: 0 5 0 0
expect "--halt soon,fail=1: status of the failing job, nothing after it starts" 5 "0
5"
grep -q "2 not started" err.txt || fail "--halt soon,fail=1: summary" "'2 not started'" "$(err)"

hr -q -j1 --no-history --halt now,fail=1 sh -c "$exit_with" sh ::: 0 5 0 0
expect "--halt now,fail=1: status of the failing job, nothing after it starts" 5 "0
5"

# The failing job waits (bounded) until the long one runs, then fails.
cat >halt.sh <<'EOF'
#!/bin/sh
if [ "$1" = long ]; then echo $$ >long.pid; exec sleep 30; fi
i=0
while [ ! -s long.pid ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
exit 4
EOF
chmod +x halt.sh
hr -j2 --no-history --halt now,fail=1 ./halt.sh ::: long fail
same "--halt now,fail=1 with a running job: status" 4 "$rc"
[[ $ms -lt 15000 ]] || fail "--halt now,fail=1 kills the running job at once" "under 15000 ms" "$ms ms"
grep -q "1 killed" err.txt || fail "--halt now,fail=1: summary counts the killed job" "'1 killed'" "$(err)"
if [[ -s long.pid ]]; then
  gone "$(cat long.pid)" || fail "--halt now,fail=1: the long job's process" "gone" "still running"
else
  fail "--halt now,fail=1: the long job started" "long.pid written" "no long.pid"
fi

hr -q -j1 --no-history --halt now,success=1 sh -c "$exit_with" sh ::: 1 1 0 1 1
expect "--halt now,success=1: stops at the first success, status 0" 0 "1
1
0"

hr -q -j1 --no-history --halt soon,done=2 sh -c "$exit_with" sh ::: 1 0 0 1
expect "--halt soon,done=2: stops after 2 jobs, status = number failed" 1 "1
0"

# Judged once 3 jobs have finished: 2 of 3 failed is over 50%.
hr -q -j1 --no-history --halt soon,fail=50% sh -c "$exit_with" sh ::: 0 4 3 0 0 0
expect "--halt soon,fail=50%: halts at the third job, status = number failed" 2 "0
4
3"

for v in bogus now,fail=x soon,fail=0 now,fail=100% later,fail=1; do
  hr --no-history --halt "$v" true ::: 1
  same "--halt $v: exit status" 2 "$rc"
  same "--halt $v: one line on stderr" 1 "$(wc -l <err.txt)"
  grep -qF "'$v'" err.txt || fail "--halt $v: the error names the value" "'$v' in it" "$(err)"
  if grep -q 'hone run: hone run:' err.txt; then fail "--halt $v: one 'hone run:' prefix" "hone run: bad --halt ..." "$(err)"; fi
done

# ------------------------------------------------------------------
# --joblog
# ------------------------------------------------------------------

header=$'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand'
jl_script='if [ "$1" = s ]; then exec sleep 30; fi; exit "$1"'
hr -q -k -j1 --no-history --timeout 0.2s --joblog jl.txt sh -c "$jl_script" sh ::: 0 3 s
same "--joblog: the run's status" 2 "$rc"
same "--joblog: header line" "$header" "$(head -1 jl.txt)"
same "--joblog: one line per job" 4 "$(wc -l <jl.txt)"
same "--joblog: 9 tab-separated fields on every line" "9 9 9 9" "$(awk -F'\t' '{printf "%s%d", (NR > 1 ? " " : ""), NF}' jl.txt)"
same "--joblog: Seq" "1 2 3" "$(awk -F'\t' 'NR > 1 {printf "%s%s", (NR > 2 ? " " : ""), $1}' jl.txt)"
same "--joblog: Exitval (-1 for the timed-out job)" "0 3 -1" "$(awk -F'\t' 'NR > 1 {printf "%s%s", (NR > 2 ? " " : ""), $7}' jl.txt)"
sig=$(awk -F'\t' 'NR == 4 {print $8}' jl.txt)
[[ $sig == 15 || $sig == 9 ]] || fail "--joblog: Signal of the timed-out job" "15 or 9" "$sig"
same "--joblog: Signal of the exited jobs" "0 0" "$(awk -F'\t' 'NR == 2 || NR == 3 {printf "%s%s", (NR > 2 ? " " : ""), $8}' jl.txt)"
same "--joblog: Command" "sh -c $jl_script sh 3" "$(awk -F'\t' 'NR == 3 {print $9}' jl.txt)"
if command -v parallel >/dev/null; then
  mkdir -p phome
  HOME=$tmp/phome parallel --will-cite --joblog pjl.txt true ::: 1 </dev/null >/dev/null 2>&1 || true
  if [[ -s pjl.txt ]]; then
    same "--joblog: header as GNU parallel writes it" "$(head -1 pjl.txt)" "$(head -1 jl.txt)"
  else
    echo "skip: GNU parallel wrote no joblog"
  fi
else
  echo "skip: GNU parallel not installed (joblog header comparison)"
fi

# ------------------------------------------------------------------
# --json
# ------------------------------------------------------------------

js='echo "out$1"; exit "$1"'
hr -q -k --no-history --json sh -c "$js" sh ::: 0 2
same "--json: status" 1 "$rc"
jsonl_valid 2 || fail "--json: every line is a JSON object" "2 objects" "$(out)"
j1=$(sed -n 1p out.txt)
j2=$(sed -n 2p out.txt)
jq -e --arg js "$js" '.seq == 1 and .inputs == ["0"] and .command == ["sh", "-c", $js, "sh", "0"]
   and .end == "exited" and .exit == 0 and .ok == true and .cached == false and .stdout == "out0\n"' \
  <<<"$j1" >/dev/null || fail "--json: the succeeding job's fields" "seq 1, inputs [0], command, end exited, exit 0, ok, not cached, stdout out0" "$j1"
jq -e --arg js "$js" '.seq == 2 and .inputs == ["2"] and .command == ["sh", "-c", $js, "sh", "2"]
   and .end == "exited" and .exit == 2 and .ok == false and .cached == false and .stdout == "out2\n"' \
  <<<"$j2" >/dev/null || fail "--json: the failing job's fields" "seq 2, inputs [2], exit 2, ok false, stdout out2" "$j2"

# ------------------------------------------------------------------
# --retries, --timeout, --rate
# ------------------------------------------------------------------

# Fails twice per input, then succeeds (a counter file per input).
cat >flaky.sh <<'EOF'
#!/bin/sh
echo x >>"count.$1"
n=$(wc -l <"count.$1")
[ "$n" -ge 3 ] && { echo "ok $1 after $n"; exit 0; }
exit 1
EOF
chmod +x flaky.sh
hr -k --no-history --retries 3 ./flaky.sh ::: a b
expect "--retries 3: fails twice, then succeeds" 0 "ok a after 3
ok b after 3"
grep -qE '4 retries' err.txt || fail "--retries 3: the summary counts the retries" "'4 retries'" "$(err)"

hr -q --no-history --retries 2 sh -c 'echo x >>"always.$1"; exit 1' sh ::: a
same "--retries 2 on an always-failing job: status" 1 "$rc"
same "--retries 2: tries in all" 2 "$(wc -l <always.a)"

hr --no-history --timeout 300ms sleep 30 ::: 1
[[ $rc -ne 0 ]] || fail "--timeout 300ms on sleep 30: status" "non-zero" "$rc"
[[ $ms -lt 15000 ]] || fail "--timeout 300ms on sleep 30: killed quickly" "under 15000 ms" "$ms ms"
grep -q "timed out" err.txt || fail "--timeout: reported" "'timed out' on stderr" "$(err)"
grep -q "1 timed out" err.txt || fail "--timeout: the summary counts it" "'1 timed out'" "$(err)"

hr -q --no-history --rate 20/s true ::: 1 2 3 4 5 6 7 8 9 10
same "--rate 20/s: status" 0 "$rc"
[[ $ms -ge 400 ]] || fail "--rate 20/s: 10 jobs take at least 9 intervals of 50 ms" "at least 400 ms" "$ms ms"

# ------------------------------------------------------------------
# The result cache
# ------------------------------------------------------------------

# A command that leaves a line in side.txt each time it really runs.
cat >cmd.sh <<'EOF'
#!/bin/sh
echo "$1" >>side.txt
cat "$1"
echo v1
EOF
chmod +x cmd.sh
: >side.txt
ran() { wc -l <side.txt | tr -d ' '; }
# cached_list: the jobs' .cached in order, e.g. "true false".
cached_list() { jq -r '.cached' out.txt | paste -sd' '; }
printf 'one\n' >in1.txt
printf 'two\n' >in2.txt

hr -q -k --cache --json ./cmd.sh ::: in1.txt in2.txt
same "cache: first run misses" "false false" "$(cached_list)"
same "cache: first run runs both" 2 "$(ran)"
first=$(jq -r '.stdout' out.txt)
hr -q -k --cache --json ./cmd.sh ::: in1.txt in2.txt
same "cache: a new process replays every job (disk tier)" "true true" "$(cached_list)"
same "cache: a replayed job does not run" 2 "$(ran)"
same "cache: replayed output" "$first" "$(jq -r '.stdout' out.txt)"
hr -k --cache ./cmd.sh ::: in1.txt in2.txt
expect "cache: replayed output without --json" 0 "one
v1
two
v1"
grep -q "2 cached" err.txt || fail "cache: the summary counts the hits" "'2 cached'" "$(err)"

printf 'ONE\n' >in1.txt # same size, same inode, written at once
hr -q -k --cache --json ./cmd.sh ::: in1.txt in2.txt
same "cache: an edited input file misses for that input only" "false true" "$(cached_list)"
same "cache: the edited input's new output" "ONE" "$(jq -r 'select(.seq == 1) | .stdout' out.txt | head -1)"

echo d1 >dep.txt
hr -q -k --cache --json --dep dep.txt ./cmd.sh ::: in1.txt in2.txt
hr -q -k --cache --json --dep dep.txt ./cmd.sh ::: in1.txt in2.txt
same "cache: unchanged --dep hits" "true true" "$(cached_list)"
echo d2 >dep.txt
n0=$(ran)
hr -q -k --cache --json --dep dep.txt ./cmd.sh ::: in1.txt in2.txt
same "cache: an edited --dep misses for every input" "false false" "$(cached_list)"
same "cache: an edited --dep reruns every input" $((n0 + 2)) "$(ran)"

envrun() { # envrun VALUE|-unset: one run with --env HONE_T_VAR set so
  if [[ $1 == -unset ]]; then
    (unset HONE_T_VAR; hr -q --cache --json --env HONE_T_VAR ./cmd.sh ::: in2.txt; exit 0)
  else
    (export HONE_T_VAR=$1; hr -q --cache --json --env HONE_T_VAR ./cmd.sh ::: in2.txt; exit 0)
  fi
  cached_list
}
same "cache --env: unset, first" false "$(envrun -unset)"
same "cache --env: unset again hits" true "$(envrun -unset)"
same "cache --env: empty differs from unset" false "$(envrun '')"
same "cache --env: empty again hits" true "$(envrun '')"
same "cache --env: a value misses" false "$(envrun a)"
same "cache --env: the same value hits" true "$(envrun a)"
same "cache --env: another value misses" false "$(envrun b)"
HONE_T_VAR=b HONE_T_OTHER=y hr -q --cache --json --env HONE_T_VAR ./cmd.sh ::: in2.txt
same "cache --env: a variable not named by --env does not matter" true "$(cached_list)"

sed -i 's/v1/v2/' cmd.sh
hr -q -k --cache --json ./cmd.sh ::: in1.txt in2.txt
same "cache: an edited executable misses" "false false" "$(cached_list)"
same "cache: the edited executable's output" "v2" "$(jq -r '.stdout' out.txt | sed -n 2p)"

failing='echo f >>side.txt; echo "fail $1"; exit 3'
n0=$(ran)
hr -q --cache --json sh -c "$failing" sh ::: a
hr -q --cache --json sh -c "$failing" sh ::: a
same "cache: a failing job is not cached" false "$(cached_list)"
same "cache: a failing job reruns" $((n0 + 2)) "$(ran)"
hr -q --cache --json --cache-failures sh -c "$failing" sh ::: a
hr -q --cache --json --cache-failures sh -c "$failing" sh ::: a
same "cache --cache-failures: the failure is replayed" true "$(cached_list)"
same "cache --cache-failures: not run again" $((n0 + 3)) "$(ran)"
same "cache --cache-failures: the replayed status" 1 "$rc"
same "cache --cache-failures: the replayed exit and output" "3 fail a" \
  "$(jq -r '"\(.exit) \(.stdout)"' out.txt | head -1)"

n0=$(ran)
slow='echo t >>side.txt; exec sleep 30'
hr -q --cache --json --cache-failures --timeout 200ms sh -c "$slow" sh ::: a
hr -q --cache --json --cache-failures --timeout 200ms sh -c "$slow" sh ::: a
same "cache: a timed-out job is never cached" "timedout false" "$(jq -r '"\(.end) \(.cached)"' out.txt)"
same "cache: a timed-out job runs again" $((n0 + 2)) "$(ran)"

# --cache-dir: another directory, its own entries.
hr -q --cache --cache-dir "$tmp/cd2" --json echo hi ::: 1 2
hr -q --cache --cache-dir "$tmp/cd2" --json echo hi ::: 1 2
same "--cache-dir: the second run replays" "true true" "$(cached_list)"
hr --cache-stats --cache-dir "$tmp/cd2"
same "--cache-stats: status" 0 "$rc"
grep -qE '^ *entries +2$' out.txt || fail "--cache-stats: entries of --cache-dir" "entries 2" "$(out)"

# Two processes at once on one cache, overlapping inputs; then a third
# replays every input, byte for byte.
seq 1 30 >c1.in
seq 16 45 >c2.in
seq 1 45 >call.in
conc=(sh -c 'echo "$1" >>conc.txt; echo "out $1"; echo "line2 $1"' sh)
rc1=0 rc2=0
"$hone" run -q -k -j3 --cache -a c1.in "${conc[@]}" >co1.txt 2>ce1.txt &
p1=$!
bg_pids+=("$p1")
"$hone" run -q -k -j3 --cache -a c2.in "${conc[@]}" >co2.txt 2>ce2.txt &
p2=$!
bg_pids+=("$p2")
wait "$p1" || rc1=$?
wait "$p2" || rc2=$?
bg_pids=()
same "cache: two concurrent runs, first status" "0 " "$rc1 $(cat ce1.txt)"
same "cache: two concurrent runs, second status" "0 " "$rc2 $(cat ce2.txt)"
for i in $(seq 1 45); do printf 'out %s\nline2 %s\n' "$i" "$i"; done >want.txt
sed -n '1,60p' want.txt >want1.txt
sed -n '31,90p' want.txt >want2.txt
cmp -s want1.txt co1.txt || fail "cache: concurrent run 1 output" "out 1..30" "$(head -c 200 co1.txt)"
cmp -s want2.txt co2.txt || fail "cache: concurrent run 2 output" "out 16..45" "$(head -c 200 co2.txt)"
n0=$(wc -l <conc.txt)
hr -q -k -j3 --cache --json -a call.in "${conc[@]}"
same "cache: after two concurrent runs every input replays" 45 "$(jq -r 'select(.cached) | .seq' out.txt | wc -l)"
same "cache: replaying runs nothing" "$n0" "$(wc -l <conc.txt)"
hr -q -k -j3 --cache -a call.in "${conc[@]}"
cmp -s want.txt out.txt || fail "cache: replayed output is byte-exact" "$(head -4 want.txt | tr '\n' '/')..." "$(head -4 out.txt | tr '\n' '/')..."

hr --cache-stats
same "--cache-stats: status" 0 "$rc"
entries=$(awk '$1 == "entries" {print $2}' out.txt)
[[ $entries =~ ^[0-9]+$ && $entries -ge 45 ]] || fail "--cache-stats: entries" "at least 45" "$(out)"

rc=0
"$hone" cache clear --dir "$HONE_CACHE_DIR" --name run.mdb >out.txt 2>err.txt || rc=$?
same "cache clear: status" "0 " "$rc $(err)"
hr --cache-stats
same "cache clear: --cache-stats shows no entries" 0 "$(awk '$1 == "entries" {print $2}' out.txt)"
hr -q -k -j3 --cache --json -a call.in "${conc[@]}"
same "cache clear: the next run misses every input" 0 "$(jq -r 'select(.cached) | .seq' out.txt | wc -l)"

# ------------------------------------------------------------------
# The shared tier: Redis
# ------------------------------------------------------------------

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  port=
  base=$((20000 + RANDOM % 30000))
  for try in $(seq 0 9); do
    p=$((base + try * 7))
    if redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; then continue; fi # taken
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no >"redis.$p.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do
      redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && { port=$p; break; }
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    [[ -n $port ]] && break
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
  done
  if [[ -n $port ]]; then
    for d in r1 r2; do
      HONE_CACHE_DIR=$tmp/$d hr -q -k --no-history --cache --cache-tier memory --cache-redis "127.0.0.1:$port" \
        --json echo shared ::: 1 2
    done
    same "redis: the second run (another cache dir) replays from Redis" "true true" "$(cached_list)"
    same "redis: replayed output" "shared 1 shared 2" "$(jq -j '.stdout' out.txt | paste -sd' ')"
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
  else
    fail "redis: start a redis-server on a free loopback port" "one of 10 ports" "none started: $(cat redis.*.log | tail -3)"
  fi
else
  echo "skip: redis-server not installed (shared tier)"
fi

# ------------------------------------------------------------------
# Bad usage: exit 2 (255 for an unreadable file, as GNU parallel), one line naming the value
# ------------------------------------------------------------------

bad() { # bad STATUS REGEX ARGS...: hone run ARGS fails with STATUS, one line matching REGEX
  local want=$1 word=$2
  shift 2
  hr "$@"
  same "bad usage '$*': exit status" "$want" "$rc"
  same "bad usage '$*': one line on stderr" 1 "$(wc -l <err.txt)"
  grep -qE -- "$word" err.txt || fail "bad usage '$*': the error names the value" "/$word/ in it" "$(err)"
  if grep -q 'hone run: hone run:' err.txt; then fail "bad usage '$*': one 'hone run:' prefix" "hone run: ..." "$(err)"; fi
  same "bad usage '$*': nothing on stdout" "" "$(out)"
}
bad 2 "'--bogus'" --no-history --bogus echo ::: a
bad 2 "jobs.*0" --no-history --jobs 0 echo ::: a
bad 2 "rate.*'0'" --no-history --rate 0 echo ::: a
bad 2 "timeout.*'0'" --no-history --timeout 0 echo ::: a
bad 2 "timeout.*abc" --no-history --timeout abc echo ::: a
bad 2 "env.*'A=B'" --no-history --env A=B echo ::: a
bad 255 "missing-file" --no-history -a missing-file echo
bad 2 "no command" --no-history
bad 2 ":::.*-a lines.in" --no-history -a lines.in echo ::: a
bad 2 "\\{0\\}" --no-history echo {0} ::: a
bad 2 "cache-dir.*'rel'" --no-history --cache-dir rel echo ::: a
bad 2 "--dep only matters with --cache" --no-history --dep x echo ::: a

# ------------------------------------------------------------------
# The summary line
# ------------------------------------------------------------------

hr -j1 --no-history sh -c "$exit_with" sh ::: 0 0 1
same "summary: status" 1 "$rc"
grep -qE '^hone run: 3 jobs: 2 succeeded, 1 failed' err.txt || fail "summary line" "hone run: 3 jobs: 2 succeeded, 1 failed..." "$(err)"
same "summary: one line" 1 "$(wc -l <err.txt)"
if grep -q $'\033' err.txt; then fail "summary: no escape codes when stderr is not a terminal" "plain text" "$(cat -v err.txt)"; fi
hr -q --no-history true ::: 1 2
same "-q: nothing on stderr" "" "$(err)"
hr --no-history --progress true ::: 1 2
grep -q $'\033' err.txt || fail "--progress: a bar even when stderr is not a terminal" "escape codes" "$(cat -v err.txt)"

# ------------------------------------------------------------------
# A signal stops the run and kills its jobs
# ------------------------------------------------------------------

rm -f term.pid
"$hone" run --no-history sh -c 'echo $$ >term.pid; exec sleep 30' ::: 1 >/dev/null 2>term.err &
hp=$!
bg_pids+=("$hp")
for _ in $(seq 100); do [[ -s term.pid ]] && break; sleep 0.05; done
if [[ -s term.pid ]]; then
  kill -TERM "$hp"
  rc=0
  wait "$hp" || rc=$?
  same "SIGTERM: status 128+15" 143 "$rc"
  gone "$(cat term.pid)" || fail "SIGTERM: the running job is killed" "gone" "still running"
  grep -q "stopped by" term.err || fail "SIGTERM: the summary says so" "'stopped by'" "$(cat term.err)"
else
  fail "SIGTERM: the job started" "term.pid written" "nothing"
fi
bg_pids=()

if [[ $nfail -eq 0 ]]; then
  echo "ok: hone run"
else
  echo "$nfail check(s) failed"
fi
[[ $nfail -eq 0 ]]
