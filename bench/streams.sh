#!/usr/bin/env bash
# The budgets of the event streams (docs/pages.md), in one command, on
# loopback. Each round starts a FRESH private redis-server and
# ticketq-server (--threads 2; RSS is read on a fresh process) and runs
# ticketq-bench -s watch twice:
#
#   burst   --watchers N (15,000) streams on one event, all admitted at once:
#           streams open, server RSS per idle stream, delivery latency of
#           the admission to every watcher; and the status API's p99 under
#           an open-loop load (--rate, a separate ticketq-bench process, as
#           the API's clients are not the watchers) just before the streams
#           open and while they are open;
#   steady  10,000 streams, 500 admitted (one step of a steady rate):
#           Redis calls per second while they sit idle and during a
#           delivery, and the delivery latency.
#
# --reps rounds; the table shows medians and the budget of each figure.
# Raw results go to --out as JSON lines. Everything it starts is stopped
# on exit, also on failure or Ctrl-C.
#
#   bench/streams.sh --build build-perf                # 3 rounds, about 4 minutes
#   bench/streams.sh --build build-perf --quick        # 1 round, 2,000 streams
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/streams.sh [--build DIR] [--watchers N] [--reps N] [--rate R] [--quick] [--out FILE]
  --build DIR     tree with ticketq-server and bench/ticketq-bench (default: build)
  --watchers N    streams of the burst run (default 15000; needs N + 200 open files)
  --reps N        rounds, each on fresh processes (default 3; --quick 1)
  --rate R        open-loop status requests per second of the API load (default 10000)
  --quick         1 round of 2,000 and 1,000 streams: a check that everything works
  --out FILE      raw results, one JSON object per run (default: $TMPDIR/ticketq-streams-DATE.jsonl)
EOF
}

BUILD=build N=15000 REPS="" RATE=10000 QUICK=0 OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --watchers) N=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "streams.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
STEADY=10000 STEADY_ADMIT=500 HOLD=5 API_S=8
if [[ $QUICK == 1 ]]; then
  REPS=${REPS:-1}; N=2000; STEADY=1000; STEADY_ADMIT=100; HOLD=2; API_S=3
fi
REPS=${REPS:-3}
for v in "$N" "$REPS" "$RATE"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "streams.sh: numbers must be positive integers" >&2; exit 2; }
done
OUT=${OUT:-${TMPDIR:-/tmp}/ticketq-streams-$(date +%Y%m%d-%H%M%S).jsonl}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
: >"$OUT"

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
SERVER=$(find_bin ticketq-server); BENCH=$(find_bin ticketq-bench)
[[ -n "$SERVER" && -n "$BENCH" ]] || build_hint streams.sh "ticketq-server and ticketq-bench"
need_tools streams.sh redis-server redis-cli python3
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((N + 200)) ]]; then
  echo "streams.sh: the open-file limit $(ulimit -n) is below $((N + 200)); use --watchers $(($(ulimit -n) - 200))" >&2
  exit 2
fi

DIR=$(mktemp -d /tmp/ticketq-streams.XXXXXX)
PIDS=()
CUR="" KEEP=0   # for cleanup (lib.sh): nothing else to stop; the work dir goes
T0=$(date +%s)
trap cleanup EXIT
trap 'echo "streams.sh: interrupted" >&2; exit 130' INT TERM

TOKEN=bench-$RANDOM$RANDOM

