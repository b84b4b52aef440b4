#!/usr/bin/env bash
# Smoke test of the replicated Redis stacks: docker-compose.sentinel.yml
# (master, 2 replicas, 3 Sentinels) and docker-compose.cluster.yml (Redis
# Cluster, 3 masters with 1 replica each), with podman and podman-compose.
# Exits 77 (skipped) where they are not installed.
#
#   tests/docker/smoke_ha.sh [sentinel|cluster|all]      (default all)
#
# Builds the image (unless SMOKE_BUILD=0), then, one stack after the other,
# each under its own project on a free loopback port: starts it and reports
# how long /ready through nginx took; waits for every container to be
# healthy; checks the Redis side (names, not addresses, everywhere) and
# reserves users on several events through nginx. Then:
#   sentinel  waits until no Sentinel is in TILT mode, stops the master's
#             container and reserves until a reserve succeeds again: the
#             outage (down-after-milliseconds 5000 plus the failover) is
#             printed in ms, with each Sentinel's timeline; checks that the
#             Sentinels named a replica, that both ticketq replicas moved to
#             it, and that every reservation acknowledged before (WAIT 1) is
#             still there; starts the old master and expects it back as a
#             replica of the new one.
#   cluster   checks that the events are spread over the three masters;
#             `down` and `up` with the volumes kept (new container
#             addresses): cluster-init must find the cluster, not create
#             one, and every reservation must still be there; stops the
#             master of one event's shard: the other shards keep serving
#             throughout, the shard's replica takes over and refuses writes
#             (NOREPLICAS: min-replicas-to-write 1, its only replica is
#             gone) until the old master is back as its replica.
# Tears each stack down (down -v: containers, network, volumes) when done
# with it or on any failure, and prints the logs of ticketq and Redis on a
# failure. Every wait is bounded.
#
# Environment:
#   SMOKE_PORT        host port for nginx (default: first free from 18080)
#   SMOKE_PROJECT     prefix of the project names (default ticketq-smoke;
#                     the projects are PREFIX-sentinel and PREFIX-cluster)
#   SMOKE_IMAGE       image to build and run (default: TICKETQ_IMAGE, else
#                     localhost/ticketq:smoke)
#   SMOKE_BUILD=0     do not build: SMOKE_IMAGE must exist
#   SMOKE_KEEP=1      leave the stack of a failure running for a look
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)

for tool in podman podman-compose curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "skipped: $tool not found"
    exit 77
  fi
done
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

PREFIX=${SMOKE_PROJECT:-ticketq-smoke}
IMAGE=${SMOKE_IMAGE:-${TICKETQ_IMAGE:-localhost/ticketq:smoke}}
STARTED=$SECONDS
LOG_TAG=smoke-ha
PROJECT=""     # the project of the stack that is up, "" when none
STACK_FILE=""
# log, fail, pick_port, ctr, wait_healthy, curl_json, expect, metric_sum
. "$ROOT/tests/docker/lib.sh"

case "${1:-all}" in
  sentinel) STACKS="sentinel" ;;
  cluster) STACKS="cluster" ;;
  all) STACKS="sentinel cluster" ;;
  *) echo "usage: $0 [sentinel|cluster|all]" >&2; exit 2 ;;
esac

pick_port
BASE=http://127.0.0.1:$PORT

WORK=$(mktemp -d)
TOKEN=smoke-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# REDIS_URL and the WAIT settings come from the compose files.
cat >"$WORK/ticketq.env" <<EOF
TICKETQ_ADMIN_TOKEN=$TOKEN
TICKETQ_THREADS=2
EOF
export TICKETQ_IMAGE=$IMAGE TICKETQ_ENV_FILE=$WORK/ticketq.env
export TICKETQ_HTTP_PORT=$PORT TICKETQ_HTTP_BIND=127.0.0.1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# logs_have CONTAINER REGEX: its log has a matching line (reads it all: no
# SIGPIPE for pipefail to see, as `| grep -q` could give).
logs_have() { [ "$(podman logs "$1" 2>&1 | grep -c -e "$2")" -gt 0 ]; }
compose() { timeout "$1" podman-compose -p "$PROJECT" -f "$ROOT/$STACK_FILE" "${@:2}"; }
rcli() {  # rcli SERVICE ARGS...: redis-cli in that service's container
  local id
  id=$(ctr "$1")
  [ -n "$id" ] || fail "no running container for $1"
  podman exec "$id" redis-cli "${@:2}" | tr -d '\r'
}

