// Tests of src/queue_core.cpp against a fake ScriptRunner: the keys and
// arguments each operation sends, and how every reply (good, faulted or
// malformed) becomes a result, always through exactly one callback.
#include "ticketq/queue_core.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <vector>

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

RedisValue Int(int64_t i) {
  RedisValue v;
  v.type = RedisValue::Type::kInteger;
  v.integer = i;
  return v;
}
RedisValue Str(std::string s, RedisValue::Type type = RedisValue::Type::kString) {
  RedisValue v;
  v.type = type;
  v.str = std::move(s);
  return v;
}
RedisValue Nil() {
  return RedisValue{};
}
RedisValue Arr(std::vector<RedisValue> e) {
  RedisValue v;
  v.type = RedisValue::Type::kArray;
  v.elements = std::move(e);
  return v;
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
  return {b + "cfg", b + "reserved", b + "queued", b + "stats"};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
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
  LeaveResult leave(const std::string& event, const std::string& user) {
    return call<LeaveResult>([&](auto cb) { core.leave(event, user, cb); });
  }
  std::vector<ReserveResult> reserve_many(const std::string& event,
                                          std::vector<std::string> users) {
    return call<std::vector<ReserveResult>>([&](auto cb) { core.reserve_many(event, users, cb); });
  }
  std::vector<StatusResult> status_many(const std::string& event, std::vector<std::string> users) {
    return call<std::vector<StatusResult>>([&](auto cb) { core.status_many(event, users, cb); });
  }

  // Every operation once, returning the Outcome part of its result.
  std::vector<Outcome> every_operation(const std::string& event) {
    std::vector<Outcome> out;
    out.push_back(reserve(event, "u1"));
    out.push_back(status(event, "u1"));
    out.push_back(promote(event, 10));
    out.push_back(reset(event));
    out.push_back(put_event(event, {5, 6}));
    out.push_back(get_event(event));
    out.push_back(leave(event, "u1"));
    for (const auto& r : reserve_many(event, {"u1", "u2"})) out.push_back(r);
    for (const auto& r : status_many(event, {"u1", "u2"})) out.push_back(r);
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
                                      "ticketq:{concert}:queued", "ticketq:{concert}:stats"}));
  EXPECT_EQ(core.keys("concert").size(), static_cast<size_t>(kScriptKeyCount));
}

TEST_F(QueueCoreTest, KeysWithCustomPrefix) {
  QueueOptions o;
  o.key_prefix = "tq-test";
  QueueCore custom(runner, o);
  EXPECT_EQ(custom.keys("e1"), keys_of("tq-test", "e1"));
  EXPECT_EQ(custom.keys("e1")[1], "tq-test:{e1}:reserved");
}

TEST_F(QueueCoreTest, DefaultEventPassesFallbackSettings) {
  QueueOptions o;
  o.default_settings = {7, 9};
  QueueCore c(runner, o);
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0)}));
  c.reserve("default", "u1", [](ReserveResult) {});
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "reserve");
  EXPECT_EQ(runner.calls[0].numkeys, 4);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "default"), {"7", "9", "u1"}));
}

TEST_F(QueueCoreTest, BuiltInDefaultSettingsAre500And500) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0)}));
  reserve("default", "u1");
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "default"), {"500", "500", "u1"}));
}

TEST_F(QueueCoreTest, OtherEventsPassEmptyFallback) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0)}));
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
  every_operation("e");
  const auto k = keys_of("ticketq", "e");
  const Scripts& s = scripts();
  struct Want {
    const Script* script;
    std::vector<std::string> extra;
  };
  std::vector<Want> want = {
      {&s.reserve, {"", "", "u1"}},      {&s.status, {"", "", "u1"}},
      {&s.promote, {"", "", "10"}},      {&s.reset, {"", ""}},
      {&s.put, {"", "", "5", "6", ""}},  {&s.get, {"", ""}},
      {&s.leave, {"", "", "u1"}},        {&s.reserve, {"", "", "u1", "u2"}},
      {&s.status, {"", "", "u1", "u2"}},
  };
  ASSERT_EQ(runner.calls.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(runner.calls[i].script, want[i].script->name);
    EXPECT_EQ(runner.calls[i].sha1, want[i].script->sha1);
    EXPECT_EQ(runner.calls[i].numkeys, kScriptKeyCount);
    EXPECT_EQ(runner.calls[i].argv, concat(k, want[i].extra));
  }
}

