#!/usr/bin/env bash
# Reservation throughput over MANY events: one Redis vs a Redis Cluster, in
# one command, on loopback. Starts, in a temp dir, on free loopback ports
# (no persistence):
#
#   single     one redis-server, ticketq --redis redis://...
#   cluster-1  one cluster-enabled redis-server holding all 16384 slots
#              (CLUSTER ADDSLOTSRANGE 0 16383), ticketq --redis cluster://...:
#              the Cluster code path on the same single Redis, so
#              cluster-1 / single is the cost of the routing alone
#   cluster-3  three cluster-enabled masters (redis-cli --cluster create,
#              no replicas), ticketq --redis cluster://a,b,c: every event is
#              one slot, so the events spread over the masters; cluster-3 /
#              single is the gain of sharding (and cluster-3 / cluster-1
#              the gain without the routing's cost)
#   single-1ev (info) the single stack with all the load on ONE event: how
#              much ticketq's per-event coalescing gives, which spreading the
#              load over many events takes away
#
# Each run: FLUSHALL and CONFIG RESETSTAT on the stack's Redis nodes, then
# ticketq-bench -s reserve --events N --create-events (PUT the N events,
# untimed: capacity 1,000,000 each, so every reserve is a real write), then a
# closed loop of fresh reserves, each to the next event in turn. Rounds are
# interleaved (the configurations in turn, the order rotated every round), so
# slow spells of a shared machine hit all of them; the table shows medians
# and per-round ratios. CPU of every process from /proc (utime + stime over
# the run) and of the whole machine (/proc/stat) is printed too: on a small
# machine the load generator, ticketq and the Redis processes share the same
# cores, and the gain of more shards is bounded by what the cores have left.
# Everything it starts is stopped on exit, also on failure or Ctrl-C.
#
#   bench/shards.sh --build build-perf                # 3 rounds, about 2 minutes
#   bench/shards.sh --build build-perf --quick        # 1 round, short runs
#   bench/shards.sh --build build-perf --events 1000 --reps 5 --out shards.jsonl
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/shards.sh [--build DIR] [--events N] [--reps N] [--requests N] [--threads N]
                       [--connections N] [--bench-threads N] [--quick] [--out FILE] [--keep]
  --build DIR         tree with ticketq-server and bench/ticketq-bench (default: build)
  --events N          events the reserves are spread over, e0..e{N-1} (default 300)
  --reps N            interleaved rounds; the table shows medians (default 3, --quick 1)
  --requests N        fresh reserves per run (default 200000, --quick 40000)
  --threads N         --threads of every ticketq-server (default 2)
  --connections N     keep-alive connections of the load (default 64)
  --bench-threads N   threads of ticketq-bench (default 2)
  --quick             1 round of short runs: a check that everything works
  --out FILE          raw results, one JSON object per run (default: $TMPDIR/ticketq-shards-DATE.jsonl)
  --keep              keep the work dir (logs, node configs) instead of deleting it
EOF
}

BUILD=build EVENTS=300 REPS="" NREQ="" THREADS=2 CONNS=64 BTHREADS=2 QUICK=0 OUT="" KEEP=0
CMDLINE="bench/shards.sh $*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --requests) NREQ=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --bench-threads) BTHREADS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "shards.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then REPS=${REPS:-1}; NREQ=${NREQ:-40000}; else REPS=${REPS:-3}; NREQ=${NREQ:-200000}; fi
for v in "$EVENTS" "$REPS" "$NREQ" "$THREADS" "$CONNS" "$BTHREADS"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "shards.sh: numbers must be positive integers" >&2; exit 2; }
done
[[ $EVENTS -le 100000 ]] || { echo "shards.sh: --events at most 100000" >&2; exit 2; }
CAPACITY=1000000   # seats per event: every reserve of a run is a seat taken (a write), nobody queued
OUT=${OUT:-${TMPDIR:-/tmp}/ticketq-shards-$(date +%Y%m%d-%H%M%S).jsonl}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
: >"$OUT"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
SERVER=$(find_bin ticketq-server); BENCH=$(find_bin ticketq-bench)
[[ -n "$SERVER" && -n "$BENCH" ]] || build_hint shards.sh "ticketq-server and ticketq-bench"
need_tools shards.sh redis-server redis-cli python3 curl
[[ "$("$BENCH" --help 2>/dev/null || true)" == *--create-events* ]] ||
  { echo "shards.sh: $BENCH has no --events / --create-events: rebuild it" >&2; exit 2; }