LOG_SERVICES=""  # of the stack that is up, for the logs
dump_logs() {
  echo "---- container logs (last 30 lines each, without podman's systemd" \
    "complaints and repeated resolver failures) ----" >&2
  for s in $LOG_SERVICES; do
    id=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
      --filter "label=com.docker.compose.service=$s" | head -n1)
    [ -n "$id" ] || { echo "== $s: no container" >&2; continue; }
    echo "== $s" >&2
    podman logs "$id" 2>&1 | grep -v -e 'unable to get systemd connection' -e 'Failed to resolve hostname' \
      -e 'Unable to connect to MASTER' -e 'Connecting to MASTER' | uniq -c -f 4 | tail -30 >&2 || true
  done
}
stack_down() {
  [ -n "$PROJECT" ] || return 0
  compose 180 down -v >"$WORK/down-$PROJECT.log" 2>&1 ||
    echo "teardown: down failed, see $WORK/down-$PROJECT.log" >&2
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  left=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | wc -l)
  [ "$left" -eq 0 ] || echo "teardown: $left containers of $PROJECT left" >&2
  left=$(podman volume ls -q | grep -c "^${PROJECT}_" || true)
  [ "$left" -eq 0 ] || echo "teardown: $left volumes of $PROJECT left" >&2
  PROJECT=""
}
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" -eq 0 ] || [ -z "$PROJECT" ] || dump_logs
  if [ "$rc" -ne 0 ] && [ -n "$PROJECT" ] && [ "${SMOKE_KEEP:-0}" = 1 ]; then
    log "SMOKE_KEEP=1: $PROJECT left running on $BASE (token in $WORK/ticketq.env);" \
      "tear down: podman-compose -p $PROJECT -f $STACK_FILE down -v"
  else
    stack_down
    rm -rf "$WORK"
  fi
  if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# stack_up NAME FILE SERVICES...: starts it, waits for /ready through nginx
# and for the SERVICES (those with a healthcheck) to be healthy.
stack_up() {
  PROJECT=$PREFIX-$1 STACK_FILE=$2
  shift 2
  LOG_SERVICES="$* ${EXTRA_LOGS:-}"
  log "starting $STACK_FILE as project $PROJECT on $BASE"
  compose 120 down -v >/dev/null 2>&1 || true  # leftovers of an interrupted run
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  local t0 code=""
  t0=$(now_ms)
  compose 300 up -d --no-build >"$WORK/up-$PROJECT.log" 2>&1 ||
    { tail -30 "$WORK/up-$PROJECT.log" >&2; fail "compose up failed"; }
  local up_ms=$(($(now_ms) - t0))
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/ready" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || fail "/ready through nginx: '$code' after 120 s"
  log "ok  STARTUP: /ready 200 through nginx $(($(now_ms) - t0)) ms after \`up\` began (up itself: $up_ms ms)"
  local s
  for s in "$@"; do wait_healthy "$s" 90; done
}