// ----------------------------------------------------------------- reserve --

TEST_F(QueueCoreTest, ReserveMapsCodes) {
  struct Row {
    int64_t code, pos;
    ReserveStatus status;
  };
  for (Row row : {Row{1, 0, ReserveStatus::kReserved}, Row{2, 17, ReserveStatus::kQueued},
                  Row{3, 0, ReserveStatus::kAlreadyReserved},
                  Row{4, 5, ReserveStatus::kAlreadyInQueue}, Row{5, 0, ReserveStatus::kSoldOut}}) {
    SCOPED_TRACE(row.code);
    runner.reply = Reply(Arr({Int(0), Int(row.code), Int(row.pos)}));
    ReserveResult r = reserve("e", "u");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.fault, Fault::kNone);
    EXPECT_FALSE(r.no_event);
    EXPECT_EQ(r.status, row.status);
    EXPECT_EQ(r.position, row.pos);
  }
}

TEST_F(QueueCoreTest, ReserveUnknownCodeIsAnError) {
  for (int64_t code : {0, 7, 9, -5}) {
    SCOPED_TRACE(code);
    runner.reply = Reply(Arr({Int(0), Int(code), Int(0)}));
    ReserveResult r = reserve("e", "u");
    EXPECT_EQ(r.fault, Fault::kError);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.detail, "");
  }
}

TEST_F(QueueCoreTest, ReserveManyKeepsOrder) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0), Int(2), Int(1), Int(3), Int(0)}));
  auto rs = reserve_many("e", {"a", "b", "a"});
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].status, ReserveStatus::kReserved);
  EXPECT_EQ(rs[1].status, ReserveStatus::kQueued);
  EXPECT_EQ(rs[1].position, 1);
  EXPECT_EQ(rs[2].status, ReserveStatus::kAlreadyReserved);
  for (const auto& r : rs) EXPECT_TRUE(r.ok());
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "a", "b", "a"}));
}

TEST_F(QueueCoreTest, ReserveManyOneBadCodeFailsTheWholeBatch) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0), Int(9), Int(0)}));
  auto rs = reserve_many("e", {"a", "b"});
  ASSERT_EQ(rs.size(), 2u);
  for (const auto& r : rs) EXPECT_EQ(r.fault, Fault::kError);
}

TEST_F(QueueCoreTest, ReserveManyShortReplyIsAnError) {
  runner.reply = Reply(Arr({Int(0), Int(1), Int(0), Int(2)}));  // second position missing
  auto rs = reserve_many("e", {"a", "b"});
  ASSERT_EQ(rs.size(), 2u);
  for (const auto& r : rs) EXPECT_EQ(r.fault, Fault::kError);
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
    runner.reply = Reply(Arr({Int(0), Int(row.code), Int(row.pos)}));
    StatusResult r = status("e", "u");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.status, row.status);
    EXPECT_EQ(r.position, row.pos);
  }
}

// An unknown status code must not reach the front end, whose switch has no
// case for it (the request would never be answered).
TEST_F(QueueCoreTest, StatusUnknownCodeIsAnError) {
  for (int64_t code : {3, 9, -2}) {
    SCOPED_TRACE(code);
    runner.reply = Reply(Arr({Int(0), Int(code), Int(0)}));
    StatusResult r = status("e", "u");
    EXPECT_EQ(r.fault, Fault::kError);
  }
}

