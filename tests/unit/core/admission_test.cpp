// Tests of src/core/admission.cpp: the admission timer on a libevent loop,
// through a real QueueCore over a fake ScriptRunner that holds every call
// until the test answers it. The tests see what the timer asks for (the
// walk's pages, one step per event) and how it reacts to the answers:
// faults, `more`, `idle`, a Redis that is not ready, and stop().
#include "core/admission.h"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "redis_values.h"

namespace ticketq {
namespace {

// Keeps every call unanswered until the test answers it.
class HeldRunner : public ScriptRunner {
 public:
  struct Call {
    std::string script;
    std::vector<std::string> argv;
    ReplyCallback cb;
    bool answered = false;
  };

  void run(const Script& script, int, std::vector<std::string> argv, ReplyCallback cb) override {
    calls.push_back({script.name, std::move(argv), std::move(cb)});
  }
  void ping(ReplyCallback cb) override { cb(ScriptReply{}); }
  bool ready() const override { return up; }

  // The calls of `script` not answered yet, by their index in `calls`.
  std::vector<size_t> pending(const std::string& script) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < calls.size(); ++i)
      if (!calls[i].answered && calls[i].script == script) out.push_back(i);
    return out;
  }
  // The events of the tick calls not answered yet (the event's cfg key).
  std::vector<std::string> pending_ticks() const {
    std::vector<std::string> out;
    for (size_t i : pending("tick")) out.push_back(calls[i].argv[0]);
    return out;
  }
  void answer(size_t i, ScriptReply r) {
    ASSERT_LT(i, calls.size());
    ASSERT_FALSE(calls[i].answered);
    calls[i].answered = true;
    ReplyCallback cb = std::move(calls[i].cb);  // the answer may add calls
    cb(std::move(r));
  }

  bool up = true;
  std::vector<Call> calls;
};

using test::Int;
using test::Str;
ScriptReply Array(std::vector<RedisValue> e) {
  ScriptReply r;
  r.value.type = RedisValue::Type::kArray;
  r.value.elements = std::move(e);
  return r;
}
// One page of the walk: the next cursor and the events on it.
ScriptReply Page(const std::string& cursor, const std::vector<std::string>& events) {
  std::vector<RedisValue> e = {Int(0), Str(cursor)};
  for (const auto& name : events) e.push_back(Str("ticketq:{" + name + "}:cfg"));
  return Array(std::move(e));
}
// The tick script's reply: {code, admitted, expired_holds, expired_waiters, more, idle}.
ScriptReply Step(int64_t admitted = 0, bool more = false, bool idle = false) {
  return Array({Int(0), Int(admitted), Int(0), Int(0), Int(more ? 1 : 0), Int(idle ? 1 : 0)});
}
ScriptReply Failed(Fault f) {
  ScriptReply r;
  r.fault = f;
  r.detail = "test fault";
  return r;
}
std::string cfg(const std::string& event) {
  return "ticketq:{" + event + "}:cfg";
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : base_(event_base_new()), core_(runner_, QueueOptions{}) {
    saved_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::off);
    // Every loop turn is one tick; walks and idle rechecks only when a test
    // asks for them.
    options_.tick_ms = 1;
    options_.discover_ms = 3'600'000;
    options_.idle_recheck_ms = 3'600'000;
    options_.sweep_max = 250;
    options_.page = 100;
  }
  ~AdmissionTest() override {
    admission_.reset();
    event_base_free(base_);
    spdlog::set_level(saved_level_);
  }

  Admission& start() {
    admission_ = std::make_unique<Admission>(base_, core_, runner_, metrics_, options_);
    admission_->start();
    return *admission_;
  }
  // One turn of the loop: waits for the next tick (tick_ms) and runs it.
  void turn() { ASSERT_EQ(event_base_loop(base_, EVLOOP_ONCE), 0); }
  void turns(int n) {
    for (int i = 0; i < n; ++i) turn();
  }
  // Turns the loop until `done`, for at most 10 s of wall time.
  void turn_until(const std::function<bool()>& done) {
    const int64_t deadline = now_ms() + 10'000;
    while (!done() && now_ms() < deadline) turn();
    ASSERT_TRUE(done()) << "not within 10 s";
  }
  // Starts, and completes the first walk with one page of `events`.
  void start_with(const std::vector<std::string>& events) {
    start();
    turn();
    auto walk = runner_.pending("events");
    ASSERT_EQ(walk.size(), 1u);
    runner_.answer(walk[0], Page("0", events));
    ASSERT_EQ(admission_->known_events(), events.size());
  }

  event_base* base_;
  HeldRunner runner_;
  QueueCore core_;
  LoopMetrics* metrics_ = nullptr;
  AdmissionOptions options_;
  std::unique_ptr<Admission> admission_;
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
};

