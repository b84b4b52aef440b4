#!/usr/bin/env bash
# Two builds of ticketq-server side by side, with ticketq-floor as the
# measuring stick: server CPU and heap allocations per reserve and per
# status, the question of bar 10 asked of a change ("before" and "after").
#
# Starts one private redis-server (free loopback port, temp dir, no
# persistence), both servers with --threads 1 and libticketq-malloc-count.so
# preloaded, and ticketq-floor; then, REPS rounds, each load against each in
# turn (before, after, floor), FLUSHALL before every run: closed-loop fresh
# reserves (a token each), then status of 1,000 users holding seats (their
# setup, 1,000 reserves, is counted too: under 1 % of the requests). Prints
# one line per run and the medians. Server CPU is utime + stime from /proc
# over the run, per request. Everything it starts is stopped on exit.
#
#   bench/ab.sh BEFORE_BUILD AFTER_BUILD [REPS] [REQUESTS]
#   bench/ab.sh ../before/build build 3 100000
#
# ticketq-bench, ticketq-floor and libticketq-malloc-count.so come from
# AFTER_BUILD; BEFORE_BUILD needs only ticketq-server (a worktree of the
# older commit: git worktree add ../before <commit>, then build it).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BEFORE=$1 AFTER=$2 REPS=${3:-3} N=${4:-100000}
for v in "$REPS" "$N"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: REPS and REQUESTS must be positive integers" >&2; exit 2; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
BUILD=$BEFORE; OLD=$(find_bin ticketq-server)
BUILD=$AFTER; NEW=$(find_bin ticketq-server); BENCH=$(find_bin ticketq-bench); FLOOR=$(find_bin ticketq-floor)
LIB=$(find "$AFTER" -name libticketq-malloc-count.so -type f 2>/dev/null | head -1 || true)
[[ -n "$OLD" ]] || { echo "ab.sh: no ticketq-server in $BEFORE" >&2; exit 2; }
[[ -n "$NEW" && -n "$BENCH" && -n "$FLOOR" && -n "$LIB" ]] ||
  build_hint ab.sh "ticketq-server, ticketq-bench, ticketq-floor and libticketq-malloc-count.so"
need_tools ab.sh redis-server redis-cli python3

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ticketq-ab.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
declare -A PID URL
for name in before after; do
  bin=$OLD; [[ $name == after ]] && bin=$NEW
  TICKETQ_MALLOC_COUNT="$DIR/$name.allocations" LD_PRELOAD="$LIB" "$bin" --port 0 \
    --redis "redis://127.0.0.1:$RPORT" --admin-token ab --capacity 1000 --queue-limit 10000000 \
    --max-connections-per-client 0 --threads 1 >"$DIR/$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=($!)
done
"$FLOOR" --port 0 >"$DIR/floor.log" 2>&1 &
PID[floor]=$!; PIDS+=($!)
for name in before after floor; do
  for _ in $(seq 100); do
    URL[$name]=$(grep -o 'http://127.0.0.1:[0-9]*' "$DIR/$name.log" | head -1 || true)
    [[ -n "${URL[$name]}" ]] && break
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "${URL[$name]}" ]] || { echo "ab.sh: $name did not start:" >&2; cat "$DIR/$name.log" >&2; exit 1; }
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
count() { [[ -f $1 ]] && od -An -tu8 -N8 "$1" | tr -d ' ' || echo 0; }
HZ=$(getconf CLK_TCK)
echo "before: $OLD"
echo "after:  $NEW"
echo "$N closed-loop requests per run, 64 connections, $REPS rounds; per request: server CPU (us), allocations"
: >"$DIR/results"
for rep in $(seq "$REPS"); do
  for scenario in reserve status; do
    for name in before after floor; do
      redis-cli -p "$RPORT" flushall >/dev/null
      users=(); [[ $scenario == status ]] && users=(--users 1000)
      m0=$(count "$DIR/$name.allocations"); s0=$(cpu "${PID[$name]}")
      TICKETQ_ADMIN_TOKEN=ab "$BENCH" --url "${URL[$name]}" --no-progress --seed 7 -c 64 -t 2 \
        -s "$scenario" "${users[@]}" -n "$N" --max-time 120 >"$DIR/bench.out" 2>&1 ||
        { echo "ab.sh: ticketq-bench failed against $name:" >&2; cat "$DIR/bench.out" >&2; exit 1; }
      s1=$(cpu "${PID[$name]}"); m1=$(count "$DIR/$name.allocations")
      python3 -c "import sys; n=int(sys.argv[1]); print(sys.argv[2], sys.argv[3], '%.2f' % ((int(sys.argv[5]) - int(sys.argv[4])) * 1e6 / int(sys.argv[6]) / n), '%.2f' % ((int(sys.argv[8]) - int(sys.argv[7])) / n))" \
        "$N" "$scenario" "$name" "$s0" "$s1" "$HZ" "$m0" "$m1" | tee -a "$DIR/results" |
        awk -v r="$rep" '{printf "  round %s  %-7s %-6s cpu %7s us  allocations %7s\n", r, $1, $2, $3, $4}'
    done
  done
done
python3 - "$DIR/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for scenario in ("reserve", "status"):
    for name in ("before", "after", "floor"):
        xs = [r for r in rows if r[0] == scenario and r[1] == name]
        med[scenario, name] = (statistics.median(float(r[2]) for r in xs),
                               statistics.median(float(r[3]) for r in xs))
print("medians:")
for scenario in ("reserve", "status"):
    (bc, ba), (ac, aa), (fc, _) = med[scenario, "before"], med[scenario, "after"], med[scenario, "floor"]
    print("  %-7s cpu before %.2f us (%.2fx floor), after %.2f us (%.2fx floor), floor %.2f us; after/before %.2f"
          % (scenario, bc, bc / fc, ac, ac / fc, fc, ac / bc))
    print("  %-7s allocations before %.2f, after %.2f" % (scenario, ba, aa))
EOF
