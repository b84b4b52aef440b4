// Rushes: many users at once on many connections to two ticketq instances
// sharing one Redis. Seats, places in line and positions must come out
// exact: no seat sold twice, no place given twice, nobody lost.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

struct Answer {
  int status = 0;
  std::string kind;  // the "status" field
  int64_t position = 0;
  std::string user_id;
  std::string raw;
};

Answer to_answer(const HttpResponse& r) {
  Answer a;
  a.status = r.status;
  a.raw = r.describe();
  if (r.json.is_object()) {
    a.kind = r.json.value("status", "");
    a.user_id = r.json.value("user_id", "");
    a.position = r.json.value("position", int64_t{0});
  }
  return a;
}

class ConcurrencyTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& args) {
    ServerOptions o;
    // These tests count answers exactly: a 503 from a busy machine's slow
    // Redis would spoil the count, so the deadline is generous.
    o.extra_args = {"--request-timeout-ms", "10000"};
    o.extra_args.insert(o.extra_args.end(), args.begin(), args.end());
    ASSERT_EQ(stack_.start(o), "");
    ASSERT_EQ(stack_.add_server(o), "");
  }
  // Runs `per_thread(thread index, client)` on `threads` threads, each with
  // its own kept-alive connection to instance (index % 2), all released at
  // once after connecting.
  void run_threads(int threads, const std::function<void(int, HttpClient&)>& per_thread) {
    std::latch ready(threads + 1);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        HttpClient c(stack_.server(t % 2).port(), Millis(10000));
        c.get("/health");  // connect before the start signal
        ready.arrive_and_wait();
        per_thread(t, c);
      });
    }
    ready.arrive_and_wait();
    for (auto& th : pool) th.join();
  }
  void rush(std::vector<std::string> extra_args);
  Stack stack_;
};

