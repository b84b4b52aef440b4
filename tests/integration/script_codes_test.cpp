// Each script of scripts.h on its own, on a real redis-server and with
// EVALSHA, as the gateway calls them (no HTTP, no ticketq-server): every
// result code of every script is reached in the situation it names, every
// reply has the shape of the script's contract, a wrong-typed key fails a
// script before it writes anything, and lists far longer than Lua's unpack
// takes go through in one call.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/scripts.h"
#include "support/redis_client.h"
#include "support/redis_process.h"

namespace ticketq::test {
namespace {

// (script, outcome, code): a code a script answered first (outcome false)
// or in its field "code" (true; kNoSeat and kOk are both 0).
using Reached = std::set<std::tuple<std::string, bool, int64_t>>;

// Every code each script may answer, by its contract: kOk (the keyless
// walk has nothing else), its refusals and its outcomes.
Reached every_code() {
  Reached all;
  for (const ScriptContract* c : kContracts) {
    all.insert({std::string(c->name), false, code::kOk});
    for (const ScriptRefusal& r : c->refusals) all.insert({std::string(c->name), false, r.code});
    for (int o : c->outcomes) all.insert({std::string(c->name), true, o});
  }
  return all;
}

// The index of `name` in `fields`, or -1.
int index_of(const ScriptFields& fields, std::string_view name) {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return static_cast<int>(i);
  return -1;
}

bool typed(const Reply& r, const ScriptField& f) {
  return r.type == (f.type == ScriptWire::kInt ? Reply::Type::kInteger : Reply::Type::kString);
}

// Whether `r` (after its code) holds `fields`, the first `required` at
// least, then whole items of `each`, each element of its field's type.
bool has_shape(const Reply& r, const ScriptFields& fields, size_t required,
               const ScriptFields& each) {
  const size_t n = r.elements.size() - 1;
  if (n < std::min(required, fields.size())) return false;
  if (n > fields.size() && (each.size() == 0 || (n - fields.size()) % each.size() != 0))
    return false;
  for (size_t k = 0; k < n; ++k)
    if (!typed(r.elements[1 + k],
               k < fields.size() ? fields[k] : each[(k - fields.size()) % each.size()]))
      return false;
  return true;
}

// A redis-server with the scripts loaded, and calls of them that note the
// codes they answer.
class ScriptBench {
 public:
  ScriptBench() {
    EXPECT_EQ(redis_.start(), "");
    db_ = std::make_unique<RedisClient>(redis_.port());
    for (const Script* s : scripts().all())
      EXPECT_EQ(db_->command({"SCRIPT", "LOAD", s->body}).str, s->sha1) << s->name;
  }

  // The script on `event` (not the default event: default_capacity and
  // default_queue_limit are ""), with its own ARGV `args`.
  Reply call(const QueueScript& s, const std::string& event, const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"EVALSHA", s.sha1};
    if (s.contract->event_keys) {
      cmd.push_back(std::to_string(kScriptKeyCount));
      for (const char* k : kEventKeys) cmd.push_back(RedisClient::key(event, k));
      cmd.insert(cmd.end(), {"", ""});
    } else {
      cmd.push_back("0");
    }
    cmd.insert(cmd.end(), args.begin(), args.end());
    return db_->command(cmd);
  }

  // call(), for a reply (no error): checks its shape against the contract
  // and notes its codes.
  Reply run(const QueueScript& s, const std::string& event, const std::vector<std::string>& args) {
    Reply r = call(s, event, args);
    EXPECT_EQ(r.type, Reply::Type::kArray) << s.name << ": " << r.str;
    if (r.type != Reply::Type::kArray || r.elements.empty()) return r;
    const ScriptContract& c = *s.contract;
    const int64_t first = r.elements[0].integer;
    reached_.insert({s.name, false, first});
    if (first != code::kOk) {
      bool known = false;
      for (const ScriptRefusal& f : c.refusals)
        if (f.code == first) {
          known = true;
          EXPECT_TRUE(has_shape(r, f.fields, SIZE_MAX, {})) << s.name << " refusal " << first;
        }
      EXPECT_TRUE(known) << s.name << " answered " << first;
      return r;
    }
    EXPECT_TRUE(has_shape(r, c.reply, c.required, c.each)) << s.name;
    const int in_reply = index_of(c.reply, "code"), in_each = index_of(c.each, "code");
    if (in_reply >= 0 && r.elements.size() > size_t(1 + in_reply))
      note(c, r.elements[1 + in_reply].integer);
    for (size_t i = 1 + c.reply.size(); in_each >= 0 && i + in_each < r.elements.size();
         i += c.each.size())
      note(c, r.elements[i + in_each].integer);
    return r;
  }

