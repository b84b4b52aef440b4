// Tests of src/core/queue_core.cpp against a fake ScriptRunner: the keys and
// arguments each operation sends, and how every reply (good, faulted or
// malformed) becomes a result, always through exactly one callback.
#include "core/queue_core.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/scripts.h"
#include "redis_values.h"

namespace ticketq {
namespace {

// ------------------------------------------------------------------- fake --

class FakeScriptRunner : public ScriptRunner {
 public:
  struct Call {
    std::string script;  // Script::name
    std::string sha1;
    int numkeys;
    std::vector<std::string> argv;
  };

  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override {
    calls.push_back({script.name, script.sha1, numkeys, argv});
    ScriptReply copy = reply;
    cb(std::move(copy));
  }
  void ping(ReplyCallback cb) override {
    ++pings;
    cb(ScriptReply{});
  }
  bool ready() const override { return true; }

  ScriptReply reply;  // what every call answers, synchronously
  std::vector<Call> calls;
  int pings = 0;
};

using test::Arr;
using test::Int;
using test::Str;
RedisValue Nil() {
  return RedisValue{};
}
ScriptReply Reply(RedisValue v) {
  ScriptReply r;
  r.value = std::move(v);
  return r;
}
ScriptReply FaultReply(Fault f, std::string detail) {
  ScriptReply r;
  r.fault = f;
  r.detail = std::move(detail);
  return r;
}

std::vector<std::string> keys_of(const std::string& prefix, const std::string& event) {
  std::string b = prefix + ":{" + event + "}:";
  return {b + "cfg",   b + "reserved", b + "queued", b + "stats",
          b + "seats", b + "holds",    b + "seen"};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A patch of the sizes only; of the state only.
EventPatch Sizes(std::optional<int64_t> capacity, std::optional<int64_t> queue_limit) {
  EventPatch p;
  p.capacity = capacity;
  p.queue_limit = queue_limit;
  return p;
}
EventPatch State(EventState state) {
  EventPatch p;
  p.state = state;
  return p;
}

// Replies of the right shape, for tests that are not about the reply.
RedisValue ReserveReply(int64_t code, int64_t pos = 0, int64_t ticket = 0) {
  return Arr({Int(0), Int(code), Int(pos), Int(ticket)});
}
// {0, now_ms, admitted_last_minute, span_ms, paused, waiter_ttl_s}
// {0, now, admitted, span, paused, waiter_ttl_s, state (0 open, 1 paused, 2 closed)}
std::vector<RedisValue> StatusHeader(int64_t now = 1000, int64_t admitted = 0, int64_t span = 0,
                                     int64_t paused = 0, int64_t ttl = 0, int64_t state = 0) {
  return {Int(0), Int(now), Int(admitted), Int(span), Int(paused), Int(ttl), Int(state)};
}
RedisValue StatusReply(int64_t code, int64_t pos = 0, int64_t ticket = 0, int64_t hold_end = 0,
                       int64_t used = 0) {
  auto e = StatusHeader();
  for (int64_t v : {code, pos, ticket, hold_end, used}) e.push_back(Int(v));
  return Arr(std::move(e));
}
// put's ARGV: the two shared ones, then each setting of kEventSettings, ""
// but those given.
std::vector<std::string> PutArgs(std::map<std::string_view, std::string> given,
                                 std::vector<std::string> shared = {"", ""}) {
  for (const EventSetting& s : kEventSettings) shared.push_back(given[s.name]);
  return shared;
}

// A kOk reply of the script of contract `c` with the fields given by name;
// a field not given is 0 (and must be an integer).
RedisValue ReplyOf(const ScriptContract& c, const std::map<std::string_view, RedisValue>& given) {
  std::vector<RedisValue> e = {Int(0)};
  for (const ScriptField& f : c.reply) {
    auto it = given.find(f.name);
    EXPECT_TRUE(it != given.end() || f.type == ScriptWire::kInt) << f.name;
    e.push_back(it != given.end() ? it->second : Int(0));
  }
  return Arr(std::move(e));
}
RedisValue PutReply(int64_t created, int64_t cap, int64_t limit, int64_t hold = 0, int64_t ttl = 0,
                    std::string state = "open", std::string rate = "manual") {
  return ReplyOf(contract::put, {{"created", Int(created)},
                                 {"capacity", Int(cap)},
                                 {"queue_limit", Int(limit)},
                                 {"state", Str(std::move(state))},
                                 {"admit_rate", Str(std::move(rate))},
                                 {"hold_s", Int(hold)},
                                 {"waiter_ttl_s", Int(ttl)}});
}
// The reply of get with `ints` = {0, capacity, queue_limit, the ten
// counts, hold_s, waiter_ttl_s}, state and admit_rate.
RedisValue GetReply(std::vector<int64_t> ints, std::string state = "open",
                    std::string rate = "manual") {
  const char* names[] = {"capacity",      "queue_limit",     "reserved",
                         "waiting",       "promoted",        "left",
                         "holding",       "confirmed",       "admitted_last_minute",
                         "expired_holds", "expired_waiters", "cancelled",
                         "hold_s",        "waiter_ttl_s"};
  std::map<std::string_view, RedisValue> given = {{"state", Str(std::move(state))},
                                                  {"admit_rate", Str(std::move(rate))}};
  for (size_t i = 0; i < std::size(names); ++i) given[names[i]] = Int(ints[1 + i]);
  return ReplyOf(contract::get, given);
}

class QueueCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Malformed replies are logged; keep the test output readable.
    saved_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::off);
  }
  void TearDown() override { spdlog::set_level(saved_level_); }