// 3,000 users at once from 60 connections, half to each instance, for 100
// seats and 200 places in line.
void ConcurrencyTest::rush(std::vector<std::string> extra_args) {
  constexpr int kUsers = 3000, kThreads = 60, kCapacity = 100, kLimit = 200;
  std::vector<std::string> args = {"--capacity", std::to_string(kCapacity), "--queue-limit",
                                   std::to_string(kLimit)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  start(args);
  if (HasFatalFailure()) return;
  std::vector<Answer> answers(kUsers);
  auto user = [](int i) { return "user-" + std::to_string(i); };
  int64_t started = now_ms();
  run_threads(kThreads, [&](int t, HttpClient& c) {
    for (int i = t; i < kUsers; i += kThreads)
      answers[i] = to_answer(c.post("/reserve", user_body(user(i))));
  });
  int64_t took = now_ms() - started;
  // A figure, not a check: how long a rush takes depends on the machine
  // (and ASan), not on correctness; each request is bounded by its timeout.
  RecordProperty("rush_ms", static_cast<int>(took));
  std::printf("FIGURE rush: %d users in %lld ms\n", kUsers, static_cast<long long>(took));

  std::set<std::string> reserved, queued;
  std::map<int64_t, int> positions;  // position -> how often given
  std::map<std::string, int64_t> position_of;
  int sold_out = 0;
  for (int i = 0; i < kUsers; ++i) {
    const Answer& a = answers[i];
    ASSERT_EQ(a.user_id, user(i)) << a.raw;
    if (a.status == 200 && a.kind == "reserved") {
      reserved.insert(a.user_id);
    } else if (a.status == 200 && a.kind == "queued") {
      queued.insert(a.user_id);
      ++positions[a.position];
      position_of[a.user_id] = a.position;
    } else if (a.status == 409 && a.kind == "sold_out") {
      ++sold_out;
    } else {
      ADD_FAILURE() << "unexpected answer for " << user(i) << ": " << a.raw;
    }
  }
  EXPECT_EQ(reserved.size(), static_cast<size_t>(kCapacity));
  EXPECT_EQ(queued.size(), static_cast<size_t>(kLimit));
  EXPECT_EQ(sold_out, kUsers - kCapacity - kLimit);
  ASSERT_EQ(positions.size(), static_cast<size_t>(kLimit));
  EXPECT_EQ(positions.begin()->first, 1);
  EXPECT_EQ(positions.rbegin()->first, kLimit);
  for (const auto& [p, n] : positions)
    EXPECT_EQ(n, 1) << "position " << p << " given " << n << " times";

  // Redis holds exactly what was answered.
  RedisClient& db = stack_.db();
  EXPECT_EQ(db.smembers("ticketq:{default}:reserved"), reserved);
  std::vector<std::string> line = db.line("default");
  ASSERT_EQ(line.size(), static_cast<size_t>(kLimit));
  EXPECT_EQ(std::set<std::string>(line.begin(), line.end()), queued);
  for (const auto& u : reserved) EXPECT_EQ(queued.count(u), 0u) << u;
  // Each queued user's position, as answered and as GET /status tells it
  // (on both instances), is its index in the Redis list + 1.
  HttpClient c0(stack_.server(0).port()), c1(stack_.server(1).port());
  for (size_t i = 0; i < line.size(); ++i) {
    const std::string& u = line[i];
    EXPECT_EQ(position_of[u], static_cast<int64_t>(i) + 1) << u;
    auto s = (i % 2 == 0 ? c0 : c1).get("/status/" + u);
    EXPECT_EQ(s.json, in_queue(u, static_cast<int64_t>(i) + 1)) << s.describe();
  }
  // Each accepted first join took one ticket, and no refused one: the seats
  // went first, so they hold 1..100, and the line 101..300 in its order.
  EXPECT_EQ(db.command({"HGET", "ticketq:{default}:cfg", "tickets"}).str,
            std::to_string(kCapacity + kLimit));
  std::set<std::string> seat_tickets, want_seat_tickets;
  for (const auto& [u, ticket] : db.hgetall("ticketq:{default}:seats")) seat_tickets.insert(ticket);
  for (int t = 1; t <= kCapacity; ++t) want_seat_tickets.insert(std::to_string(t));
  EXPECT_EQ(seat_tickets, want_seat_tickets);
  Reply first = db.command({"ZRANGE", "ticketq:{default}:queued", "0", "0", "WITHSCORES"});
  Reply last = db.command({"ZRANGE", "ticketq:{default}:queued", "-1", "-1", "WITHSCORES"});
  ASSERT_EQ(first.elements.size(), 2u);
  ASSERT_EQ(last.elements.size(), 2u);
  EXPECT_EQ(first.elements[1].str, std::to_string(kCapacity + 1));
  EXPECT_EQ(last.elements[1].str, std::to_string(kCapacity + kLimit));
  auto bad = db.check_invariants("default", kCapacity);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

// Coalesced: requests of one loop turn share a script call.
TEST_F(ConcurrencyTest, RushOnTwoInstancesFillsSeatsAndLineExactly) {
  rush({});
}

// One script call per request (coalescing off).
TEST_F(ConcurrencyTest, RushWithoutCoalescingFillsSeatsAndLineExactly) {
  rush({"--batch-max", "1"});
}

TEST_F(ConcurrencyTest, SameUserFromManyConnectionsGetsOneEntry) {
  start({"--capacity", "1", "--queue-limit", "10"});
  constexpr int kThreads = 40;
  for (const std::string expected : {"reserved", "queued"}) {
    SCOPED_TRACE(expected);
    std::string u = "same-" + expected;
    std::vector<Answer> answers(kThreads);
    run_threads(kThreads, [&](int t, HttpClient& c) {
      answers[t] = to_answer(c.post("/reserve", user_body(u)));
    });
    std::map<std::string, int> kinds;
    for (const auto& a : answers) {
      EXPECT_EQ(a.status, 200) << a.raw;
      ++kinds[a.kind];
      if (a.kind == "queued" || a.kind == "already_in_queue") {
        EXPECT_EQ(a.position, 1) << a.raw;
      }
    }
    std::string repeat = expected == "reserved" ? "already_reserved" : "already_in_queue";
    EXPECT_EQ(kinds, (std::map<std::string, int>{{expected, 1}, {repeat, kThreads - 1}}));
  }
  EXPECT_EQ(stack_.db().smembers("ticketq:{default}:reserved"),
            std::set<std::string>{"same-reserved"});
  EXPECT_EQ(stack_.db().line("default"), std::vector<std::string>{"same-queued"});
  auto bad = stack_.db().check_invariants("default", 1);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

// Reserves race with an admin that keeps adding seats and promoting. Nobody
// is lost or counted twice, promotions never exceed the seats, and the line
// that is left is still in ticket order.
TEST_F(ConcurrencyTest, ReservesRacingWithPromotionKeepInvariants) {
  start({"--capacity", "1", "--queue-limit", "1"});
  constexpr int kThreads = 20, kPerThread = 30, kUsers = kThreads * kPerThread;
  {
    HttpClient c(stack_.server().port());
    ASSERT_EQ(c.put("/v1/events/race", R"({"capacity":20,"queue_limit":1000})", admin()).status,
              201);
  }
  std::vector<Answer> answers(kUsers);
  std::atomic<bool> rush_over{false};
  std::vector<std::string> promoted;
  std::vector<std::string> admin_errors;
  int64_t capacity = 20;
  std::atomic<int> reserves_sent{0};
  std::thread admin_thread([&] {
    HttpClient c(stack_.server(1).port(), Millis(10000));
    // Seats are added only while people wait in line, and only once the
    // rush has begun: an admin scheduled ahead of the reserves (a busy
    // machine) must not raise the capacity past the rush, or the line would
    // form only when no seat is left and nobody would ever be promoted.
    wait_until([&] { return reserves_sent.load() > 0 || rush_over.load(); }, Millis(60000));
    bool line = false;
    for (int round = 0; round < 400 && !rush_over.load(); ++round) {
      if (line && capacity < 400) {
        capacity += 20;
        auto put = c.put("/v1/events/race",
                         json{{"capacity", capacity}, {"queue_limit", 1000}}.dump(), admin());
        if (put.status != 200) admin_errors.push_back(put.describe());
      }
      auto p = c.post("/v1/events/race/process_queue?limit=7", "", admin());
      if (p.status != 200) admin_errors.push_back(p.describe());
      for (const auto& u : p.json.value("promoted_users", json::array()))
        promoted.push_back(u.get<std::string>());
      line = p.json.value("remaining", int64_t{0}) > 0;
      std::this_thread::sleep_for(Millis(2));
    }
  });
  run_threads(kThreads, [&](int t, HttpClient& c) {
    for (int i = 0; i < kPerThread; ++i) {
      ++reserves_sent;
      int n = t * kPerThread + i;
      answers[n] = to_answer(c.post("/v1/events/race/reserve", user_body("r" + std::to_string(n))));
    }
  });
  rush_over = true;
  admin_thread.join();
  EXPECT_EQ(admin_errors, std::vector<std::string>{});

  std::set<std::string> answered_reserved, answered_queued;
  for (int n = 0; n < kUsers; ++n) {
    const Answer& a = answers[n];
    ASSERT_EQ(a.status, 200) << a.raw;
    if (a.kind == "reserved")
      answered_reserved.insert(a.user_id);
    else if (a.kind == "queued")
      answered_queued.insert(a.user_id);
    else
      ADD_FAILURE() << a.raw;
  }
  EXPECT_GT(promoted.size(), 0u) << "the admin never promoted during the rush";
  std::set<std::string> promoted_set(promoted.begin(), promoted.end());
  EXPECT_EQ(promoted_set.size(), promoted.size()) << "someone was promoted twice";
  for (const auto& u : promoted)
    EXPECT_EQ(answered_queued.count(u), 1u) << u << " promoted without queueing";

  RedisClient& db = stack_.db();
  std::set<std::string> reserved = db.smembers("ticketq:{race}:reserved");
  std::vector<std::string> line = db.line("race");
  std::set<std::string> expected_reserved = answered_reserved;
  expected_reserved.insert(promoted.begin(), promoted.end());
  EXPECT_EQ(reserved, expected_reserved);
  EXPECT_EQ(reserved.size() + line.size(), static_cast<size_t>(kUsers));
  EXPECT_LE(static_cast<int64_t>(reserved.size()), capacity);
  for (const auto& u : line) EXPECT_EQ(answered_queued.count(u), 1u) << u;
  EXPECT_EQ(db.command({"HGET", "ticketq:{race}:stats", "promoted"}).str,
            std::to_string(promoted.size()));
  auto bad = db.check_invariants("race", capacity);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace ticketq::test
