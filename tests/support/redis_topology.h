// Real Redis Sentinel and Redis Cluster deployments for fault tests: every
// node is a RedisProcess (/usr/bin/redis-server) on a free loopback port in
// its own temporary directory, killed and cleaned up on destruction.
//
// Same conventions as RedisProcess: operations return "" or why they
// failed; nothing sleeps a fixed time, every wait polls a condition with a
// bounded timeout. Nodes are named by port. Tests kill, pause and restart
// nodes through node(port) / node_by_port(port) (kill9, pause, resume);
// waits leave out nodes that are not running or are paused. Data nodes run
// with repl-diskless-sync-delay 0 (Redis 7 otherwise waits 5 s for more
// replicas before every full sync).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/process_util.h"
#include "support/redis_client.h"
#include "support/redis_process.h"

namespace ticketq::test {

// ------------------------------------------------------------- Sentinel ---

struct SentinelOptions {
  std::string master_name = "tqmaster";
  // requirepass + masterauth on every data node; on the Sentinels
  // "sentinel auth-pass" and (when password_on_sentinels) requirepass.
  std::string password;
  bool password_on_sentinels = true;
  int replicas = 2;
  int sentinels = 3;
  int quorum = 2;
  int down_after_ms = 1000;        // sentinel down-after-milliseconds
  int failover_timeout_ms = 5000;  // sentinel failover-timeout (a failed try is retried after 2x)
  // SENTINEL DEBUG ping-period 250 ask-period 250 publish-period 500
  // info-period 1000 on every Sentinel (defaults 1000, 1000, 2000, 10000;
  // lost on a Sentinel's restart, so restart them with restart_sentinel).
  // Without it, with down-after 1000, a Sentinel often takes a master that
  // was just promoted after a kill -9 for down too: after the switch it
  // reconnects to it only up to a ping period (1 s) later, and its first
  // PING is answered after down-after has run out; a second, needless
  // failover follows (seen with Redis 7.0.15). The shorter periods also make
  // the Sentinels learn each other, their replicas' states and turn an old
  // master into a replica (4 publish periods) in seconds instead of ~20 s.
  bool fast_timers = true;
  // min-replicas-to-write / min-replicas-max-lag on the data nodes when
  // min_replicas_to_write > 0.
  int min_replicas_to_write = 0;
  int min_replicas_max_lag = 10;
  bool persistent = false;                // appendonly + fsync always on the data nodes
  std::vector<std::string> extra_config;  // more lines for the data nodes
};

// One master and `replicas` replicas (replicaof), watched by `sentinels`
// Sentinels (redis-server <conf> --sentinel, quorum 2).
class SentinelSetup {
 public:
  explicit SentinelSetup(SentinelOptions options = {});
  ~SentinelSetup();  // Sentinels first (no failover while the nodes go), then the nodes
  SentinelSetup(const SentinelSetup&) = delete;
  SentinelSetup& operator=(const SentinelSetup&) = delete;

  // Starts the data nodes, then the Sentinels; returns once the replicas
  // are in sync and every Sentinel sees the master up and knows every
  // replica and every other Sentinel (wait_settled): before that a failover
  // can fail.
  std::string start(Millis timeout = Millis(30000));

  // sentinel://[:password@]127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/<master name>
  std::string url() const;
  const std::string& master_name() const { return options_.master_name; }
  const std::string& password() const { return options_.password; }

  // The master as the first Sentinel that answers names it; 0 when none.
  int current_master_port();
  // Every data node, in start order (the first was the first master).
  std::vector<int> data_ports() const;
  // The data nodes but the current master.
  std::vector<int> replica_ports();
  RedisProcess& node_by_port(int port);  // throws std::out_of_range
  RedisProcess& sentinel(size_t i);
  // Restarts a Sentinel (after kill9) with the config it rewrote, applies
  // fast_timers again and waits for wait_sentinels_ready.
  std::string restart_sentinel(size_t i, Millis timeout = Millis(30000));
  size_t sentinel_count() const { return sentinels_.size(); }
  // One command to a data node or a Sentinel (by port), with its password.
  Reply command(int port, const std::vector<std::string>& args);

