// An event's settings changed live with PUT: any subset of capacity,
// queue_limit and state; a closed event takes nobody new, a paused one
// admits nobody; every change is one script, seen by every instance.
#include <gtest/gtest.h>

#include <map>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

class EventStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(stack_.start(), "");
    ASSERT_EQ(stack_.add_server(), "");  // a second instance on the same Redis
    a_ = std::make_unique<HttpClient>(stack_.server(0).port());
    b_ = std::make_unique<HttpClient>(stack_.server(1).port());
  }
  HttpResponse put(const std::string& body) { return a_->put("/v1/events/show", body, admin()); }
  HttpResponse reserve(HttpClient& c, const std::string& u) {
    return c.post("/v1/events/show/reserve", user_body(u));
  }
  Stack stack_;
  std::unique_ptr<HttpClient> a_, b_;
};

TEST_F(EventStateTest, PutChangesOnlyWhatItNames) {
  auto needs = put(R"({"capacity":1})");
  EXPECT_EQ(needs.status, 400) << needs.describe();
  EXPECT_EQ(needs.json["error"], "a new event needs both capacity and queue_limit");
  EXPECT_EQ(stack_.db().keys("ticketq:{show}"), std::vector<std::string>{});

  auto created = put(R"({"capacity":1,"queue_limit":5})");
  ASSERT_EQ(created.status, 201) << created.describe();
  EXPECT_EQ(created.json, (json{{"status", "created"},
                                {"event", "show"},
                                {"capacity", 1},
                                {"queue_limit", 5},
                                {"state", "open"},
                                {"admit_rate", "manual"},
                                {"hold_s", 0},
                                {"waiter_ttl_s", 0}}));
  auto limit = put(R"({"queue_limit":9})");
  ASSERT_EQ(limit.status, 200) << limit.describe();
  EXPECT_EQ(limit.json, (json{{"status", "updated"},
                              {"event", "show"},
                              {"capacity", 1},
                              {"queue_limit", 9},
                              {"state", "open"},
                              {"admit_rate", "manual"},
                              {"hold_s", 0},
                              {"waiter_ttl_s", 0}}));
  auto paused = put(R"({"state":"paused"})");
  EXPECT_EQ(paused.json["state"], "paused");
  EXPECT_EQ(paused.json["queue_limit"], 9);
  // The admission settings too, each on its own.
  auto held = put(R"({"hold_s":120})");
  ASSERT_EQ(held.status, 200) << held.describe();
  EXPECT_EQ(held.json, (json{{"status", "updated"},
                             {"event", "show"},
                             {"capacity", 1},
                             {"queue_limit", 9},
                             {"state", "paused"},
                             {"admit_rate", "manual"},
                             {"hold_s", 120},
                             {"waiter_ttl_s", 0}}));
  EXPECT_EQ(put(R"({"waiter_ttl_s":30})").json["waiter_ttl_s"], 30);
  auto rate = put(R"({"admit_rate":2})");
  ASSERT_EQ(rate.status, 200) << rate.describe();
  EXPECT_EQ(rate.json["admit_rate"], 2);
  EXPECT_EQ(rate.json["hold_s"], 120);
  EXPECT_EQ(rate.json["waiter_ttl_s"], 30);
  EXPECT_EQ(rate.json["state"], "paused");
  EXPECT_EQ(stack_.db().hgetall("ticketq:{show}:cfg"),
            (std::map<std::string, std::string>{{"capacity", "1"},
                                                {"queue_limit", "9"},
                                                {"state", "paused"},
                                                {"admit_rate", "2"},
                                                {"hold_s", "120"},
                                                {"waiter_ttl_s", "30"}}));
  // The other instance sees the same.
  auto info = b_->get("/v1/events/show", admin());
  EXPECT_EQ(info.json["state"], "paused") << info.describe();
  EXPECT_EQ(info.json["capacity"], 1);
  EXPECT_EQ(info.json["queue_limit"], 9);
  EXPECT_EQ(info.json["admit_rate"], 2);
  EXPECT_EQ(info.json["hold_s"], 120);
  EXPECT_EQ(info.json["waiter_ttl_s"], 30);
  for (const char* body : {"{}", R"({"state":"ajar"})", R"({"capacity":-1})",
                           R"({"capacity":1,"capacity":2})", R"({"colour":"red"})"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(put(body).status, 400);
  }
  EXPECT_EQ(b_->get("/v1/events/show", admin()).json, info.json) << "a refused PUT wrote";
}

TEST_F(EventStateTest, ClosedTakesNobodyNewButKeepsTheLine) {
  ASSERT_EQ(put(R"({"capacity":1,"queue_limit":5})").status, 201);
  ASSERT_EQ(reserve(*a_, "a").json["status"], "reserved");
  ASSERT_EQ(reserve(*b_, "b").json["status"], "queued");
  ASSERT_EQ(put(R"({"state":"closed"})").status, 200);

  Snapshot before = stack_.db().snapshot("ticketq:{show}");
  for (HttpClient* c : {a_.get(), b_.get()}) {
    auto late = reserve(*c, "late");
    EXPECT_EQ(late.status, 403) << late.describe();
    EXPECT_EQ(late.json, (json{{"status", "closed"},
                               {"user_id", "late"},
                               {"error", "the event is closed: nobody new joins"}}));
  }
  // Those already in keep their answers: a repeat still says where they are.
  EXPECT_EQ(untokened(reserve(*a_, "b").json),
            (json{{"status", "already_in_queue"}, {"user_id", "b"}, {"position", 1}}));
  EXPECT_EQ(reserve(*b_, "a").json["status"], "already_reserved");
  EXPECT_EQ(b_->get("/v1/events/show/status/b").json["position"], 1);
  EXPECT_EQ(diff(before, stack_.db().snapshot("ticketq:{show}")), "");

  // The seed route of a closed default event: 403 with detail.
  ASSERT_EQ(a_->put("/v1/events/default", R"({"state":"closed"})", admin()).status, 200);
  auto seed = a_->post("/reserve", user_body("s"));
  EXPECT_EQ(seed.status, 403) << seed.describe();
  EXPECT_EQ(seed.json["detail"], "the event is closed: nobody new joins");

  ASSERT_EQ(put(R"({"state":"open"})").status, 200);
  EXPECT_EQ(reserve(*a_, "late").json["status"], "queued");
}

TEST_F(EventStateTest, PausedAdmitsNobodyButTakesJoins) {
  ASSERT_EQ(put(R"({"capacity":1,"queue_limit":5,"state":"paused"})").status, 201);
  ASSERT_EQ(reserve(*a_, "a").json["status"], "reserved");
  ASSERT_EQ(reserve(*a_, "b").json["status"], "queued");
  ASSERT_EQ(put(R"({"capacity":2})").json["state"], "paused");
  Snapshot before = stack_.db().snapshot("ticketq:{show}");
  auto p = b_->post("/v1/events/show/process_queue", "", admin());
  EXPECT_EQ(p.status, 409) << p.describe();
  EXPECT_EQ(p.json["error"], "the event is paused: nobody is admitted");
  EXPECT_EQ(diff(before, stack_.db().snapshot("ticketq:{show}")), "");
  ASSERT_EQ(put(R"({"state":"open"})").status, 200);
  auto q = b_->post("/v1/events/show/process_queue", "", admin());
  ASSERT_EQ(q.status, 200) << q.describe();
  EXPECT_EQ(q.json["promoted_users"], json::array({"b"}));
  auto bad = stack_.db().check_invariants("show", 2);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace ticketq::test