  // Runs one operation and returns its single result.
  template <typename Result, typename Op>
  Result call(Op op) {
    int calls = 0;
    Result out;
    op([&](Result r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_EQ(calls, 1) << "callback must run exactly once";
    return out;
  }

  ReserveResult reserve(const std::string& event, const std::string& user) {
    return call<ReserveResult>([&](auto cb) { core.reserve(event, user, cb); });
  }
  StatusResult status(const std::string& event, const std::string& user) {
    return call<StatusResult>([&](auto cb) { core.status(event, user, cb); });
  }
  PromoteResult promote(const std::string& event, int64_t limit) {
    return call<PromoteResult>([&](auto cb) { core.promote(event, limit, cb); });
  }
  ResetResult reset(const std::string& event) {
    return call<ResetResult>([&](auto cb) { core.reset(event, cb); });
  }
  PutEventResult put_event(const std::string& event, EventPatch p) {
    return call<PutEventResult>([&](auto cb) { core.put_event(event, p, cb); });
  }
  EventInfo get_event(const std::string& event) {
    return call<EventInfo>([&](auto cb) { core.get_event(event, cb); });
  }
  HistoryResult history(const std::string& event) {
    return call<HistoryResult>([&](auto cb) { core.history(event, cb); });
  }
  LeaveResult leave(const std::string& event, const std::string& user,
                    std::optional<int64_t> ticket = std::nullopt) {
    return call<LeaveResult>([&](auto cb) { core.leave(event, user, ticket, cb); });
  }
  SeatResult cancel(const std::string& event, const std::string& user,
                    std::optional<int64_t> ticket = std::nullopt) {
    return call<SeatResult>([&](auto cb) { core.cancel(event, user, ticket, cb); });
  }
  SeatResult confirm(const std::string& event, const std::string& user,
                     std::optional<int64_t> ticket = std::nullopt) {
    return call<SeatResult>([&](auto cb) { core.confirm(event, user, ticket, cb); });
  }
  SeatResult verify(const std::string& event, const std::string& user, int64_t ticket,
                    bool consume) {
    return call<SeatResult>([&](auto cb) { core.verify(event, user, ticket, consume, cb); });
  }
  TickResult tick(const std::string& event, int64_t sweep_max, int64_t gap_ms = 5000) {
    return call<TickResult>([&](auto cb) { core.tick(event, sweep_max, gap_ms, cb); });
  }
  EventsPage list_events(const std::string& cursor, int64_t count) {
    return call<EventsPage>([&](auto cb) { core.list_events(cursor, count, cb); });
  }
  std::vector<ReserveResult> reserve_many(const std::string& event,
                                          std::vector<std::string> users) {
    return call<std::vector<ReserveResult>>([&](auto cb) { core.reserve_many(event, users, cb); });
  }
  std::vector<StatusResult> status_many(const std::string& event, std::vector<std::string> users) {
    return call<std::vector<StatusResult>>([&](auto cb) { core.status_many(event, users, cb); });
  }

  // Every operation once (leave and cancel both with a ticket and as an
  // operator), returning the Outcome part of its result.
  std::vector<Outcome> every_operation(const std::string& event) {
    std::vector<Outcome> out;
    out.push_back(reserve(event, "u1"));
    out.push_back(status(event, "u1"));
    out.push_back(promote(event, 10));
    out.push_back(reset(event));
    out.push_back(put_event(event, Sizes(5, 6)));
    out.push_back(get_event(event));
    out.push_back(leave(event, "u1"));
    out.push_back(leave(event, "u1", 3));
    out.push_back(cancel(event, "u1"));
    out.push_back(cancel(event, "u1", 3));
    out.push_back(confirm(event, "u1", 3));
    out.push_back(verify(event, "u1", 3, true));
    out.push_back(tick(event, 100));
    out.push_back(list_events("0", 50));
    out.push_back(history(event));
    for (const auto& r : reserve_many(event, {"u1", "u2"})) out.push_back(r);
    for (const auto& r : status_many(event, {"u1", "u2"})) out.push_back(r);
    return out;
  }
  static constexpr size_t kEveryOperationResults = 19;

  // Runs `call` once with each reply of `bad`: every one is a malformed
  // reply (Fault::kError, with a detail). Returns the results.
  template <typename Call>
  auto expect_malformed(const std::vector<RedisValue>& bad, Call call) {
    std::vector<decltype(call())> out;
    for (size_t i = 0; i < bad.size(); ++i) {
      SCOPED_TRACE(i);
      runner.reply = Reply(bad[i]);
      out.push_back(call());
      EXPECT_EQ(out.back().fault, Fault::kError);
      EXPECT_NE(out.back().detail, "");
    }
    return out;
  }

  FakeScriptRunner runner;
  QueueCore core{runner, QueueOptions{}};
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
};

// ------------------------------------------------------------- keys, argv --

TEST_F(QueueCoreTest, KeysLayout) {
  EXPECT_EQ(core.keys("concert"),
            (std::vector<std::string>{"ticketq:{concert}:cfg", "ticketq:{concert}:reserved",
                                      "ticketq:{concert}:queued", "ticketq:{concert}:stats",
                                      "ticketq:{concert}:seats", "ticketq:{concert}:holds",
                                      "ticketq:{concert}:seen"}));
  EXPECT_EQ(core.keys("concert").size(), static_cast<size_t>(kScriptKeyCount));
  EXPECT_EQ(kScriptKeyCount, 7);
  // The names come from scripts.h, in its order.
  for (size_t i = 0; i < kEventKeys.size(); ++i)
    EXPECT_EQ(core.keys("e")[i], std::string("ticketq:{e}:") + kEventKeys[i]);
}

TEST_F(QueueCoreTest, KeysWithCustomPrefix) {
  QueueOptions o;
  o.key_prefix = "tq-test";
  QueueCore custom(runner, o);
  EXPECT_EQ(custom.keys("e1"), keys_of("tq-test", "e1"));
  EXPECT_EQ(custom.keys("e1")[1], "tq-test:{e1}:reserved");
  EXPECT_EQ(custom.keys("e1")[6], "tq-test:{e1}:seen");
}

TEST_F(QueueCoreTest, DefaultEventPassesFallbackSettings) {
  QueueOptions o;
  o.default_settings = {7, 9};
  QueueCore c(runner, o);
  runner.reply = Reply(ReserveReply(1, 0, 1));
  c.reserve("default", "u1", [](ReserveResult) {});
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "reserve");
  EXPECT_EQ(runner.calls[0].numkeys, 7);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "default"), {"7", "9", "u1"}));
}

TEST_F(QueueCoreTest, BuiltInDefaultSettingsAre500And500) {
  runner.reply = Reply(ReserveReply(1, 0, 1));
  reserve("default", "u1");
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "default"), {"500", "500", "u1"}));
}

TEST_F(QueueCoreTest, OtherEventsPassEmptyFallback) {
  runner.reply = Reply(ReserveReply(1, 0, 1));
  reserve("concert", "u1");
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "concert"), {"", "", "u1"}));
}

TEST_F(QueueCoreTest, CustomDefaultEventName) {
  QueueOptions o;
  o.default_event = "main";
  o.default_settings = {1, 2};
  QueueCore c(runner, o);
  runner.reply = Reply(Arr({Int(0)}));
  c.reset("main", [](ResetResult) {});
  c.reset("default", [](ResetResult) {});
  ASSERT_EQ(runner.calls.size(), 2u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "main"), {"1", "2"}));
  EXPECT_EQ(runner.calls[1].argv, concat(keys_of("ticketq", "default"), {"", ""}));
}

TEST_F(QueueCoreTest, EachOperationRunsItsScriptWithItsArguments) {
  runner.reply = FaultReply(Fault::kUnavailable, "down");  // the reply does not matter here
  EXPECT_EQ(every_operation("e").size(), kEveryOperationResults);
  const auto k = keys_of("ticketq", "e");
  const Scripts& s = scripts();
  struct Want {
    const Script* script;
    std::vector<std::string> extra;
  };
  std::vector<Want> want = {
      {&s.reserve, {"", "", "u1"}},
      {&s.status, {"", "", "u1"}},
      {&s.promote, {"", "", "10"}},
      {&s.reset, {"", ""}},
      {&s.put, PutArgs({{"capacity", "5"}, {"queue_limit", "6"}})},
      {&s.get, {"", ""}},
      {&s.leave, {"", "", "u1", ""}},
      {&s.leave, {"", "", "u1", "3"}},
      {&s.cancel, {"", "", "u1", "", "1"}},
      {&s.cancel, {"", "", "u1", "3", ""}},
      {&s.confirm, {"", "", "u1", "3"}},
      {&s.verify, {"", "", "u1", "3", "1"}},
      {&s.tick, {"", "", "100", "5000"}},
      {&s.events, {}},  // keyless: checked below
      {&s.history, {"", ""}},
      {&s.reserve, {"", "", "u1", "u2"}},
      {&s.status, {"", "", "u1", "u2"}},
  };
  ASSERT_EQ(runner.calls.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(runner.calls[i].script, want[i].script->name);
    EXPECT_EQ(runner.calls[i].sha1, want[i].script->sha1);
    if (want[i].script == &s.events) {
      EXPECT_EQ(runner.calls[i].numkeys, 0);
      EXPECT_EQ(runner.calls[i].argv, (std::vector<std::string>{"ticketq:{*}:cfg", "0", "50"}));
      continue;
    }
    EXPECT_EQ(runner.calls[i].numkeys, kScriptKeyCount);
    EXPECT_EQ(runner.calls[i].argv, concat(k, want[i].extra));
  }
  // Every script is run by some operation.
  std::set<std::string> used;
  for (const auto& c : runner.calls) used.insert(c.script);
  for (const Script* sc : s.all()) EXPECT_EQ(used.count(sc->name), 1u) << sc->name;
}

