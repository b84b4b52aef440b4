#include "support/redis_topology.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "redis/cluster_slot.h"

namespace ticketq::test {

namespace {

constexpr const char* kRedisCli = "/usr/bin/redis-cli";
constexpr int kClientTimeoutMs = 3000;
constexpr Millis kPoll(20);

// A field of INFO's text ("" when absent).
std::string info_field(const std::string& info, const std::string& field) {
  std::string needle = field + ":";
  size_t at = 0;
  while (true) {
    at = info.find(needle, at);
    if (at == std::string::npos) return "";
    if (at == 0 || info[at - 1] == '\n') break;
    at += needle.size();
  }
  size_t from = at + needle.size();
  size_t end = info.find_first_of("\r\n", from);
  return info.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

int to_int(const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  return end == s.c_str() ? 0 : static_cast<int>(v);
}

int64_t to_int64(const std::string& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() ? -1 : static_cast<int64_t>(v);
}

// A flat [field, value, ...] reply (SENTINEL MASTER, one of SENTINEL
// REPLICAS' entries) as a map.
std::map<std::string, std::string> fields_of(const Reply& r) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out[r.elements[i].str] = r.elements[i + 1].str;
  return out;
}

std::string describe(const Reply& r) {
  switch (r.type) {
    case Reply::Type::kNoConnection:
      return "no connection";
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kInteger:
      return std::to_string(r.integer);
    case Reply::Type::kArray:
      return "array of " + std::to_string(r.elements.size());
    default:
      return r.str;
  }
}

bool is_ok(const Reply& r) {
  return r.type == Reply::Type::kStatus && r.str == "OK";
}

std::string join_ports(const std::vector<int>& ports) {
  std::string out;
  for (int p : ports)
    out += (out.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(p);
  return out;
}

// The first word of ROLE: "master", "slave", "sentinel" ("" when no answer).
std::string role_of(RedisClient& c) {
  Reply r = c.command({"ROLE"});
  if (r.type != Reply::Type::kArray || r.elements.empty()) return "";
  return r.elements[0].str;
}

// Polls `check` (which returns "" when the condition holds, else why not)
// until it holds or the timeout passes; returns "" or the last reason.
std::string poll(const std::function<std::string()>& check, Millis timeout,
                 const std::string& what) {
  std::string why;
  bool ok = wait_until(
      [&] {
        why = check();
        return why.empty();
      },
      timeout, kPoll);
  if (ok) return "";
  return what + " not reached within " + std::to_string(timeout.count()) + " ms: " + why;
}

Millis left(int64_t deadline) {
  return Millis(std::max<int64_t>(0, deadline - now_ms()));
}

}  // namespace

// ============================================================== Sentinel ===

SentinelSetup::SentinelSetup(SentinelOptions options) : options_(std::move(options)) {}

SentinelSetup::~SentinelSetup() {
  clients_.clear();
  sentinels_.clear();  // no failover while the data nodes go
  nodes_.clear();
}

RedisClient& SentinelSetup::client(int port) {
  auto it = clients_.find(port);
  if (it != clients_.end()) return *it->second;
  bool is_sentinel = false;
  for (auto& s : sentinels_) is_sentinel = is_sentinel || s->port() == port;
  std::string pw = is_sentinel && !options_.password_on_sentinels ? "" : options_.password;
  auto c = std::make_unique<RedisClient>(port, "127.0.0.1", kClientTimeoutMs, pw);
  return *clients_.emplace(port, std::move(c)).first->second;
}

Reply SentinelSetup::command(int port, const std::vector<std::string>& args) {
  return client(port).command(args);
}

std::string SentinelSetup::start(Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  auto data_options = [&](int replicaof) {
    RedisOptions o;
    o.persistent = options_.persistent;
    o.password = options_.password;
    o.replicaof_port = replicaof;
    // Redis 7 waits 5 s for more replicas before a diskless full sync.
    o.extra_config.push_back("repl-diskless-sync-delay 0");
    if (!options_.password.empty())
      o.extra_config.push_back("masterauth \"" + options_.password + "\"");
    if (options_.min_replicas_to_write > 0) {
      o.extra_config.push_back("min-replicas-to-write " +
                               std::to_string(options_.min_replicas_to_write));
      o.extra_config.push_back("min-replicas-max-lag " +
                               std::to_string(options_.min_replicas_max_lag));
    }
    for (const auto& l : options_.extra_config) o.extra_config.push_back(l);
    return o;
  };
  nodes_.push_back(std::make_unique<RedisProcess>(data_options(0)));
  if (std::string e = nodes_[0]->start(); !e.empty()) return "master: " + e;
  int master = nodes_[0]->port();
  for (int i = 0; i < options_.replicas; ++i) {
    nodes_.push_back(std::make_unique<RedisProcess>(data_options(master)));
    if (std::string e = nodes_.back()->start(); !e.empty()) return "replica: " + e;
  }
  const std::string& name = options_.master_name;
  for (int i = 0; i < options_.sentinels; ++i) {
    RedisOptions o;
    o.sentinel = true;
    if (options_.password_on_sentinels) o.password = options_.password;
    o.extra_config = {
        "sentinel monitor " + name + " 127.0.0.1 " + std::to_string(master) + " " +
            std::to_string(options_.quorum),
        "sentinel down-after-milliseconds " + name + " " + std::to_string(options_.down_after_ms),
        "sentinel failover-timeout " + name + " " + std::to_string(options_.failover_timeout_ms),
        "sentinel parallel-syncs " + name + " 1"};
    if (!options_.password.empty())
      o.extra_config.push_back("sentinel auth-pass " + name + " \"" + options_.password + "\"");
    sentinels_.push_back(std::make_unique<RedisProcess>(o));
    if (std::string e = sentinels_.back()->start(); !e.empty()) return "sentinel: " + e;
    if (std::string e = apply_timers(*sentinels_.back()); !e.empty()) return e;
  }
  return wait_settled(left(deadline));
}

std::string SentinelSetup::url() const {
  std::string hosts;
  for (const auto& s : sentinels_)
    hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s->port());
  std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
  return "sentinel://" + auth + hosts + "/" + options_.master_name;
}

int SentinelSetup::current_master_port() {
  for (auto& s : sentinels_) {
    if (!usable(*s)) continue;
    Reply r = command(s->port(), {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
    if (r.type == Reply::Type::kArray && r.elements.size() == 2) return to_int(r.elements[1].str);
  }
  return 0;
}

std::vector<int> SentinelSetup::data_ports() const {
  std::vector<int> out;
  for (const auto& n : nodes_) out.push_back(n->port());
  return out;
}

std::vector<int> SentinelSetup::replica_ports() {
  int m = current_master_port();
  std::vector<int> out;
  for (const auto& n : nodes_)
    if (n->port() != m) out.push_back(n->port());
  return out;
}

RedisProcess& SentinelSetup::node_by_port(int port) {
  for (auto& n : nodes_)
    if (n->port() == port) return *n;
  throw std::out_of_range("no data node on port " + std::to_string(port));
}

RedisProcess& SentinelSetup::sentinel(size_t i) {
  return *sentinels_.at(i);
}

std::string SentinelSetup::apply_timers(RedisProcess& s) {
  if (!options_.fast_timers) return "";
  Reply r = command(s.port(), {"SENTINEL", "DEBUG", "ping-period", "250", "ask-period", "250",
                               "publish-period", "500", "info-period", "1000"});
  return is_ok(r) ? "" : "SENTINEL DEBUG on " + std::to_string(s.port()) + ": " + describe(r);
}

std::string SentinelSetup::restart_sentinel(size_t i, Millis timeout) {
  RedisProcess& s = sentinel(i);
  if (std::string e = s.restart(); !e.empty()) return e;
  if (std::string e = apply_timers(s); !e.empty()) return e;
  return wait_sentinels_ready(timeout);
}

std::string SentinelSetup::failover() {
  std::string last = "no usable sentinel";
  for (auto& s : sentinels_) {
    if (!usable(*s)) continue;
    Reply r = command(s->port(), {"SENTINEL", "FAILOVER", options_.master_name});
    if (is_ok(r)) return "";
    last = "SENTINEL FAILOVER on " + std::to_string(s->port()) + ": " + describe(r);
    if (r.type == Reply::Type::kError) return last;  // e.g. NOGOODSLAVE, INPROG
  }
  return last;
}

int SentinelSetup::wait_master_change(int old_port, Millis timeout) {
  int found = 0;
  wait_until(
      [&] {
        int agreed = 0;
        for (auto& s : sentinels_) {
          if (!usable(*s)) continue;
          Reply r =
              command(s->port(), {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
          if (r.type != Reply::Type::kArray || r.elements.size() != 2) return false;
          int p = to_int(r.elements[1].str);
          if (p == old_port || p <= 0 || (agreed != 0 && p != agreed)) return false;
          agreed = p;
        }
        if (agreed == 0 || role_of(client(agreed)) != "master") return false;
        found = agreed;
        return true;
      },
      timeout, kPoll);
  return found;
}

std::string SentinelSetup::wait_replicas_synced(Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  int master = 0;
  int64_t offset = -1;
  // The master and its offset as this call begins.
  std::string e = poll(
      [&]() -> std::string {
        master = current_master_port();
        if (master == 0) return "no sentinel names a master";
        std::string info = command(master, {"INFO", "replication"}).str;
        if (info_field(info, "role") != "master")
          return "the sentinels' master " + std::to_string(master) + " is not a master";
        offset = to_int64(info_field(info, "master_repl_offset"));
        return offset < 0 ? "no master_repl_offset" : "";
      },
      left(deadline), "a master");
  if (!e.empty()) return e;
  return poll(
      [&]() -> std::string {
        for (auto& n : nodes_) {
          if (n->port() == master || !usable(*n)) continue;
          std::string info = command(n->port(), {"INFO", "replication"}).str;
          std::string who = "replica " + std::to_string(n->port());
          if (info_field(info, "role") != "slave") return who + " is not a replica";
          if (to_int(info_field(info, "master_port")) != master)
            return who + " replicates from " + info_field(info, "master_port");
          if (info_field(info, "master_link_status") != "up") return who + ": link down";
          int64_t at = to_int64(info_field(info, "slave_repl_offset"));
          if (at < offset)
            return who + " at offset " + std::to_string(at) + " < " + std::to_string(offset);
        }
        return "";
      },
      left(deadline), "replicas in sync with " + std::to_string(master));
}

std::string SentinelSetup::sentinel_not_ready(RedisProcess& s, int master) {
  const std::string& name = options_.master_name;
  std::string who = "sentinel " + std::to_string(s.port());
  Reply addr = command(s.port(), {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name});
  if (addr.type != Reply::Type::kArray || addr.elements.size() != 2)
    return who + ": get-master-addr-by-name: " + describe(addr);
  if (to_int(addr.elements[1].str) != master)
    return who + " names master " + addr.elements[1].str + ", another names " +
           std::to_string(master);
  auto m = fields_of(command(s.port(), {"SENTINEL", "MASTER", name}));
  if (m["flags"] != "master") return who + ": master flags " + m["flags"];
  // Every usable replica known and up (not s_down, not disconnected): a
  // failover may pick it. Its link status and master port are left out: a
  // Sentinel refreshes them with INFO once an info period (10 s by default,
  // 1 s with fast_timers or while it sees the link down); they lag after a
  // failover by that much.
  Reply reps = command(s.port(), {"SENTINEL", "REPLICAS", name});
  for (auto& n : nodes_) {
    if (n->port() == master || !usable(*n)) continue;
    std::string flags = "unknown";
    for (const auto& r : reps.elements) {
      auto f = fields_of(r);
      if (to_int(f["port"]) == n->port()) flags = f["flags"];
    }
    if (flags != "slave") return who + ": replica " + std::to_string(n->port()) + " flags " + flags;
  }
  // Every other usable Sentinel known and up: the failover vote needs them.
  Reply others = command(s.port(), {"SENTINEL", "SENTINELS", name});
  for (auto& o : sentinels_) {
    if (o.get() == &s || !usable(*o)) continue;
    bool ok = false;
    for (const auto& r : others.elements) {
      auto f = fields_of(r);
      if (to_int(f["port"]) == o->port()) ok = f["flags"] == "sentinel";
    }
    if (!ok) return who + " does not know sentinel " + std::to_string(o->port()) + " (yet)";
  }
  return "";
}

std::string SentinelSetup::wait_sentinels_ready(Millis timeout) {
  return poll(
      [&]() -> std::string {
        int master = current_master_port();
        if (master == 0) return "no sentinel names a master";
        for (auto& s : sentinels_) {
          if (!usable(*s)) continue;
          if (std::string e = sentinel_not_ready(*s, master); !e.empty()) return e;
        }
        return "";
      },
      timeout, "sentinels ready");
}

std::string SentinelSetup::wait_settled(Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  if (std::string e = wait_replicas_synced(timeout); !e.empty()) return e;
  return wait_sentinels_ready(left(deadline));
}

std::string SentinelSetup::restart_node(int port, Millis timeout) {
  RedisProcess& n = node_by_port(port);
  int master = current_master_port();
  if (master == 0) return "no sentinel names a master";
  n.edit_options().replicaof_port = master == port ? 0 : master;
  if (std::string e = n.restart(); !e.empty()) return e;
  return wait_settled(timeout);
}

// =============================================================== Cluster ===

ClusterSetup::ClusterSetup(ClusterOptions options) : options_(std::move(options)) {}

ClusterSetup::~ClusterSetup() {
  clients_.clear();
  nodes_.clear();
}

RedisClient& ClusterSetup::client(int port) {
  auto it = clients_.find(port);
  if (it != clients_.end()) return *it->second;
  auto c = std::make_unique<RedisClient>(port, "127.0.0.1", kClientTimeoutMs, options_.password);
  return *clients_.emplace(port, std::move(c)).first->second;
}

Reply ClusterSetup::command(int port, const std::vector<std::string>& args) {
  return client(port).command(args);
}

std::string ClusterSetup::wait_replicas_synced(Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  std::map<int, int64_t> offsets;  // master -> its offset as this call begins
  for (int m : masters()) {
    int64_t at =
        to_int64(info_field(command(m, {"INFO", "replication"}).str, "master_repl_offset"));
    if (at < 0) return "no master_repl_offset on " + std::to_string(m);
    offsets[m] = at;
  }
  return poll(
      [&]() -> std::string {
        for (auto& [m, offset] : offsets)
          for (int r : replicas_of(m)) {
            if (!usable(r)) continue;
            int64_t at =
                to_int64(info_field(command(r, {"INFO", "replication"}).str, "slave_repl_offset"));
            if (at < offset)
              return "replica " + std::to_string(r) + " at offset " + std::to_string(at) + " < " +
                     std::to_string(offset);
          }
        return "";
      },
      left(deadline), "replicas in sync");
}

bool ClusterSetup::usable(int port) {
  for (auto& n : nodes_)
    if (n->port() == port) return n->running() && !n->paused();
  return false;
}

std::vector<int> ClusterSetup::ports() const {
  std::vector<int> out;
  for (const auto& n : nodes_) out.push_back(n->port());
  return out;
}

RedisProcess& ClusterSetup::node(int port) {
  for (auto& n : nodes_)
    if (n->port() == port) return *n;
  throw std::out_of_range("no cluster node on port " + std::to_string(port));
}

const std::string& ClusterSetup::node_id(int port) const {
  return ids_.at(port);
}

int ClusterSetup::port_of_id(const std::string& id) const {
  for (const auto& [p, i] : ids_)
    if (i == id) return p;
  return 0;
}

std::string ClusterSetup::start(Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  int total = options_.masters * (1 + options_.replicas_per_master);
  for (int i = 0; i < total; ++i) {
    RedisOptions o;
    o.persistent = options_.persistent;
    o.password = options_.password;
    o.extra_config = {"cluster-enabled yes", "cluster-config-file nodes.conf",
                      "cluster-node-timeout " + std::to_string(options_.node_timeout_ms),
                      "cluster-require-full-coverage no",
                      // Redis 7 waits 5 s for more replicas before a diskless full sync.
                      "repl-diskless-sync-delay 0"};
    if (!options_.password.empty())
      o.extra_config.push_back("masterauth \"" + options_.password + "\"");
    for (const auto& l : options_.extra_config) o.extra_config.push_back(l);
    nodes_.push_back(std::make_unique<RedisProcess>(o));
    // start() tries other ports when the bus port (port + 10000) is taken.
    if (std::string e = nodes_.back()->start(); !e.empty()) return "cluster node: " + e;
  }
  SpawnSpec spec;
  spec.argv = {kRedisCli, "--cluster", "create"};
  for (const auto& n : nodes_) spec.argv.push_back("127.0.0.1:" + std::to_string(n->port()));
  spec.argv.insert(
      spec.argv.end(),
      {"--cluster-replicas", std::to_string(options_.replicas_per_master), "--cluster-yes"});
  if (!options_.password.empty()) spec.env_overrides = {{"REDISCLI_AUTH", options_.password}};
  CommandResult r = run_command(spec, left(deadline));
  if (!r.status.exited || r.status.code != 0 ||
      r.out.find("All 16384 slots covered") == std::string::npos)
    return "redis-cli --cluster create " + r.status.describe() + ": " + r.out + r.err;
  for (const auto& n : nodes_) {
    Reply id = command(n->port(), {"CLUSTER", "MYID"});
    if (id.type != Reply::Type::kString) return "CLUSTER MYID: " + describe(id);
    ids_[n->port()] = id.str;
  }
  return wait_agree(left(deadline));
}

std::string ClusterSetup::url() const {
  std::set<int> masters;
  for (const auto& r : view_) masters.insert(r.master_port);
  std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
  return "cluster://" + auth + join_ports({masters.begin(), masters.end()});
}

std::vector<ClusterSetup::NodeInfo> ClusterSetup::cluster_nodes(int port) {
  std::vector<NodeInfo> out;
  Reply r = command(port, {"CLUSTER", "NODES"});
  if (r.type != Reply::Type::kString) return out;
  std::istringstream lines(r.str);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    NodeInfo n;
    std::string addr;
    if (!(words >> n.id >> addr >> n.flags >> n.master_id)) continue;
    size_t colon = addr.rfind(':', addr.find('@'));
    n.port = colon == std::string::npos ? 0 : to_int(addr.substr(colon + 1));
    out.push_back(n);
  }
  return out;
}

bool ClusterSetup::read_slots(int port, std::vector<SlotRange>* out) {
  out->clear();
  Reply r = command(port, {"CLUSTER", "SLOTS"});
  if (r.type != Reply::Type::kArray) return false;
  for (const auto& e : r.elements) {
    if (e.elements.size() < 3 || e.elements[2].elements.size() < 2) return false;
    SlotRange s;
    s.first = static_cast<int>(e.elements[0].integer);
    s.last = static_cast<int>(e.elements[1].integer);
    s.master_port = static_cast<int>(e.elements[2].elements[1].integer);
    for (size_t i = 3; i < e.elements.size(); ++i)
      if (e.elements[i].elements.size() >= 2)
        s.replica_ports.push_back(static_cast<int>(e.elements[i].elements[1].integer));
    std::sort(s.replica_ports.begin(), s.replica_ports.end());
    out->push_back(s);
  }
  std::sort(out->begin(), out->end(),
            [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
  return true;
}

std::string ClusterSetup::disagreement() {
  std::vector<int> live;
  for (auto& n : nodes_)
    if (n->running() && !n->paused()) live.push_back(n->port());
  if (live.empty()) return "no usable node";
  std::set<int> live_set(live.begin(), live.end());
  std::map<int, std::string> roles;
  std::vector<SlotRange> agreed;
  std::map<int, std::string> agreed_shape;
  for (int p : live) {
    std::string who = "node " + std::to_string(p);
    std::string info = command(p, {"CLUSTER", "INFO"}).str;
    if (info_field(info, "cluster_state") != "ok")
      return who + ": cluster_state " + info_field(info, "cluster_state");
    auto known = cluster_nodes(p);
    std::map<int, std::string> shape;  // usable node -> its master's id ("-" for a master)
    for (const auto& [port, id] : ids_) {
      auto it =
          std::find_if(known.begin(), known.end(), [&](const NodeInfo& n) { return n.id == id; });
      if (it == known.end()) return who + " does not know node " + std::to_string(port);
      if (live_set.count(port) == 0) continue;
      if (it->flags.find("fail") != std::string::npos ||
          it->flags.find("handshake") != std::string::npos ||
          it->flags.find("noaddr") != std::string::npos)
        return who + " flags node " + std::to_string(port) + " " + it->flags;
      shape[port] = it->flags.find("slave") != std::string::npos ? it->master_id : "-";
    }
    if (agreed_shape.empty()) {
      agreed_shape = shape;
    } else if (shape != agreed_shape) {
      return who + " disagrees about who replicates whom with node " + std::to_string(live[0]);
    }
    std::vector<SlotRange> slots;
    if (!read_slots(p, &slots)) return who + ": no CLUSTER SLOTS";
    int covered = 0;
    for (const auto& s : slots) covered += s.last - s.first + 1;
    if (covered != kClusterSlots) return who + " covers " + std::to_string(covered) + " slots";
    if (agreed.empty()) {
      agreed = slots;
    } else if (slots != agreed) {
      return who + " disagrees about slot owners with node " + std::to_string(live[0]);
    }
    std::string repl = command(p, {"INFO", "replication"}).str;
    roles[p] = info_field(repl, "role");
    if (roles[p] == "slave") {
      if (info_field(repl, "master_link_status") != "up") return who + ": master link down";
      if (live_set.count(to_int(info_field(repl, "master_port"))) == 0)
        return who + " replicates from unusable " + info_field(repl, "master_port");
    } else if (roles[p] != "master") {
      return who + ": role '" + roles[p] + "'";
    }
  }
  std::set<int> owners;
  for (const auto& s : agreed) {
    if (roles.count(s.master_port) == 0 || roles[s.master_port] != "master")
      return "slots " + std::to_string(s.first) + "-" + std::to_string(s.last) + " owned by " +
             std::to_string(s.master_port) + ", not a usable master";
    owners.insert(s.master_port);
  }
  // A master without slots is a passing state here: after a failover the
  // old master turns replica, and in Redis 7 a master whose last slot went
  // to another follows it as a replica (cluster-allow-replica-migration).
  for (const auto& [p, role] : roles)
    if (role == "master" && owners.count(p) == 0)
      return "node " + std::to_string(p) + " is a master without slots";
  view_ = agreed;
  return "";
}

std::string ClusterSetup::wait_agree(Millis timeout) {
  return poll([&] { return disagreement(); }, timeout, "cluster agreement");
}

std::vector<int> ClusterSetup::masters() {
  std::vector<int> out;
  for (auto& n : nodes_) {
    if (!usable(n->port())) continue;
    for (const auto& i : cluster_nodes(n->port()))
      if (i.flags.find("master") != std::string::npos && i.flags.find("fail") == std::string::npos)
        out.push_back(i.port);
    break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> ClusterSetup::replicas_of(int master_port) {
  std::vector<int> out;
  auto id = ids_.find(master_port);
  if (id == ids_.end()) return out;
  for (auto& n : nodes_) {
    if (!usable(n->port())) continue;
    for (const auto& i : cluster_nodes(n->port()))
      if (i.master_id == id->second) out.push_back(i.port);
    break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

int ClusterSetup::master_of_slot(int slot) {
  for (auto& n : nodes_) {
    if (!usable(n->port())) continue;
    std::vector<SlotRange> slots;
    if (!read_slots(n->port(), &slots)) continue;
    for (const auto& s : slots)
      if (slot >= s.first && slot <= s.last) return s.master_port;
    return 0;
  }
  return 0;
}

std::string ClusterSetup::begin_migration(int slot, int from_port, int to_port) {
  std::string s = std::to_string(slot);
  Reply r = command(to_port, {"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from_port)});
  if (!is_ok(r)) return "SETSLOT IMPORTING on " + std::to_string(to_port) + ": " + describe(r);
  r = command(from_port, {"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to_port)});
  if (!is_ok(r)) return "SETSLOT MIGRATING on " + std::to_string(from_port) + ": " + describe(r);
  return "";
}

size_t ClusterSetup::migrate_keys(int slot, int from_port, int to_port, size_t max_keys,
                                  std::string* error) {
  size_t moved = 0;
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = why;
    return moved;
  };
  if (error != nullptr) error->clear();
  // Bounded: every round moves at least one key or ends.
  for (size_t round = 0; moved < max_keys && round <= max_keys; ++round) {
    size_t batch = std::min<size_t>(100, max_keys - moved);
    Reply keys = command(from_port,
                         {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(batch)});
    if (keys.type != Reply::Type::kArray) return fail("GETKEYSINSLOT: " + describe(keys));
    if (keys.elements.empty()) break;
    std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(to_port),
                                     "",        "0",         "5000"};
    if (!options_.password.empty()) args.insert(args.end(), {"AUTH", options_.password});
    args.push_back("KEYS");
    for (const auto& k : keys.elements) args.push_back(k.str);
    Reply r = command(from_port, args);
    if (r.type == Reply::Type::kStatus && r.str == "NOKEY") continue;
    if (!is_ok(r)) return fail("MIGRATE: " + describe(r));
    moved += keys.elements.size();
  }
  return moved;
}

std::string ClusterSetup::finish_migration(int slot, int to_port, Millis timeout) {
  std::string s = std::to_string(slot);
  const std::string& id = node_id(to_port);
  // The source must be empty first: once the target claims the slot (it
  // bumps its epoch), the source may hear of it by gossip before its own
  // SETSLOT, and then deletes the keys it still holds in the slot.
  std::vector<SlotRange> slots;
  if (!read_slots(to_port, &slots)) return "no CLUSTER SLOTS from " + std::to_string(to_port);
  for (const auto& range : slots) {
    if (slot < range.first || slot > range.last || range.master_port == to_port) continue;
    Reply n = command(range.master_port, {"CLUSTER", "COUNTKEYSINSLOT", s});
    if (n.type != Reply::Type::kInteger || n.integer != 0)
      return "source " + std::to_string(range.master_port) + " still holds keys of slot " + s +
             ": " + describe(n);
  }
  Reply r = command(to_port, {"CLUSTER", "SETSLOT", s, "NODE", id});
  if (!is_ok(r)) return "SETSLOT NODE on " + std::to_string(to_port) + ": " + describe(r);
  for (int m : masters()) {
    if (m == to_port || !usable(m)) continue;
    r = command(m, {"CLUSTER", "SETSLOT", s, "NODE", id});
    if (!is_ok(r)) return "SETSLOT NODE on " + std::to_string(m) + ": " + describe(r);
  }
  return wait_agree(timeout);
}

std::string ClusterSetup::reshard(int from_port, int to_port, int slots, Millis timeout) {
  int64_t deadline = now_ms() + timeout.count();
  SpawnSpec spec;
  spec.argv = {kRedisCli,         "--cluster",
               "reshard",         "127.0.0.1:" + std::to_string(from_port),
               "--cluster-from",  node_id(from_port),
               "--cluster-to",    node_id(to_port),
               "--cluster-slots", std::to_string(slots),
               "--cluster-yes"};
  // redis-cli sends it with AUTH and with MIGRATE's AUTH.
  if (!options_.password.empty()) spec.env_overrides = {{"REDISCLI_AUTH", options_.password}};
  CommandResult r = run_command(spec, left(deadline));
  if (!r.status.exited || r.status.code != 0)
    return "redis-cli --cluster reshard " + r.status.describe() + ": " + r.out + r.err;
  return wait_agree(left(deadline));
}

std::string ClusterSetup::cluster_failover(int replica_port, const std::string& option,
                                           Millis timeout) {
  std::vector<std::string> args = {"CLUSTER", "FAILOVER"};
  if (!option.empty()) args.push_back(option);
  Reply r = command(replica_port, args);
  if (!is_ok(r)) return "CLUSTER FAILOVER on " + std::to_string(replica_port) + ": " + describe(r);
  return poll(
      [&]() -> std::string {
        if (role_of(client(replica_port)) != "master")
          return std::to_string(replica_port) + " is not a master yet";
        if (std::string e = disagreement(); !e.empty()) return e;
        for (const auto& s : view_)
          if (s.master_port == replica_port) return "";
        return std::to_string(replica_port) + " serves no slots";
      },
      timeout, "failover to " + std::to_string(replica_port));
}

int ClusterSetup::wait_failover_after_kill(int killed_master_port, Millis timeout) {
  int slot = -1;
  for (const auto& s : view_)
    if (s.master_port == killed_master_port) slot = s.first;
  if (slot < 0) return 0;
  int found = 0;
  wait_until(
      [&] {
        if (!disagreement().empty()) return false;
        for (const auto& s : view_)
          if (slot >= s.first && slot <= s.last && s.master_port != killed_master_port)
            found = s.master_port;
        return found != 0;
      },
      timeout, kPoll);
  return found;
}

std::string ClusterSetup::restart_node(int port, Millis timeout) {
  if (std::string e = node(port).restart(); !e.empty()) return e;
  return wait_agree(timeout);
}

int ClusterSetup::event_slot(const std::string& event) {
  return key_slot(RedisClient::key(event, "cfg"));
}

std::string ClusterSetup::event_in_slot(int slot) {
  for (int n = 0; n < 10'000'000; ++n) {  // ~16384 tries on average
    std::string e = "e" + std::to_string(n);
    if (event_slot(e) == slot) return e;
  }
  return "";
}

std::map<int, std::vector<std::string>> ClusterSetup::events_by_master(size_t per_master) const {
  std::map<int, std::vector<std::string>> out;
  if (per_master == 0) return out;
  std::set<int> owners;
  for (const auto& s : view_) owners.insert(s.master_port);
  for (int m : owners) out[m];
  size_t full = 0;
  for (int n = 0; full < owners.size() && n < 10'000'000; ++n) {
    std::string e = "e" + std::to_string(n);
    int slot = event_slot(e);
    for (const auto& s : view_) {
      if (slot < s.first || slot > s.last) continue;
      auto& v = out[s.master_port];
      if (v.size() < per_master) {
        v.push_back(e);
        if (v.size() == per_master) ++full;
      }
      break;
    }
  }
  return out;
}

}  // namespace ticketq::test