# Which sources the server was built from (as run.sh reports it).
source_of shards.sh "$SERVER"
BUILD_INFO="$SERVER (built $(date -u -r "$SERVER" +%FT%TZ), source $SRC_REV)"

DIR=$(mktemp -d /tmp/ticketq-shards.XXXXXX)
PIDS=()   # long-lived processes we started; CUR: the load run or helper now running
CUR=""
T0=$(date +%s)
# A bound for the whole run: start-up, then per run the bench's --max-time
# (60 s) at most, with room for the flush and the event setup.
LIMIT=$((120 + REPS * 4 * 75))
trap cleanup EXIT
trap 'echo "shards.sh: interrupted" >&2; exit 130' INT
trap 'echo "shards.sh: terminated (time limit $LIMIT s or a signal)" >&2; exit 143' TERM
MAIN=$$
( trap 'kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; exit 0' TERM; sleep "$LIMIT" & sp=$!; wait "$sp" && kill -TERM "$MAIN" ) &
PIDS+=($!)

TOKEN=bench-$RANDOM$RANDOM
HZ=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The machine's CPU: "busy total" jiffies from /proc/stat's cpu line (user nice
# system idle iowait irq softirq steal; idle and iowait are not busy; guest
# time is in user already).
machine_cpu() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; ++i) t += $i; print t - $5 - $6, t }' /proc/stat; }
# CPU seconds (user + system) of the children reaped between two saved
# outputs of bash's `times` (their second lines), as in run.sh.
children_cpu_s() {
  awk 'FNR == 2 { gsub(/,/, "."); for (i = 1; i <= 2; ++i) { split($i, a, "m"); t[FILENAME] += a[1] * 60 + a[2] } }
       END { printf "%.3f\n", t[ARGV[2]] - t[ARGV[1]] }' "$1" "$2"
}

# ------------------------------------------------------------------ Redis --
declare -A RPID   # node name -> pid; RPORT: node name -> port
declare -A RPORT
# start_redis NAME [redis-server args...]: a private redis-server on a free port.
start_redis() {
  local name=$1 port; shift
  port=$(free_port)
  mkdir -p "$DIR/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR/$name" \
    --daemonize no --protected-mode yes "$@" >"$DIR/$name/redis.log" 2>&1 &
  RPID[$name]=$!; RPORT[$name]=$port; PIDS+=($!)
}
# A cluster-enabled node: its own nodes.conf in its dir, its bus on a free port of its own.
start_cluster_node() {
  start_redis "$1" --cluster-enabled yes --cluster-config-file "$DIR/$1/nodes.conf" \
    --cluster-port "$(free_port)" --cluster-node-timeout 5000
}
rcli() { local name=$1; shift; redis-cli -h 127.0.0.1 -p "${RPORT[$name]}" "$@"; }
wait_ping() {
  for _ in $(seq 100); do [[ "$(rcli "$1" ping 2>/dev/null)" == PONG ]] && return 0; sleep 0.1; done
  echo "shards.sh: redis-server $1 did not start:" >&2; cat "$DIR/$1/redis.log" >&2; exit 1
}
# wait_cluster_ok NODE...: every node says cluster_state:ok (at most 30 s).
wait_cluster_ok() {
  local n ok
  for _ in $(seq 300); do
    ok=1
    for n in "$@"; do rcli "$n" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0; done
    [[ $ok == 1 ]] && return 0
    sleep 0.1
  done
  echo "shards.sh: the cluster of $* did not reach cluster_state:ok in 30 s:" >&2
  for n in "$@"; do echo "--- $n" >&2; rcli "$n" cluster info 2>&1 | head -3 >&2; done
  exit 1
}

say "starting: single redis-server, a 1-master cluster, a 3-master cluster"
start_redis single
start_cluster_node c1
for i in 1 2 3; do start_cluster_node "c3n$i"; done
for n in single c1 c3n1 c3n2 c3n3; do wait_ping "$n"; done
rcli c1 cluster addslotsrange 0 16383 >/dev/null
timeout 60 redis-cli --cluster create "127.0.0.1:${RPORT[c3n1]}" "127.0.0.1:${RPORT[c3n2]}" \
  "127.0.0.1:${RPORT[c3n3]}" --cluster-replicas 0 --cluster-yes >"$DIR/cluster-create.log" 2>&1 ||
  { echo "shards.sh: redis-cli --cluster create failed:" >&2; cat "$DIR/cluster-create.log" >&2; exit 1; }