// ----------------------------------------------------------------- reserve --

TEST_F(QueueCoreTest, ReserveMapsCodesPositionsAndTickets) {
  struct Row {
    int64_t code, pos, ticket;
    ReserveStatus status;
  };
  for (Row row :
       {Row{1, 0, 11, ReserveStatus::kReserved}, Row{2, 17, 12, ReserveStatus::kQueued},
        Row{3, 0, 0, ReserveStatus::kAlreadyReserved}, Row{4, 5, 0, ReserveStatus::kAlreadyInQueue},
        Row{5, 0, 0, ReserveStatus::kSoldOut}, Row{6, 0, 0, ReserveStatus::kClosed}}) {
    SCOPED_TRACE(row.code);
    runner.reply = Reply(ReserveReply(row.code, row.pos, row.ticket));
    ReserveResult r = reserve("e", "u");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.fault, Fault::kNone);
    EXPECT_FALSE(r.no_event);
    EXPECT_EQ(r.status, row.status);
    EXPECT_EQ(r.position, row.pos);
    EXPECT_EQ(r.ticket, row.ticket);
  }
  // Tickets only grow, and far: they are read as 64-bit integers.
  runner.reply = Reply(ReserveReply(2, 1, INT64_C(9007199254740993)));
  EXPECT_EQ(reserve("e", "u").ticket, INT64_C(9007199254740993));
}

TEST_F(QueueCoreTest, ReserveUnknownCodeIsAnError) {
  for (int64_t code : {0, 7, 9, -5}) {
    SCOPED_TRACE(code);
    runner.reply = Reply(ReserveReply(code));
    ReserveResult r = reserve("e", "u");
    EXPECT_EQ(r.fault, Fault::kError);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.detail, "");
  }
}

TEST_F(QueueCoreTest, ReserveManyKeepsOrder) {
  runner.reply =
      Reply(Arr({Int(0), Int(1), Int(0), Int(4), Int(2), Int(1), Int(5), Int(3), Int(0), Int(0)}));
  auto rs = reserve_many("e", {"a", "b", "a"});
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].status, ReserveStatus::kReserved);
  EXPECT_EQ(rs[0].ticket, 4);
  EXPECT_EQ(rs[1].status, ReserveStatus::kQueued);
  EXPECT_EQ(rs[1].position, 1);
  EXPECT_EQ(rs[1].ticket, 5);
  EXPECT_EQ(rs[2].status, ReserveStatus::kAlreadyReserved);
  EXPECT_EQ(rs[2].ticket, 0);
  for (const auto& r : rs) EXPECT_TRUE(r.ok());
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "a", "b", "a"}));
}

TEST_F(QueueCoreTest, ReserveManyOneBadCodeFailsTheWholeBatch) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0), Int(1), Int(9), Int(0), Int(0)}));
  auto rs = reserve_many("e", {"a", "b"});
  ASSERT_EQ(rs.size(), 2u);
  for (const auto& r : rs) EXPECT_EQ(r.fault, Fault::kError);
}

TEST_F(QueueCoreTest, ReserveManyReplyOfAnotherLengthIsAnError) {
  // The second ticket missing; the old three-element layout; one too many.
  for (RedisValue v : {Arr({Int(0), Int(1), Int(0), Int(1), Int(2), Int(1)}),
                       Arr({Int(0), Int(1), Int(0), Int(2), Int(1)}),
                       Arr({Int(0), Int(1), Int(0), Int(1), Int(2), Int(1), Int(2), Int(0)})}) {
    runner.reply = Reply(v);
    auto rs = reserve_many("e", {"a", "b"});
    ASSERT_EQ(rs.size(), 2u);
    for (const auto& r : rs) EXPECT_EQ(r.fault, Fault::kError);
  }
}

// ------------------------------------------------------------------ status --

TEST_F(QueueCoreTest, StatusMapsCodes) {
  struct Row {
    int64_t code, pos;
    UserStatus status;
  };
  for (Row row : {Row{0, 0, UserStatus::kNotFound}, Row{1, 0, UserStatus::kReserved},
                  Row{2, 42, UserStatus::kInQueue}}) {
    SCOPED_TRACE(row.code);
    runner.reply = Reply(StatusReply(row.code, row.pos));
    StatusResult r = status("e", "u");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.status, row.status);
    EXPECT_EQ(r.position, row.pos);
  }
}

