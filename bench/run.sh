#!/usr/bin/env bash
# The performance bars of ticketq, in one command, on loopback.
#
# Starts ONE private redis-server (free loopback port, temp dir, no
# persistence), ticketq-server and ticketq-reference with the same --threads,
# plus the extra ticketq instances some bars need (--batch-max 1, --threads 1)
# and ticketq-floor (a fixed-reply epoll responder, the measuring stick of
# bar 10: the kernel's cost of a request), then loads them in turn,
# INTERLEAVED (A B A B ..., --reps rounds, FLUSHALL and CONFIG RESETSTAT
# before each run), and prints the MEDIANS, the ratios and PASS/FAIL per bar.
# Raw results go to --out as JSON. Everything it starts is stopped on exit,
# also on failure or Ctrl-C. See bench/README.md.
#
#   bench/run.sh --build build-perf                 # full: 3 rounds, about 6-8 minutes
#   bench/run.sh --build build-perf --quick         # 1 round, short runs, about 1-2 minutes
#   bench/run.sh --build build-perf --out results.json --threads 2 --reps 5
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [--build DIR] [--threads N] [--reps N] [--quick] [--out FILE]
                    [--connections N] [--bench-threads N] [--waiting N] [--keep]
  --build DIR         tree with ticketq-server and bench/ticketq-bench, ticketq-reference, ticketq-floor
                      (default: build)
  --threads N         --threads of ticketq-server and ticketq-reference (default 2; bar 10 uses
                      ticketq-t1, --threads 1, against the single-threaded ticketq-floor)
  --reps N            interleaved rounds; the table shows medians (default 3, --quick 1)
  --quick             short runs and 1 round: a check that everything works (~2 min)
  --out FILE          raw results as JSON (default: ${TMPDIR:-/tmp}/ticketq-bars-DATE.json)
  --connections N     keep-alive connections of every load (default 64)
  --bench-threads N   threads of ticketq-bench (default 2)
  --waiting N         users waiting for bars 3, 5, 8 and 9 (default 1000000; a tenth of them leave for bar 8)
  --keep              keep the work dir (logs, raw runs) instead of deleting it
EOF
}

BUILD=build THREADS=2 REPS="" QUICK=0 OUT="" CONNS=64 BTHREADS=2 BIG=1000000 KEEP=0
CMDLINE="bench/run.sh $*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --bench-threads) BTHREADS=$2; shift 2 ;;
    --waiting) BIG=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in "$THREADS" "$CONNS" "$BTHREADS" "$BIG" ${REPS:+"$REPS"}; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: numbers must be positive integers" >&2; exit 2; }
done
[[ $BIG -ge 10 ]] || { echo "run.sh: --waiting must be at least 10" >&2; exit 2; }

# Sizes. Full: about 6-8 minutes on 2 busy cores; quick: about 1-2 minutes.
SMALL=1000            # waiting users of the small line (bar 3)
STATUS_RATE=5000      # open-loop status rate of bar 3, the same for both lines (well below saturation)
IDLE=10000            # idle connections (bar 6)
LEAVE=$((BIG / 10))   # users of the big line who leave before bar 8 (100,000 of 1,000,000)
if [[ $QUICK == 1 ]]; then
  REPS=${REPS:-1}; N_RES=60000; N_STAT=60000; OPEN_D=4; STAT_D=4; LIMIT=$((120 + REPS * 155))
else
  REPS=${REPS:-3}; N_RES=150000; N_STAT=150000; OPEN_D=10; STAT_D=8; LIMIT=$((120 + REPS * 205))
