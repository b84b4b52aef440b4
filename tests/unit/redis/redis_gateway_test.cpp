// Tests of src/redis/redis_gateway.cpp that need no network:
// parse_maxmemory_policy and is_trouble_error.
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

// The replies after which a Sentinel deployment asks again for the master.
TEST(IsTroubleError, TheRepliesOfAServerThatIsNoLongerTheMaster) {
  EXPECT_TRUE(is_trouble_error("READONLY You can't write against a read only replica."));
  EXPECT_TRUE(is_trouble_error("NOREPLICAS Not enough good replicas to write."));
  EXPECT_TRUE(is_trouble_error("LOADING Redis is loading the dataset in memory"));
  EXPECT_TRUE(is_trouble_error("MASTERDOWN Link with MASTER is down"));
  EXPECT_FALSE(is_trouble_error("ERR wrong number of arguments"));
  EXPECT_FALSE(is_trouble_error("MOVED 1 h:1"));
  EXPECT_FALSE(is_trouble_error("WRONGTYPE Operation against a key"));
  EXPECT_FALSE(is_trouble_error(""));
}

}  // namespace
}  // namespace ticketq
