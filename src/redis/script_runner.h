// The seam between the queue core and Redis. The core asks for a server-side
// script to be run; the gateway (redis_gateway.h) runs it over hiredis, and
// unit tests can put a fake in its place.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ticketq {

// A Lua script as the gateway runs it (the queue core's are in
// core/scripts.h).
struct Script {
  const char* name;
  std::string body;
  std::string sha1;  // hex, as EVALSHA wants it
  // Changes what a caller is told it holds (a seat, a place, an admission, a
  // setting), so redis_wait_replicas waits for its copy on replicas. The
  // status script's heartbeat refresh is not such a change.
  bool writes = false;
};

// A Redis reply, copied out of hiredis so nothing outlives its callback.
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;
  std::vector<RedisValue> elements;
};

// Why a call did not produce a reply from Redis. Every fault is answered 503.
enum class Fault {
  kNone,
  kUnavailable,  // not connected, or the connection dropped with the call in flight
  kTimeout,      // no reply within the request deadline
  kOverloaded,   // too many calls in flight on the connection
  kError,        // Redis answered with an error
};

struct ScriptReply {
  Fault fault = Fault::kNone;
  std::string detail;  // for logs and the 503 body
  RedisValue value;
};

// Called exactly once per call, on the loop that made the call.
using ReplyCallback = std::function<void(ScriptReply&&)>;

// One Redis server as /ready shows it.
struct RedisNodeStatus {
  std::string address;  // host:port, or the socket path
  std::string role;     // "master", "replica", "sentinel" or "unknown"
  bool connected = false;
  bool ready = false;  // connected, scripts loaded, not stalled
};

class ScriptRunner {
 public:
  virtual ~ScriptRunner() = default;
  // Runs `script` with KEYS = argv[0..numkeys) and ARGV = the rest. With
  // numkeys > 0 the first key says where (its Cluster slot).
  virtual void run(const Script& script, int numkeys, std::vector<std::string> argv,
                   ReplyCallback cb) = 0;
  // A script with no keys (a keyspace walk) runs on one data node of
  // nodes(): a Redis Cluster has one per master, numbered in slot order.
  virtual size_t nodes() const { return 1; }
  // Changes whenever the nodes do (a walk over them must start again).
  virtual uint64_t topology() const { return 0; }
  virtual void run_on(size_t node, const Script& script, std::vector<std::string> argv,
                      ReplyCallback cb) {
    (void)node;
    run(script, 0, std::move(argv), std::move(cb));
  }
  // A round trip to Redis (PING; with several masters, to each).
  virtual void ping(ReplyCallback cb) = 0;
  // Connected and scripts loaded.
  virtual bool ready() const = 0;
  // The servers behind this runner, for /ready.
  virtual std::vector<RedisNodeStatus> node_status() const { return {}; }
};

}  // namespace ticketq
