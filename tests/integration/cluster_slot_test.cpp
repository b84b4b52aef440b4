// ticketq's key slots (src/redis/cluster_slot.cpp) against a real redis-server's
// CLUSTER KEYSLOT (a node with cluster support on; no cluster needs to be
// formed for it to answer): random keys, with and without hash tags, and
// the keys of events.
#include "redis/cluster_slot.h"

#include <gtest/gtest.h>

#include <random>

#include "support/redis_client.h"
#include "support/redis_process.h"

namespace ticketq::test {
namespace {

TEST(ClusterSlotTest, EveryKeyHasTheSlotRedisGivesIt) {
  RedisOptions o;
  o.extra_config = {"cluster-enabled yes", "cluster-config-file nodes.conf"};
  RedisProcess redis(o);
  ASSERT_EQ(redis.start(), "");
  RedisClient db(redis.port());
  std::mt19937 rng(20261130);
  // Mostly braces and a few letters, so that tags of every shape appear.
  const std::string alphabet = "{}{}ab}{c:xyz0";
  std::vector<std::string> keys = {"ticketq:{default}:cfg",
                                   "ticketq:{concert-2026.11}:queued",
                                   "{}",
                                   "{{}}",
                                   "}{",
                                   "{a}{b}",
                                   "a{}b{c}d",
                                   ""};
  for (int i = 0; i < 2000; ++i) {
    std::string k;
    size_t n = rng() % 12;
    for (size_t j = 0; j < n; ++j) k += alphabet[rng() % alphabet.size()];
    keys.push_back(k);
  }
  for (int i = 0; i < 256; ++i) keys.push_back(std::string(1, static_cast<char>(i)) + "{\xff}");
  int checked = 0;
  for (const std::string& key : keys) {
    Reply r = db.command({"CLUSTER", "KEYSLOT", key});
    ASSERT_EQ(r.type, Reply::Type::kInteger) << r.str;
    EXPECT_EQ(key_slot(key), r.integer) << "key '" << key << "'";
    ++checked;
  }
  std::printf("FIGURE cluster_keyslot: %d keys checked against CLUSTER KEYSLOT\n", checked);
}

}  // namespace
}  // namespace ticketq::test
