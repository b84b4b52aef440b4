// Redis behind Sentinel: the gateway of the master the Sentinels name.
//
// Each Sentinel gets two connections: one to ask (SENTINEL
// get-master-addr-by-name, with a short timeout) and one subscribed to
// +switch-master, so a failover moves every loop to the new master the
// moment a Sentinel announces it. The Sentinels are asked again when the
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
  void on_switch(const RedisValue& message);
  void move_to(const std::string& host, int port, const char* how);
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
  event* timer_ = nullptr;
  bool stopping_ = false;
};

}  // namespace ticketq
