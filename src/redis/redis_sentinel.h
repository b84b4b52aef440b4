// Redis behind Sentinel: the gateway of the master the Sentinels name.
//
// Each Sentinel gets two connections: one to ask (SENTINEL MASTER, with a
// short timeout; the answer of the highest config epoch wins) and one subscribed to the
// failover's events, so every loop moves to the new master the moment a
// Sentinel starts promoting it (before the old master, still taking writes,
// could acknowledge any the new one will not have) and again when the
// failover ends (+switch-master). The Sentinels are asked again when the
// master's connection fails or drops, when ROLE says it is not a master,
// when it answers READONLY, NOREPLICAS, LOADING or MASTERDOWN, and every
// kRecheckMs in any case. ROLE on the master is checked too. Scripts are loaded on every new master
// before it is ready, and a NOSCRIPT left is answered by resending the script.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis/redis_backend.h"
#include "redis/redis_gateway.h"
#include "redis/redis_link.h"

struct event;

namespace ticketq {

class SentinelBackend final : public RedisBackend {
 public:
  static constexpr int64_t kRecheckMs = 5000;
  static constexpr int64_t kQueryTimeoutMs = 500;  // each Sentinel's answer
  static constexpr int64_t kRetryMs = 250;         // after a round nobody answered
  // How long a replica the Sentinels are promoting may still say it is one,
  // and how long after a failover event older answers are not believed.
  static constexpr int64_t kPromotionMs = 10000;

  SentinelBackend(event_base* base, const RedisTarget& target, const GatewayOptions& options);
  ~SentinelBackend() override;

  void start() override;
  void stop() override;
  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override {
    master_->run(script, numkeys, std::move(argv), std::move(cb));
  }
  void ping(ReplyCallback cb) override { master_->ping(std::move(cb)); }
  bool ready() const override { return master_->ready(); }
  std::vector<RedisNodeStatus> node_status() const override;

 private:
  struct Sentinel {
    std::unique_ptr<RedisLink> query;  // SENTINEL commands
    std::unique_ptr<RedisLink> watch;  // subscribed to the failover's events
  };
  static std::unique_ptr<RedisLink> sentinel_link(event_base* base, HostResolver& resolver,
                                                  const LinkOptions& options);

  void discover(const std::string& why);
  void on_answer(uint64_t round, ScriptReply&& reply);
  // One Sentinel's view of the master (SENTINEL MASTER).
  struct Answer {
    std::string host;
    int port = 0;
    int64_t epoch = 0;  // config-epoch: raised by every failover
  };
  static std::optional<Answer> parse_answer(const ScriptReply& reply);
  void on_event(const std::string& channel, const std::string& message);
  void move_to(const std::string& host, int port, const char* how, int64_t promotion_ms = 0);
  static void on_timer(int fd, short what, void* arg);

  std::string name_;
  RedisEndpoint data_;  // the data nodes' password and db
  LoopMetrics* metrics_;
  HostResolver resolver_;  // of every connection below
  std::unique_ptr<RedisGateway> master_;
  std::vector<Sentinel> sentinels_;
  uint64_t round_ = 0;          // the discovery round in flight, or the last
  size_t waiting_answers_ = 0;  // of the round in flight (0: none in flight)
  bool have_master_ = false;
  int quiet_rounds_ = 0;         // rounds in a row nobody answered (for the log)
  std::vector<Answer> answers_;  // of the round in flight
  std::string last_refusal_;     // why a Sentinel did not answer, for the log
  std::string last_why_;         // why the Sentinels were last asked, for the log
  int64_t epoch_ = 0;            // config epoch of the master followed
  // The master a failover event named, followed alone until an answer names
  // it too or fence_until_ms_ passes (0: none).
  Answer fence_;
  int64_t fence_until_ms_ = 0;
  event* timer_ = nullptr;
  bool stopping_ = false;
};

}  // namespace ticketq