  // The reply's element i as a number (-100 when there is none).
  static int64_t at(const Reply& r, size_t i) {
    return i < r.elements.size() ? r.elements[i].integer : -100;
  }
  // ScriptField `name` of the reply of `s`, or of its item `item`.
  static int64_t field(const Reply& r, const QueueScript& s, std::string_view name) {
    return at(r, 1 + index_of(s.contract->reply, name));
  }
  static int64_t item(const Reply& r, const QueueScript& s, size_t item, std::string_view name) {
    const ScriptContract& c = *s.contract;
    return at(r, 1 + c.reply.size() + item * c.each.size() + index_of(c.each, name));
  }

  // put's ARGV: every setting kept ("") but those given.
  static std::vector<std::string> settings(
      std::initializer_list<std::pair<std::string_view, std::string>> given) {
    std::vector<std::string> args;
    for (const EventSetting& s : kEventSettings) {
      args.emplace_back();
      for (const auto& [name, value] : given)
        if (name == s.name) args.back() = value;
    }
    return args;
  }
  // Creates `event` (or changes it) with the settings given.
  void put(const std::string& event,
           std::initializer_list<std::pair<std::string_view, std::string>> given) {
    Reply r = run(scripts().put, event, settings(given));
    EXPECT_EQ(at(r, 0), code::kOk) << r.str;
  }
  void create(const std::string& event, int cap, int limit, int hold_s = 0) {
    put(event, {{"capacity", std::to_string(cap)},
                {"queue_limit", std::to_string(limit)},
                {"hold_s", std::to_string(hold_s)}});
  }
  // The ticket a reserve gave `user`.
  std::string reserve_ticket(const std::string& event, const std::string& user) {
    const QueueScript& s = scripts().reserve;
    return std::to_string(item(run(s, event, {user}), s, 0, "ticket"));
  }
  // Moves the end of `user`'s hold to a second ago (the sweep has not
  // freed the seat yet).
  void end_hold(const std::string& event, const std::string& user) {
    Reply now = db_->command({"TIME"});
    ASSERT_EQ(now.elements.size(), 2u);
    const int64_t past_ms = std::stoll(now.elements[0].str) * 1000 - 1000;
    db_->command({"ZADD", RedisClient::key(event, "holds"), std::to_string(past_ms), user});
  }

  RedisClient& db() { return *db_; }
  const Reached& reached() const { return reached_; }

 private:
  void note(const ScriptContract& c, int64_t code) {
    reached_.insert({std::string(c.name), true, code});
  }