wait_cluster_ok c1
wait_cluster_ok c3n1 c3n2 c3n3

# ---------------------------------------------------------------- ticketq --
declare -A URL TPID NODES REDIS_URL
REDIS_URL[single]="redis://127.0.0.1:${RPORT[single]}"
REDIS_URL[cluster-1]="cluster://127.0.0.1:${RPORT[c1]}"
REDIS_URL[cluster-3]="cluster://127.0.0.1:${RPORT[c3n1]},127.0.0.1:${RPORT[c3n2]},127.0.0.1:${RPORT[c3n3]}"
NODES[single]="single"; NODES[cluster-1]="c1"; NODES[cluster-3]="c3n1 c3n2 c3n3"
for s in single cluster-1 cluster-3; do
  "$SERVER" --port 0 --bind 127.0.0.1 --redis "${REDIS_URL[$s]}" --admin-token "$TOKEN" \
    --threads "$THREADS" --max-connections-per-client 0 >"$DIR/ticketq-$s.log" 2>&1 &
  TPID[$s]=$!; PIDS+=($!)
done
for s in single cluster-1 cluster-3; do
  for _ in $(seq 100); do
    URL[$s]=$(grep -o 'http://127.0.0.1:[0-9]*' "$DIR/ticketq-$s.log" | head -1 || true)
    [[ -n "${URL[$s]}" ]] && break
    kill -0 "${TPID[$s]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "${URL[$s]}" ]] || { echo "shards.sh: ticketq ($s) did not start:" >&2; cat "$DIR/ticketq-$s.log" >&2; exit 1; }
  for _ in $(seq 200); do curl -fsS --max-time 1 "${URL[$s]}/ready" >/dev/null 2>&1 && break; sleep 0.05; done
  curl -fsS --max-time 1 "${URL[$s]}/ready" >/dev/null 2>&1 ||
    { echo "shards.sh: ticketq ($s) is not ready:" >&2; tail -20 "$DIR/ticketq-$s.log" >&2; exit 1; }
done
# The single-event reference runs on the single stack.
URL[single-1ev]=${URL[single]}; TPID[single-1ev]=${TPID[single]}; NODES[single-1ev]=single
say "redis-server $(rcli single info server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r');" \
    "ticketq --threads $THREADS: single ${URL[single]} (${REDIS_URL[single]}), cluster-1 ${URL[cluster-1]}" \
    "(${REDIS_URL[cluster-1]}), cluster-3 ${URL[cluster-3]} (${REDIS_URL[cluster-3]})"

# How the events fall on the 3 masters (CLUSTER KEYSLOT of each event's hash
# tag and the masters' slot ranges from CLUSTER NODES), for the record.
SPREAD=$(python3 - "$EVENTS" "${RPORT[c3n1]}" "${RPORT[c3n2]}" "${RPORT[c3n3]}" <<'EOF'
import json, subprocess, sys
n, ports = int(sys.argv[1]), sys.argv[2:]
port = ports[0]
def cli(*a):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port, *a], capture_output=True,
                          text=True, timeout=30).stdout
# CLUSTER NODES: id addr@bus flags master ping pong epoch state slot-ranges...
ranges = []
for line in cli("cluster", "nodes").splitlines():
    f = line.split()
    if len(f) < 9 or "master" not in f[2]:
        continue
    addr = f[1].split("@")[0]
    for r in f[8:]:
        if r.startswith("["):
            continue
        a, _, b = r.partition("-")
        ranges.append((int(a), int(b or a), addr))
per = {addr: 0 for _, _, addr in ranges}
# One redis-cli for all the CLUSTER KEYSLOT calls (one per line on stdin).
slots = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port],
                       input="".join("cluster keyslot {e%d}\n" % i for i in range(n)),
                       capture_output=True, text=True, timeout=60).stdout.split()
for slot in map(int, slots):
    for a, b, addr in ranges:
        if a <= slot <= b:
            per[addr] += 1
print(json.dumps({f"c3n{i + 1}": per.get(f"127.0.0.1:{p}", 0) for i, p in enumerate(ports)}))
EOF
)
say "events per master of the 3-master cluster: $SPREAD"