fi
OUT=${OUT:-${TMPDIR:-/tmp}/ticketq-bars-$(date +%Y%m%d-%H%M%S).json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPORT="$HERE/run_report.py"
source "$HERE/lib.sh"
SERVER=$(find_bin ticketq-server); REF=$(find_bin ticketq-reference); BENCH=$(find_bin ticketq-bench)
FLOOR=$(find_bin ticketq-floor)
[[ -n "$SERVER" && -n "$REF" && -n "$BENCH" && -n "$FLOOR" ]] ||
  build_hint run.sh "ticketq-server, ticketq-reference, ticketq-floor and ticketq-bench"
need_tools run.sh redis-server redis-cli python3
# 10,000 idle connections need as many descriptors in the helper and the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((IDLE + 100)) ]]; then
  echo "run.sh: warning: open-file limit $(ulimit -n) is below $((IDLE + 100)); bar 6 will open fewer connections" >&2
fi

DIR=$(mktemp -d /tmp/ticketq-run.XXXXXX)
PIDS=()   # long-lived processes we started; CUR: the load run or helper now running
CUR=""
T0=$(date +%s)
trap cleanup EXIT
partial() {  # the table of what was measured so far
  [[ -s "$DIR/runs.jsonl" ]] || return 0
  echo "PARTIAL results ($1):"; python3 "$REPORT" report "$DIR" --out "$OUT" || true
}
trap 'echo "run.sh: interrupted" >&2; partial interrupted; exit 130' INT
trap 'echo "run.sh: terminated (time limit $LIMIT s or a signal)" >&2; partial terminated; exit 143' TERM

# A watchdog bounds the whole run (10 minutes for the default 3 rounds).
MAIN=$$
( trap 'kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; exit 0' TERM; sleep "$LIMIT" & sp=$!; wait "$sp" && kill -TERM "$MAIN" ) &
PIDS+=($!)

fact() { python3 "$REPORT" fact "$DIR" "$1" "$2"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
allocations() { od -An -tu8 -N8 "$1" | tr -d ' '; }  # libticketq-malloc-count.so's counter
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
nfds() { local fds=("/proc/$1/fd/"*); echo "${#fds[@]}"; }
HZ=$(getconf CLK_TCK)
# CPU seconds (user + system) of the children reaped between two saved outputs
# of bash's `times` (their second lines: "XmY.YYYs XmY.YYYs").
children_cpu_s() {
  awk 'FNR == 2 { gsub(/,/, "."); for (i = 1; i <= 2; ++i) { split($i, a, "m"); t[FILENAME] += a[1] * 60 + a[2] } }
       END { printf "%.3f\n", t[ARGV[2]] - t[ARGV[1]] }' "$1" "$2"
}
TOKEN=bench-$RANDOM$RANDOM
# An HTTP call for setup and checks: http METHOD URL TOKEN [BODY] -> "CODE BODY".
http() {
  python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, data=body, method=method, headers={"X-Token": sys.argv[3]})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, e)
EOF
}

# ------------------------------------------------------------------ start --
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
  --daemonize no --protected-mode yes >"$DIR/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
RCLI=(redis-cli -h 127.0.0.1 -p "$RPORT")
for _ in $(seq 100); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
"${RCLI[@]}" ping >/dev/null || { echo "run.sh: redis-server did not start:" >&2; cat "$DIR/redis.log" >&2; exit 1; }

declare -A URL PID
start_ticketq() {  # name, extra flags...
  local name=$1; shift
  # Every load generator here is one client address: no per-client cap.
  "$SERVER" --port 0 --redis "redis://127.0.0.1:$RPORT" --admin-token "$TOKEN" --capacity 1000 \
    --queue-limit 10000000 --max-connections-per-client 0 "$@" >"$DIR/$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=($!)
}
start_ticketq ticketq --threads "$THREADS"
start_ticketq ticketq-b1 --threads "$THREADS" --batch-max 1
# ticketq-t1 (bar 10) counts its heap allocations, when the counter is built
# (not in sanitizer builds): libticketq-malloc-count.so keeps the count in a
# file this script reads before and after each run.
MALLOC_COUNT_LIB=$(find "$BUILD" -name libticketq-malloc-count.so -type f 2>/dev/null | head -1 || true)
if [[ -n "$MALLOC_COUNT_LIB" ]]; then
  TICKETQ_MALLOC_COUNT="$DIR/ticketq-t1.allocations" LD_PRELOAD="$MALLOC_COUNT_LIB" \
    start_ticketq ticketq-t1 --threads 1
else
  say "libticketq-malloc-count.so not found in $BUILD: bar 10 shows no allocation counts"
  start_ticketq ticketq-t1 --threads 1