  RedisProcess redis_;
  std::unique_ptr<RedisClient> db_;
  Reached reached_;
};

// ---- Scenarios: each reaches some codes; the tests below run them ----

const Scripts& S = scripts();

void put_answers_needs_size_created_and_below_reserved(ScriptBench& t) {
  Reply r = t.run(S.put, "e", t.settings({}));
  EXPECT_EQ(ScriptBench::at(r, 0), code::kNeedsSize);
  r = t.run(S.put, "e", t.settings({{"capacity", "1"}}));
  EXPECT_EQ(ScriptBench::at(r, 0), code::kNeedsSize) << "queue_limit too";
  r = t.run(S.put, "e", t.settings({{"capacity", "1"}, {"queue_limit", "1"}}));
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  EXPECT_EQ(ScriptBench::field(r, S.put, "created"), 1);
  EXPECT_EQ(ScriptBench::field(r, S.put, "capacity"), 1);
  r = t.run(S.put, "e", t.settings({{"state", "paused"}, {"admit_rate", "2.5"}}));
  EXPECT_EQ(ScriptBench::field(r, S.put, "created"), 0);
  EXPECT_EQ(r.elements[reply_at(contract::put, "state")].str, "paused");
  EXPECT_EQ(r.elements[reply_at(contract::put, "admit_rate")].str, "2.5");
  t.run(S.reserve, "e", {"a"});
  r = t.run(S.put, "e", t.settings({{"capacity", "0"}}));
  EXPECT_EQ(ScriptBench::at(r, 0), code::kBelowReserved);
  EXPECT_EQ(ScriptBench::at(r, refusal_at(contract::put, code::kBelowReserved, "reserved")), 1);
}

void every_event_script_answers_no_event_for_an_unknown_event(ScriptBench& t) {
  for (const QueueScript* s : S.all()) {
    if (s == &S.put || s == &S.events) continue;
    Reply r = t.run(*s, "nosuch", {"u", "", "", ""});
    EXPECT_EQ(ScriptBench::at(r, 0), code::kNoEvent) << s->name;
  }
}

void reserve_answers_each_outcome(ScriptBench& t) {
  t.create("e", 1, 1);
  // One batch: a seat, a place, sold out, and the repeats within it.
  Reply r = t.run(S.reserve, "e", {"a", "b", "c", "a", "b"});
  ASSERT_EQ(r.elements.size(), 1u + 5 * contract::reserve.each.size());
  const int64_t want[] = {code::kReserved, code::kQueued, code::kSoldOut, code::kAlreadyReserved,
                          code::kAlreadyInQueue};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ScriptBench::item(r, S.reserve, i, "code"), want[i]);
  EXPECT_EQ(ScriptBench::item(r, S.reserve, 1, "position"), 1);
  // A later call.
  r = t.run(S.reserve, "e", {"a", "b"});
  EXPECT_EQ(ScriptBench::item(r, S.reserve, 0, "code"), code::kAlreadyReserved);
  EXPECT_EQ(ScriptBench::item(r, S.reserve, 1, "code"), code::kAlreadyInQueue);
  t.put("e", {{"state", "closed"}});
  r = t.run(S.reserve, "e", {"d"});
  EXPECT_EQ(ScriptBench::item(r, S.reserve, 0, "code"), code::kClosed);
}

void status_answers_where_each_user_is(ScriptBench& t) {
  t.create("e", 1, 1);
  t.run(S.reserve, "e", {"a", "b"});
  t.put("e", {{"state", "paused"}});
  Reply r = t.run(S.status, "e", {"a", "b", "z"});
  ASSERT_EQ(r.elements.size(), 1 + kStatusHeader + 3 * contract::status.each.size());
  EXPECT_EQ(ScriptBench::field(r, S.status, "state"), 1) << "paused";
  EXPECT_EQ(ScriptBench::field(r, S.status, "paused"), 1);
  EXPECT_EQ(ScriptBench::item(r, S.status, 0, "code"), code::kIsReserved);
  EXPECT_EQ(ScriptBench::item(r, S.status, 0, "hold_end"), -1) << "a hold that never ends";
  EXPECT_EQ(ScriptBench::item(r, S.status, 1, "code"), code::kInQueue);
  EXPECT_EQ(ScriptBench::item(r, S.status, 1, "position"), 1);
  EXPECT_EQ(ScriptBench::item(r, S.status, 2, "code"), code::kNotFound);
}

void leave_answers_not_in_line_holds_seat_other_join_and_left(ScriptBench& t) {
  t.create("e", 1, 2);
  t.run(S.reserve, "e", {"a"});
  const std::string b = t.reserve_ticket("e", "b");
  EXPECT_EQ(ScriptBench::field(t.run(S.leave, "e", {"z", ""}), S.leave, "code"), code::kNotInLine);
  EXPECT_EQ(ScriptBench::field(t.run(S.leave, "e", {"a", ""}), S.leave, "code"), code::kHoldsSeat);
  EXPECT_EQ(ScriptBench::field(t.run(S.leave, "e", {"b", b + "0"}), S.leave, "code"),
            code::kOtherJoin);
  Reply r = t.run(S.leave, "e", {"b", b});
  EXPECT_EQ(ScriptBench::field(r, S.leave, "code"), code::kLeft);
  EXPECT_EQ(ScriptBench::field(r, S.leave, "position"), 1) << "the place it had";
}

void promote_admits_and_answers_not_open_unless_open(ScriptBench& t) {
  t.create("e", 1, 2);
  t.run(S.reserve, "e", {"a", "b"});  // b waits for a second seat
  t.put("e", {{"capacity", "2"}, {"state", "paused"}});
  Reply r = t.run(S.promote, "e", {"10"});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kNotOpen);
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[refusal_at(contract::promote, code::kNotOpen, "state")].str, "paused");
  t.put("e", {{"state", "open"}});
  r = t.run(S.promote, "e", {"10"});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  EXPECT_EQ(ScriptBench::field(r, S.promote, "remaining"), 0);
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[2].str, "b");
}