# ------------------------------------------------------------------ record --
record() {  # one run's JSON line into OUT
  python3 - "$@" >>"$OUT" <<'EOF'
import json, os, sys
(config, rep, slot, bench_file, rc, tq_ticks, redis_ticks, hz, bench_cpu_s, wall_s, mach_busy,
 mach_total, loadavg, dbsize, evalsha, stderr_file) = sys.argv[1:]
try:
    bench = json.loads(open(bench_file).read().strip().splitlines()[-1])
except Exception as e:
    bench = {"error": str(e)}
hz = float(hz)
print(json.dumps({
    "config": config, "rep": int(rep), "slot": int(slot), "rc": int(rc), "bench": bench,
    "wall_s": float(wall_s), "ticketq_cpu_s": int(tq_ticks) / hz,
    "redis_cpu_s": {k: int(v) / hz for k, v in (p.split("=") for p in redis_ticks.split())},
    "bench_cpu_s": float(bench_cpu_s),
    "machine_busy_cores": int(mach_busy) / max(int(mach_total), 1) * os.cpu_count(),
    "loadavg": loadavg.split(),
    "dbsize": {k: int(v) for k, v in (p.split("=") for p in dbsize.split())},
    "evalsha_calls": {k: int(v) for k, v in (p.split("=") for p in evalsha.split())},
    "bench_stderr_tail": open(stderr_file).read()[-600:],
}))
EOF
}

