#!/bin/sh
# One-shot `cluster-init` service of docker-compose.cluster.yml: makes the
# six nodes one Redis Cluster of 3 masters with 1 replica each, once.
#
# Idempotent: when any node already knows other nodes or holds slots (a
# second `up`, or `down` then `up` with the volumes kept), it creates
# nothing. It then only introduces the nodes to each other again at their
# current addresses: the cluster bus of Redis 7.0 goes by address, kept in
# each node's nodes.conf, and after `down` and `up` every container has a
# new one, so no node would find another (cluster_state:fail for good).
# CLUSTER MEET at the new address makes a node take it over; a replica whose
# replication link still points at its master's old address is pointed at
# the new one (CLUSTER REPLICATE).
#
# It exits 0 once every node says cluster_state:ok with all 16384 slots ok
# and every replica's link to its master is up (the masters take writes
# only then: min-replicas-to-write), non-zero if that does not happen
# within CLUSTER_INIT_TIMEOUT_S (default 120). Runs in the redis image
# (redis-cli, getent); POSIX sh.
#
#   CLUSTER_NODES            the nodes, host names, port 6379
#                            (default redis-node-1 ... redis-node-6; the first
#                            three become masters)
#   CLUSTER_INIT_TIMEOUT_S   the bound on every wait (default 120)
set -eu

nodes=${CLUSTER_NODES:-"redis-node-1 redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6"}
deadline=$(($(date +%s) + ${CLUSTER_INIT_TIMEOUT_S:-120}))

say() { echo "cluster-init $(date -u +%T): $*"; }
late() { [ "$(date +%s)" -ge "$deadline" ]; }
cli() {  # cli NODE COMMAND...
  node=$1
  shift
  redis-cli -h "$node" -p 6379 "$@" 2>/dev/null | tr -d '\r'
}
info() { cli "$1" cluster info | sed -n "s/^$2://p"; }      # info NODE FIELD: of CLUSTER INFO
repl() { cli "$1" info replication | sed -n "s/^$2://p"; }  # repl NODE FIELD: of INFO replication
address() {  # address NAME: its IP address now
  getent hosts "$1" | awk '{ print $1; exit }'
}

for n in $nodes; do
  until [ "$(cli "$n" ping)" = PONG ]; do
    late && { say "$n does not answer PING"; exit 1; }
    sleep 1
  done
done
say "all nodes answer"

exists=""
for n in $nodes; do
  known=$(info "$n" cluster_known_nodes)
  assigned=$(info "$n" cluster_slots_assigned)
  if [ "${known:-1}" -gt 1 ] || [ "${assigned:-0}" -gt 0 ]; then
    exists="$n knows ${known:-?} nodes and ${assigned:-?} slots"
    break
  fi
done

if [ -n "$exists" ]; then
  say "the cluster exists already ($exists): nothing to create"
  # Every node that is in the cluster meets every other one at its address
  # of now (harmless when it has not changed).
  for a in $nodes; do
    [ "$(info "$a" cluster_known_nodes)" -gt 1 ] 2>/dev/null || continue
    for b in $nodes; do
      [ "$a" != "$b" ] || continue
      ip=$(address "$b")
      [ -z "$ip" ] || cli "$a" cluster meet "$ip" 6379 >/dev/null || true
    done
  done
else
  # CLUSTER MEET takes addresses, not names (Redis 7.0): resolve them here.
  # Clients are still given names (cluster-preferred-endpoint-type hostname).
  addrs=""
  for n in $nodes; do
    ip=$(address "$n")
    [ -n "$ip" ] || { say "cannot resolve $n"; exit 1; }
    addrs="$addrs $ip:6379"
  done
  say "creating the cluster:$addrs"
  # shellcheck disable=SC2086  # one word per node
  redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes
  echo  # its last line has no end
fi

# cluster_state:ok alone is not enough: with cluster-require-full-coverage
# no, it is ok while a shard is down. Every slot must be ok too.
for n in $nodes; do
  until [ "$(info "$n" cluster_state)" = ok ] && [ "$(info "$n" cluster_slots_ok)" = 16384 ]; do
    late && { say "$n: cluster_state $(info "$n" cluster_state), $(info "$n" cluster_slots_ok) slots ok"; exit 1; }
    sleep 1
  done
done
say "cluster_state ok and all 16384 slots ok on every node"

# Every replica's replication link up, pointed at its master's address of
# now (a replica does not always follow a master's new address by itself).
for n in $nodes; do
  until [ "$(repl "$n" role)" = master ] || [ "$(repl "$n" master_link_status)" = up ]; do
    late && { say "$n: the link to its master is not up"; exit 1; }
    master=$(cli "$n" cluster nodes | awk '$3 ~ /myself/ { print $4 }')
    ip=$(cli "$n" cluster nodes | awk -v id="$master" '$1 == id { sub(/:.*/, "", $2); print $2 }')
    if [ -n "$ip" ] && [ "$(repl "$n" master_host)" != "$ip" ]; then
      say "$n replicates $(repl "$n" master_host), its master is at $ip now: CLUSTER REPLICATE"
      cli "$n" cluster replicate "$master" >/dev/null || true
    fi
    sleep 1
  done
done
say "every replica is linked to its master"
# Who is who: "address:port@bus-port,hostname flags".
cli "${nodes%% *}" cluster nodes | awk '{ print "  " $2, $3 }' | sort -t, -k2 || true