fi
SERVERS_T2=ticketq
if [[ $THREADS != 2 ]]; then start_ticketq ticketq-t2 --threads 2; SERVERS_T2=ticketq-t2; fi
"$REF" --port 0 --redis-port "$RPORT" --threads "$THREADS" --capacity 1000 --queue-limit 10000000 \
  >"$DIR/reference.log" 2>&1 &
PID[reference]=$!; PIDS+=($!)
# The measuring stick of bar 10: one thread, one fixed reply to every request
# (it answers GET /ready like anything else, so the check below holds for it).
"$FLOOR" --port 0 >"$DIR/floor.log" 2>&1 &
PID[floor]=$!; PIDS+=($!)
for name in "${!PID[@]}"; do
  for _ in $(seq 100); do
    URL[$name]=$(grep -o 'http://127.0.0.1:[0-9]*' "$DIR/$name.log" | head -1 || true)
    [[ -n "${URL[$name]}" ]] && break
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "${URL[$name]}" ]] || { echo "run.sh: $name did not start:" >&2; cat "$DIR/$name.log" >&2; exit 1; }
  if [[ $name != reference ]]; then
    for _ in $(seq 100); do [[ "$(http GET "${URL[$name]}/ready" "")" == 200* ]] && break; sleep 0.1; done
  fi
done
say "redis-server $("${RCLI[@]}" info server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r') on :$RPORT;" \
    "servers: $(for n in "${!URL[@]}"; do printf '%s %s  ' "$n" "${URL[$n]}"; done)"

fact command "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$CMDLINE")"
fact machine "$(python3 - "$RPORT" <<'EOF'
import json, os, platform, subprocess, sys
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except Exception:
        return ""
model = next((l.split(":", 1)[1].strip() for l in run("lscpu").splitlines() if l.startswith("Model name")), "")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
ver = next((l.split(":", 1)[1].strip() for l in run("redis-cli", "-p", sys.argv[1], "info", "server").splitlines()
            if l.startswith("redis_version")), "")
print(json.dumps({"nproc": os.cpu_count(), "cpu_model": model, "mem_total_mb": int(mem) // 1024,
                  "kernel": platform.release(), "redis_version": ver,
                  "loadavg_start": open("/proc/loadavg").read().split()[:3]}))
EOF
)"
fact config "{\"threads\": $THREADS, \"reps\": $REPS, \"quick\": $QUICK, \"connections\": $CONNS,
  \"bench_threads\": $BTHREADS, \"reserve_requests\": $N_RES, \"status_requests\": $N_STAT,
  \"open_loop_seconds\": $OPEN_D, \"status_seconds\": $STAT_D, \"capacity\": 1000,
  \"queue_limit\": 10000000, \"waiting_small\": $SMALL}"
fact status_rate "$STATUS_RATE"
fact waiting_big "$BIG"
fact leave_count "$LEAVE"
fact threads2_server "\"$SERVERS_T2\""
# Which sources the binaries were built from: the build dir's source dir, its
# git commit when it is a checkout (+dirty-src: uncommitted changes in src/).
source_of run.sh "$SERVER"
fact build "$(python3 -c 'import json,sys,os,time; print(json.dumps({"server": os.path.abspath(sys.argv[1]), "source_dir": sys.argv[2], "source_rev": sys.argv[3], "server_built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(sys.argv[1])))}))' "$SERVER" "$SRC_DIR" "$SRC_REV")"

N_T2=0; [[ $THREADS != 2 ]] && N_T2=1
TOTAL=$(( REPS * (3 + 2 + 4 + N_T2 + 2 + 4) + 2 ))
STEP=0