void calls_on_a_seat_answer_each_outcome(ScriptBench& t) {
  t.create("e", 2, 2);
  const std::string a = t.reserve_ticket("e", "a");
  const std::string d = t.reserve_ticket("e", "d");
  auto code_of = [&t](const QueueScript& s, std::vector<std::string> args) {
    return ScriptBench::field(t.run(s, "e", args), s, "code");
  };
  // Nobody's seat; another join's ticket.
  EXPECT_EQ(code_of(S.cancel, {"z", "", ""}), code::kNoSeat);
  EXPECT_EQ(code_of(S.confirm, {"z", ""}), code::kNoSeat);
  EXPECT_EQ(code_of(S.verify, {"z", "1", ""}), code::kNoSeat);
  EXPECT_EQ(code_of(S.confirm, {"a", a + "0"}), code::kOtherJoin);
  EXPECT_EQ(code_of(S.verify, {"a", a + "0", ""}), code::kOtherJoin);
  EXPECT_EQ(code_of(S.cancel, {"a", a + "0", ""}), code::kOtherJoin);
  // Verify, consumed once.
  EXPECT_EQ(code_of(S.verify, {"a", a, ""}), code::kDone);
  EXPECT_EQ(code_of(S.verify, {"a", a, "1"}), code::kDone);
  EXPECT_EQ(code_of(S.verify, {"a", a, "1"}), code::kUsed);
  // Confirmed once; a sold seat is not the user's to cancel.
  EXPECT_EQ(code_of(S.confirm, {"a", a}), code::kDone);
  EXPECT_EQ(code_of(S.confirm, {"a", a}), code::kUnchanged);
  EXPECT_EQ(code_of(S.cancel, {"a", a, ""}), code::kIsConfirmed);
  EXPECT_EQ(code_of(S.cancel, {"a", "", "1"}), code::kDone) << "an operator";
  EXPECT_EQ(code_of(S.cancel, {"d", d, ""}), code::kDone);
}

void calls_on_a_seat_answer_hold_ended_once_the_hold_is_over(ScriptBench& t) {
  t.create("e", 1, 1, 600);
  const std::string a = t.reserve_ticket("e", "a");
  t.end_hold("e", "a");
  EXPECT_EQ(ScriptBench::field(t.run(S.confirm, "e", {"a", a}), S.confirm, "code"),
            code::kHoldEnded);
  EXPECT_EQ(ScriptBench::field(t.run(S.verify, "e", {"a", a, "1"}), S.verify, "code"),
            code::kHoldEnded);
}

// The scripts with nothing to refuse but an unknown event, and the keyless
// walk, on an event with a history.
void the_other_scripts_answer_ok(ScriptBench& t) {
  t.create("e", 1, 2, 600);
  t.run(S.reserve, "e", {"a", "b"});
  Reply r = t.run(S.get, "e", {});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  EXPECT_EQ(ScriptBench::field(r, S.get, "reserved"), 1);
  EXPECT_EQ(ScriptBench::field(r, S.get, "waiting"), 1);
  EXPECT_EQ(ScriptBench::field(r, S.get, "hold_s"), 600);
  EXPECT_EQ(r.elements[reply_at(contract::get, "admit_rate")].str, "manual");
  r = t.run(S.history, "e", {});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  EXPECT_EQ(r.elements.size(), 1 + contract::history.reply.size() + contract::history.each.size())
      << "one sample: the reserve's";
  t.end_hold("e", "a");
  r = t.run(S.tick, "e", {"100", "60000"});
  EXPECT_EQ(ScriptBench::field(r, S.tick, "expired_holds"), 1);
  r = t.run(S.events, "", {"ticketq:{*}:cfg", "0", "100"});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  r = t.run(S.reset, "e", {});
  EXPECT_EQ(ScriptBench::at(r, 0), code::kOk);
  EXPECT_EQ(t.db().scard(RedisClient::key("e", "reserved")), 0);
}

