// The coalescer gathers reserve/status requests of one loop turn into one
// script call per event. A fake script runner answers each call with a
// code per user so the tests can see how requests were grouped.
#include "core/coalescer.h"

#include <event2/event.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "redis_values.h"

namespace ticketq {
namespace {

// Answers reserve calls with "queued" at positions 1..n of each call (ticket
// 100 + position) and status calls with "in line" there, in the reply
// layouts of scripts.h, and records the users of every call.
class RecordingRunner : public ScriptRunner {
 public:
  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override {
    std::vector<std::string> users(argv.begin() + numkeys + 2, argv.end());
    calls.push_back({script.name, argv[2].substr(0, argv[2].find('}') + 1), users});
    ScriptReply r;
    if (fail) {
      r.fault = Fault::kTimeout;
      r.detail = "slow";
    } else {
      r.value.type = RedisValue::Type::kArray;
      const bool status = std::string_view(script.name) == "status";
      // status: {0, now_ms, admitted_last_minute, span_ms, paused,
      // waiter_ttl_s, then code, pos, ticket, hold_end, used per user};
      // reserve: {0, then code, pos, ticket per user}.
      r.value.elements.push_back(test::Int(0));
      if (status)
        for (int64_t h : std::initializer_list<int64_t>{1'700'000'000'000, 0, 0, 0, 0, 0})
          r.value.elements.push_back(test::Int(h));
      for (size_t i = 0; i + (short_reply ? 1 : 0) < users.size(); ++i) {
        int64_t pos = static_cast<int64_t>(i) + 1;
        r.value.elements.push_back(test::Int(2));
        r.value.elements.push_back(test::Int(pos));
        r.value.elements.push_back(test::Int(100 + pos));
        if (status) {
          r.value.elements.push_back(test::Int(0));
          r.value.elements.push_back(test::Int(0));
        }
      }
    }
    cb(std::move(r));
  }
  void ping(ReplyCallback cb) override { cb(ScriptReply{}); }
  bool ready() const override { return true; }

  struct Call {
    std::string script;
    std::string event_key;  // e.g. "ticketq:{default}"
    std::vector<std::string> users;
  };
  std::vector<Call> calls;
  bool fail = false;
  bool short_reply = false;  // one user's answer missing from the reply
};

class CoalescerTest : public ::testing::Test {
 protected:
  CoalescerTest() : base_(event_base_new()), core_(runner_, QueueOptions{}) {}
  ~CoalescerTest() override { event_base_free(base_); }
  void run_loop() { event_base_loop(base_, EVLOOP_NONBLOCK); }

  event_base* base_;
  RecordingRunner runner_;
  QueueCore core_;
};

TEST_F(CoalescerTest, RequestsOfOneTurnBecomeOneCallInArrivalOrder) {
  Coalescer c(base_, core_, 256);
  std::vector<std::string> answered;
  std::vector<int64_t> positions, tickets;
  for (const char* u : {"a", "b", "c"})
    c.reserve("default", u, [&, u](ReserveResult r) {
      EXPECT_TRUE(r.ok()) << r.detail;
      answered.push_back(u);
      positions.push_back(r.position);
      tickets.push_back(r.ticket);
    });
  EXPECT_TRUE(runner_.calls.empty()) << "nothing is sent before the turn ends";
  run_loop();
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].script, "reserve");
  EXPECT_EQ(runner_.calls[0].users, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(answered, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(tickets, (std::vector<int64_t>{101, 102, 103}));
}

TEST_F(CoalescerTest, StatusRequestsOfOneTurnBecomeOneCall) {
  Coalescer c(base_, core_, 256);
  std::vector<int64_t> positions;
  for (const char* u : {"a", "b"})
    c.status("default", u, [&](StatusResult r) {
      EXPECT_TRUE(r.ok()) << r.detail;
      EXPECT_EQ(r.status, UserStatus::kInQueue);
      EXPECT_EQ(r.pace.now_ms, 1'700'000'000'000);
      positions.push_back(r.position);
    });
  run_loop();
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].script, "status");
  EXPECT_EQ(runner_.calls[0].users, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2}));
}

