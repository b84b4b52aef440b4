#!/usr/bin/env bash
# Compares ticketq-server with ticketq-reference on loopback: starts a private
# redis-server (free port, temp dir, no persistence), both servers with the
# same --threads, then runs the same fixed reserve load against each in turn
# (FLUSHALL before every run, so both take the same Lua paths), REPS times.
# Prints req/s, p50/p99 and the CPU each server and Redis spent per request
# (from /proc, robust to a busy machine). Cleans up everything it started.
#
#   bench/compare.sh [BUILD_DIR] [THREADS] [REPS] [REQUESTS] [-- extra ticketq-server flags]
#   bench/compare.sh build 2 3 100000 -- --batch-max 1
set -euo pipefail
BUILD=${1:-build}; THREADS=${2:-1}; REPS=${3:-3}; REQUESTS=${4:-100000}
shift $(( $# < 4 ? $# : 4 )); [[ "${1:-}" == "--" ]] && shift
find_bin() { find "$BUILD" -name "$1" -type f -perm -u+x | head -1; }
SERVER=$(find_bin ticketq-server); REF=$(find_bin ticketq-reference); BENCH=$(find_bin ticketq-bench)
[[ -n "$SERVER" && -n "$REF" && -n "$BENCH" ]] || { echo "build ticketq-server, ticketq-reference and ticketq-bench in $BUILD first" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

DIR=$(mktemp -d /tmp/ticketq-compare.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$SERVER" --port 0 --redis "redis://127.0.0.1:$RPORT" --admin-token t --capacity 1000 \
  --queue-limit 100000 --threads "$THREADS" "$@" >"$DIR/tq.log" 2>&1 &
TPID=$!; PIDS+=("$TPID")
"$REF" --port 0 --redis-port "$RPORT" --threads "$THREADS" --capacity 1000 --queue-limit 100000 >"$DIR/ref.log" 2>&1 &
FPID=$!; PIDS+=("$FPID")
url_of() { for _ in $(seq 50); do grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 && return; sleep 0.1; done; echo "no URL in $1" >&2; exit 1; }
TQ_URL=$(url_of "$DIR/tq.log"); REF_URL=$(url_of "$DIR/ref.log")
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

echo "threads $THREADS, $REQUESTS reserves per run (capacity 1000, queue_limit 100000), 64 connections"
for rep in $(seq "$REPS"); do
  for name in ticketq reference; do
    if [[ $name == ticketq ]]; then url=$TQ_URL; pid=$TPID; else url=$REF_URL; pid=$FPID; fi
    redis-cli -p "$RPORT" flushall >/dev/null
    s0=$(cpu "$pid"); r0=$(cpu "$RPID")
    out=$("$BENCH" --url "$url" -s reserve -c 64 -t "$THREADS" -n "$REQUESTS" --no-progress --json)
    s1=$(cpu "$pid"); r1=$(cpu "$RPID")
    python3 - "$name" "$rep" "$out" "$(( s1 - s0 ))" "$(( r1 - r0 ))" "$HZ" <<'EOF'
import json, sys
name, rep, out, ds, dr, hz = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
l, n = out["latency_us"], max(out["requests"], 1)
print("%-9s rep %s  %7.0f req/s  p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  cpu/req: server %5.1f us, redis %5.1f us  %s errors %d"
      % (name, rep, out["throughput_rps"], l["p50"] / 1e3, l["p99"] / 1e3, l["max"] / 1e3,
         ds * 1e6 / hz / n, dr * 1e6 / hz / n, out["status_codes"], out["errors_total"]))
EOF
  done
done
