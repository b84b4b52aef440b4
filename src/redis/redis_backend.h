// Redis as one event loop sees it, whatever the deployment behind the
// `redis` setting (redis_url.h):
//   one server     the gateway (redis_gateway.h) of that server
//   Sentinel       SentinelBackend (redis_sentinel.h): the gateway of the
//                  master the Sentinels name, moved when they fail over
//   Cluster        ClusterBackend (redis_cluster.h): a gateway per master,
//                  calls routed by their event's slot
// Each loop has its own backend; nothing here is shared between threads.
#pragma once

#include <memory>
#include <string>

#include "redis/redis_url.h"
#include "redis/script_runner.h"

struct event_base;

namespace ticketq {

struct GatewayOptions;

class RedisBackend : public ScriptRunner {
 public:
  virtual void start() = 0;  // first connections
  // Drops every connection and answers every call still waiting; never
  // reconnects.
  virtual void stop() = 0;
};

// The backend for `target`. `options` describe every data node's connection
// (its endpoint is taken from the target).
std::unique_ptr<RedisBackend> make_redis_backend(event_base* base, const RedisTarget& target,
                                                 const GatewayOptions& options);

}  // namespace ticketq