  // SENTINEL FAILOVER <name> on the first Sentinel that answers; does not
  // wait (see wait_master_change).
  std::string failover();
  // Waits until every running Sentinel names the same master, other than
  // old_port, and that node's ROLE says master; returns its port, 0 when
  // the timeout passes first.
  int wait_master_change(int old_port, Millis timeout = Millis(30000));
  // Waits until every running data node but the master replicates from the
  // current master with its link up and has the master's replication offset
  // as it was when the call began (everything written before is copied).
  std::string wait_replicas_synced(Millis timeout = Millis(30000));
  // Waits until every running Sentinel names the same master and knows
  // every running replica and every other running Sentinel, none of them
  // down or disconnected. After a failover Sentinels forget each other and
  // learn again (hello messages every publish period): call this (or
  // wait_settled) before a second failover.
  std::string wait_sentinels_ready(Millis timeout = Millis(30000));
  // wait_replicas_synced + wait_sentinels_ready. After failover() the old
  // master, still running, is turned into a replica only once it has
  // reported being a master for 4 publish periods (2 s with fast_timers,
  // 8 s without).
  std::string wait_settled(Millis timeout = Millis(30000));

  // Restarts a data node (after kill9) on its port and directory. It comes
  // back with "replicaof <current master>" in its config, as the Sentinels'
  // CONFIG REWRITE leaves a reconfigured replica, and this returns once it
  // is linked and synced and the Sentinels see it. When the Sentinels still
  // name the node itself as the master (no failover happened), it comes back
  // as a master (with no data unless persistent). Left alone (a plain
  // node_by_port(p).restart()), an old master comes back as a master and
  // serves as one, empty, until the Sentinels turn it into a replica after
  // 4 publish periods; this avoids that.
  std::string restart_node(int port, Millis timeout = Millis(30000));

 private:
  RedisClient& client(int port);
  bool usable(RedisProcess& p) { return p.running() && !p.paused(); }
  std::string sentinel_not_ready(RedisProcess& s, int master_port);
  std::string apply_timers(RedisProcess& s);

  SentinelOptions options_;
  std::vector<std::unique_ptr<RedisProcess>> nodes_;
  std::vector<std::unique_ptr<RedisProcess>> sentinels_;
  std::map<int, std::unique_ptr<RedisClient>> clients_;
};

// -------------------------------------------------------------- Cluster ---

struct ClusterOptions {
  int masters = 3;
  int replicas_per_master = 1;
  std::string password;        // requirepass + masterauth on every node
  int node_timeout_ms = 1000;  // cluster-node-timeout: failover after ~2-3 s
  bool persistent = false;
  std::vector<std::string> extra_config;  // more lines for every node
};

// One range of slots and the master serving it, as CLUSTER SLOTS says
// (compared by range and master only).
struct SlotRange {
  int first = 0;
  int last = 0;
  int master_port = 0;
  std::vector<int> replica_ports;
  bool operator==(const SlotRange& o) const {
    return first == o.first && last == o.last && master_port == o.master_port;
  }
};

// masters + masters x replicas_per_master nodes (cluster-enabled, nodes.conf
// in each node's directory, cluster-require-full-coverage no), made into a
// cluster by redis-cli --cluster create.
class ClusterSetup {
 public:
  explicit ClusterSetup(ClusterOptions options = {});
  ~ClusterSetup();
  ClusterSetup(const ClusterSetup&) = delete;
  ClusterSetup& operator=(const ClusterSetup&) = delete;

  // Starts the nodes, creates the cluster and waits for wait_agree().
  std::string start(Millis timeout = Millis(60000));

  // cluster://[:password@]127.0.0.1:m1,... the masters as of the last
  // agreement (start, wait_agree and the operations that wait for it).
  std::string url() const;
  const std::string& password() const { return options_.password; }