TEST_F(CoalescerTest, EventsAndOperationsAreSentSeparately) {
  Coalescer c(base_, core_, 256);
  int answers = 0;
  auto count = [&](const Outcome& r) {
    EXPECT_TRUE(r.ok()) << r.detail;
    ++answers;
  };
  c.reserve("default", "a", count);
  c.reserve("concert", "b", count);
  c.status("default", "c", count);
  c.reserve("default", "d", count);
  run_loop();
  EXPECT_EQ(answers, 4);
  ASSERT_EQ(runner_.calls.size(), 3u);
  int reserve_default = 0;
  for (const auto& call : runner_.calls) {
    if (call.script == "reserve" && call.event_key == "ticketq:{default}") {
      ++reserve_default;
      EXPECT_EQ(call.users, (std::vector<std::string>{"a", "d"}));
    }
    if (call.script == "status") {
      EXPECT_EQ(call.users, (std::vector<std::string>{"c"}));
    }
  }
  EXPECT_EQ(reserve_default, 1);
}

TEST_F(CoalescerTest, BatchesAreCappedAtMaxBatch) {
  Coalescer c(base_, core_, 2);
  int answers = 0;
  for (const char* u : {"a", "b", "c", "d", "e"}) {
    c.reserve("default", u, [&](ReserveResult r) {
      EXPECT_TRUE(r.ok());
      ++answers;
    });
  }
  run_loop();
  EXPECT_EQ(answers, 5);
  ASSERT_EQ(runner_.calls.size(), 3u);
  EXPECT_EQ(runner_.calls[0].users, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(runner_.calls[1].users, (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(runner_.calls[2].users, (std::vector<std::string>{"e"}));
}

TEST_F(CoalescerTest, BatchOfOneIsNoCoalescing) {
  Coalescer c(base_, core_, 1);
  for (const char* u : {"a", "b"}) c.reserve("default", u, [](ReserveResult) {});
  run_loop();
  EXPECT_EQ(runner_.calls.size(), 2u);
}

TEST_F(CoalescerTest, AFaultReachesEveryRequestOfTheBatchOnce) {
  runner_.fail = true;
  Coalescer c(base_, core_, 256);
  std::vector<Fault> faults;
  for (const char* u : {"a", "b", "c"}) {
    c.reserve("default", u, [&](ReserveResult r) { faults.push_back(r.fault); });
  }
  run_loop();
  EXPECT_EQ(faults, (std::vector<Fault>{Fault::kTimeout, Fault::kTimeout, Fault::kTimeout}));
}

// A reply with fewer answers than users must not shift answers onto the
// wrong requests: the queue core turns it into one fault per user, so the
// coalescer's own size check (results vs callbacks) cannot be reached from
// here; it stays as a runtime guard.
TEST_F(CoalescerTest, AShortReplyIsAFaultForEveryRequestOfTheBatch) {
  runner_.short_reply = true;
  Coalescer c(base_, core_, 256);
  std::vector<Fault> faults;
  for (const char* u : {"a", "b", "c"})
    c.reserve("default", u, [&](ReserveResult r) { faults.push_back(r.fault); });
  run_loop();
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(faults, (std::vector<Fault>{Fault::kError, Fault::kError, Fault::kError}));
}

TEST_F(CoalescerTest, RequestsQueuedByACallbackGoOutInALaterTurn) {
  Coalescer c(base_, core_, 256);
  bool second = false;
  c.reserve("default", "a", [&](ReserveResult) {
    c.reserve("default", "b", [&](ReserveResult) { second = true; });
  });
  run_loop();
  run_loop();
  EXPECT_TRUE(second);
  ASSERT_EQ(runner_.calls.size(), 2u);
  EXPECT_EQ(runner_.calls[1].users, (std::vector<std::string>{"b"}));
}

}  // namespace
}  // namespace ticketq
