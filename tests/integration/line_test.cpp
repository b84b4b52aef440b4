// The line when people leave it or expire: positions stay exact (1 + the
// users still ahead), in a table of cases and in a randomized run of 10,000
// operations checked against a model and against a recount of what Redis
// holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <random>
#include <set>
#include <tuple>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

class LineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.extra_args = {"--admission-tick-ms", "20"};  // expiries are swept soon
    ASSERT_EQ(stack_.start(o), "");
    http_ = std::make_unique<HttpClient>(stack_.server().port(), Millis(30000));
  }
  HttpResponse put(int64_t capacity, int64_t queue_limit, int64_t waiter_ttl_s = 0) {
    return http_->put(
        "/v1/events/line",
        json{{"capacity", capacity}, {"queue_limit", queue_limit}, {"waiter_ttl_s", waiter_ttl_s}}
            .dump(),
        admin());
  }
  HttpResponse reserve(const std::string& u) {
    return http_->post("/v1/events/line/reserve", user_body(u));
  }
  HttpResponse status(const std::string& u) { return http_->get("/v1/events/line/status/" + u); }
  HttpResponse leave(const std::string& u, const Headers& h = admin()) {
    return http_->post("/v1/events/line/leave", user_body(u), h);
  }
  Stack stack_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(LineTest, LeavingMovesEveryoneBehindUpByOne) {
  ASSERT_EQ(put(1, 10).status, 201);
  ASSERT_EQ(reserve("a").json["status"], "reserved");
  for (const char* u : {"b", "c", "d", "e"}) ASSERT_EQ(reserve(u).json["status"], "queued");

  auto left = leave("c");
  ASSERT_EQ(left.status, 200) << left.describe();
  EXPECT_EQ(left.json, (json{{"status", "left"}, {"user_id", "c"}, {"position", 2}}));
  EXPECT_EQ(status("b").json["position"], 1);
  EXPECT_EQ(status("d").json["position"], 2);
  EXPECT_EQ(status("e").json["position"], 3);
  auto gone = status("c");
  EXPECT_EQ(gone.status, 404) << gone.describe();
  EXPECT_EQ(gone.json, (json{{"status", "not_found"}, {"user_id", "c"}}));

  // Twice: not in line any more. A seat holder is not in line either.
  auto again = leave("c");
  EXPECT_EQ(again.status, 404) << again.describe();
  EXPECT_EQ(again.json, (json{{"status", "not_found"}, {"user_id", "c"}}));
  auto holder = leave("a");
  EXPECT_EQ(holder.status, 409) << holder.describe();
  EXPECT_EQ(holder.json["status"], "reserved");
  EXPECT_EQ(stack_.db().smembers("ticketq:{line}:reserved"), std::set<std::string>{"a"});

  // The head leaves; a newcomer joins at the end; c may join again, last.
  ASSERT_EQ(leave("b").json["position"], 1);
  EXPECT_EQ(untokened(reserve("f").json),
            (json{{"status", "queued"}, {"user_id", "f"}, {"position", 3}}));
  EXPECT_EQ(untokened(reserve("c").json),
            (json{{"status", "queued"}, {"user_id", "c"}, {"position", 4}}));
  EXPECT_EQ(stack_.db().line("line"), (std::vector<std::string>{"d", "e", "f", "c"}));

  // A new seat goes to the head: d.
  ASSERT_EQ(put(2, 10).status, 200);
  auto p = http_->post("/v1/events/line/process_queue", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json["promoted_users"], json::array({"d"}));
  EXPECT_EQ(status("e").json["position"], 1);
  auto info = http_->get("/v1/events/line", admin());
  EXPECT_EQ(info.json["waiting"], 3);
  EXPECT_EQ(info.json["left"], 2);
  EXPECT_EQ(info.json["promoted"], 1);
  auto bad = stack_.db().check_invariants("line", 2);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

TEST_F(LineTest, LeaveRefusesWhatItCannotDoAndChangesNothing) {
  ASSERT_EQ(put(0, 10).status, 201);
  ASSERT_EQ(reserve("a").json["status"], "queued");
  Snapshot before = stack_.db().snapshot("");
  EXPECT_EQ(leave("a", {}).status, 401);
  EXPECT_EQ(leave("a", {{"X-Token", "wrong"}}).status, 401);
  auto no_user = http_->post("/v1/events/line/leave", "{}", admin());
  EXPECT_EQ(no_user.status, 400) << no_user.describe();
  EXPECT_EQ(http_->post("/v1/events/line/leave", R"({"user_id":"bad id"})", admin()).status, 400);
  EXPECT_EQ(http_->post("/v1/events/nope/leave", user_body("a"), admin()).status, 404);
  EXPECT_EQ(http_->get("/v1/events/line/leave", admin()).status, 405);
  EXPECT_EQ(diff(before, stack_.db().snapshot("")), "");
}

// A user leaves with the user token of their first join; a repeated join
// (by anyone: ids are not secret) gets no token and cannot act for them.
TEST_F(LineTest, UsersLeaveWithTheirOwnToken) {
  ASSERT_EQ(put(0, 10).status, 201);
  ASSERT_EQ(http_->put("/v1/events/other", R"({"capacity":0,"queue_limit":10})", admin()).status,
            201);
  auto bob = reserve("bob");
  auto carol = reserve("carol");
  ASSERT_TRUE(bob.json.contains("token") && carol.json.contains("token")) << bob.describe();
  const std::string bob_token = bob.json["token"], carol_token = carol.json["token"];
  EXPECT_EQ(std::count(bob_token.begin(), bob_token.end(), '.'), 2) << "not a compact JWS";
  auto other = http_->post("/v1/events/other/reserve", user_body("carol"));
  const std::string other_token = other.json["token"];
  auto again = reserve("carol");  // anyone may send carol's id
  EXPECT_EQ(untokened(again.json), again.json) << "a repeated join got a token";
  EXPECT_EQ(again.json["status"], "already_in_queue");

  auto bearer = [](const std::string& t) { return Headers{{"Authorization", "Bearer " + t}}; };
  // One character of the signature changed, well inside it (every bit used).
  std::string tampered = carol_token;
  char& c = tampered[tampered.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  Snapshot before = stack_.db().snapshot("");
  for (const auto& [name, headers, code] : std::vector<std::tuple<std::string, Headers, int>>{
           {"no credentials", {}, 401},
           {"token of another event", bearer(other_token), 401},
           {"tampered token", bearer(tampered), 401},
           {"not a token", bearer("carol"), 401},
           {"Basic scheme", {{"Authorization", "Basic Y2Fyb2w6eA=="}}, 401},
       }) {
    SCOPED_TRACE(name);
    auto r = http_->post("/v1/events/line/leave", "", headers);
    EXPECT_EQ(r.status, code) << r.describe();
    EXPECT_TRUE(r.json.contains("error")) << r.describe();
  }
  // Credentials may not arrive after a chunked body (as trailers): none then.
  auto chunked = raw_exchange(
      stack_.server().port(),
      "POST /v1/events/line/leave HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nAuthorization: Bearer " +
          carol_token + "\r\n\r\n");
  EXPECT_EQ(chunked.status(), 401) << chunked.data;
  EXPECT_EQ(diff(before, stack_.db().snapshot("")), "") << "a refused leave wrote";

  // Bob's token acts for bob only.
  auto left = http_->post("/v1/events/line/leave", "", bearer(bob_token));
  ASSERT_EQ(left.status, 200) << left.describe();
  EXPECT_EQ(left.json, (json{{"status", "left"}, {"user_id", "bob"}, {"position", 1}}));
  EXPECT_EQ(http_->post("/v1/events/line/leave", "", bearer(bob_token)).status, 404);
  EXPECT_EQ(status("carol").json["position"], 1);
  // The user token wins over a body naming someone else.
  auto mine = http_->post("/v1/events/line/leave", user_body("bob"), bearer(carol_token));
  EXPECT_EQ(mine.json["user_id"], "carol") << mine.describe();
  EXPECT_EQ(stack_.db().line("line"), std::vector<std::string>{});
}

// Joins, leaves, status reads, promotions, new seats and expiries in random
// order (the seed is printed; TICKETQ_TEST_SEED replays it), each answer
// checked against a model of the line; every 500 operations the line in
// Redis is recounted against the model. Waiters expire after an hour; an
// expiry here makes a few random waiters silent since long ago and waits
// for the admission step to drop them.
TEST_F(LineTest, PositionsStayExactThroughTenThousandRandomOperations) {
  // TICKETQ_TEST_SEED=N replays a run.
  const char* given = std::getenv("TICKETQ_TEST_SEED");
  const uint32_t seed = given != nullptr ? static_cast<uint32_t>(std::strtoul(given, nullptr, 10))
                                         : std::random_device{}();
  std::cout << "[ figure ] line randomized run: seed " << seed << "\n";
  std::mt19937 rng(seed);
  constexpr int kOps = 10000, kUsers = 1500;
  int64_t capacity = 5;
  const int64_t limit = 1000000, ttl = 3600;
  ASSERT_EQ(put(capacity, limit, ttl).status, 201);
  const std::string seen = RedisClient::key("line", "seen");
  std::set<std::string> seats;
  std::deque<std::string> line;  // the model, head first
  auto index_of = [&](const std::string& u) -> int64_t {
    auto it = std::find(line.begin(), line.end(), u);
    return it == line.end() ? 0 : static_cast<int64_t>(it - line.begin()) + 1;
  };
  int counts[6] = {};
  int64_t expired = 0;
  int64_t last_promotion_ms = -1;  // when the last promote that admitted anyone answered
  for (int op = 1; op <= kOps; ++op) {
    std::string u = "u" + std::to_string(rng() % kUsers);
    int kind = static_cast<int>(rng() % 100);
    SCOPED_TRACE("op " + std::to_string(op) + " seed " + std::to_string(seed));
    if (kind < 45) {
      ++counts[0];
      auto r = reserve(u);
      json want;
      if (seats.count(u)) {
        want = {{"status", "already_reserved"}, {"user_id", u}};
      } else if (int64_t pos = index_of(u)) {
        want = {{"status", "already_in_queue"}, {"user_id", u}, {"position", pos}};
      } else if (static_cast<int64_t>(seats.size()) < capacity && line.empty()) {
        seats.insert(u);
        want = {{"status", "reserved"}, {"user_id", u}};
      } else {
        line.push_back(u);
        want = {{"status", "queued"}, {"user_id", u}, {"position", line.size()}};
      }
      // A user token with the first join only.
      std::string st = want["status"];
      ASSERT_EQ(r.json.contains("token"), st == "reserved" || st == "queued") << r.describe();
      ASSERT_EQ(untokened(r.json), want) << r.describe();
    } else if (kind < 70) {
      ++counts[1];
      auto r = leave(u);
      int64_t pos = index_of(u);
      if (pos > 0) {
        line.erase(line.begin() + (pos - 1));
        ASSERT_EQ(r.json, (json{{"status", "left"}, {"user_id", u}, {"position", pos}}));
      } else {
        ASSERT_EQ(r.status, seats.count(u) ? 409 : 404) << r.describe();
      }
    } else if (kind < 88) {
      ++counts[2];
      const int64_t asked_at = now_ms();
      auto r = status(u);
      if (seats.count(u)) {
        ASSERT_EQ(r.json, holds_seat(u));
      } else if (int64_t pos = index_of(u)) {
        // The estimate depends on when the promotions of the last minute
        // were: unknown before the first one, a whole number of seconds
        // (ask again after a tenth of it, 1 s at least) while the last one
        // was less than 50 s ago.
        json want = in_queue(u, pos);
        if (!r.json.is_object() || !r.json.contains("eta_s")) FAIL() << r.describe();
        want["eta_s"] = r.json["eta_s"];
        if (r.json["eta_s"].is_number_integer()) {
          const int64_t eta = r.json["eta_s"];
          ASSERT_GE(eta, 1) << r.describe();
          want["poll_after_ms"] = std::clamp<int64_t>(eta * 100, 1000, 30000);
        }
        ASSERT_EQ(r.json, want);
        if (last_promotion_ms < 0) {
          ASSERT_TRUE(r.json["eta_s"].is_null()) << "nobody was admitted from the line yet";
        } else if (asked_at - last_promotion_ms < 50000) {
          ASSERT_TRUE(r.json["eta_s"].is_number_integer()) << r.describe();
        }
      } else {
        ASSERT_EQ(r.status, 404) << r.describe();
      }
    } else if (kind < 93) {
      ++counts[3];
      int64_t n = 1 + static_cast<int64_t>(rng() % 5);
      auto r = http_->post("/v1/events/line/process_queue?limit=" + std::to_string(n), "", admin());
      ASSERT_EQ(r.status, 200) << r.describe();
      json promoted = json::array();
      while (n-- > 0 && static_cast<int64_t>(seats.size()) < capacity && !line.empty()) {
        promoted.push_back(line.front());
        seats.insert(line.front());
        line.pop_front();
      }
      ASSERT_EQ(r.json["promoted_users"], promoted) << r.describe();
      ASSERT_EQ(r.json["remaining"], line.size());
      if (!promoted.empty()) last_promotion_ms = now_ms();
    } else if (kind < 99) {
      ++counts[4];
      capacity += 1 + static_cast<int64_t>(rng() % 3);
      ASSERT_EQ(put(capacity, limit, ttl).status, 200);
    } else {
      ++counts[5];
      for (int64_t n = 1 + static_cast<int64_t>(rng() % 3); n > 0 && !line.empty(); --n) {
        auto it = line.begin() + static_cast<int64_t>(rng() % line.size());
        ASSERT_FALSE(stack_.db()
                         .command({"ZADD", seen, "1", stack_.db().ticket_of("line", *it)})
                         .is_error());
        line.erase(it);
        ++expired;
      }
      const std::vector<std::string> want(line.begin(), line.end());
      ASSERT_TRUE(wait_until([&] { return stack_.db().line("line") == want; }, Millis(30000)))
          << "the silent waiters were not dropped";
    }
    if (op % 500 == 0) {
      // Brute-force recount: the line as Redis holds it, in ticket order.
      ASSERT_EQ(stack_.db().line("line"), std::vector<std::string>(line.begin(), line.end()));
      ASSERT_EQ(stack_.db().smembers("ticketq:{line}:reserved"), seats);
    }
  }
  std::cout << "[ figure ] line randomized run: " << counts[0] << " joins, " << counts[1]
            << " leaves, " << counts[2] << " status reads, " << counts[3] << " promotions, "
            << counts[4] << " capacity raises, " << counts[5] << " expiries (" << expired
            << " waiters); " << line.size() << " waiting, " << seats.size()
            << " seated at the end\n";
  auto info = http_->get("/v1/events/line", admin());
  EXPECT_EQ(info.json["expired_waiters"], expired) << info.describe();
  auto bad = stack_.db().check_invariants("line", capacity);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace ticketq::test