# reserve_all EVENT USERS...: each user gets 200 reserved or queued.
reserve_all() {
  local e=$1 u
  shift
  for u in "$@"; do
    expect "$e: reserve $u" "$(curl_json POST "/v1/events/$e/reserve" "{\"user_id\":\"$u\"}")" 200 '"status":"'
  done
}
# still_there EVENT USERS...: each user is reserved or in line.
still_there() {
  local e=$1 u out
  shift
  for u in "$@"; do
    out=$(curl_json GET "/v1/events/$e/status/$u")
    case "$out" in
      "200 "*'"status":"reserved"'* | "200 "*'"status":"in_queue"'*) ;;
      *) fail "$e: $u is gone: $out" ;;
    esac
  done
  log "ok  $e: $# users still reserved or in line"
}
# reserve_until_ok EVENT PREFIX SECONDS: reserves new users every 100 ms
# until one gets 200. Sets TOOK (ms from the call), FAILED (failed tries)
# and LAST (the last failure: "CODE:BODY").
reserve_until_ok() {
  local e=$1 p=$2 t0 code
  t0=$(now_ms) FAILED=0 LAST=none
  while [ $(($(now_ms) - t0)) -lt $(($3 * 1000)) ]; do
    code=$(curl -s --max-time 3 -o "$WORK/probe.json" -w '%{http_code}' -X POST \
      "$BASE/v1/events/$e/reserve" -d "{\"user_id\":\"$p$FAILED\"}" || true)
    if [ "$code" = 200 ]; then
      TOOK=$(($(now_ms) - t0))
      return 0
    fi
    FAILED=$((FAILED + 1))
    LAST="$code:$(tr -d ' \n' <"$WORK/probe.json" 2>/dev/null | head -c 60)"
    sleep 0.1
  done
  fail "$e: no reserve succeeded within $3 s (last: $LAST)"
}

# ------------------------------------------------------------------ build --
if [ "${SMOKE_BUILD:-1}" = 0 ]; then
  podman image exists "$IMAGE" || fail "SMOKE_BUILD=0 but there is no image $IMAGE"
  log "using $IMAGE as it is (SMOKE_BUILD=0)"
else
  log "building $IMAGE (docker/Dockerfile)"
  timeout 3000 podman build --format docker -t "$IMAGE" -f docker/Dockerfile . >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log" >&2; fail "image build failed"; }
fi
log "image: $(podman run --rm --entrypoint ticketq-server "$IMAGE" --version 2>/dev/null)"

EVENTS="ev-a ev-b ev-c"
USERS="u1 u2 u3 u4"  # capacity 3: three reserved, one in line (of up to 1000)

events_with_users() {
  local e
  for e in $EVENTS; do
    expect "create $e" "$(curl_json PUT "/v1/events/$e" '{"capacity":3,"queue_limit":1000}')" 201 '"capacity":3'
    # shellcheck disable=SC2086  # one word per user
    reserve_all "$e" $USERS
  done
}
all_still_there() {
  local e
  # shellcheck disable=SC2086
  for e in $EVENTS; do still_there "$e" $USERS; done
}