const std::pair<const char*, void (*)(ScriptBench&)> kScenarios[] = {
    {"put", put_answers_needs_size_created_and_below_reserved},
    {"no event", every_event_script_answers_no_event_for_an_unknown_event},
    {"reserve", reserve_answers_each_outcome},
    {"status", status_answers_where_each_user_is},
    {"leave", leave_answers_not_in_line_holds_seat_other_join_and_left},
    {"promote", promote_admits_and_answers_not_open_unless_open},
    {"seat", calls_on_a_seat_answer_each_outcome},
    {"hold ended", calls_on_a_seat_answer_hold_ended_once_the_hold_is_over},
    {"others", the_other_scripts_answer_ok},
};

class ScriptCodesTest : public ::testing::Test {
 protected:
  ScriptBench t;
};

TEST_F(ScriptCodesTest, PutAnswersNeedsSizeCreatedAndBelowReserved) {
  put_answers_needs_size_created_and_below_reserved(t);
}
TEST_F(ScriptCodesTest, EveryEventScriptAnswersNoEventForAnUnknownEvent) {
  every_event_script_answers_no_event_for_an_unknown_event(t);
}
TEST_F(ScriptCodesTest, ReserveAnswersEachOutcome) {
  reserve_answers_each_outcome(t);
}
TEST_F(ScriptCodesTest, StatusAnswersWhereEachUserIs) {
  status_answers_where_each_user_is(t);
}
TEST_F(ScriptCodesTest, LeaveAnswersNotInLineHoldsSeatOtherJoinAndLeft) {
  leave_answers_not_in_line_holds_seat_other_join_and_left(t);
}
TEST_F(ScriptCodesTest, PromoteAdmitsAndAnswersNotOpenUnlessOpen) {
  promote_admits_and_answers_not_open_unless_open(t);
}
TEST_F(ScriptCodesTest, CallsOnASeatAnswerEachOutcome) {
  calls_on_a_seat_answer_each_outcome(t);
}
TEST_F(ScriptCodesTest, CallsOnASeatAnswerHoldEndedOnceTheHoldIsOver) {
  calls_on_a_seat_answer_hold_ended_once_the_hold_is_over(t);
}
TEST_F(ScriptCodesTest, TheOtherScriptsAnswerOk) {
  the_other_scripts_answer_ok(t);
}

// Every scenario, each on an empty database: together they reach every
// code of every script's contract (54 pairs), and no other.
TEST_F(ScriptCodesTest, EveryResultCodeOfEveryScriptIsReached) {
  for (const auto& [name, scenario] : kScenarios) {
    SCOPED_TRACE(name);
    t.db().flushall();
    scenario(t);
  }
  const Reached want = every_code();
  EXPECT_EQ(want.size(), 54u) << "the contract's codes changed: update the count";
  for (const auto& [script, outcome, c] : want)
    EXPECT_EQ(t.reached().count({script, outcome, c}), 1u)
        << script << " never answered " << (outcome ? "the outcome " : "") << c;
  for (const auto& [script, outcome, c] : t.reached())
    EXPECT_EQ(want.count({script, outcome, c}), 1u)
        << script << " answered " << (outcome ? "the outcome " : "") << c
        << ", not in its contract";
}

// A wrong-typed key (here a string) fails every script that reads it
// before anything is written: for each script and each key, in a state
// where the script writes, either the script fails and every key is as it
// was, or it succeeds without having touched the key. A reset is the
// exception: it clears a corrupt event (UNLINK takes any type).
TEST_F(ScriptCodesTest, AWrongTypedKeyFailsAScriptBeforeAnyWrite) {
  const std::vector<std::pair<const QueueScript*, std::vector<std::string>>> calls = {
      {&S.reserve, {"new", "b"}},
      {&S.status, {"a", "b"}},
      {&S.promote, {"1"}},
      {&S.put, ScriptBench::settings({{"capacity", "3"}, {"waiter_ttl_s", "0"}})},
      {&S.get, {}},
      {&S.leave, {"c", ""}},
      {&S.cancel, {"a", "", "1"}},
      {&S.confirm, {"a", ""}},
      {&S.verify, {"a", "", "1"}},
      {&S.tick, {"100", "60000"}},
      {&S.history, {}},
      {&S.reset, {}}};
  for (const auto& [script, args] : calls) {
    int failed = 0;
    for (const char* key : kEventKeys) {
      SCOPED_TRACE(std::string(script->name) + " with a wrong-typed " + key);
      t.db().flushall();
      // Seats: a held, d confirmed; b and c wait; a rate, holds and
      // waiter expiry on, and a history.
      t.put("e", {{"capacity", "3"},
                  {"queue_limit", "5"},
                  {"admit_rate", "1000"},
                  {"hold_s", "600"},
                  {"waiter_ttl_s", "60"}});
      t.run(S.reserve, "e", {"a", "d"});
      t.run(S.confirm, "e", {"d", ""});
      t.put("e", {{"capacity", "2"}});
      t.run(S.reserve, "e", {"b", "c"});
      t.put("e", {{"capacity", "3"}});
      const std::string name = RedisClient::key("e", key);
      t.db().command({"DEL", name});
      t.db().command({"SET", name, "x"});
      const Snapshot before = t.db().snapshot("");
      Reply r = t.call(*script, "e", args);
      const Snapshot after = t.db().snapshot("");
      if (r.is_error()) {
        ++failed;
        EXPECT_NE(r.str.find("WRONGTYPE"), std::string::npos) << r.str;
        EXPECT_EQ(diff(before, after), "");
      } else if (script == &S.reset) {
        EXPECT_EQ(after.count(name), std::string(key) == "cfg" ? 1u : 0u);
      } else {
        ASSERT_EQ(after.count(name), 1u);
        EXPECT_EQ(after.at(name), before.at(name)) << "written without having been read";
      }
    }
    // Every event script reads the settings first.
    EXPECT_GE(failed, 1) << script->name;
  }
}

