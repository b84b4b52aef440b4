// Tests of src/redis/redis_gateway.cpp that need no network: parse_maxmemory_policy.
#include "redis/redis_gateway.h"

#include <gtest/gtest.h>

#include <string>

namespace ticketq {
namespace {

// The field as Redis 7 sends it in INFO memory (CRLF lines, a section header).
TEST(ParseMaxmemoryPolicy, ReadsTheFieldOfInfoMemory) {
  const std::string info =
      "# Memory\r\nused_memory:1032160\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
      "maxmemory_policy:allkeys-lru\r\nallocator_frag_ratio:1.22\r\n";
  EXPECT_EQ(parse_maxmemory_policy(info), "allkeys-lru");
  EXPECT_EQ(parse_maxmemory_policy("maxmemory_policy:noeviction"), "noeviction");  // last line
  EXPECT_EQ(parse_maxmemory_policy("a:1\nmaxmemory_policy:volatile-ttl\nb:2\n"), "volatile-ttl");
}

// Without the field the policy is unknown (a proxy's INFO, an error text):
// the gateway then warns and does not block readiness.
TEST(ParseMaxmemoryPolicy, MissingFieldIsUnknown) {
  EXPECT_EQ(parse_maxmemory_policy(""), std::nullopt);
  EXPECT_EQ(parse_maxmemory_policy("# Memory\r\nused_memory:1\r\n"), std::nullopt);
  // Only a whole field name at the start of a line counts.
  EXPECT_EQ(parse_maxmemory_policy("x_maxmemory_policy:allkeys-lru\r\n"), std::nullopt);
  EXPECT_EQ(parse_maxmemory_policy("maxmemory_policy_x:allkeys-lru\r\n"), std::nullopt);
}

}  // namespace
}  // namespace ticketq
