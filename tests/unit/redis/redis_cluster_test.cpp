// Tests of src/redis/redis_cluster.cpp that need no network: reading CLUSTER SLOTS
// and the MOVED / ASK redirections. The routing itself runs against real
// clusters in tests/integration/redis_cluster_test.cpp.
#include "redis/redis_cluster.h"

#include <gtest/gtest.h>

#include "redis_values.h"

namespace ticketq {
namespace {

using test::Arr;
using test::Int;
using test::Str;

// One entry as Redis 7 sends it: [first, last, [host, port, id, {}], replica...]
RedisValue range(int first, int last, std::string host, int port) {
  return Arr({Int(first), Int(last), Arr({Str(std::move(host)), Int(port), Str("id"), Arr({})}),
              Arr({Str("10.0.0.9"), Int(7000), Str("replica-id"), Arr({})})});
}

TEST(ParseClusterSlots, ReadsEachRangeMaster) {
  auto r =
      parse_cluster_slots(Arr({range(0, 5460, "127.0.0.1", 7001),
                               range(5461, 10922, "node-b", 7002), range(10923, 16383, "", 7003)}),
                          "asked-host");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].first, 0);
  EXPECT_EQ(r[0].last, 5460);
  EXPECT_EQ(r[0].host, "127.0.0.1");
  EXPECT_EQ(r[0].port, 7001);
  EXPECT_EQ(r[1].host, "node-b");
  EXPECT_EQ(r[2].host, "asked-host");  // "": the node that answered
  EXPECT_EQ(r[2].last, 16383);
}

TEST(ParseClusterSlots, SkipsWhatIsNotARange) {
  EXPECT_TRUE(parse_cluster_slots(Str("ERR"), "h").empty());
  EXPECT_TRUE(parse_cluster_slots(Arr({}), "h").empty());
  auto r = parse_cluster_slots(
      Arr({range(0, 10, "?", 7001),     // a node whose address is unknown
           range(20, 10, "h", 7001),    // first > last
           range(0, 16384, "h", 7001),  // beyond the last slot
           range(-1, 3, "h", 7001),     // negative
           range(0, 3, "h", 0),         // no port
           Arr({Int(0), Int(3)}),       // no master
           Arr({Int(0), Str("3"), Arr({Str("h"), Int(1)})}), range(100, 200, "good", 7005)}),
      "h");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].host, "good");
}

TEST(ParseRedirect, MovedAndAsk) {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->ask);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->host, "127.0.0.1");
  EXPECT_EQ(m->port, 6381);
  auto a = parse_redirect("ASK 16383 redis-node-2:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_EQ(a->slot, 16383);
  EXPECT_EQ(a->host, "redis-node-2");
  auto v6 = parse_redirect("MOVED 0 [::1]:7001");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7001);
  auto bare_v6 = parse_redirect("MOVED 0 ::1:7001");
  ASSERT_TRUE(bare_v6);
  EXPECT_EQ(bare_v6->host, "::1");
  auto same = parse_redirect("ASK 12 :7002");  // the node that answered
  ASSERT_TRUE(same);
  EXPECT_EQ(same->host, "");
  EXPECT_EQ(same->port, 7002);
}

TEST(ParseRedirect, OtherErrorsAreNotRedirections) {
  for (const char* e : {"TRYAGAIN Multiple keys request during rehashing of slot",
                        "CLUSTERDOWN The cluster is down", "ERR unknown command", "MOVED",
                        "MOVED 1", "MOVED x h:1", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h",
                        "MOVED 1 h:0", "MOVED 1 h:65536", "ASK 1 h:x", "moved 1 h:1", ""}) {
    SCOPED_TRACE(e);
    EXPECT_FALSE(parse_redirect(e));
  }
}

}  // namespace
}  // namespace ticketq