# --------------------------------------------------------------- sentinel --
run_sentinel() {
  stack_up sentinel docker-compose.sentinel.yml \
    redis-1 redis-2 redis-3 sentinel-1 sentinel-2 sentinel-3 ticketq1 ticketq2 nginx

  local master s
  master=$(rcli sentinel-1 -p 26379 sentinel get-master-addr-by-name ticketq | head -n1)
  [ "$master" = redis-1 ] || fail "the Sentinels name '$master' as master, want redis-1 (a host name)"
  local deadline=$((SECONDS + 30))  # the Sentinels find each other by hello messages, every 2 s
  for s in sentinel-1 sentinel-2 sentinel-3; do
    until rcli "$s" -p 26379 sentinel ckquorum ticketq | grep -q '^OK 3 usable'; do
      [ "$SECONDS" -lt "$deadline" ] || fail "$s: $(rcli "$s" -p 26379 sentinel ckquorum ticketq)"
      sleep 1
    done
  done
  local repl
  repl=$(rcli redis-1 info replication)
  grep -q '^connected_slaves:2' <<<"$repl" && grep -q 'ip=redis-2,' <<<"$repl" && grep -q 'ip=redis-3,' <<<"$repl" ||
    fail "redis-1 does not have redis-2 and redis-3 as replicas, by name: $repl"
  [ "$(rcli redis-1 config get min-replicas-to-write | tail -n1)" = 1 ] || fail "min-replicas-to-write is not 1"
  log "ok  master redis-1 with replicas redis-2 and redis-3 (by name), 3 Sentinels agree"

  # A Sentinel whose timer was held up for more than 2 s (a loaded host)
  # is in TILT mode for 30 s and takes no part in a failover: wait it out,
  # so that the outage below measures a failover, not a TILT.
  local tilts
  tilts=$(for s in sentinel-1 sentinel-2 sentinel-3; do podman logs "$(ctr "$s")" 2>&1; done | grep -c '+tilt' || true)
  deadline=$((SECONDS + 60))
  for s in sentinel-1 sentinel-2 sentinel-3; do
    until rcli "$s" -p 26379 info sentinel | grep -q '^sentinel_tilt:0'; do
      [ "$SECONDS" -lt "$deadline" ] || fail "$s still in TILT mode after 60 s"
      sleep 1
    done
  done
  [ "$tilts" = 0 ] || log "note: the Sentinels entered TILT mode $tilts times while starting (host loaded); none is in it now"

  events_with_users
  # WAIT 1: acknowledged means on a replica too.
  local n
  n=$(rcli redis-2 dbsize)
  [ "$n" -gt 0 ] || fail "redis-2 has no keys"
  log "ok  replica redis-2 has $n keys"

  log "stopping the master's container (redis-1) at $(date -u +%T.%3N) UTC"
  local t0 stop_ms
  t0=$(now_ms)
  podman stop -t 10 "$(ctr redis-1)" >/dev/null
  stop_ms=$(($(now_ms) - t0))
  # Bounded by an aborted first try too: Sentinel tries again after
  # 2 x failover-timeout (120 s).
  reserve_until_ok ev-a failover- 180
  log "ok  OUTAGE: a reserve succeeded again $((stop_ms + TOOK)) ms after \`podman stop\` of the master began" \
    "(the stop took $stop_ms ms; $FAILED reserves failed meanwhile, the last: $LAST)"

  local ev
  for s in sentinel-1 sentinel-2 sentinel-3; do
    ev=$(podman logs "$(ctr "$s")" 2>&1 | grep -E ' [-+](sdown master|odown|tilt|switch-master|elected-leader|failover-abort)' |
      awk '{ printf "%s %s%s; ", $5, $7, ($7 == "+switch-master" ? " to " $11 : "") }' || true)
    log "    $s: ${ev:-nothing}"
  done
  master=$(rcli sentinel-1 -p 26379 sentinel get-master-addr-by-name ticketq | head -n1)
  case "$master" in redis-2 | redis-3) ;; *) fail "the Sentinels name '$master' as master after the failover" ;; esac
  for s in ticketq1 ticketq2; do
    logs_have "$(ctr "$s")" "says the master of ticketq is now $master" ||
      fail "$s did not log that it moved to $master"
  done
  log "ok  the Sentinels promoted $master; ticketq1 and ticketq2 moved to it; ticketq1:"
  podman logs "$(ctr ticketq1)" 2>&1 | grep -e "says the master of ticketq is now" | while read -r line; do log "    $line"; done
  all_still_there
  reserve_all ev-b after-1 after-2

  log "starting redis-1 again: it must come back as a replica of $master"
  podman start "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=redis-1" | head -n1)" >/dev/null
  local info=""
  deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    info=$(rcli redis-1 info replication 2>/dev/null || true)
    grep -q '^role:slave' <<<"$info" && grep -q "^master_host:$master" <<<"$info" &&
      grep -q '^master_link_status:up' <<<"$info" && break
    sleep 1
  done
  grep -q '^master_link_status:up' <<<"$info" && grep -q "^master_host:$master" <<<"$info" ||
    fail "redis-1 is not a replica of $master after 60 s: $(grep -E '^(role|master_host|master_link_status):' <<<"$info" | tr '\n' ' ')"
  log "ok  redis-1 is a replica of $master, link up"
  reserve_all ev-c after-3
  for s in ticketq1 ticketq2 nginx; do wait_healthy "$s" 30; done
  stack_down
}

