// First come, first served: nobody gets a seat ahead of people already
// waiting, even when a seat frees up, and promotion goes in line order.
#include <gtest/gtest.h>

#include <map>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

class FairnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(stack_.start(), "");
    http_ = std::make_unique<HttpClient>(stack_.server().port());
  }
  HttpResponse reserve(const std::string& user) {
    return http_->post("/v1/events/fair/reserve", user_body(user));
  }
  HttpResponse status(const std::string& user) {
    return http_->get("/v1/events/fair/status/" + user);
  }
  HttpResponse put(int capacity, int queue_limit) {
    return http_->put("/v1/events/fair",
                      json{{"capacity", capacity}, {"queue_limit", queue_limit}}.dump(), admin());
  }
  Stack stack_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(FairnessTest, NewcomerQueuesBehindTheLineWhenASeatFrees) {
  ASSERT_EQ(put(2, 10).status, 201);
  EXPECT_EQ(untokened(reserve("a").json), (json{{"status", "reserved"}, {"user_id", "a"}}));
  EXPECT_EQ(untokened(reserve("b").json), (json{{"status", "reserved"}, {"user_id", "b"}}));
  EXPECT_EQ(untokened(reserve("c").json),
            (json{{"status", "queued"}, {"user_id", "c"}, {"position", 1}}));
  EXPECT_EQ(untokened(reserve("d").json),
            (json{{"status", "queued"}, {"user_id", "d"}, {"position", 2}}));

  // A third seat appears. People are waiting, so e must not take it.
  auto grown = put(3, 10);
  ASSERT_EQ(grown.status, 200) << grown.describe();
  auto e = reserve("e");
  ASSERT_EQ(e.status, 200) << e.describe();
  EXPECT_EQ(untokened(e.json), (json{{"status", "queued"}, {"user_id", "e"}, {"position", 3}}));
  EXPECT_EQ(stack_.db().scard("ticketq:{fair}:reserved"), 2);

  // The seat goes to the head of the line: c.
  const int64_t promoted_at = now_ms();
  auto p = http_->post("/v1/events/fair/process_queue", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json, (json{{"status", "queue_processed"},
                          {"promoted_users", {"c"}},
                          {"promoted_count", 1},
                          {"remaining", 2}}));
  EXPECT_EQ(status("c").json, holds_seat("c"));
  auto d = status("d");
  auto e2 = status("e");
  const int64_t since = now_ms() - promoted_at;
  EXPECT_TRUE(waits_at_pace(d.json, "d", 1, 1, since)) << d.describe();
  EXPECT_TRUE(waits_at_pace(e2.json, "e", 2, 1, since)) << e2.describe();
  // c holds the seat with the ticket of its join.
  EXPECT_EQ(stack_.db().hgetall("ticketq:{fair}:seats"),
            (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  // Still full, still a line: the next newcomer queues last.
  EXPECT_EQ(untokened(reserve("f").json),
            (json{{"status", "queued"}, {"user_id", "f"}, {"position", 3}}));
  auto bad = stack_.db().check_invariants("fair", 3);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

TEST_F(FairnessTest, SeatsGoToNewcomersOnlyOnceTheLineIsEmpty) {
  ASSERT_EQ(put(1, 5).status, 201);
  ASSERT_EQ(reserve("a").json["status"], "reserved");
  ASSERT_EQ(reserve("b").json["status"], "queued");
  ASSERT_EQ(put(4, 5).status, 200);
  // b waits, so c queues even though three seats are free.
  EXPECT_EQ(untokened(reserve("c").json),
            (json{{"status", "queued"}, {"user_id", "c"}, {"position", 2}}));
  auto p = http_->post("/v1/events/fair/process_queue", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json["promoted_users"], (json{"b", "c"}));
  EXPECT_EQ(p.json["remaining"], 0);
  // Line empty and a seat left: the next newcomer is reserved at once.
  EXPECT_EQ(untokened(reserve("d").json), (json{{"status", "reserved"}, {"user_id", "d"}}));
  EXPECT_EQ(untokened(reserve("e").json),
            (json{{"status", "queued"}, {"user_id", "e"}, {"position", 1}}));
  auto bad = stack_.db().check_invariants("fair", 4);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

TEST_F(FairnessTest, ZeroQueueLimitSellsOutAsSoonAsSeatsAreGone) {
  ASSERT_EQ(put(1, 0).status, 201);
  EXPECT_EQ(reserve("a").json["status"], "reserved");
  auto b = reserve("b");
  EXPECT_EQ(b.status, 409);
  EXPECT_EQ(b.json, (json{{"status", "sold_out"}, {"user_id", "b"}}));
  EXPECT_EQ(stack_.db().waiting("fair"), 0);
}

}  // namespace
}  // namespace ticketq::test