TEST_F(QueueCoreTest, StatusManyKeepsOrder) {
  runner.reply = Reply(Arr({Int(0), Int(2), Int(4), Int(0), Int(0)}));
  auto rs = status_many("e", {"a", "b"});
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, UserStatus::kInQueue);
  EXPECT_EQ(rs[0].position, 4);
  EXPECT_EQ(rs[1].status, UserStatus::kNotFound);
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
  runner.reply = Reply(Arr({Int(0), Int(1), Int(100), Int(50), Str("open")}));
  PutEventResult r = put_event("e", {100, 50});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.created);
  EXPECT_FALSE(r.below_reserved);
  EXPECT_EQ(r.settings.capacity, 100);
  EXPECT_EQ(r.settings.queue_limit, 50);
  EXPECT_EQ(r.state, EventState::kOpen);
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "100", "50", ""}));

  // Any subset: what is left out is sent as "", kept by the script.
  runner.reply = Reply(Arr({Int(0), Int(0), Int(100), Int(50), Str("paused")}));
  r = put_event("e", {std::nullopt, std::nullopt, EventState::kPaused});
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.state, EventState::kPaused);
  EXPECT_EQ(runner.calls[1].argv, concat(keys_of("ticketq", "e"), {"", "", "", "", "paused"}));
}

TEST_F(QueueCoreTest, PutEventOnDefaultPassesFallbackThenNewSettings) {
  runner.reply = Reply(Arr({Int(0), Int(0), Int(1099511627776), Int(0), Str("open")}));
  put_event("default", {1099511627776, 0});
  EXPECT_EQ(runner.calls[0].argv,
            concat(keys_of("ticketq", "default"), {"500", "500", "1099511627776", "0", ""}));
}

TEST_F(QueueCoreTest, PutEventRefusals) {
  runner.reply = Reply(Arr({Int(-2), Int(12)}));
  PutEventResult r = put_event("e", {3, 50});
  EXPECT_TRUE(r.below_reserved);
  EXPECT_EQ(r.reserved, 12);
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.fault, Fault::kNone);
  runner.reply = Reply(Arr({Int(code::kNeedsSize)}));
  r = put_event("e", {std::nullopt, 5});
  EXPECT_TRUE(r.needs_size);
  EXPECT_EQ(r.fault, Fault::kNone);
}

TEST_F(QueueCoreTest, PutEventMalformedReplies) {
  for (RedisValue v : {Arr({Int(-2)}), Arr({Int(-2), Int(1), Int(2)}), Arr({Int(0)}),
                       Arr({Int(7), Int(1)}), Arr({Int(0), Int(1), Int(2), Int(3), Str("ajar")}),
                       Arr({Int(0), Int(1), Int(2), Int(3), Int(4)})}) {
    runner.reply = Reply(v);
    PutEventResult r = put_event("e", {3, 50});
    EXPECT_FALSE(r.below_reserved);
    EXPECT_FALSE(r.needs_size);
    EXPECT_EQ(r.fault, Fault::kError);
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
  runner.reply = Reply(Arr({Int(0), Int(code::kClosed), Int(0)}));
  EXPECT_EQ(reserve("e", "u").status, ReserveStatus::kClosed);
}

// --------------------------------------------------------------- get_event --

TEST_F(QueueCoreTest, GetEventFields) {
  runner.reply =
      Reply(Arr({Int(0), Int(100), Int(50), Int(30), Int(7), Int(4), Int(2), Str("closed")}));
  EventInfo r = get_event("e");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.settings.capacity, 100);
  EXPECT_EQ(r.settings.queue_limit, 50);
  EXPECT_EQ(r.reserved, 30);
  EXPECT_EQ(r.waiting, 7);
  EXPECT_EQ(r.promoted, 4);
  EXPECT_EQ(r.left, 2);
  EXPECT_EQ(r.state, EventState::kClosed);
  EXPECT_EQ(runner.calls[0].script, "get");
}

// ------------------------------------------------------------------- leave --