# ---------------------------------------------------------------- cluster --
slot_owner() {  # slot_owner EVENT: host name of the master of its slot, asked of node ASK
  local slot
  slot=$(rcli "$ASK" cluster keyslot "{$1}")
  rcli "$ASK" cluster nodes | awk -v s="$slot" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        n = split($i, r, "-"); if (n == 1) r[2] = r[1]
        if (s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) { split($2, h, ","); print h[2] }
      }
    }'
}

run_cluster() {
  local nodes="redis-node-1 redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6"
  # shellcheck disable=SC2086
  EXTRA_LOGS=cluster-init stack_up cluster docker-compose.cluster.yml $nodes ticketq1 ticketq2 nginx

  local init deadline=$((SECONDS + 120)) st=""
  init=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=cluster-init" | head -n1)
  while [ "$SECONDS" -lt "$deadline" ]; do
    st=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$init")
    [ "${st%% *}" = exited ] && break
    sleep 1
  done
  [ "$st" = "exited 0" ] || fail "cluster-init: $st: $(podman logs --tail 5 "$init" 2>&1)"
  logs_have "$init" 'creating the cluster' || fail "cluster-init did not create the cluster"
  log "ok  cluster-init exited 0:"
  podman logs "$init" 2>&1 | grep '^cluster-init' | while read -r line; do log "    $line"; done
  ASK=redis-node-2
  local nodes_out masters replicas
  nodes_out=$(rcli "$ASK" cluster nodes)
  masters=$(grep -c ' master ' <<<"${nodes_out//myself,/}" || true)
  replicas=$(grep -c ' slave ' <<<"${nodes_out//myself,/}" || true)
  [ "$masters" = 3 ] && [ "$replicas" = 3 ] || fail "want 3 masters and 3 replicas: $nodes_out"
  # CLUSTER SLOTS must name the nodes (cluster-preferred-endpoint-type
  # hostname), and ticketq must have gone by those names.
  [ "$(rcli "$ASK" cluster slots | grep -c '^redis-node-[1-6]$')" -ge 3 ] ||
    fail "CLUSTER SLOTS gives no host names: $(rcli "$ASK" cluster slots | tr '\n' ' ')"
  logs_have "$(ctr ticketq1)" 'ready on redis-node-[1-6]:6379' ||
    fail "ticketq1 did not log 'ready on redis-node-N:6379'"
  log "ok  cluster-init made 3 masters with 1 replica each; CLUSTER SLOTS and ticketq use host names"

  # ev-a, ev-b and ev-c hash to slots 770, 13153 and 9024: one per master.
  local e owners=""
  for e in $EVENTS; do owners+="$(slot_owner "$e") "; done
  [ "$(tr ' ' '\n' <<<"$owners" | sed '/^$/d' | sort -u | wc -l)" = 3 ] ||
    fail "the events are not on three masters: $owners"
  log "ok  $EVENTS are on $owners"
  events_with_users

  log "down and up with the volumes kept (every node gets a new address)"
  compose 180 down >"$WORK/down-keep.log" 2>&1 || fail "down (volumes kept) failed"
  local t0 code=""
  t0=$(now_ms)
  compose 300 up -d --no-build >"$WORK/up-again.log" 2>&1 || fail "the second up failed"
  init=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=cluster-init" | head -n1)
  deadline=$((SECONDS + 150))
  while [ "$SECONDS" -lt "$deadline" ]; do
    st=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$init")
    [ "${st%% *}" = exited ] && break
    sleep 1
  done
  [ "$st" = "exited 0" ] || fail "cluster-init after the second up: $st: $(podman logs --tail 8 "$init" 2>&1)"
  logs_have "$init" 'the cluster exists already' ||
    fail "cluster-init after the second up: $(podman logs --tail 8 "$init" 2>&1)"
  ! logs_have "$init" 'creating the cluster' || fail "cluster-init created a cluster again"
  podman logs "$init" 2>&1 | grep '^cluster-init' | while read -r line; do log "    $line"; done
  for s in ticketq1 ticketq2 nginx; do wait_healthy "$s" 90; done
  log "ok  second up: cluster-init found the cluster and did not create one; up again $(($(now_ms) - t0)) ms after \`up\`"
  all_still_there
  reserve_until_ok ev-a again- 30
  log "ok  reserves work after the second up ($FAILED failed first)"

  # One shard's master down: ev-a's.
  local victim replica
  victim=$(slot_owner ev-a)
  [ -n "$victim" ] || fail "no master for ev-a's slot"
  local victim_id
  victim_id=$(rcli "$victim" cluster myid)
  replica=$(rcli "$ASK" cluster nodes | awk -v id="$victim_id" '$4 == id { split($2, h, ","); print h[2] }')
  [ "$victim" != "$ASK" ] && [ "$replica" != "$ASK" ] || ASK=$(for n in $nodes; do
    [ "$n" != "$victim" ] && [ "$n" != "$replica" ] && echo "$n"; done | head -n1)
  log "stopping $victim, the master of ev-a's shard (its replica: $replica)"
  t0=$(now_ms)
  podman stop -t 10 "$(ctr "$victim")" >/dev/null
  # The other shards answer throughout; ev-a's shard gets a new master
  # (cluster-node-timeout 5000), which refuses writes: no replica left.
  local i=0 b c promoted=""
  deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    i=$((i + 1))
    b=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/events/ev-b/reserve" -d "{\"user_id\":\"other-b$i\"}" || true)
    c=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/events/ev-c/reserve" -d "{\"user_id\":\"other-c$i\"}" || true)
    [ "$b $c" = "200 200" ] || fail "ev-b/ev-c (other shards) answered $b/$c while $victim was down"
    if [ "$(slot_owner ev-a)" = "$replica" ]; then
      promoted=$(($(now_ms) - t0))
      break
    fi
    sleep 0.2
  done
  [ -n "$promoted" ] || fail "$replica was not promoted within 60 s"
  log "ok  $replica took over ev-a's shard $promoted ms after the stop; ev-b and ev-c were served throughout ($i rounds)"
  sleep 2  # ticketq's slot map: MOVED or the next refresh
  code=$(curl -s --max-time 3 -o "$WORK/noreplicas.json" -w '%{http_code}' -X POST "$BASE/v1/events/ev-a/reserve" -d '{"user_id":"no-replica"}' || true)
  [ "$code" = 503 ] || fail "ev-a with its shard's replica gone: $code $(cat "$WORK/noreplicas.json"), want 503"
  logs_have "$(ctr ticketq1)" NOREPLICAS || logs_have "$(ctr ticketq2)" NOREPLICAS ||
    fail "ev-a answered 503 but no ticketq logged NOREPLICAS"
  still_there ev-a u1 u2 u3 u4
  log "ok  ev-a: reads served by $replica, writes 503 (NOREPLICAS: min-replicas-to-write 1)"

  log "starting $victim again: it must come back as the replica of $replica"
  t0=$(now_ms)
  podman start "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$victim" | head -n1)" >/dev/null
  reserve_until_ok ev-a back- 90
  log "ok  ev-a takes reserves again $(($(now_ms) - t0)) ms after $victim was started ($FAILED failed meanwhile, the last: $LAST)"
  [ "$(rcli "$victim" role | head -n1)" = slave ] || fail "$victim is not a replica: $(rcli "$victim" role | head -n1)"
  all_still_there
  for s in ticketq1 ticketq2 nginx; do wait_healthy "$s" 30; done
  stack_down
}

for stack in $STACKS; do "run_$stack"; done
