#include "redis/redis_backend.h"

#include "redis/redis_cluster.h"
#include "redis/redis_gateway.h"
#include "redis/redis_sentinel.h"

namespace ticketq {

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
  return std::make_unique<RedisGateway>(base, std::move(single));
}

}  // namespace ticketq
