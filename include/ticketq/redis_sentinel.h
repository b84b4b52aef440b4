// Redis behind Sentinel: the gateway of the master the Sentinels name.
//
// Each Sentinel gets two connections: one to ask (SENTINEL
// get-master-addr-by-name, with a short timeout) and one subscribed to the
// failover's events, so every loop moves to the new master the moment a
// Sentinel starts promoting it (before the old master, still taking writes,
// could acknowledge any the new one will not have) and again when the
// failover ends (+switch-master). The Sentinels are asked again when the
// master's connection fails or drops, when ROLE says it is not a master,
// when it answers READONLY, NOREPLICAS, LOADING or MASTERDOWN, and every
// kRecheckMs in any case. The first Sentinel to answer is believed; ROLE
// on the master is the check (a Sentinel cut off from the others may still
// name the old one). Scripts are loaded on every new master before it is
// ready, and a NOSCRIPT left is answered by resending the script.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ticketq/redis_backend.h"
#include "ticketq/redis_gateway.h"

struct event;

namespace ticketq {

class SentinelBackend final : public RedisBackend {
 public:
  static constexpr int64_t kRecheckMs = 5000;
  static constexpr int64_t kQueryTimeoutMs = 500;  // each Sentinel's answer
  static constexpr int64_t kRetryMs = 250;         // after a round nobody answered
  // How long a replica the Sentinels are promoting may still say it is one.
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
    std::unique_ptr<RedisGateway> query;  // SENTINEL commands
    std::unique_ptr<RedisGateway> watch;  // subscribed to +switch-master
  };

  void discover(const std::string& why);
  void on_answer(uint64_t round, ScriptReply&& reply);
  void on_event(const std::string& channel, const std::string& message);
  bool promoting() const;
  void move_to(const std::string& host, int port, const char* how, int64_t promotion_ms = 0);
  static void on_timer(int fd, short what, void* arg);

  std::string name_;
  RedisEndpoint data_;  // the data nodes' password and db
  LoopMetrics* metrics_;
  std::unique_ptr<RedisGateway> master_;
  std::vector<Sentinel> sentinels_;
  uint64_t round_ = 0;          // the discovery round in flight, or the last
  size_t waiting_answers_ = 0;  // of the round in flight (0: none in flight)
  bool have_master_ = false;
  int quiet_rounds_ = 0;  // rounds in a row nobody answered (for the log)
  // The replica being promoted, until promotion_until_ms_ (0: none): the
  // Sentinels' answers naming another master are not followed meanwhile.
  std::string promoted_host_;
  int promoted_port_ = 0;
  int64_t promotion_until_ms_ = 0;
  event* timer_ = nullptr;
  bool stopping_ = false;
};

}  // namespace ticketq