# run_bench STEP_NAME SERVER REP FLUSH -- ticketq-bench args... (--seed 7 unless the args give one)
run_bench() {
  local step=$1 server=$2 rep=$3 flush=$4; shift 5
  local seed=(--seed 7)
  [[ " $* " == *" --seed "* ]] && seed=()
  STEP=$((STEP + 1))
  say "$STEP/$TOTAL $step, round $rep/$REPS: $server  ($*)"
  [[ $flush == 1 ]] && "${RCLI[@]}" flushall >/dev/null
  "${RCLI[@]}" config resetstat >/dev/null
  local pid=${PID[$server]} s0 r0 s1 r1 t0 la rc=0 counts="$DIR/$server.allocations" m0="" m1=""
  la=$(cut -d' ' -f1-3 /proc/loadavg)
  [[ -f $counts ]] && m0=$(allocations "$counts")
  s0=$(cpu "$pid"); r0=$(cpu "$RPID"); t0=$(date +%s.%N)
  # ticketq-bench's own CPU: the shell's reaped-children times (bash's times
  # builtin, run in this shell) before and after; the bench is the only child
  # reaped in between (every $(...) lies outside).
  times >"$DIR/times0"
  TICKETQ_ADMIN_TOKEN=$TOKEN "$BENCH" --url "${URL[$server]}" --no-progress --json "${seed[@]}" \
    -c "$CONNS" -t "$BTHREADS" "$@" >"$DIR/bench.out" 2>"$DIR/bench.err" &
  CUR=$!
  wait "$CUR" || rc=$?
  times >"$DIR/times1"
  CUR=""
  s1=$(cpu "$pid"); r1=$(cpu "$RPID")
  [[ -n $m0 ]] && m1=$(allocations "$counts")
  "${RCLI[@]}" info commandstats >"$DIR/cmdstats.txt"
  python3 "$REPORT" record "$DIR" --step "$step" --server "$server" --rep "$rep" --rc "$rc" \
    --bench "$DIR/bench.out" --stderr "$DIR/bench.err" --cmdstats "$DIR/cmdstats.txt" \
    --server-ticks $((s1 - s0)) --redis-ticks $((r1 - r0)) --hz "$HZ" --loadavg "$la" \
    --bench-cpu-s "$(children_cpu_s "$DIR/times0" "$DIR/times1")" \
    ${m1:+--allocations $((m1 - m0))} \
    --seconds "$(python3 -c "import time; print(round(time.time() - $t0, 2))")" --args "$*"
}

# ------------------------------------------- bars 1 and 4: reserve, closed loop --
# ticketq, the reference and ticketq --batch-max 1 in turn, the same fixed
# number of fresh reserves (1000 seats, then all queued: no sold out).
for rep in $(seq "$REPS"); do
  for s in ticketq reference ticketq-b1; do
    run_bench reserve_closed "$s" "$rep" 1 -- -s reserve -n "$N_RES" --max-time 120
  done
done

# ---------------------------------------- bar 1: reserve, open loop at 70 % --
REF_MAX=$(python3 "$REPORT" median "$DIR" reserve_closed reference rps || echo 0)
RATE=$(python3 -c "print(max(1000, int(0.7 * float('$REF_MAX'))))")
fact open_loop_rate "$RATE"
for rep in $(seq "$REPS"); do
  for s in ticketq reference; do
    run_bench reserve_open "$s" "$rep" 1 -- -s reserve --rate "$RATE" -d "$OPEN_D" --warmup 1
  done
done

# ------------------------------------ bars 2 and 7: status, closed loop --
# Status of 1000 reserved users (set up by ticketq-bench, untimed).
# floor: the status half of bar 10 (ticketq-t1 against ticketq-floor, info).
STATUS_SERVERS=(ticketq reference ticketq-t1 floor)
[[ $N_T2 == 1 ]] && STATUS_SERVERS+=(ticketq-t2)
for rep in $(seq "$REPS"); do
  for s in "${STATUS_SERVERS[@]}"; do
    run_bench status_closed "$s" "$rep" 1 -- -s status --users 1000 -n "$N_STAT" --max-time 120
  done
done

# ------------------- bar 10: server CPU per request against the floor server --
# ticketq --threads 1 (coalescing on: the default batch_max) and ticketq-floor,
# the same closed-loop fresh reserves as bar 1: server CPU from /proc per
# answered request. Every reserve is a first join, so ticketq signs a user
# token (HS256) for each; the status runs of bar 2 (ticketq-t1 and floor)
# show the ratio without signing. The floor's run is also the check that
# ticketq-bench is not the limit: its throughput and its own CPU there.
for rep in $(seq "$REPS"); do
  for s in ticketq-t1 floor; do
    run_bench reserve_closed_t1 "$s" "$rep" 1 -- -s reserve -n "$N_RES" --max-time 120
  done
