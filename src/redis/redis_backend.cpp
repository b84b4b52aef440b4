#include "redis/redis_backend.h"

#include "redis/redis_cluster.h"
#include "redis/redis_gateway.h"
#include "redis/redis_sentinel.h"

namespace ticketq {

namespace {

// One server: its gateway, and the resolver for its name.
class SingleBackend final : public RedisBackend {
 public:
  SingleBackend(event_base* base, GatewayOptions options)
      : resolver_(base), gateway_(base, resolver_, std::move(options)) {}
  void start() override { gateway_.start(); }
  void stop() override { gateway_.stop(); }
  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override {
    gateway_.run(script, numkeys, std::move(argv), std::move(cb));
  }
  void ping(ReplyCallback cb) override { gateway_.ping(std::move(cb)); }
  bool ready() const override { return gateway_.ready(); }
  std::vector<RedisNodeStatus> node_status() const override { return gateway_.node_status(); }

 private:
  HostResolver resolver_;
  RedisGateway gateway_;
};

}  // namespace

std::unique_ptr<RedisBackend> make_redis_backend(event_base* base, const RedisTarget& target,
                                                 const GatewayOptions& options) {
  switch (target.mode) {
    case RedisMode::kSentinel:
      return std::make_unique<SentinelBackend>(base, target, options);
    case RedisMode::kCluster:
      return std::make_unique<ClusterBackend>(base, target, options);
    case RedisMode::kSingle:
      break;
  }
  GatewayOptions single = options;
  single.endpoint = target.endpoint;
  return std::make_unique<SingleBackend>(base, std::move(single));
}

}  // namespace ticketq