TEST_F(AdmissionTest, NothingIsAskedWhileRedisIsNotReady) {
  runner_.up = false;
  start();
  turns(5);
  EXPECT_TRUE(runner_.calls.empty());
  runner_.up = true;
  turn();
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].script, "events");
  EXPECT_EQ(runner_.calls[0].argv, (std::vector<std::string>{"ticketq:{*}:cfg", "0", "100"}));
}

TEST_F(AdmissionTest, TheWalkFollowsTheCursorThenStepsEveryEventFound) {
  start();
  turn();
  ASSERT_EQ(runner_.pending("events").size(), 1u);
  runner_.answer(runner_.pending("events")[0], Page("17", {"a", "b"}));
  // The next page is asked for at once, from Redis's cursor.
  auto next = runner_.pending("events");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(runner_.calls[next[0]].argv,
            (std::vector<std::string>{"ticketq:{*}:cfg", "17", "100"}));
  EXPECT_EQ(admission_->known_events(), 0u) << "events count once the walk is complete";
  EXPECT_TRUE(runner_.pending_ticks().empty());
  runner_.answer(next[0], Page("0", {"c"}));
  EXPECT_EQ(admission_->known_events(), 3u);

  turn();
  EXPECT_EQ(runner_.pending_ticks(), (std::vector<std::string>{cfg("a"), cfg("b"), cfg("c")}));
  // Each step: the event's keys, then sweep_max and the outage gap.
  const auto& argv = runner_.calls[runner_.pending("tick")[0]].argv;
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[argv.size() - 2], "250");
  EXPECT_EQ(argv.back(), std::to_string(options_.gap_ms()));
  // No second walk before discover_ms.
  EXPECT_TRUE(runner_.pending("events").empty());
}

TEST_F(AdmissionTest, OneStepPerEventInFlight) {
  start_with({"a"});
  turns(5);
  ASSERT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")});
  EXPECT_EQ(runner_.calls.size(), 2u);  // the walk and one step
  runner_.answer(runner_.pending("tick")[0], Step());
  EXPECT_TRUE(runner_.pending_ticks().empty()) << "the next step waits for the timer";
  turn();
  EXPECT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")});
}

TEST_F(AdmissionTest, AStepCutShortIsFollowedAtOnce) {
  start_with({"a"});
  turn();
  runner_.answer(runner_.pending("tick")[0], Step(250, /*more=*/true));
  EXPECT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")})
      << "without waiting for the timer";
  runner_.answer(runner_.pending("tick")[0], Step(250, /*more=*/true));
  ASSERT_EQ(runner_.pending_ticks().size(), 1u);
  // Not while Redis is not ready: the timer's next turn retries.
  runner_.up = false;
  runner_.answer(runner_.pending("tick")[0], Step(250, /*more=*/true));
  EXPECT_TRUE(runner_.pending_ticks().empty());
  turns(3);
  EXPECT_TRUE(runner_.pending_ticks().empty());
  runner_.up = true;
  turn();
  EXPECT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")});
}

TEST_F(AdmissionTest, AnIdleEventWaitsTheRecheckWhileOthersStep) {
  start_with({"idle", "busy"});
  turn();
  ASSERT_EQ(runner_.pending_ticks().size(), 2u);
  for (size_t i : runner_.pending("tick"))
    runner_.answer(i, Step(0, false, /*idle=*/runner_.calls[i].argv[0] == cfg("idle")));
  for (int i = 0; i < 5; ++i) {
    turn();
    ASSERT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("busy")});
    runner_.answer(runner_.pending("tick")[0], Step());
  }
}

TEST_F(AdmissionTest, AnIdleEventIsSteppedAgainAfterTheRecheck) {
  options_.idle_recheck_ms = 50;
  start_with({"a"});
  turn();
  const int64_t idle_at = now_ms();
  runner_.answer(runner_.pending("tick")[0], Step(0, false, /*idle=*/true));
  turn_until([&] { return !runner_.pending_ticks().empty(); });
  EXPECT_GE(now_ms() - idle_at, options_.idle_recheck_ms);
}

TEST_F(AdmissionTest, AFaultedOrNoEventStepIsRetriedOnTheNextTick) {
  start_with({"a"});
  for (ScriptReply r :
       {Failed(Fault::kTimeout), Failed(Fault::kUnavailable),
        Array({Int(-1)}) /* its settings are gone */, Array({Int(0), Int(1)}) /* malformed */}) {
    turn();
    auto pending = runner_.pending("tick");
    ASSERT_EQ(pending.size(), 1u);
    runner_.answer(pending[0], std::move(r));
    EXPECT_TRUE(runner_.pending_ticks().empty());
  }
  turn();
  EXPECT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")});
}