TEST_F(QueueCoreTest, StatusReadsThePaceOfTheLine) {
  auto e = StatusHeader(1'700'000'123'456, 37, 25'000, 0, 120);
  for (int64_t v : {2, 9, 14, 0, 0}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  StatusResult r = status("e", "u");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.status, UserStatus::kInQueue);
  EXPECT_EQ(r.position, 9);
  EXPECT_EQ(r.ticket, 14);
  EXPECT_EQ(r.pace.now_ms, 1'700'000'123'456);
  EXPECT_EQ(r.pace.admitted_last_minute, 37);
  EXPECT_EQ(r.pace.span_ms, 25'000);
  EXPECT_FALSE(r.pace.paused);
  EXPECT_EQ(r.pace.waiter_ttl_s, 120);

  EXPECT_EQ(r.pace.state, EventState::kOpen);

  e = StatusHeader(5, 0, 0, 1, 0, 1);
  for (int64_t v : {2, 1, 3, 0, 0}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  r = status("e", "u");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.pace.paused);
  EXPECT_EQ(r.pace.waiter_ttl_s, 0);
  EXPECT_EQ(r.pace.state, EventState::kPaused);

  e = StatusHeader(5, 0, 0, 1, 0, 2);
  for (int64_t v : {2, 1, 3, 0, 0}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  EXPECT_EQ(status("e", "u").pace.state, EventState::kClosed);

  e = StatusHeader(5, 0, 0, 1, 0, 3);  // no such state
  for (int64_t v : {2, 1, 3, 0, 0}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
}

// hold_end: ms when the hold ends, -1 it never ends, -2 the seat is sold.
TEST_F(QueueCoreTest, StatusReadsTheSeat) {
  struct Row {
    int64_t ticket, hold_end, used;
    bool confirmed;
    int64_t hold_ends_ms;
    bool is_used;
  };
  for (Row row : {Row{7, 1'700'000'060'000, 0, false, 1'700'000'060'000, false},
                  Row{7, -1, 0, false, 0, false}, Row{7, -2, 0, true, 0, false},
                  Row{7, -2, 1, true, 0, true}, Row{0, -2, 0, true, 0, false},
                  Row{8, 1'700'000'060'000, 1, false, 1'700'000'060'000, true}}) {
    SCOPED_TRACE(row.hold_end);
    runner.reply = Reply(StatusReply(1, 0, row.ticket, row.hold_end, row.used));
    StatusResult r = status("e", "u");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.status, UserStatus::kReserved);
    EXPECT_EQ(r.ticket, row.ticket);
    EXPECT_EQ(r.confirmed, row.confirmed);
    EXPECT_EQ(r.hold_ends_ms, row.hold_ends_ms);
    EXPECT_EQ(r.used, row.is_used);
  }
}

// An unknown status code must not reach the front end, whose switch has no
// case for it (the request would never be answered).
TEST_F(QueueCoreTest, StatusUnknownCodeIsAnError) {
  for (int64_t code : {3, 9, -2}) {
    SCOPED_TRACE(code);
    runner.reply = Reply(StatusReply(code));
    StatusResult r = status("e", "u");
    EXPECT_EQ(r.fault, Fault::kError);
  }
}

TEST_F(QueueCoreTest, StatusManyKeepsOrderAndSharesThePace) {
  auto e = StatusHeader(99, 4, 5000, 0, 30);
  for (int64_t v : {2, 4, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, -2, 1}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  auto rs = status_many("e", {"a", "b", "c"});
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].status, UserStatus::kInQueue);
  EXPECT_EQ(rs[0].position, 4);
  EXPECT_EQ(rs[0].ticket, 20);
  EXPECT_EQ(rs[1].status, UserStatus::kNotFound);
  EXPECT_EQ(rs[2].status, UserStatus::kReserved);
  EXPECT_EQ(rs[2].ticket, 3);
  EXPECT_TRUE(rs[2].confirmed);
  EXPECT_TRUE(rs[2].used);
  for (const auto& r : rs) {
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.pace.now_ms, 99);
    EXPECT_EQ(r.pace.admitted_last_minute, 4);
    EXPECT_EQ(r.pace.span_ms, 5000);
    EXPECT_EQ(r.pace.waiter_ttl_s, 30);
  }
}

TEST_F(QueueCoreTest, StatusReplyOfAnotherLengthIsAnError) {
  // No header (the old layout); a header without waiter_ttl_s; a user's
  // fields cut short; one element too many.
  std::vector<RedisValue> bad = {Arr({Int(0), Int(2), Int(4)})};
  auto e = StatusHeader();
  e.pop_back();
  for (int64_t v : {2, 4, 1, 0, 0}) e.push_back(Int(v));
  bad.push_back(Arr(e));
  e = StatusHeader();
  for (int64_t v : {2, 4, 1, 0}) e.push_back(Int(v));
  bad.push_back(Arr(e));
  e.push_back(Int(0));
  e.push_back(Int(0));
  bad.push_back(Arr(e));
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(i);
    runner.reply = Reply(bad[i]);
    EXPECT_EQ(status("e", "u").fault, Fault::kError);
  }
}

// ----------------------------------------------------------------- promote --

TEST_F(QueueCoreTest, PromoteParsesRemainingAndUsersInOrder) {
  runner.reply = Reply(Arr({Int(0), Int(3), Str("u7"), Str("u2"), Str("u9")}));
  PromoteResult r = promote("e", 3);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining, 3);
  EXPECT_EQ(r.promoted, (std::vector<std::string>{"u7", "u2", "u9"}));
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "promote");
  EXPECT_EQ(runner.calls[0].argv.back(), "3");
}

TEST_F(QueueCoreTest, PromoteNobody) {
  runner.reply = Reply(Arr({Int(0), Int(0)}));
  PromoteResult r = promote("e", 1000);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining, 0);
  EXPECT_TRUE(r.promoted.empty());
  EXPECT_EQ(runner.calls[0].argv.back(), "1000");
}

// ------------------------------------------------------------------- reset --

TEST_F(QueueCoreTest, Reset) {
  runner.reply = Reply(Arr({Int(0)}));
  ResetResult r = reset("e");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(runner.calls[0].script, "reset");
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", ""}));
}

// --------------------------------------------------------------- put_event --

TEST_F(QueueCoreTest, PutEventCreatedOrUpdated) {
  runner.reply = Reply(PutReply(1, 100, 50));
  PutEventResult r = put_event("e", Sizes(100, 50));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.created);
  EXPECT_FALSE(r.below_reserved);
  EXPECT_EQ(r.settings.capacity, 100);
  EXPECT_EQ(r.settings.queue_limit, 50);
  EXPECT_EQ(r.state, EventState::kOpen);
  EXPECT_EQ(r.admission.admit_rate, std::nullopt);
  EXPECT_EQ(r.admission.hold_s, 0);
  EXPECT_EQ(r.admission.waiter_ttl_s, 0);
  EXPECT_EQ(runner.calls[0].argv,
            concat(keys_of("ticketq", "e"), PutArgs({{"capacity", "100"}, {"queue_limit", "50"}})));

  // Any subset: what is left out is sent as "", kept by the script.
  runner.reply = Reply(PutReply(0, 100, 50, 0, 0, "paused"));
  r = put_event("e", State(EventState::kPaused));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.state, EventState::kPaused);
  EXPECT_EQ(runner.calls[1].argv, concat(keys_of("ticketq", "e"), PutArgs({{"state", "paused"}})));
}

TEST_F(QueueCoreTest, PutEventSendsAndReadsTheAdmissionSettings) {
  EventPatch p;
  p.admit_rate = std::optional<double>(2.5);
  p.hold_s = 300;
  p.waiter_ttl_s = 60;
  runner.reply = Reply(PutReply(0, 10, 20, 300, 60, "open", "2.5"));
  PutEventResult r = put_event("e", p);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.admission.admit_rate, std::optional<double>(2.5));
  EXPECT_EQ(r.admission.hold_s, 300);
  EXPECT_EQ(r.admission.waiter_ttl_s, 60);
  EXPECT_EQ(r.settings.capacity, 10);
  EXPECT_EQ(r.settings.queue_limit, 20);
  EXPECT_EQ(runner.calls[0].argv,
            concat(keys_of("ticketq", "e"),
                   PutArgs({{"admit_rate", "2.5"}, {"hold_s", "300"}, {"waiter_ttl_s", "60"}})));

  // "manual" is set as a word; 0 (paused) and zero durations as numbers.
  EventPatch manual;
  manual.admit_rate = std::optional<double>();
  manual.hold_s = 0;
  runner.reply = Reply(PutReply(0, 10, 20));
  r = put_event("e", manual);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.admission.admit_rate, std::nullopt);
  EXPECT_EQ(runner.calls[1].argv,
            concat(keys_of("ticketq", "e"), PutArgs({{"admit_rate", "manual"}, {"hold_s", "0"}})));
  EventPatch zero;
  zero.admit_rate = std::optional<double>(0);
  zero.waiter_ttl_s = kMaxDurationS;
  runner.reply = Reply(PutReply(0, 10, 20, 0, kMaxDurationS, "open", "0"));
  r = put_event("e", zero);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.admission.admit_rate, std::optional<double>(0));
  EXPECT_EQ(r.admission.waiter_ttl_s, kMaxDurationS);
  EXPECT_EQ(runner.calls[2].argv,
            concat(keys_of("ticketq", "e"),
                   PutArgs({{"admit_rate", "0"}, {"waiter_ttl_s", "31536000"}})));
}

