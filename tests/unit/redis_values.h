// Reply values for the unit tests whose Redis is a stand-in (a runner that
// answers in the test, a parser fed by hand): what the connection would
// have copied out of a hiredis reply.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "redis/script_runner.h"

namespace ticketq::test {

inline RedisValue Int(int64_t i) {
  RedisValue v;
  v.type = RedisValue::Type::kInteger;
  v.integer = i;
  return v;
}

// A string, or with `type` a status or an error reply.
inline RedisValue Str(std::string s, RedisValue::Type type = RedisValue::Type::kString) {
  RedisValue v;
  v.type = type;
  v.str = std::move(s);
  return v;
}

inline RedisValue Arr(std::vector<RedisValue> e) {
  RedisValue v;
  v.type = RedisValue::Type::kArray;
  v.elements = std::move(e);
  return v;
}

}  // namespace ticketq::test
