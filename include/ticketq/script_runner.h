// The seam between the queue core and Redis. The core asks for a server-side
// script to be run; the gateway (redis_gateway.h) runs it over hiredis, and
// unit tests can put a fake in its place.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ticketq/scripts.h"

namespace ticketq {

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

class ScriptRunner {
 public:
  virtual ~ScriptRunner() = default;
  // Runs `script` with KEYS = argv[0..numkeys) and ARGV = the rest.
  virtual void run(const Script& script, int numkeys, std::vector<std::string> argv,
                   ReplyCallback cb) = 0;
  // A round trip to Redis (PING).
  virtual void ping(ReplyCallback cb) = 0;
  // Connected and scripts loaded.
  virtual bool ready() const = 0;
};

}  // namespace ticketq