  std::vector<int> ports() const;  // every node, in start order
  // The masters, by the first usable node's CLUSTER NODES (those flagged
  // fail left out), sorted.
  std::vector<int> masters();
  // The replicas of a master, by the first usable node's CLUSTER NODES.
  std::vector<int> replicas_of(int master_port);
  // Who serves a slot, by the first usable node's CLUSTER SLOTS (call
  // wait_agree first for a settled answer); 0 when nobody answers.
  int master_of_slot(int slot);
  const std::string& node_id(int port) const;   // stays across restarts (nodes.conf)
  int port_of_id(const std::string& id) const;  // 0 when unknown
  RedisProcess& node(int port);                 // throws std::out_of_range
  Reply command(int port, const std::vector<std::string>& args);
  // The slot ranges of the last agreement.
  const std::vector<SlotRange>& last_view() const { return view_; }

  // CLUSTER SETSLOT <slot> IMPORTING <from id> on to_port, then
  // MIGRATING <to id> on from_port.
  std::string begin_migration(int slot, int from_port, int to_port);
  // Moves up to max_keys keys of the slot (CLUSTER GETKEYSINSLOT + MIGRATE
  // ... KEYS, in batches of at most 100); returns how many moved. On a
  // failure, `error` (if given) says why and the count is what moved before.
  size_t migrate_keys(int slot, int from_port, int to_port, size_t max_keys,
                      std::string* error = nullptr);
  // Refuses while the source (the owner in to_port's CLUSTER SLOTS) holds
  // keys of the slot: Redis would delete them (the source may learn of the
  // new owner by gossip before its own SETSLOT). Then CLUSTER SETSLOT <slot>
  // NODE <to id> on to_port, then on every other usable master, then waits
  // for wait_agree().
  std::string finish_migration(int slot, int to_port, Millis timeout = Millis(30000));
  // redis-cli --cluster reshard moving `slots` slots (with their keys)
  // from one master to another, then wait_agree().
  std::string reshard(int from_port, int to_port, int slots, Millis timeout = Millis(60000));
  // CLUSTER FAILOVER [option] on a replica ("", "FORCE" or "TAKEOVER");
  // waits until it is a master and every node agrees.
  std::string cluster_failover(int replica_port, const std::string& option = "",
                               Millis timeout = Millis(30000));
  // Waits until every usable node says cluster_state:ok; knows every node,
  // flags no usable node fail/pfail/handshake and agrees with the others on
  // who replicates whom (CLUSTER NODES); returns the same CLUSTER SLOTS
  // owners, covering all 16384 slots with usable masters; and every usable
  // replica has its master link up, every usable master owns slots.
  std::string wait_agree(Millis timeout = Millis(30000));
  // Waits until every usable replica has its master's replication offset
  // as it was when the call began (everything written before is copied).
  std::string wait_replicas_synced(Millis timeout = Millis(30000));
  // After node(killed).kill9() of a master: waits until a replica took its
  // slots (by the last agreement) and all usable nodes agree; returns the
  // new master's port, 0 when the timeout passes first.
  int wait_failover_after_kill(int killed_master_port, Millis timeout = Millis(30000));
  // Restarts a node (after kill9) on its port and directory; it keeps its
  // id (nodes.conf); an old master whose slots were taken comes back as a
  // replica. Waits for wait_agree().
  std::string restart_node(int port, Millis timeout = Millis(30000));

  // Event names ("e0", "e1", ...) whose keys (ticketq:{<event>}:...) land
  // on each master, per_master of each, by the last agreement.
  std::map<int, std::vector<std::string>> events_by_master(size_t per_master) const;
  // The slot of an event's keys (the hash tag is the event name).
  static int event_slot(const std::string& event);
  // The first event name "e<n>" whose keys land on the slot.
  static std::string event_in_slot(int slot);

 private:
  struct NodeInfo {
    std::string id;
    int port = 0;
    std::string flags;
    std::string master_id;  // "-" for masters
  };
  RedisClient& client(int port);
  bool usable(int port);
  std::vector<NodeInfo> cluster_nodes(int port);
  bool read_slots(int port, std::vector<SlotRange>* out);
  std::string disagreement();  // "" when wait_agree's condition holds (and view_ set)

  ClusterOptions options_;
  std::vector<std::unique_ptr<RedisProcess>> nodes_;
  std::map<int, std::string> ids_;
  std::map<int, std::unique_ptr<RedisClient>> clients_;
  std::vector<SlotRange> view_;
};

}  // namespace ticketq::test