TEST_F(QueueCoreTest, PutEventOnDefaultPassesFallbackThenNewSettings) {
  runner.reply = Reply(PutReply(0, 1099511627776, 0));
  put_event("default", Sizes(1099511627776, 0));
  EXPECT_EQ(runner.calls[0].argv,
            concat(keys_of("ticketq", "default"),
                   PutArgs({{"capacity", "1099511627776"}, {"queue_limit", "0"}}, {"500", "500"})));
}

TEST_F(QueueCoreTest, PutEventRefusals) {
  runner.reply = Reply(Arr({Int(-2), Int(12)}));
  PutEventResult r = put_event("e", Sizes(3, 50));
  EXPECT_TRUE(r.below_reserved);
  EXPECT_EQ(r.reserved, 12);
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.fault, Fault::kNone);
  runner.reply = Reply(Arr({Int(code::kNeedsSize)}));
  r = put_event("e", Sizes(std::nullopt, 5));
  EXPECT_TRUE(r.needs_size);
  EXPECT_EQ(r.fault, Fault::kNone);
}

TEST_F(QueueCoreTest, PutEventMalformedReplies) {
  for (RedisValue v : {
           Arr({Int(-2)}),
           Arr({Int(-2), Int(1), Int(2)}),
           Arr({Int(-2), Str("1")}),
           Arr({Int(-4), Int(1)}),
           Arr({Int(0)}),
           Arr({Int(7), Int(1)}),
           // The old five-element layout.
           Arr({Int(0), Int(1), Int(2), Int(3), Str("open")}),
           PutReply(1, 2, 3, 0, 0, "ajar"),             // no such state
           PutReply(1, 2, 3, 0, 0, "open", "fast"),     // no such rate
           PutReply(1, 2, 3, 0, 0, "open", "-1"),       // a negative rate
           PutReply(1, 2, 3, 0, 0, "open", "2000000"),  // above the bound
           PutReply(1, 2, 3, 0, 0, "open", ""),
           Arr({Int(0), Int(1), Int(2), Int(3), Int(0), Int(0), Int(4), Str("manual")}),
           Arr({Int(0), Int(1), Int(2), Int(3), Int(0), Str("0"), Str("open"), Str("manual")}),
           Arr({Int(0), Int(1), Int(2), Int(3), Int(0), Int(0), Str("open")}),
       }) {
    runner.reply = Reply(v);
    PutEventResult r = put_event("e", Sizes(3, 50));
    EXPECT_FALSE(r.below_reserved);
    EXPECT_FALSE(r.needs_size);
    EXPECT_EQ(r.fault, Fault::kError);
    EXPECT_NE(r.detail, "");
  }
}

// ------------------------------------------------------------ event state --

TEST_F(QueueCoreTest, PromoteRefusedWhileNotOpen) {
  runner.reply = Reply(Arr({Int(code::kNotOpen), Str("paused")}));
  PromoteResult r = promote("e", 5);
  EXPECT_TRUE(r.not_open);
  EXPECT_EQ(r.state, EventState::kPaused);
  EXPECT_EQ(r.fault, Fault::kNone);
  runner.reply = Reply(Arr({Int(code::kNotOpen), Str("shut")}));
  EXPECT_EQ(promote("e", 5).fault, Fault::kError);
}

TEST_F(QueueCoreTest, ReserveClosed) {
  runner.reply = Reply(ReserveReply(code::kClosed));
  EXPECT_EQ(reserve("e", "u").status, ReserveStatus::kClosed);
}

// --------------------------------------------------------------- get_event --

TEST_F(QueueCoreTest, GetEventFields) {
  runner.reply =
      Reply(GetReply({0, 100, 50, 30, 7, 4, 2, 12, 18, 9, 3, 5, 6, 600, 90}, "closed", "0.25"));
  EventInfo r = get_event("e");
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.settings.capacity, 100);
  EXPECT_EQ(r.settings.queue_limit, 50);
  EXPECT_EQ(r.reserved, 30);
  EXPECT_EQ(r.waiting, 7);
  EXPECT_EQ(r.promoted, 4);
  EXPECT_EQ(r.left, 2);
  EXPECT_EQ(r.holding, 12);
  EXPECT_EQ(r.confirmed, 18);
  EXPECT_EQ(r.admitted_last_minute, 9);
  EXPECT_EQ(r.expired_holds, 3);
  EXPECT_EQ(r.expired_waiters, 5);
  EXPECT_EQ(r.cancelled, 6);
  EXPECT_EQ(r.admission.hold_s, 600);
  EXPECT_EQ(r.admission.waiter_ttl_s, 90);
  EXPECT_EQ(r.state, EventState::kClosed);
  EXPECT_EQ(r.admission.admit_rate, std::optional<double>(0.25));
  EXPECT_EQ(runner.calls[0].script, "get");
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", ""}));

  runner.reply = Reply(GetReply({0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  r = get_event("e");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state, EventState::kOpen);
  EXPECT_EQ(r.admission.admit_rate, std::nullopt);
}

TEST_F(QueueCoreTest, GetEventMalformedReplies) {
  std::vector<int64_t> ints = {0, 100, 50, 30, 7, 4, 2, 12, 18, 9, 3, 5, 6, 600, 90};
  // The old eight-element layout.
  std::vector<RedisValue> bad = {
      Arr({Int(0), Int(100), Int(50), Int(30), Int(7), Int(4), Int(2), Str("closed")}),
      GetReply(ints, "ajar"), GetReply(ints, "open", "soon"), GetReply(ints, "open", "-0.5")};
  auto e = GetReply(ints).elements;
  e.pop_back();  // no waiter_ttl_s
  bad.push_back(Arr(e));
  e = GetReply(ints).elements;
  e[reply_at(contract::get, "waiter_ttl_s")] = Str("90");  // as text
  bad.push_back(Arr(e));
  e = GetReply(ints).elements;
  e[reply_at(contract::get, "admit_rate")] = Int(1);  // as a number
  bad.push_back(Arr(e));
  expect_malformed(bad, [&] { return get_event("e"); });
}

// ----------------------------------------------------------------- history --

TEST_F(QueueCoreTest, HistoryReadsTheClockAndTheSamples) {
  runner.reply =
      Reply(Arr({Int(0), Int(5000), Int(1000), Int(3), Int(1), Int(2000), Int(2), Int(0)}));
  HistoryResult r = history("e");
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.now_ms, 5000);
  EXPECT_EQ(r.samples, (std::vector<HistoryPoint>{{1000, 3, 1}, {2000, 2, 0}}));
  runner.reply = Reply(Arr({Int(0), Int(5000)}));  // nothing stored
  r = history("e");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.samples.empty());
}

TEST_F(QueueCoreTest, HistoryMalformedReplies) {
  std::vector<RedisValue> too_many = {Int(0), Int(5000)};
  for (int i = 0; i <= kHistorySlots; ++i) {
    too_many.push_back(Int(i));
    too_many.push_back(Int(0));
    too_many.push_back(Int(0));
  }
  std::vector<RedisValue> bad = {
      Arr({Int(0)}),                                          // no clock
      Arr({Int(0), Int(5000), Int(1000), Int(3)}),            // a sample cut short
      Arr({Int(0), Int(5000), Int(1000), Int(3), Str("1")}),  // a count as text
      Arr(too_many),                                          // more samples than the ring holds
  };
  for (const HistoryResult& r : expect_malformed(bad, [&] { return history("e"); }))
    EXPECT_TRUE(r.samples.empty());
}

// ------------------------------------------------------------------- leave --

