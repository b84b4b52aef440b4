// Redis Cluster: every event is one slot (its keys share the hash tag
// {event}), so every call goes whole to the master of its first key's slot.
//
// The slot map comes from CLUSTER SLOTS, asked of a known master (or a node
// of the URL), at start, every kRefreshMs, and soon after anything says it
// moved; refreshes are one at a time and at most one per kRefreshGapMs. Each
// master gets its own gateway (scripts loaded on connecting) when the map
// first names it. A reply is followed, never shown to a client, when it is:
//   MOVED slot host:port   the slot has a new owner: the map is corrected
//                          for that slot, the call resent there, and the
//                          whole map read again
//   ASK slot host:port     the slot is being migrated and this key is
//                          already there: ASKING and the call, to that node
//                          only; the map is left as it is
//   TRYAGAIN, CLUSTERDOWN  a key being moved, or no master for the slot yet:
//                          the call is sent again after kRetryMs, for as
//                          long as its deadline allows
// During a slot's migration a call on an event whose keys are not all in
// one place meets ASK, then TRYAGAIN on the new node (Redis serves a script
// there only when all its keys are), until the migration ends. A call is
// redirected at most kMaxRedirects times between two waits. A call whose connection
// drops with the call in flight is not sent again (it may have run): it
// gets kUnavailable, like with one server.
//
// Keyless scripts (the events walk) run on one master given by its number
// in slot order (nodes(), run_on()).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "redis/cluster_slot.h"
#include "redis/redis_backend.h"
#include "redis/redis_gateway.h"

struct event;

namespace ticketq {

// The slot ranges of a CLUSTER SLOTS reply: [start, end, master, replicas...]
// with master = [host, port, id, ...]. An empty host is the node that was
// asked (`asked_host`). Ranges with an unknown host ("?") or bad numbers
// are skipped.
struct SlotRange {
  int first = 0;
  int last = 0;
  std::string host;
  int port = 0;
};
std::vector<SlotRange> parse_cluster_slots(const RedisValue& reply, const std::string& asked_host);

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 [::1]:6381" / "ASK 3999 :6381"
// (empty host: the node that answered).
struct Redirect {
  bool ask = false;
  int slot = 0;
  std::string host;
  int port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view error);

class ClusterBackend final : public RedisBackend {
 public:
  static constexpr int kMaxRedirects = 5;
  static constexpr int64_t kRefreshGapMs = 100;
  static constexpr int64_t kRefreshMs = 10000;
  static constexpr int64_t kRetryMs = 20;
  // Not ready for this long after a CLUSTERDOWN (the cluster may be down
  // with every slot mapped and every master connected).
  static constexpr int64_t kDownMs = 1000;

  ClusterBackend(event_base* base, const RedisTarget& target, const GatewayOptions& options);
  ~ClusterBackend() override;

  void start() override;
  void stop() override;
  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override;
  size_t nodes() const override { return masters_.size(); }
  uint64_t topology() const override { return generation_; }
  void run_on(size_t node, const Script& script, std::vector<std::string> argv,
              ReplyCallback cb) override;
  void ping(ReplyCallback cb) override;
  // The slot map is known, every slot has a master, every master's
  // connection is ready, and no call met CLUSTERDOWN in the last kDownMs.
  bool ready() const override;
  std::vector<RedisNodeStatus> node_status() const override;

 private:
  struct Call {
    const Script* script;
    int numkeys;
    std::vector<std::string> argv;
    ReplyCallback cb;
    int64_t deadline_ms;
    int redirects = 0;
  };
  using CallPtr = std::shared_ptr<Call>;

  void send(CallPtr call, RedisGateway* node, bool asking);
  void on_reply(CallPtr call, RedisGateway* node, ScriptReply&& reply);
  void retry_later(CallPtr call, const char* why);
  RedisGateway* owner(const Call& call) const;
  RedisGateway* node_at(const std::string& host, int port);
  void refresh(const std::string& why);
  void apply(const std::vector<SlotRange>& ranges, const RedisGateway* asked);
  void update_gauges();
  static void on_timer(int fd, short what, void* arg);
  static void on_refresh_timer(int fd, short what, void* arg);
  static void on_retry_timer(int fd, short what, void* arg);

  event_base* base_;
  GatewayOptions options_;  // of every node's gateway, but the endpoint
  LoopMetrics* metrics_;
  std::vector<RedisEndpoint> seeds_;
  HostResolver resolver_;                                       // of every node's gateway
  std::map<std::string, std::unique_ptr<RedisGateway>> nodes_;  // by host:port
  std::array<RedisGateway*, kClusterSlots> slots_{};            // nullptr: no master known
  std::vector<RedisGateway*> masters_;                          // in order of their first slot
  bool have_map_ = false;
  uint64_t generation_ = 0;     // +1 whenever masters_ changes
  int64_t down_until_ms_ = 0;   // see kDownMs
  bool refresh_again_ = false;  // asked for while one was in flight
  bool refreshing_ = false;
  int64_t last_refresh_ms_ = 0;
  size_t ask_next_ = 0;                      // rotates the node asked for the map
  std::multimap<int64_t, CallPtr> retries_;  // due (ms) -> call
  event* timer_ = nullptr;
  event* refresh_timer_ = nullptr;
  event* retry_timer_ = nullptr;
  bool stopping_ = false;
};

}  // namespace ticketq
