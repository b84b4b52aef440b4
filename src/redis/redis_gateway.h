// The Redis gateway: a data node (the single server's, redis_backend.cpp). Its
// connection is kept open by a RedisLink (redis_link.h: names looked up on
// the loop, reconnects with backoff); on every new connection the scripts
// are loaded before anything else is sent, so calls go by sha (a NOSCRIPT
// left is the connection's to answer, redis_connection.h).
//
// Each connection also reads the server's maxmemory-policy (INFO memory):
// Redis must never evict our keys (an evicted key is a lost reservation), so
// any policy but noeviction keeps the gateway not ready unless
// allow_eviction accepts it.
//
// The same class is the master of a Sentinel deployment and each master of
// a Cluster: it can be moved to another server (set_endpoint), check that
// its server is a master (ROLE), tell its owner when the server may no
// longer be the right one (on_trouble), and carry plain commands.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics.h"
#include "base/validate.h"
#include "redis/host_resolver.h"
#include "redis/redis_backend.h"
#include "redis/redis_connection.h"
#include "redis/redis_link.h"
#include "redis/redis_url.h"
#include "redis/script_runner.h"

struct event_base;
struct event;

namespace ticketq {

// The value of the maxmemory_policy field of an INFO reply, or nullopt when
// the reply has no such field.
std::optional<std::string> parse_maxmemory_policy(std::string_view info);

struct GatewayOptions {
  RedisEndpoint endpoint;
  int64_t timeout_ms = 1000;
  size_t max_inflight = 10000;
  int64_t backoff_min_ms = 50;
  int64_t backoff_max_ms = 1000;  // every loop is back within ~1 s of Redis
  // Accept a maxmemory-policy other than noeviction (logged as a warning)
  // instead of staying not ready.
  bool allow_eviction = false;
  // The scripts loaded on every connection before it is ready (at most
  // 32): the queue core's (core/scripts.h), handed down by whoever
  // assembles the two.
  std::vector<const Script*> scripts;
  // The server must say it is a master (ROLE) before the connection is
  // ready; checked again every role_check_ms (Sentinel deployments).
  bool check_role = false;
  int64_t role_check_ms = 5000;
  // Durability (redis_connection.h): write replies wait for this many
  // replicas, at most wait_timeout_ms.
  int wait_replicas = 0;
  int64_t wait_timeout_ms = 100;
  // Called (on the loop) when this may no longer be the server to talk to:
  // the connection failed or dropped, ROLE says replica, or a reply says
  // READONLY, NOREPLICAS, LOADING or MASTERDOWN.
  std::function<void(const std::string& why)> on_trouble;
  // This connection's state is the loop's ticketq_redis_connected and
  // ticketq_redis_inflight (one server). A backend of several connections
  // reports per node instead.
  bool loop_gauges = true;
  LoopMetrics* metrics = nullptr;  // optional
};

class RedisGateway final : public RedisBackend {
 public:
  // `resolver` (the loop's, host_resolver.h) must outlive the gateway.
  RedisGateway(event_base* base, HostResolver& resolver, GatewayOptions options);
  ~RedisGateway() override;
  RedisGateway(const RedisGateway&) = delete;
  RedisGateway& operator=(const RedisGateway&) = delete;

  void start() override;  // first connection attempt
  void stop() override;   // drop the connection, answer pending calls, never reconnect

  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override;
  void ping(ReplyCallback cb) override;
  // Connected, every script loaded, no call overdue (a stalled Redis is not
  // ready even while its socket stays open), Redis not allowed to evict our
  // keys (or allowed by allow_eviction), and a master when check_role.
  bool ready() const override;
  std::vector<RedisNodeStatus> node_status() const override { return {status()}; }

  // For the backends over several servers:
  // A script with a deadline of its own; `asking` sends ASKING first (a
  // Cluster slot being imported by this node).
  void call(const Script& script, int numkeys, std::vector<std::string> argv, ReplyCallback cb,
            int64_t deadline_ms, bool asking);
  // Any command, answered like a script call.
  void command(std::vector<std::string> words, ReplyCallback cb);
  // Talks to another server from now on: the connection is dropped (calls
  // in flight get kUnavailable) and a new one opened at once. With
  // promotion_ms, the server is a replica being promoted: for that long a
  // ROLE that says replica is asked again every kPromotionCheckMs instead
  // of dropping the connection (calls meanwhile get READONLY: 503).
  void set_endpoint(const RedisEndpoint& endpoint, int64_t promotion_ms = 0);
  static constexpr int64_t kPromotionCheckMs = 20;
  const RedisEndpoint& endpoint() const { return link_.endpoint(); }
  bool connected() const { return link_.connection().connected(); }
  size_t inflight() const { return link_.connection().inflight(); }
  RedisNodeStatus status() const;

 private:
  void on_opened();
  void on_connected();
  void on_ended(bool was_connected);
  void check_eviction_policy();
  void check_role();
  void load_scripts();
  void trouble(const std::string& why);
  void became_ready();

  static void on_script_retry(int fd, short what, void* arg);
  static void on_role_timer(int fd, short what, void* arg);

  GatewayOptions options_;  // its endpoint is the link's from the start
  RedisLink link_;
  bool ever_connected_ = false;
  unsigned loaded_mask_ = 0;        // bit i: options_.scripts[i] is loaded on the connection
  bool eviction_refused_ = false;   // its Redis may evict keys and that is not allowed
  bool is_master_ = false;          // ROLE on it said master (check_role)
  int64_t promotion_until_ms_ = 0;  // see set_endpoint
  event* script_retry_timer_ = nullptr;
  bool script_retry_armed_ = false;
  event* role_timer_ = nullptr;
};

}  // namespace ticketq