TEST_F(QueueCoreTest, LeaveSendsTheUserAndTicketAndReadsCodeAndPosition) {
  runner.reply = Reply(Arr({Int(0), Int(code::kLeft), Int(17)}));
  LeaveResult r = leave("e", "u9", 42);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.status, LeaveStatus::kLeft);
  EXPECT_EQ(r.position, 17);
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "leave");
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "u9", "42"}));
  // An operator names no ticket.
  leave("e", "u9");
  EXPECT_EQ(runner.calls[1].argv, concat(keys_of("ticketq", "e"), {"", "", "u9", ""}));
  // Ticket 0 (a join from before tickets) is a ticket, not an operator.
  leave("e", "u9", 0);
  EXPECT_EQ(runner.calls[2].argv, concat(keys_of("ticketq", "e"), {"", "", "u9", "0"}));

  runner.reply = Reply(Arr({Int(0), Int(code::kHoldsSeat), Int(0)}));
  EXPECT_EQ(leave("e", "u9").status, LeaveStatus::kHoldsSeat);
  runner.reply = Reply(Arr({Int(0), Int(code::kNotInLine), Int(0)}));
  EXPECT_EQ(leave("e", "u9").status, LeaveStatus::kNotInLine);
  runner.reply = Reply(Arr({Int(0), Int(code::kOtherJoin), Int(0)}));
  r = leave("e", "u9", 1);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.status, LeaveStatus::kOtherJoin);
  for (int64_t bad : {3, 7, 8, 10, -2}) {  // no such code
    SCOPED_TRACE(bad);
    runner.reply = Reply(Arr({Int(0), Int(bad), Int(0)}));
    EXPECT_EQ(leave("e", "u9").fault, Fault::kError);
  }
}

// ------------------------------------------------- cancel, confirm, verify --

TEST_F(QueueCoreTest, SeatCallsSendUserTicketAndFlags) {
  runner.reply = Reply(Arr({Int(0), Int(code::kDone), Int(0)}));
  cancel("e", "u1", 5);
  cancel("e", "u1");  // an operator: no ticket, and the operator flag
  cancel("e", "u1", 0);
  runner.reply = Reply(Arr({Int(0), Int(code::kDone)}));
  confirm("e", "u2", 6);
  confirm("e", "u2");
  runner.reply = Reply(Arr({Int(0), Int(code::kDone), Int(0), Int(0), Int(-1)}));
  verify("e", "u3", 7, true);
  verify("e", "u3", 7, false);
  verify("default", "u3", INT64_MAX, false);
  const auto k = keys_of("ticketq", "e");
  struct Want {
    const char* script;
    std::vector<std::string> argv;
  };
  const std::vector<Want> want = {
      {"cancel", concat(k, {"", "", "u1", "5", ""})},
      {"cancel", concat(k, {"", "", "u1", "", "1"})},
      {"cancel", concat(k, {"", "", "u1", "0", ""})},
      {"confirm", concat(k, {"", "", "u2", "6"})},
      {"confirm", concat(k, {"", "", "u2", ""})},
      {"verify", concat(k, {"", "", "u3", "7", "1"})},
      {"verify", concat(k, {"", "", "u3", "7", "0"})},
      {"verify",
       concat(keys_of("ticketq", "default"), {"500", "500", "u3", "9223372036854775807", "0"})},
  };
  ASSERT_EQ(runner.calls.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(runner.calls[i].script, want[i].script);
    EXPECT_EQ(runner.calls[i].numkeys, kScriptKeyCount);
    EXPECT_EQ(runner.calls[i].argv, want[i].argv);
  }
}

TEST_F(QueueCoreTest, SeatCallsMapEveryCode) {
  struct Row {
    int64_t code;
    SeatStatus status;
  };
  for (Row row :
       {Row{0, SeatStatus::kNoSeat}, Row{1, SeatStatus::kDone}, Row{2, SeatStatus::kUnchanged},
        Row{3, SeatStatus::kIsConfirmed}, Row{4, SeatStatus::kHoldEnded}, Row{5, SeatStatus::kUsed},
        Row{9, SeatStatus::kOtherJoin}}) {
    SCOPED_TRACE(row.code);
    runner.reply = Reply(Arr({Int(0), Int(row.code)}));
    // Each call takes the codes its contract lists; any other is corrupt.
    const std::pair<SeatResult, const ScriptContract*> calls[] = {
        {cancel("e", "u", 1), &contract::cancel},
        {confirm("e", "u", 1), &contract::confirm},
        {verify("e", "u", 1, 0), &contract::verify}};
    for (const auto& [r, c] : calls) {
      SCOPED_TRACE(c->name);
      const bool listed =
          std::find(c->outcomes.begin(), c->outcomes.end(), row.code) != c->outcomes.end();
      EXPECT_EQ(r.ok(), listed) << r.detail;
      if (!listed) continue;
      EXPECT_EQ(r.status, row.status);
      EXPECT_FALSE(r.waiting);
      EXPECT_FALSE(r.confirmed);
      EXPECT_EQ(r.hold_ends_ms, 0);
    }
  }
  EXPECT_EQ(static_cast<int>(SeatStatus::kOtherJoin), code::kOtherJoin);
  EXPECT_EQ(static_cast<int>(SeatStatus::kUsed), code::kUsed);
  EXPECT_EQ(static_cast<int>(LeaveStatus::kOtherJoin), code::kOtherJoin);
}

TEST_F(QueueCoreTest, SeatCallsUnknownCodeIsAnError) {
  for (int64_t c : {6, 7, 8, 10, -2, -3, 100}) {
    SCOPED_TRACE(c);
    runner.reply = Reply(Arr({Int(0), Int(c), Int(0), Int(0), Int(0)}));
    for (const SeatResult& r : {cancel("e", "u", 1), confirm("e", "u"), verify("e", "u", 1, 1)}) {
      EXPECT_EQ(r.fault, Fault::kError);
      EXPECT_NE(r.detail, "");
      EXPECT_FALSE(r.ok());
    }
  }
}

// cancel answers whether a user without a seat is in line instead.
TEST_F(QueueCoreTest, CancelReadsTheWaitingFlag) {
  runner.reply = Reply(Arr({Int(0), Int(code::kNoSeat), Int(1)}));
  SeatResult r = cancel("e", "u", 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.status, SeatStatus::kNoSeat);
  EXPECT_TRUE(r.waiting);
  runner.reply = Reply(Arr({Int(0), Int(code::kNoSeat), Int(0)}));
  r = cancel("e", "u", 4);
  EXPECT_EQ(r.status, SeatStatus::kNoSeat);
  EXPECT_FALSE(r.waiting);
  runner.reply = Reply(Arr({Int(0), Int(code::kIsConfirmed), Int(0)}));
  r = cancel("e", "u", 4);
  EXPECT_EQ(r.status, SeatStatus::kIsConfirmed);
  EXPECT_FALSE(r.waiting);
}