CONFIGS=(single cluster-1 cluster-3 single-1ev)
TOTAL=$((REPS * ${#CONFIGS[@]}))
STEP=0
run_one() {  # config rep slot
  local cfg=$1 rep=$2 slot=$3 n ev=$EVENTS rc=0 t0 t1 tq0 tq1 m0 m1 la
  local -A r0
  [[ $cfg == single-1ev ]] && ev=1
  STEP=$((STEP + 1))
  say "$STEP/$TOTAL round $rep/$REPS: $cfg, $NREQ fresh reserves over $ev event(s), $CONNS connections"
  for n in ${NODES[$cfg]}; do
    rcli "$n" flushall >/dev/null
    rcli "$n" config resetstat >/dev/null
  done
  la=$(cut -d' ' -f1-3 /proc/loadavg)
  for n in ${NODES[$cfg]}; do r0[$n]=$(cpu "${RPID[$n]}"); done
  tq0=$(cpu "${TPID[$cfg]}"); read -r m0 mt0 < <(machine_cpu); t0=$(date +%s.%N)
  times >"$DIR/times0"
  TICKETQ_ADMIN_TOKEN=$TOKEN "$BENCH" --url "${URL[$cfg]}" --no-progress --json --seed 7 \
    -s reserve --events "$ev" --create-events --capacity "$CAPACITY" --queue-limit 0 \
    -c "$CONNS" -t "$BTHREADS" -n "$NREQ" --max-time 60 >"$DIR/bench.out" 2>"$DIR/bench.err" &
  CUR=$!
  wait "$CUR" || rc=$?
  times >"$DIR/times1"
  CUR=""
  t1=$(date +%s.%N); read -r m1 mt1 < <(machine_cpu); tq1=$(cpu "${TPID[$cfg]}")
  local rt="" db="" ev_calls=""
  for n in ${NODES[$cfg]}; do
    rt+="$n=$(( $(cpu "${RPID[$n]}") - ${r0[$n]} )) "
    db+="$n=$(rcli "$n" dbsize) "
    ev_calls+="$n=$(rcli "$n" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' | tr -d '\r' | grep . || echo 0) "
  done
  record "$cfg" "$rep" "$slot" "$DIR/bench.out" "$rc" $((tq1 - tq0)) "$rt" "$HZ" \
    "$(children_cpu_s "$DIR/times0" "$DIR/times1")" "$(python3 -c "print($t1 - $t0)")" \
    $((m1 - m0)) $((mt1 - mt0)) "$la" "$db" "$ev_calls" "$DIR/bench.err"
  if [[ $rc != 0 ]]; then say "warning: ticketq-bench exited $rc ($cfg): $(tail -3 "$DIR/bench.err" | tr '\n' ' ')"; fi
  say "          $(python3 - "$OUT" <<'EOF' 2>/dev/null || echo "no figures"
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
b, lat, w = r["bench"], r["bench"].get("latency_us", {}), r["wall_s"]
cpu = " ".join(f"{n} {v / w:.2f}" for n, v in r["redis_cpu_s"].items())
print(f"{b.get('throughput_rps', 0):,.0f} req/s, p50 {lat.get('p50', 0) / 1000:.3f} ms, "
      f"p99 {lat.get('p99', 0) / 1000:.3f} ms; cores busy: ticketq {r['ticketq_cpu_s'] / w:.2f}, "
      f"redis {cpu}, bench {r['bench_cpu_s'] / w:.2f}; machine {r['machine_busy_cores']:.2f} of which not ours "
      f"{r['machine_busy_cores'] - (r['ticketq_cpu_s'] + sum(r['redis_cpu_s'].values()) + r['bench_cpu_s']) / w:.2f}")
EOF
)"
}

# The configurations in turn, the order rotated every round.
for rep in $(seq "$REPS"); do
  for k in $(seq 0 $((${#CONFIGS[@]} - 1))); do
    slot=$(( (k + rep - 1) % ${#CONFIGS[@]} ))
    run_one "${CONFIGS[$slot]}" "$rep" "$k"
  done
done

# ------------------------------------------------------------------ report --
say "done; raw results: $OUT"
python3 - "$OUT" "$EVENTS" "$NREQ" "$CONNS" "$BTHREADS" "$THREADS" "$REPS" "$QUICK" "$SPREAD" "$CMDLINE" "$BUILD_INFO" <<'EOF'
import json, os, statistics, sys, time

path, events, nreq, conns, bthreads, threads, reps, quick = sys.argv[1], *map(int, sys.argv[2:9])
spread, cmdline, build = json.loads(sys.argv[9]), sys.argv[10], sys.argv[11]
runs = [json.loads(l) for l in open(path) if l.strip()]
cores = os.cpu_count()
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else float("nan")
def of(cfg):
    return sorted((r for r in runs if r["config"] == cfg), key=lambda r: r["rep"])
def rps(r): return r["bench"].get("throughput_rps", 0.0)
def lat(r, p): return r["bench"].get("latency_us", {}).get(p, 0) / 1000
def ours(r): return (r["ticketq_cpu_s"] + sum(r["redis_cpu_s"].values()) + r["bench_cpu_s"]) / r["wall_s"]
def answered(r): return max(sum(v for k, v in r["bench"].get("status_codes", {}).items() if int(k) < 500), 1)

configs = [("single", f"one redis-server, redis://, {events} events"),
           ("cluster-1", f"1-master Cluster (all slots), cluster://, {events} events"),
           ("cluster-3", f"3-master Cluster, cluster://, {events} events"),
           ("single-1ev", "one redis-server, redis://, 1 event (info)")]

print()
print(f"ticketq reserve throughput over many events: ticketq --threads {threads}, {conns} connections, "
      f"ticketq-bench {bthreads} threads, {nreq:,} fresh reserves per run, {reps} interleaved round(s), medians")
la = [r["loadavg"] for r in runs]
print(f"load average at the start of the runs: {la[0][0]} .. {la[-1][0]} (1 min); {cores} cores; "
      f"events per master of cluster-3: {' '.join(f'{k}={v}' for k, v in spread.items())}")
if quick:
    print("quick mode: short runs, 1 round: a check that everything works, not a measurement to quote")
print()
hdr = ("| config | req/s | p50 ms | p99 ms | users per EVALSHA | ticketq CPU | Redis CPU (per node) "
       "| bench CPU | ours / machine busy | per round req/s | not ours, per round |")
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
for cfg, what in configs:
    rs = of(cfg)
    if not rs:
        continue
    def cores_of(key):
        return med([r[key] / r["wall_s"] for r in rs])
    nodes = list(rs[0]["redis_cpu_s"].keys())
    per_node = [med([r["redis_cpu_s"][n] / r["wall_s"] for r in rs]) for n in nodes]
    calls = med([answered(r) / max(sum(r["evalsha_calls"].values()), 1) for r in rs])
    others = [r["machine_busy_cores"] - ours(r) for r in rs]
    print(f"| {cfg}: {what} | {med([rps(r) for r in rs]):,.0f} | {med([lat(r, 'p50') for r in rs]):.3f} "
          f"| {med([lat(r, 'p99') for r in rs]):.3f} | {calls:.1f} "
          f"| {cores_of('ticketq_cpu_s'):.2f} | {sum(per_node):.2f} ({' '.join(f'{x:.2f}' for x in per_node)}) "
          f"| {cores_of('bench_cpu_s'):.2f} "
          f"| {med([ours(r) for r in rs]):.2f} / {med([r['machine_busy_cores'] for r in rs]):.2f} of {cores} "
          f"| {' '.join(f'{rps(r) / 1000:.1f}k' for r in rs)} "
          f"| {' '.join(f'{x:.2f}' for x in others)} |")
print()
print("CPU columns: cores kept busy over the run (CPU seconds / wall seconds, from /proc/PID/stat); 'ours' is "
      "ticketq + Redis + ticketq-bench, 'machine busy' every process on the machine (/proc/stat). 'not ours' = "
      "machine - ours: about 0.2 on a quiet machine (this script's own helpers, kernel threads); a round well "
      "above that shared the cores with other work, and its figures are lower than the configuration can do.")
print()

def ratio_rows(a, b, label):
    ra, rb = {r["rep"]: r for r in of(a)}, {r["rep"]: r for r in of(b)}
    both = sorted(set(ra) & set(rb))
    if not both:
        return
    def row(name, f, fmt="{:.3f}"):
        per = [f(ra[i]) / f(rb[i]) if f(rb[i]) else float("nan") for i in both]
        ma, mb = med([f(ra[i]) for i in both]), med([f(rb[i]) for i in both])
        print(f"| {label}: {name} | {fmt.format(ma)} | {fmt.format(mb)} | {ma / mb if mb else float('nan'):.3f} "
              f"| {' '.join(f'{x:.2f}' for x in per)} |")
    row("req/s", rps, "{:,.0f}")
    row("p50 ms", lambda r: lat(r, "p50"))
    row("p99 ms", lambda r: lat(r, "p99"))
    row("ticketq CPU us per reserve", lambda r: r["ticketq_cpu_s"] * 1e6 / answered(r), "{:.2f}")
    row("Redis CPU us per reserve (all nodes)", lambda r: sum(r["redis_cpu_s"].values()) * 1e6 / answered(r), "{:.2f}")

print("| ratio (medians) | value | baseline | ratio | per round |")
print("|---|---|---|---|---|")
ratio_rows("cluster-1", "single", "routing cost (cluster-1 / single)")
ratio_rows("cluster-3", "single", "sharding gain (cluster-3 / single)")
ratio_rows("cluster-3", "cluster-1", "sharding gain without routing (cluster-3 / cluster-1)")
ratio_rows("single", "single-1ev", f"spreading over {events} events (single / single-1ev, info)")
print()
anom = []
for r in runs:
    b = r["bench"]
    codes = {k: v for k, v in b.get("status_codes", {}).items() if k != "200"}
    if r["rc"] != 0 or codes or b.get("errors_total", 0) or "error" in b:
        anom.append(f"{r['config']} round {r['rep']}: exit {r['rc']}, codes other than 200 {codes}, "
                    f"transport errors {b.get('errors_total')}" + (f", {b['error']}" if "error" in b else ""))
    ce = b.get("create_events", {})
    expected = 1 if r["config"] == "single-1ev" else events
    if ce.get("created", 0) != expected:
        anom.append(f"{r['config']} round {r['rep']}: {ce.get('created', 0)} of {expected} events created (201)")
print("anomalies: " + ("none (every reply 200, every event created)" if not anom else "\n  " + "\n  ".join(anom)))
busy = [f"{r['config']} round {r['rep']} ({r['machine_busy_cores'] - ours(r):.2f})" for r in runs
        if r["machine_busy_cores"] - ours(r) > 0.5]
print("runs that shared the cores with other work (not ours > 0.5 cores): " + (", ".join(busy) if busy else "none"))
def max_ms(r): return r["bench"].get("latency_us", {}).get("max", 0) / 1000
print("max latency per round (ms): " + "; ".join(
    cfg + " " + " ".join(f"{max_ms(r):.0f}" for r in of(cfg)) for cfg, _ in configs if of(cfg)))
print(f"keys per node after the last run: " +
      "; ".join(f"{cfg}: {' '.join(f'{n}={v}' for n, v in of(cfg)[-1]['dbsize'].items())}" for cfg, _ in configs if of(cfg)))
print(f"command: {cmdline}")
print(f"server: {build}; finished {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
EOF
