// The dashboard chart's history (GET /v1/events/{event}/history): noted in
// Redis by the calls that change waiting or admitted, the same on every
// instance, bounded, admin-only.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "core/scripts.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.threads = 1;
    ASSERT_EQ(stack_.start(o), "");
    ASSERT_EQ(stack_.add_server(o), "");
  }

  json history(size_t server = 0, const std::string& event = "show") {
    HttpResponse r = stack_.client(server).get("/v1/events/" + event + "/history", admin());
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json;
  }

  void put(const std::string& body) {
    HttpResponse r = stack_.client().put("/v1/events/show", body, admin());
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.describe();
  }

  void reserve(const std::string& user, const std::string& want) {
    HttpResponse r = stack_.client().post("/v1/events/show/reserve", user_body(user));
    ASSERT_EQ(r.json["status"], want) << r.describe();
  }

  // The history fields of the event's stats hash.
  std::map<std::string, std::string> ring() {
    std::map<std::string, std::string> out;
    for (auto& [f, v] : stack_.db().hgetall(RedisClient::key("show", "stats")))
      if (!f.empty() && f[0] == 'h') out[f] = v;
    return out;
  }

  Stack stack_;
};

// The last point is now, with the counts GET shows; every point is within
// the window, oldest first.
void expect_ends_with(const json& h, int64_t waiting, int64_t admitted) {
  ASSERT_TRUE(h["points"].is_array()) << h.dump();
  ASSERT_FALSE(h["points"].empty()) << h.dump();
  const json& last = h["points"].back();
  EXPECT_EQ(last["t_ms"], h["now_ms"]) << h.dump();
  EXPECT_EQ(last["waiting"], waiting) << h.dump();
  EXPECT_EQ(last["admitted"], admitted) << h.dump();
  int64_t prev = 0;
  for (const json& p : h["points"]) {
    EXPECT_GE(p["t_ms"].get<int64_t>(), h["now_ms"].get<int64_t>() - 600'000) << h.dump();
    EXPECT_GT(p["t_ms"].get<int64_t>(), prev) << h.dump();
    prev = p["t_ms"].get<int64_t>();
  }
}

TEST_F(HistoryTest, EveryChangeIsNotedAndEveryInstanceShowsIt) {
  put(R"({"capacity":1,"queue_limit":10})");
  json h = history();
  EXPECT_EQ(h["event"], "show");
  EXPECT_EQ(h["window_s"], 600);
  EXPECT_TRUE(h["points"].empty()) << "no change yet: " << h.dump();

  reserve("a", "reserved");
  expect_ends_with(history(), 0, 1);
  reserve("b", "queued");
  reserve("c", "queued");
  expect_ends_with(history(), 2, 1);
  // The other instance reads the same ring.
  expect_ends_with(history(1), 2, 1);

  HttpClient c = stack_.client(1);
  ASSERT_EQ(c.post("/v1/events/show/leave", user_body("c"), admin()).status, 200);
  expect_ends_with(history(), 1, 1);
  ASSERT_EQ(c.post("/v1/events/show/confirm", user_body("a"), admin()).status, 200);
  expect_ends_with(history(), 1, 0);  // sold: no longer admitted
  ASSERT_EQ(c.put("/v1/events/show", R"({"capacity":2})", admin()).status, 200);
  ASSERT_EQ(c.post("/v1/events/show/process_queue", "", admin()).status, 200);
  expect_ends_with(history(), 0, 1);
  ASSERT_EQ(c.post("/v1/events/show/cancel", user_body("b"), admin()).status, 200);
  expect_ends_with(history(1), 0, 0);
  // What GET says now is where the line ends.
  json info = c.get("/v1/events/show", admin()).json;
  EXPECT_EQ(info["waiting"], 0);
  EXPECT_EQ(info["admitted"], 0);

  // A reset empties it with the other counts.
  ASSERT_EQ(c.post("/v1/events/show/reset", "", admin()).status, 200);
  EXPECT_TRUE(history()["points"].empty());
}

// The admission step notes what it changes: admissions at the rate.
TEST_F(HistoryTest, AutomaticAdmissionIsNoted) {
  put(R"({"capacity":0,"queue_limit":10,"admit_rate":100})");
  reserve("a", "queued");
  reserve("b", "queued");
  expect_ends_with(history(), 2, 0);
  put(R"({"capacity":2})");
  // Wait for the admission step (any instance) to admit both.
  json h;
  for (int i = 0; i < 200; ++i) {
    h = history();
    if (!h["points"].empty() && h["points"].back()["admitted"] == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  expect_ends_with(h, 0, 2);
}

// Samples older than the window are left out, or start the line at the
// window's start; the ring holds one field per slot however many calls.
TEST_F(HistoryTest, TheRingIsBoundedAndTheWindowKept) {
  put(R"({"capacity":1000,"queue_limit":1000})");
  HttpClient c = stack_.client();
  auto redis_ms = [this] {
    auto t = stack_.db().command({"TIME"});
    return std::stoll(t.elements.at(0).str) * 1000 + std::stoll(t.elements.at(1).str) / 1000;
  };
  const int64_t from = redis_ms();
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(c.post("/v1/events/show/reserve", user_body("u" + std::to_string(i))).status, 200);
  const int64_t to = redis_ms();
  auto fields = ring();
  // One field per slot the calls spanned, however many calls: never more
  // than the ring's.
  EXPECT_GE(fields.size(), 1u);
  EXPECT_LE(fields.size(), size_t(to / kHistorySlotMs - from / kHistorySlotMs + 1));
  static const std::regex name("h([0-9]+)");
  for (const auto& [f, v] : fields) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(f, m, name)) << f;
    EXPECT_LT(std::stoi(m[1]), kHistorySlots) << f;
    EXPECT_TRUE(std::regex_match(v, std::regex("[0-9]+:[0-9]+:[0-9]+"))) << v;
  }
  expect_ends_with(history(), 0, 300);

  // Samples of long ago, as a ring that went round would hold them: one
  // eleven minutes ago (before the window) and, in other fields, one of
  // twenty minutes ago. The line starts at the window's start with the
  // newest one from before it.
  json h = history();
  const int64_t now = h["now_ms"];
  const std::string stats = RedisClient::key("show", "stats");
  ASSERT_FALSE(stack_.db().command({"DEL", stats}).is_error());
  auto field = [](int64_t t) { return "h" + std::to_string(t / kHistorySlotMs % kHistorySlots); };
  const int64_t old = now - 660'000, older = now - 1'200'000 - 20'000;
  ASSERT_FALSE(stack_.db()
                   .command({"HSET", stats, field(old), std::to_string(old) + ":7:3", field(older),
                             std::to_string(older) + ":9:9"})
                   .is_error());
  h = history();
  ASSERT_EQ(h["points"].size(), 2u) << h.dump();
  EXPECT_EQ(h["points"][0]["t_ms"].get<int64_t>(), h["now_ms"].get<int64_t>() - 600'000);
  EXPECT_EQ(h["points"][0]["waiting"], 7);
  EXPECT_EQ(h["points"][0]["admitted"], 3);
  expect_ends_with(h, 7, 3);

  // A corrupt field fails the call (503), not the process.
  ASSERT_FALSE(stack_.db().command({"HSET", stats, "h0", "junk"}).is_error());
  HttpResponse bad = c.get("/v1/events/show/history", admin());
  EXPECT_EQ(bad.status, 503) << bad.describe();
  EXPECT_TRUE(bad.header("Retry-After").has_value());
}

TEST_F(HistoryTest, AdminOnlyAndUnknownEvents) {
  put(R"({"capacity":1,"queue_limit":1})");
  HttpClient c = stack_.client();
  HttpResponse r = c.get("/v1/events/show/history");
  EXPECT_EQ(r.status, 401) << r.describe();
  r = c.get("/v1/events/show/history", {{"X-Token", "wrong"}});
  EXPECT_EQ(r.status, 401) << r.describe();
  r = c.get("/v1/events/nowhere/history", admin());
  EXPECT_EQ(r.status, 404) << r.describe();
  EXPECT_EQ(r.json["error"], "event 'nowhere' does not exist");
  r = c.get("/v1/events/bad%20name/history", admin());
  EXPECT_EQ(r.status, 400) << r.describe();
  r = c.post("/v1/events/show/history", "", admin());
  EXPECT_EQ(r.status, 405) << r.describe();
  // Asking writes nothing: an unknown event is not created.
  EXPECT_TRUE(stack_.db().keys("ticketq:{nowhere}").empty());
}

}  // namespace
}  // namespace ticketq::test