// verify answers whether the seat is sold and when its hold ends.
TEST_F(QueueCoreTest, VerifyReadsConfirmedAndHoldEnd) {
  runner.reply = Reply(Arr({Int(0), Int(code::kDone), Int(0), Int(0), Int(1'700'000'300'000)}));
  SeatResult r = verify("e", "u", 3, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.status, SeatStatus::kDone);
  EXPECT_FALSE(r.confirmed);
  EXPECT_EQ(r.hold_ends_ms, 1'700'000'300'000);
  EXPECT_FALSE(r.used);
  // Sold (-2) and never ending (-1) are both "no end".
  runner.reply = Reply(Arr({Int(0), Int(code::kDone), Int(0), Int(1), Int(-2), Int(1)}));
  r = verify("e", "u", 3, true);
  EXPECT_TRUE(r.confirmed);
  EXPECT_EQ(r.hold_ends_ms, 0);
  EXPECT_TRUE(r.used);
  runner.reply = Reply(Arr({Int(0), Int(code::kUsed), Int(0), Int(0), Int(-1), Int(1)}));
  r = verify("e", "u", 3, true);
  EXPECT_EQ(r.status, SeatStatus::kUsed);
  EXPECT_TRUE(r.used);
  EXPECT_FALSE(r.confirmed);
  EXPECT_EQ(r.hold_ends_ms, 0);
  // A hold whose time is up says when it ended.
  runner.reply =
      Reply(Arr({Int(0), Int(code::kHoldEnded), Int(0), Int(0), Int(1'700'000'000'001)}));
  r = verify("e", "u", 3, true);
  EXPECT_EQ(r.status, SeatStatus::kHoldEnded);
  EXPECT_EQ(r.hold_ends_ms, 1'700'000'000'001);
  // The short forms of the other outcomes.
  runner.reply = Reply(Arr({Int(0), Int(code::kNoSeat)}));
  r = verify("e", "u", 3, true);
  EXPECT_EQ(r.status, SeatStatus::kNoSeat);
  EXPECT_FALSE(r.confirmed);
  EXPECT_EQ(r.hold_ends_ms, 0);
}

TEST_F(QueueCoreTest, SeatCallsMalformedReplies) {
  for (RedisValue v :
       {Arr({Int(0)}), Arr({Int(0), Str("1")}), Arr({Int(0), Nil()}),
        Arr({Int(0), Int(1), Str("0")}), Arr({Int(0), Int(1), Int(0), Int(1), Str("-2")}),
        Arr({Int(1), Int(1)}), Arr({Int(-2), Int(1)}), Arr({Int(0), Arr({Int(1)})})}) {
    runner.reply = Reply(v);
    for (const SeatResult& r :
         {cancel("e", "u", 1), confirm("e", "u", 1), verify("e", "u", 1, 1)}) {
      EXPECT_EQ(r.fault, Fault::kError);
      EXPECT_FALSE(r.no_event);
    }
  }
}

// -------------------------------------------------------------------- tick --

TEST_F(QueueCoreTest, TickSendsTheSweepBoundAndReadsItsCounts) {
  runner.reply = Reply(Arr({Int(0), Int(3), Int(2), Int(1), Int(1), Int(0)}));
  TickResult r = tick("e", 1000);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.admitted, 3);
  EXPECT_EQ(r.expired_holds, 2);
  EXPECT_EQ(r.expired_waiters, 1);
  EXPECT_TRUE(r.more);
  EXPECT_FALSE(r.idle);
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "tick");
  EXPECT_EQ(runner.calls[0].numkeys, kScriptKeyCount);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "1000", "5000"}));

  runner.reply = Reply(Arr({Int(0), Int(0), Int(0), Int(0), Int(0), Int(1)}));
  r = tick("default", 1, 7000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.admitted, 0);
  EXPECT_FALSE(r.more);
  EXPECT_TRUE(r.idle);
  EXPECT_EQ(runner.calls[1].argv,
            concat(keys_of("ticketq", "default"), {"500", "500", "1", "7000"}));
}

TEST_F(QueueCoreTest, TickMalformedReplies) {
  for (RedisValue v : {Arr({Int(0)}), Arr({Int(0), Int(1), Int(2), Int(3), Int(4)}),
                       Arr({Int(0), Int(1), Int(2), Int(3), Int(4), Str("1")}),
                       Arr({Int(0), Str("1"), Int(2), Int(3), Int(4), Int(5)}),
                       Arr({Int(2), Int(1), Int(2), Int(3), Int(4), Int(5)})}) {
    runner.reply = Reply(v);
    TickResult r = tick("e", 10);
    EXPECT_EQ(r.fault, Fault::kError);
    EXPECT_NE(r.detail, "");
  }
}

// ------------------------------------------------------------- list_events --

TEST_F(QueueCoreTest, ListEventsIsKeylessAndMatchesCfgKeys) {
  runner.reply = Reply(Arr({Int(0), Str("0")}));
  EventsPage r = list_events("0", 1000);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.cursor, "0");
  EXPECT_TRUE(r.events.empty());
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "events");
  EXPECT_EQ(runner.calls[0].sha1, scripts().events.sha1);
  EXPECT_EQ(runner.calls[0].numkeys, 0);
  EXPECT_EQ(runner.calls[0].argv, (std::vector<std::string>{"ticketq:{*}:cfg", "0", "1000"}));

  // The cursor Redis gave is passed back as it is.
  list_events("18446744073709551615", 7);
  EXPECT_EQ(runner.calls[1].argv,
            (std::vector<std::string>{"ticketq:{*}:cfg", "18446744073709551615", "7"}));

  QueueOptions o;
  o.key_prefix = "tq-test";
  QueueCore custom(runner, o);
  custom.list_events("0", 5, [](EventsPage) {});
  EXPECT_EQ(runner.calls[2].numkeys, 0);
  EXPECT_EQ(runner.calls[2].argv, (std::vector<std::string>{"tq-test:{*}:cfg", "0", "5"}));
}

TEST_F(QueueCoreTest, ListEventsExtractsNamesAndSkipsWhatIsNoEvent) {
  runner.reply = Reply(Arr({
      Int(0),
      Str("1234"),
      Str("ticketq:{concert}:cfg"),
      Str("ticketq:{default}:cfg"),
      Str("ticketq:{A-z_0.9}:cfg"),
      Str("ticketq:{}:cfg"),                              // an empty name
      Str("ticketq:{a b}:cfg"),                           // not a valid event name
      Str("ticketq:{x}:y}:cfg"),                          // matches the pattern, not one of ours
      Str("ticketq:{x}:cfg}:cfg"),                        // the same
      Str("ticketq:{" + std::string(65, 'e') + "}:cfg"),  // too long
      Str("ticketq:{"),                                   // shorter than the pattern
      Str(""),
      Str("ticketq:{e\xc3\xa9}:cfg"),
  }));
  EventsPage r = list_events("0", 100);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.cursor, "1234");
  EXPECT_EQ(r.events, (std::vector<std::string>{"concert", "default", "A-z_0.9"}));
}

TEST_F(QueueCoreTest, ListEventsWithACustomPrefix) {
  QueueOptions o;
  o.key_prefix = "tq-test";
  QueueCore custom(runner, o);
  runner.reply = Reply(Arr({Int(0), Str("0"), Str("tq-test:{e1}:cfg"), Str("tq-test:{e2}:cfg")}));
  EventsPage r = call<EventsPage>([&](auto cb) { custom.list_events("0", 10, cb); });
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.events, (std::vector<std::string>{"e1", "e2"}));
}