TEST_F(AdmissionTest, AdmittedUsersArePromotedInTheMetrics) {
  Metrics m;
  LoopMetrics loop(m, 0);
  metrics_ = &loop;
  start_with({"rush", "calm"});
  turn();
  for (size_t i : runner_.pending("tick"))
    runner_.answer(i, runner_.calls[i].argv[0] == cfg("rush") ? Step(7) : Step(0));
  turn();
  runner_.answer(runner_.pending("tick")[0], Failed(Fault::kTimeout));
  runner_.answer(runner_.pending("tick")[0], Step(5));
  const std::string text = m.render();
  EXPECT_NE(text.find("ticketq_promoted_users_total{event=\"rush\"} 12"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("ticketq_promoted_users_total{event=\"calm\"}"), std::string::npos);
}

TEST_F(AdmissionTest, AFailedWalkIsRetriedAfterTheDiscoveryPeriod) {
  options_.discover_ms = 50;
  start();
  turn();
  const int64_t failed_at = now_ms();
  runner_.answer(runner_.pending("events")[0], Failed(Fault::kTimeout));
  EXPECT_EQ(admission_->known_events(), 0u);
  turn_until([&] { return !runner_.pending("events").empty(); });
  EXPECT_GE(now_ms() - failed_at, options_.discover_ms);
  EXPECT_EQ(runner_.calls[runner_.pending("events")[0]].argv[1], "0") << "from the start";
}

// A fault halfway keeps the events of the last complete walk.
TEST_F(AdmissionTest, AWalkThatFailsHalfwayKeepsTheEventsKnown) {
  options_.discover_ms = 0;
  start_with({"a"});
  turn();  // a new walk, and a's step
  runner_.answer(runner_.pending("events")[0], Page("5", {"a", "b"}));
  runner_.answer(runner_.pending("events")[0], Failed(Fault::kTimeout));
  EXPECT_EQ(admission_->known_events(), 1u);
  runner_.answer(runner_.pending("tick")[0], Step());
  turn();
  EXPECT_EQ(runner_.pending_ticks(), std::vector<std::string>{cfg("a")});
}

TEST_F(AdmissionTest, TheWalkStopsAtMaxEvents) {
  options_.max_events = 2;
  start();
  turn();
  runner_.answer(runner_.pending("events")[0], Page("9", {"a", "b", "c"}));
  EXPECT_TRUE(runner_.pending("events").empty()) << "no page past max_events";
  EXPECT_EQ(admission_->known_events(), 2u);
  turn();
  EXPECT_EQ(runner_.pending_ticks().size(), 2u);
}

// A new walk replaces the events: new ones are stepped, gone ones are not,
// and one whose step is in flight does not get a second.
TEST_F(AdmissionTest, ANewWalkKeepsTheStepsInFlight) {
  options_.discover_ms = 0;  // a walk on every tick
  start_with({"a", "gone"});
  turn();  // the second walk, and the steps of a and gone
  ASSERT_EQ(runner_.pending_ticks(), (std::vector<std::string>{cfg("a"), cfg("gone")}));
  runner_.answer(runner_.pending("events")[0], Page("0", {"a", "new"}));
  EXPECT_EQ(admission_->known_events(), 2u);
  // gone's step answers after the walk dropped it: nothing follows.
  runner_.answer(runner_.pending("tick")[1], Step(0, /*more=*/true));
  turn();
  EXPECT_EQ(runner_.pending_ticks(), (std::vector<std::string>{cfg("a"), cfg("new")}));
  const size_t steps_of_a = [&] {
    size_t n = 0;
    for (const auto& c : runner_.calls) n += c.script == "tick" && c.argv[0] == cfg("a");
    return n;
  }();
  EXPECT_EQ(steps_of_a, 1u);
}

TEST_F(AdmissionTest, AfterStopNothingRunsAndAnswersChangeNothing) {
  start_with({"a"});
  turn();
  ASSERT_EQ(runner_.pending_ticks().size(), 1u);
  options_.discover_ms = 0;
  admission_->stop();
  // The timer is gone: the loop has nothing left to wait for.
  EXPECT_EQ(event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NONBLOCK), 1);
  runner_.answer(runner_.pending("tick")[0], Step(3, /*more=*/true));
  EXPECT_TRUE(runner_.pending_ticks().empty()) << "no step after stop";
  EXPECT_EQ(runner_.calls.size(), 2u);
}

TEST_F(AdmissionTest, AWalkAnsweredAfterStopIsNotTaken) {
  start();
  turn();
  admission_->stop();
  runner_.answer(runner_.pending("events")[0], Page("3", {"a"}));
  EXPECT_TRUE(runner_.pending("events").empty()) << "no next page";
  EXPECT_EQ(admission_->known_events(), 0u);
}

}  // namespace
}  // namespace ticketq