// Lists longer than Lua's unpack takes (8,000 values), ten times
// kScriptChunk, in one call of each script that takes a list: 10,000
// users joining at once, asking where they are, admitted by an operator,
// then swept when their holds end; and a step of the admission timer
// allowed more than it may admit in one call.
TEST_F(ScriptCodesTest, TheLargestBatchesWorkInOneCall) {
  constexpr int kUsers = 10000;
  static_assert(kUsers >= 10 * kScriptChunk);
  t.create("e", 1, kUsers + 10);
  t.run(S.reserve, "e", {"first"});
  std::vector<std::string> users;
  for (int i = 0; i < kUsers; ++i) users.push_back("u" + std::to_string(i));
  Reply r = t.run(S.reserve, "e", users);
  ASSERT_EQ(r.elements.size(), 1u + contract::reserve.each.size() * kUsers) << r.str;
  EXPECT_EQ(ScriptBench::item(r, S.reserve, kUsers - 1, "code"), code::kQueued);
  EXPECT_EQ(ScriptBench::item(r, S.reserve, kUsers - 1, "position"), kUsers)
      << "the last one's place";
  r = t.run(S.status, "e", users);
  ASSERT_EQ(r.elements.size(), 1u + kStatusHeader + contract::status.each.size() * kUsers) << r.str;
  EXPECT_EQ(ScriptBench::item(r, S.status, kUsers - 1, "code"), code::kInQueue);
  // An operator admits 5,000 at once (6 values each to write); then holds
  // of 1 s for every seat, admission at a rate far above what one step may
  // admit (the caller's bound, here 20,000).
  t.put("e", {{"capacity", std::to_string(kUsers + 1)}});
  r = t.run(S.promote, "e", {"5000"});
  ASSERT_EQ(ScriptBench::at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(ScriptBench::field(r, S.promote, "remaining"), kUsers - 5000) << "still waiting";
  t.put("e", {{"admit_rate", "1000000"}, {"hold_s", "1"}});
  r = t.run(S.tick, "e", {"20000", "60000"});
  ASSERT_EQ(ScriptBench::at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(ScriptBench::field(r, S.tick, "admitted"), kUsers - 5000);
  EXPECT_EQ(t.db().scard(RedisClient::key("e", "reserved")), kUsers + 1);
  // Every hold ends (1 ms after the epoch): one sweep frees them all.
  std::vector<std::string> move{"ZADD", RedisClient::key("e", "holds")};
  for (const std::string& u : t.db().smembers(RedisClient::key("e", "reserved")))
    move.insert(move.end(), {"1", u});
  ASSERT_FALSE(t.db().command(move).is_error());
  r = t.run(S.tick, "e", {"20000", "60000"});
  ASSERT_EQ(ScriptBench::at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(ScriptBench::field(r, S.tick, "expired_holds"), kUsers + 1);
  EXPECT_EQ(t.db().scard(RedisClient::key("e", "reserved")), 0);
  EXPECT_TRUE(t.db().check_invariants("e", kUsers + 1).empty());
}

}  // namespace
}  // namespace ticketq::test