// A key the walk returns that does not have our prefix and suffix is not
// one of our events, whatever lies between; the prefix's glob characters
// are matched literally.
TEST_F(QueueCoreTest, ListEventsSkipsKeysOfAnotherPrefix) {
  runner.reply = Reply(Arr({Int(0), Str("0"), Str("ticketq:{ok}:cfg"), Str("ticketqX{e1}:cfg"),
                            Str("ticketq:{e2}:cfX"), Str("other-p:{e3}:cfg")}));
  EXPECT_EQ(list_events("0", 10).events, (std::vector<std::string>{"ok"}));
  QueueOptions o;
  o.key_prefix = "tq*";
  QueueCore glob(runner, o);
  glob.list_events("0", 10, [](EventsPage) {});
  EXPECT_EQ(runner.calls.back().argv[0], "tq\\*:{*}:cfg");
}

TEST_F(QueueCoreTest, ListEventsMalformedReplies) {
  for (RedisValue v :
       {Arr({Int(0)}), Arr({Int(0), Int(0)}), Arr({Int(0), Nil()}), Arr({Int(0), Str("0"), Int(5)}),
        Arr({Int(0), Str("0"), Nil()}), Arr({Int(0), Str("0"), Arr({Str("ticketq:{a}:cfg")})}),
        Arr({Int(1), Str("0")}), Arr({Str("0"), Arr({})})}) {
    runner.reply = Reply(v);
    EventsPage r = list_events("0", 10);
    EXPECT_EQ(r.fault, Fault::kError);
    EXPECT_NE(r.detail, "");
    EXPECT_TRUE(r.events.empty());
  }
}

// --------------------------------------------------- no event, faults, junk --

TEST_F(QueueCoreTest, NoEventForEveryOperation) {
  runner.reply = Reply(Arr({Int(-1)}));
  auto outcomes = every_operation("e");
  EXPECT_EQ(outcomes.size(), kEveryOperationResults);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    SCOPED_TRACE(i);
    // put creates the event, and the keyless walk has none: for them the
    // code is not in their contract (scripts.h), a malformed reply.
    const bool never_no_event = i == 4 || i == 13;
    EXPECT_EQ(outcomes[i].no_event, !never_no_event);
    EXPECT_EQ(outcomes[i].fault, never_no_event ? Fault::kError : Fault::kNone);
    EXPECT_FALSE(outcomes[i].ok());
  }
}

TEST_F(QueueCoreTest, EveryFaultPassesThroughWithItsDetail) {
  for (Fault f : {Fault::kUnavailable, Fault::kTimeout, Fault::kOverloaded, Fault::kError}) {
    SCOPED_TRACE(static_cast<int>(f));
    runner.reply = FaultReply(f, "detail " + std::to_string(static_cast<int>(f)));
    // A fault wins over whatever value came with it.
    runner.reply.value = Arr({Int(-2), Int(5)});
    auto outcomes = every_operation("e");
    EXPECT_EQ(outcomes.size(), kEveryOperationResults);
    for (const Outcome& o : outcomes) {
      EXPECT_EQ(o.fault, f);
      EXPECT_EQ(o.detail, "detail " + std::to_string(static_cast<int>(f)));
      EXPECT_FALSE(o.no_event);
      EXPECT_FALSE(o.ok());
    }
    EXPECT_FALSE(put_event("e", Sizes(1, 1)).below_reserved);
    runner.reply.value = Arr({Int(code::kNeedsSize)});
    EXPECT_FALSE(put_event("e", Sizes(1, 1)).needs_size);
    runner.reply.value = Arr({Int(code::kNotOpen), Str("paused")});
    EXPECT_FALSE(promote("e", 1).not_open);
  }
}

TEST_F(QueueCoreTest, MalformedRepliesAreErrorsNeverCrashes) {
  std::vector<RedisValue> junk = {
      Int(0),                                                  // not an array
      Nil(),                                                   // not an array
      Str("OK", RedisValue::Type::kStatus),                    // not an array
      Str("ERR boom", RedisValue::Type::kError),               // an error value without a fault
      Str("0"),                                                // a string
      Arr({}),                                                 // empty array
      Arr({Str("0"), Int(1), Int(0)}),                         // string first element
      Arr({Nil(), Int(1), Int(0)}),                            // nil first element
      Arr({Arr({Int(0)}), Int(1)}),                            // array first element
      Arr({Int(1), Int(1), Int(0), Int(0), Int(0), Int(0)}),   // unknown leading code
      Arr({Int(-3), Int(1), Int(0), Int(0), Int(0), Int(0)}),  // unknown leading code
      Arr({Int(9), Int(1), Int(0), Int(0), Int(0), Int(0)}),   // a result code in front
  };
  for (size_t i = 0; i < junk.size(); ++i) {
    SCOPED_TRACE(i);
    runner.reply = Reply(junk[i]);
    auto outcomes = every_operation("e");
    EXPECT_EQ(outcomes.size(), kEveryOperationResults);
    for (size_t j = 0; j < outcomes.size(); ++j) {
      SCOPED_TRACE(j);
      EXPECT_EQ(outcomes[j].fault, Fault::kError);
      EXPECT_NE(outcomes[j].detail, "");
      EXPECT_FALSE(outcomes[j].no_event);
    }
  }
}

TEST_F(QueueCoreTest, ShortRepliesAreErrors) {
  runner.reply = Reply(Arr({Int(0)}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  EXPECT_EQ(promote("e", 1).fault, Fault::kError);
  EXPECT_EQ(put_event("e", Sizes(1, 1)).fault, Fault::kError);
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  EXPECT_EQ(leave("e", "u").fault, Fault::kError);
  EXPECT_EQ(cancel("e", "u").fault, Fault::kError);
  EXPECT_EQ(confirm("e", "u").fault, Fault::kError);
  EXPECT_EQ(verify("e", "u", 1, false).fault, Fault::kError);
  EXPECT_EQ(tick("e", 1).fault, Fault::kError);
  EXPECT_EQ(list_events("0", 1).fault, Fault::kError);
  EXPECT_TRUE(reset("e").ok());  // {0} is reset's whole reply

  runner.reply = Reply(Arr({Int(0), Int(1)}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  EXPECT_EQ(leave("e", "u").fault, Fault::kError);
  EXPECT_EQ(tick("e", 1).fault, Fault::kError);

  runner.reply = Reply(Arr({Int(0), Int(1), Int(2), Int(3), Int(4), Int(5), Int(6)}));
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  EXPECT_EQ(put_event("e", Sizes(1, 1)).fault, Fault::kError);
}

// A reply whose code or number fields are not integers is malformed too; it
// must not be read as 0 (status "not found", capacity 0, a user named "").
TEST_F(QueueCoreTest, NonIntegerFieldsAreErrors) {
  auto e = StatusHeader();
  for (RedisValue v : {Str("2"), Int(4), Int(0), Int(0), Int(0)}) e.push_back(v);
  runner.reply = Reply(Arr(e));
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  e = StatusHeader();
  e[1] = Str("1000");  // now_ms as text
  for (int64_t v : {2, 4, 0, 0, 0}) e.push_back(Int(v));
  runner.reply = Reply(Arr(e));
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(2), Nil(), Int(3)}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(2), Int(1), Str("3")}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  auto g = GetReply({0, 100, 50, 30, 7, 4, 2, 12, 18, 9, 3, 5, 6, 600, 90}).elements;
  g[1] = Str("100");
  runner.reply = Reply(Arr(g));
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(0), Int(12)}));  // a user that is no string
  EXPECT_EQ(promote("e", 1).fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(1), Str("17")}));
  EXPECT_EQ(leave("e", "u").fault, Fault::kError);
}

}  // namespace
}  // namespace ticketq