done

# ------------------------- bars 3, 5 and 8: status with 1,000 / 1,000,000 waiting --
# Two events with no seats, so every user waits: w1k with 1,000, w1m with
# $BIG. A setup run reserves the --users ids (untimed; the first time this
# fills the line, later only idempotent repeats), then ticketq-bench GETs
# random ones of them at a fixed open-loop rate: the same load on both lines,
# over users that are all waiting. No FLUSHALL here: both lines stay.
# Bar 8: then $LEAVE random users of w1m leave (-s leave, a random order
# seeded per round; untimed for the bar), and status runs again on w1m with
# --left: no setup, asking only about users still waiting. The next round's
# setup makes those who left join again, at the end of the line.
"${RCLI[@]}" flushall >/dev/null
for ev in w1k w1m; do
  r=$(http PUT "${URL[ticketq]}/v1/events/$ev" "$TOKEN" '{"capacity":0,"queue_limit":2000000}')
  [[ $r == 201* ]] || { echo "run.sh: PUT /v1/events/$ev: $r" >&2; exit 1; }
done
waiting_of() { http GET "${URL[ticketq]}/v1/events/$1" "$TOKEN" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().split(" ",1)[1])["waiting"])'; }
used_memory() { "${RCLI[@]}" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
# The setup of each line runs on its own, untimed and unrecorded (one status
# run of one request after reserving every id), so that Redis's command
# statistics and CPU in the measured run (--in-line: no setup) are its
# status calls' own: bars 3 and 8 are what a status costs Redis.
line_setup() {  # event prefix users
  TICKETQ_ADMIN_TOKEN=$TOKEN "$BENCH" --url "${URL[ticketq]}" --no-progress -c "$CONNS" -t "$BTHREADS" \
    -s status --event "$1" --prefix "$2" --users "$3" -n 1 --max-time 300 >"$DIR/setup.out" 2>&1 ||
    { echo "run.sh: setup of $1 failed:" >&2; cat "$DIR/setup.out" >&2; exit 1; }
}
for rep in $(seq "$REPS"); do
  line_setup w1k k "$SMALL"
  run_bench status_1k ticketq "$rep" 0 -- -s status --event w1k --prefix k --users "$SMALL" \
    --in-line --rate "$STATUS_RATE" -d "$STAT_D" --warmup 2
  if [[ $rep == 1 ]]; then MEM0=$(used_memory); W0=$(waiting_of w1m); fi
  line_setup w1m m "$BIG"
  run_bench status_1m ticketq "$rep" 0 -- -s status --event w1m --prefix m --users "$BIG" \
    --in-line --rate "$STATUS_RATE" -d "$STAT_D" --warmup 2 --max-time 60
  if [[ $rep == 1 ]]; then
    MEM1=$(used_memory); W1=$(waiting_of w1m)
    fact memory "{\"before\": $MEM0, \"after\": $MEM1, \"waiting_before\": $W0, \"waiting_now\": $W1,
      \"waiting_added\": $((W1 - W0)), \"dbsize\": $("${RCLI[@]}" dbsize),
      \"used_memory_rss_after\": $("${RCLI[@]}" info memory | awk -F: '/^used_memory_rss:/ {print $2}' | tr -d '\r')}"
    [[ $W1 == "$BIG" ]] || say "warning: w1m has $W1 waiting, expected $BIG"
  fi
  W0=$(waiting_of w1m)
  run_bench leave_1m ticketq "$rep" 0 -- -s leave --event w1m --prefix m --users "$BIG" -n "$LEAVE" \
    --seed $((100 + rep)) --max-time 120
  W1=$(waiting_of w1m)
  fact "leave_$rep" "{\"waiting_before\": $W0, \"waiting_after\": $W1, \"left\": $((W0 - W1)), \"seed\": $((100 + rep))}"
  [[ $((W0 - W1)) == "$LEAVE" ]] || say "warning: $((W0 - W1)) users left w1m, expected $LEAVE"
  run_bench status_1m_left ticketq "$rep" 0 -- -s status --event w1m --prefix m --users "$BIG" \
    --left "$LEAVE" --seed $((100 + rep)) --rate "$STATUS_RATE" -d "$STAT_D" --warmup 2 --max-time 60
done
fact waiting_small_check "$(waiting_of w1k)"

# ------------------------ bar 9: memory per waiting user with waiter expiry on --
# A third line, w1mt, with waiter_ttl_s set: each waiter also has a heartbeat
# entry. Filled by ticketq-bench status's setup (untimed), then a short status
# run (a day's TTL: no poll is stale enough to write).
r=$(http PUT "${URL[ticketq]}/v1/events/w1mt" "$TOKEN" '{"capacity":0,"queue_limit":2000000,"waiter_ttl_s":86400}')
[[ $r == 201* ]] || { echo "run.sh: PUT /v1/events/w1mt: $r" >&2; exit 1; }
MEM0=$(used_memory); W0=$(waiting_of w1mt)
run_bench status_1m_ttl ticketq 1 0 -- -s status --event w1mt --prefix t --users "$BIG" \
  --rate "$STATUS_RATE" -d 2 --max-time 120
MEM1=$(used_memory); W1=$(waiting_of w1mt)
fact memory_ttl "{\"before\": $MEM0, \"after\": $MEM1, \"waiting_before\": $W0, \"waiting_now\": $W1,
  \"waiting_added\": $((W1 - W0))}"
[[ $W1 == "$BIG" ]] || say "warning: w1mt has $W1 waiting, expected $BIG"

# ---------------------------------- bar 6: RSS with 10,000 idle connections --
STEP=$((STEP + 1))
TPID=${PID[ticketq]}
say "$STEP/$TOTAL idle: $IDLE keep-alive connections to ticketq, one GET /health each, then idle"
BASE_RSS=$(rss_kb "$TPID"); FDS0=$(nfds "$TPID")
TQPORT=${URL[ticketq]##*:}
python3 "$HERE/idle_conns.py" --port "$TQPORT" -n "$IDLE" --hold 120 --ready-file "$DIR/idle.json" \
  >"$DIR/idle.log" 2>&1 &
IPID=$!; CUR=$IPID
for _ in $(seq 600); do [[ -s "$DIR/idle.json" ]] && break; kill -0 "$IPID" 2>/dev/null || break; sleep 0.1; done
[[ -s "$DIR/idle.json" ]] || { echo "run.sh: idle_conns.py failed:" >&2; cat "$DIR/idle.log" >&2; exit 1; }
sleep 1  # let the server settle
RSS=$(rss_kb "$TPID"); HWM=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$TPID/status"); FDS1=$(nfds "$TPID")
kill -TERM "$IPID" 2>/dev/null || true; wait "$IPID" 2>/dev/null || true; CUR=""
fact idle "$(python3 - "$DIR/idle.json" "$BASE_RSS" "$RSS" "$HWM" "$FDS0" "$FDS1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(baseline_rss_kb=int(sys.argv[2]), rss_kb=int(sys.argv[3]), hwm_kb=int(sys.argv[4]),
         fds_before=int(sys.argv[5]), fds_with=int(sys.argv[6]))
print(json.dumps(d))
EOF
)"
say "          VmRSS $BASE_RSS kB -> $RSS kB with $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["open"])' "$DIR/idle.json") open; fds $FDS0 -> $FDS1"

# ------------------------------------------------------------------ report --
fact loadavg_end "$(python3 -c 'import json; print(json.dumps(open("/proc/loadavg").read().split()[:3]))')"
fact seconds "$(( $(date +%s) - T0 ))"
echo
echo "ticketq bars: threads $THREADS, $CONNS connections, ticketq-bench $BTHREADS threads, $REPS round(s), medians;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
[[ $QUICK == 1 ]] && echo "quick mode: short runs, $REPS round(s): a check that everything works, not a measurement to quote"
python3 "$REPORT" report "$DIR" --out "$OUT"
say "done"