TEST_F(QueueCoreTest, LeaveSendsTheUserAndReadsCodeAndPosition) {
  runner.reply = Reply(Arr({Int(0), Int(code::kLeft), Int(17)}));
  LeaveResult r = leave("e", "u9");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.status, LeaveStatus::kLeft);
  EXPECT_EQ(r.position, 17);
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].script, "leave");
  EXPECT_EQ(runner.calls[0].argv, concat(keys_of("ticketq", "e"), {"", "", "u9"}));
  runner.reply = Reply(Arr({Int(0), Int(code::kHoldsSeat), Int(0)}));
  EXPECT_EQ(leave("e", "u9").status, LeaveStatus::kHoldsSeat);
  runner.reply = Reply(Arr({Int(0), Int(code::kNotInLine), Int(0)}));
  EXPECT_EQ(leave("e", "u9").status, LeaveStatus::kNotInLine);
  runner.reply = Reply(Arr({Int(0), Int(7), Int(0)}));  // no such code
  EXPECT_EQ(leave("e", "u9").fault, Fault::kError);
}

// --------------------------------------------------- no event, faults, junk --

TEST_F(QueueCoreTest, NoEventForEveryOperation) {
  runner.reply = Reply(Arr({Int(-1)}));
  auto outcomes = every_operation("e");
  EXPECT_EQ(outcomes.size(), 11u);
  for (const Outcome& o : outcomes) {
    EXPECT_TRUE(o.no_event);
    EXPECT_EQ(o.fault, Fault::kNone);
    EXPECT_FALSE(o.ok());
  }
}

TEST_F(QueueCoreTest, EveryFaultPassesThroughWithItsDetail) {
  for (Fault f : {Fault::kUnavailable, Fault::kTimeout, Fault::kOverloaded, Fault::kError}) {
    SCOPED_TRACE(static_cast<int>(f));
    runner.reply = FaultReply(f, "detail " + std::to_string(static_cast<int>(f)));
    // A fault wins over whatever value came with it.
    runner.reply.value = Arr({Int(-2), Int(5)});
    for (const Outcome& o : every_operation("e")) {
      EXPECT_EQ(o.fault, f);
      EXPECT_EQ(o.detail, "detail " + std::to_string(static_cast<int>(f)));
      EXPECT_FALSE(o.no_event);
      EXPECT_FALSE(o.ok());
    }
    EXPECT_FALSE(put_event("e", {1, 1}).below_reserved);
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
  };
  for (size_t i = 0; i < junk.size(); ++i) {
    SCOPED_TRACE(i);
    runner.reply = Reply(junk[i]);
    for (const Outcome& o : every_operation("e")) {
      EXPECT_EQ(o.fault, Fault::kError);
      EXPECT_NE(o.detail, "");
      EXPECT_FALSE(o.no_event);
    }
  }
}

TEST_F(QueueCoreTest, ShortRepliesAreErrors) {
  runner.reply = Reply(Arr({Int(0)}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  EXPECT_EQ(promote("e", 1).fault, Fault::kError);
  EXPECT_EQ(put_event("e", {1, 1}).fault, Fault::kError);
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  EXPECT_TRUE(reset("e").ok());  // {0} is reset's whole reply

  runner.reply = Reply(Arr({Int(0), Int(1)}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  EXPECT_EQ(status("e", "u").fault, Fault::kError);

  runner.reply = Reply(Arr({Int(0), Int(1), Int(2), Int(3), Int(4), Int(5), Int(6)}));
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(1)}));
  EXPECT_EQ(leave("e", "u").fault, Fault::kError);
}

// A reply whose code or number fields are not integers is malformed too; it
// must not be read as 0 (status "not found", capacity 0, a user named "").
TEST_F(QueueCoreTest, NonIntegerFieldsAreErrors) {
  runner.reply = Reply(Arr({Int(0), Str("2"), Int(4)}));
  EXPECT_EQ(status("e", "u").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(2), Nil()}));
  EXPECT_EQ(reserve("e", "u").fault, Fault::kError);
  runner.reply =
      Reply(Arr({Int(0), Str("100"), Int(50), Int(30), Int(7), Int(4), Int(0), Str("open")}));
  EXPECT_EQ(get_event("e").fault, Fault::kError);
  runner.reply = Reply(Arr({Int(0), Int(0), Int(12)}));  // a user that is no string
  EXPECT_EQ(promote("e", 1).fault, Fault::kError);
}

}  // namespace
}  // namespace ticketq