# start_stack: a fresh Redis and ticketq-server; sets RPORT, PORT, SPID.
start_stack() {
  [[ ${#PIDS[@]} -gt 0 ]] && { stop_pids "${PIDS[@]}"; PIDS=(); }
  RPORT=$(free_port); PORT=$(free_port)
  mkdir -p "$DIR/redis"
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR/redis" \
    >"$DIR/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  "$SERVER" --redis "redis://127.0.0.1:$RPORT" --bind 127.0.0.1 --port "$PORT" --threads 2 \
    --admin-token "$TOKEN" --max-connections $((N + 1000)) \
    --max-connections-per-client 0 --log-level warn >"$DIR/server.log" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 200); do
    curl -fsS --max-time 1 "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "streams.sh: the server did not become ready:" >&2; tail -20 "$DIR/server.log" >&2; exit 1
}

# record NAME JSON-FILE: appends a run's JSON to OUT, with its name and round.
record() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["run"] = sys.argv[2]; d["rep"] = int(sys.argv[3]); print(json.dumps(d))' \
    "$2" "$1" "$REP" >>"$OUT"
}

# watch NAME ARGS...: one ticketq-bench watch run (in the background when
# WATCH_BG=1: WATCH_PID); its JSON appended to OUT by watch_done.
watch() {
  local name=$1; shift
  WATCH_NAME=$name
  nice -n 5 "$BENCH" -s watch --url "http://127.0.0.1:$PORT" --token "$TOKEN" -t 2 \
    --server-pid "$SPID" --redis-port "$RPORT" --json --max-time 300 "$@" \
    >"$DIR/$name.json" 2>"$DIR/$name.log" &
  WATCH_PID=$!
  PIDS+=("$WATCH_PID")
  [[ ${WATCH_BG:-0} == 1 ]] || watch_done
}
watch_done() {
  wait "$WATCH_PID" || {
    echo "streams.sh: ticketq-bench $WATCH_NAME failed:" >&2; tail -30 "$DIR/$WATCH_NAME.log" >&2; exit 1
  }
  record "$WATCH_NAME" "$DIR/$WATCH_NAME.json"
}

# api NAME: the status API under an open-loop load for API_S seconds, from
# a process of its own (users of the default event, not the watchers).
api() {
  nice -n 5 "$BENCH" -s status --url "http://127.0.0.1:$PORT" --token "$TOKEN" -t 1 -c 32 \
    --users 1000 --rate "$RATE" -d "$API_S" --json >"$DIR/$1.json" 2>"$DIR/$1.log" || {
    echo "streams.sh: ticketq-bench status ($1) failed:" >&2; tail -30 "$DIR/$1.log" >&2; exit 1
  }
  record "$1" "$DIR/$1.json"
}

for REP in $(seq "$REPS"); do
  say "round $REP/$REPS: burst, $N streams, all admitted at once, status load at $RATE/s for ${API_S}s without and with them"
  start_stack
  api api_without
  # The streams stay open while the second load runs.
  WATCH_BG=1 watch burst --watchers "$N" --hold $((HOLD + API_S + 5)) -c 32
  for _ in $(seq 1200); do
    grep -q "^streams: .* open in" "$DIR/burst.log" 2>/dev/null && break
    kill -0 "$WATCH_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "^streams: $N / $N open in" "$DIR/burst.log" ||
    { echo "streams.sh: the streams did not all open:" >&2; tail -20 "$DIR/burst.log" >&2; exit 1; }
  sleep 2  # their first events have gone out
  api api_with
  watch_done
  say "round $REP/$REPS: steady, $STEADY streams, $STEADY_ADMIT admitted"
  start_stack
  watch steady --watchers "$STEADY" --admit "$STEADY_ADMIT" --hold "$HOLD"
done

say "done; raw results: $OUT"
python3 - "$OUT" "$N" "$STEADY" "$STEADY_ADMIT" "$RATE" <<'EOF'
import json, statistics, sys

path, n, steady, steady_admit, rate = sys.argv[1], *map(int, sys.argv[2:])
runs = [json.loads(line) for line in open(path)]
def rounds(name):
    return [r["watch"]["rounds"][0] for r in runs if r["run"] == name]
def med(values):
    return statistics.median(values) if values else float("nan")

burst, steady_r = rounds("burst"), rounds("steady")
opened = med([r["streams"]["open"] for r in burst])
rss = med([r["server_rss"]["bytes_per_stream"] for r in burst])
burst_p99 = med([r["admit"]["latency_us"]["p99"] / 1000 for r in burst])
burst_p50 = med([r["admit"]["latency_us"]["p50"] / 1000 for r in burst])
delivered = min(r["admit"]["delivered"] / max(r["admit"]["expected"], 1) for r in burst + steady_r)
steady_p99 = med([r["admit"]["latency_us"]["p99"] / 1000 for r in steady_r])
moved_p99 = med([r["admit"]["moved_latency_us"]["p99"] / 1000 for r in steady_r])
idle_calls = med([r["idle"]["redis"]["evalsha_per_s"] for r in steady_r])
idle_none = med([r["idle"]["redis_no_streams"]["evalsha_per_s"] for r in steady_r])
idle_usec = med([r["idle"]["redis"]["evalsha_usec"] / r["idle"]["redis"]["seconds"] / 1e4 for r in steady_r])
busy_calls = med([r["admit"]["redis"]["evalsha_calls"] for r in steady_r])
def api_p99(name):
    return med([r["latency_us"]["p99"] / 1000 for r in runs if r["run"] == name])
api_without, api_with = api_p99("api_without"), api_p99("api_with")
ratio = api_with / api_without if api_without else float("nan")

rows = [
    ("streams open at once (burst)", f"{opened:,.0f} of {n:,}", ">= 15,000", opened >= 15000),
    ("server RSS per idle stream", f"{rss:,.0f} B", "<= 2,048 B", rss <= 2048),
    (f"admission -> watcher, p99, {n:,} admitted at once", f"{burst_p99:,.0f} ms (p50 {burst_p50:,.0f})", "<= 1,000 ms", burst_p99 <= 1000),
    (f"admission -> watcher, p99, {steady_admit} of {steady:,}", f"{steady_p99:,.0f} ms (the rest moved up: p99 {moved_p99:,.0f} ms)", "<= 1,000 ms", steady_p99 <= 1000),
    ("every admission delivered", f"{delivered:.0%}", "100%", delivered == 1),
    (f"status p99 at {rate:,}/s: without / with the streams", f"{api_without:.2f} / {api_with:.2f} ms = {ratio:.2f}x", "<= 1.25x", ratio <= 1.25),
    (f"Redis calls/s, {steady:,} idle watchers (none: {idle_none:.1f}/s)", f"{idle_calls:.1f}/s ({idle_usec:.2f} % of a core)", "flat in N", None),
    (f"Redis calls to tell {steady:,} watchers of {steady_admit} admissions", f"{busy_calls:.0f}", "", None),
]
width = max(len(r[0]) for r in rows)
print(f"\nstream budgets, medians of {len(burst)} round(s)")
for name, value, budget, ok in rows:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<{width}}  {value:<40} {budget:<10} {verdict}")
EOF
