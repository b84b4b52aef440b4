// The result codes of scripts.h against the scripts themselves, on a real
// redis-server and with EVALSHA, as the gateway calls them (no HTTP): each
// code the queue core decodes is the one a script returns in the situation
// the code names. A code defined to the wrong Lua name, or a script that
// returns the wrong one, fails here.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/scripts.h"
#include "support/redis_client.h"
#include "support/redis_process.h"

namespace ticketq::test {
namespace {

class ScriptCodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(redis_.start(), "");
    db_ = std::make_unique<RedisClient>(redis_.port());
    for (const Script* s : scripts().all()) {
      Reply r = db_->command({"SCRIPT", "LOAD", s->body});
      ASSERT_EQ(r.str, s->sha1) << s->name;
    }
  }

  // The script on `event` (not the default event: ARGV[1..2] are ""), with
  // ARGV[3..] = args.
  Reply run(const Script& s, const std::string& event, const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"EVALSHA", s.sha1, std::to_string(kScriptKeyCount)};
    for (const char* k : kEventKeys) cmd.push_back(RedisClient::key(event, k));
    cmd.insert(cmd.end(), {"", ""});
    cmd.insert(cmd.end(), args.begin(), args.end());
    Reply r = db_->command(cmd);
    EXPECT_EQ(r.type, Reply::Type::kArray) << s.name << ": " << r.str;
    return r;
  }
  // The reply's element i as a number (-100 when there is none).
  static int64_t at(const Reply& r, size_t i) {
    return i < r.elements.size() ? r.elements[i].integer : -100;
  }
  // Creates `event` with capacity, queue_limit and hold_s.
  void create(const std::string& event, int cap, int limit, int hold_s = 0) {
    Reply r = run(scripts().put, event,
                  {std::to_string(cap), std::to_string(limit), "", "", std::to_string(hold_s), ""});
    ASSERT_EQ(at(r, 0), code::kOk);
  }
  // Sets the event's state (open, paused, closed).
  void set_state(const std::string& event, const std::string& state) {
    ASSERT_EQ(at(run(scripts().put, event, {"", "", state, "", "", ""}), 0), code::kOk);
  }
  // The ticket a reserve gave `user` (its reply's third figure).
  std::string reserve_ticket(const std::string& event, const std::string& user) {
    return std::to_string(at(run(scripts().reserve, event, {user}), 3));
  }

  RedisProcess redis_;
  std::unique_ptr<RedisClient> db_;
};

TEST_F(ScriptCodesTest, PutAnswersNeedsSizeCreatedAndBelowReserved) {
  Reply r = run(scripts().put, "e", {"", "", "", "", "", ""});
  EXPECT_EQ(at(r, 0), code::kNeedsSize);
  r = run(scripts().put, "e", {"1", "1", "", "", "", ""});
  EXPECT_EQ(at(r, 0), code::kOk);
  EXPECT_EQ(at(r, 1), 1) << "created";
  run(scripts().reserve, "e", {"a"});
  r = run(scripts().put, "e", {"0", "", "", "", "", ""});
  EXPECT_EQ(at(r, 0), code::kBelowReserved);
  EXPECT_EQ(at(r, 1), 1) << "the seats taken";
}

TEST_F(ScriptCodesTest, EveryEventScriptAnswersNoEventForAnUnknownEvent) {
  for (const Script* s : scripts().all()) {
    if (s == &scripts().put || s == &scripts().events) continue;
    Reply r = run(*s, "nosuch", {"u", "", "", ""});
    EXPECT_EQ(at(r, 0), code::kNoEvent) << s->name;
  }
}

TEST_F(ScriptCodesTest, ReserveAnswersEachOutcome) {
  create("e", 1, 1);
  // One batch: a seat, a place, sold out, and the repeats within it.
  Reply r = run(scripts().reserve, "e", {"a", "b", "c", "a", "b"});
  ASSERT_EQ(r.elements.size(), 1u + 5 * 3);
  EXPECT_EQ(at(r, 0), code::kOk);
  EXPECT_EQ(at(r, 1), code::kReserved);
  EXPECT_EQ(at(r, 4), code::kQueued);
  EXPECT_EQ(at(r, 5), 1) << "position";
  EXPECT_EQ(at(r, 7), code::kSoldOut);
  EXPECT_EQ(at(r, 10), code::kAlreadyReserved);
  EXPECT_EQ(at(r, 13), code::kAlreadyInQueue);
  // A later call.
  r = run(scripts().reserve, "e", {"a", "b"});
  EXPECT_EQ(at(r, 1), code::kAlreadyReserved);
  EXPECT_EQ(at(r, 4), code::kAlreadyInQueue);
  set_state("e", "closed");
  r = run(scripts().reserve, "e", {"d"});
  EXPECT_EQ(at(r, 1), code::kClosed);
}

TEST_F(ScriptCodesTest, StatusAnswersWhereEachUserIs) {
  create("e", 1, 1);
  run(scripts().reserve, "e", {"a", "b"});
  Reply r = run(scripts().status, "e", {"a", "b", "z"});
  const size_t first = 1 + kStatusHeader;
  ASSERT_EQ(r.elements.size(), first + 3 * 5);
  EXPECT_EQ(at(r, 0), code::kOk);
  EXPECT_EQ(at(r, first), code::kIsReserved);
  EXPECT_EQ(at(r, first + 5), code::kInQueue);
  EXPECT_EQ(at(r, first + 6), 1) << "position";
  EXPECT_EQ(at(r, first + 10), code::kNotFound);
}

TEST_F(ScriptCodesTest, LeaveAnswersNotInLineHoldsSeatOtherJoinAndLeft) {
  create("e", 1, 2);
  run(scripts().reserve, "e", {"a"});
  const std::string b_ticket = reserve_ticket("e", "b");
  EXPECT_EQ(at(run(scripts().leave, "e", {"z", ""}), 1), code::kNotInLine);
  EXPECT_EQ(at(run(scripts().leave, "e", {"a", ""}), 1), code::kHoldsSeat);
  EXPECT_EQ(at(run(scripts().leave, "e", {"b", b_ticket + "0"}), 1), code::kOtherJoin);
  Reply r = run(scripts().leave, "e", {"b", b_ticket});
  EXPECT_EQ(at(r, 1), code::kLeft);
  EXPECT_EQ(at(r, 2), 1) << "the place it had";
}

TEST_F(ScriptCodesTest, PromoteAnswersNotOpenWhilePaused) {
  create("e", 2, 2);
  set_state("e", "paused");
  Reply r = run(scripts().promote, "e", {"10"});
  EXPECT_EQ(at(r, 0), code::kNotOpen);
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[1].str, "paused");
}

TEST_F(ScriptCodesTest, CallsOnASeatAnswerEachOutcome) {
  create("e", 2, 2);
  const std::string a = reserve_ticket("e", "a");
  const std::string d = reserve_ticket("e", "d");
  // Nobody's seat; another join's ticket.
  EXPECT_EQ(at(run(scripts().cancel, "e", {"z", "", ""}), 1), code::kNoSeat);
  EXPECT_EQ(at(run(scripts().confirm, "e", {"z", ""}), 1), code::kNoSeat);
  EXPECT_EQ(at(run(scripts().verify, "e", {"z", "1", ""}), 1), code::kNoSeat);
  EXPECT_EQ(at(run(scripts().confirm, "e", {"a", a + "0"}), 1), code::kOtherJoin);
  EXPECT_EQ(at(run(scripts().verify, "e", {"a", a + "0", ""}), 1), code::kOtherJoin);
  EXPECT_EQ(at(run(scripts().cancel, "e", {"a", a + "0", ""}), 1), code::kOtherJoin);
  // Verify, consumed once.
  EXPECT_EQ(at(run(scripts().verify, "e", {"a", a, ""}), 1), code::kDone);
  EXPECT_EQ(at(run(scripts().verify, "e", {"a", a, "1"}), 1), code::kDone);
  EXPECT_EQ(at(run(scripts().verify, "e", {"a", a, "1"}), 1), code::kUsed);
  // Confirmed once; a sold seat is not the user's to cancel.
  EXPECT_EQ(at(run(scripts().confirm, "e", {"a", a}), 1), code::kDone);
  EXPECT_EQ(at(run(scripts().confirm, "e", {"a", a}), 1), code::kUnchanged);
  EXPECT_EQ(at(run(scripts().cancel, "e", {"a", a, ""}), 1), code::kIsConfirmed);
  EXPECT_EQ(at(run(scripts().cancel, "e", {"a", "", "1"}), 1), code::kDone) << "an operator";
  EXPECT_EQ(at(run(scripts().cancel, "e", {"d", d, ""}), 1), code::kDone);
}

TEST_F(ScriptCodesTest, CallsOnASeatAnswerHoldEndedOnceTheHoldIsOver) {
  create("e", 1, 1, 600);
  const std::string a = reserve_ticket("e", "a");
  // The hold ended a second ago (the sweep has not freed the seat yet).
  Reply now = db_->command({"TIME"});
  ASSERT_EQ(now.elements.size(), 2u);
  const int64_t past_ms = std::stoll(now.elements[0].str) * 1000 - 1000;
  db_->command({"ZADD", RedisClient::key("e", "holds"), std::to_string(past_ms), "a"});
  EXPECT_EQ(at(run(scripts().confirm, "e", {"a", a}), 1), code::kHoldEnded);
  EXPECT_EQ(at(run(scripts().verify, "e", {"a", a, "1"}), 1), code::kHoldEnded);
}

// Lists longer than Lua's unpack takes (8,000 values) in one call of each
// script that takes a list: 9,000 users joining at once, asking where they
// are, admitted by an operator, then swept when their holds end; and a step
// of the admission timer allowed more than it may admit in one call.
TEST_F(ScriptCodesTest, TheLargestBatchesWorkInOneCall) {
  constexpr int kUsers = 9000;
  create("e", 1, kUsers + 10);
  run(scripts().reserve, "e", {"first"});
  std::vector<std::string> users;
  for (int i = 0; i < kUsers; ++i) users.push_back("u" + std::to_string(i));
  Reply r = run(scripts().reserve, "e", users);
  ASSERT_EQ(r.elements.size(), 1u + 3 * kUsers) << r.str;
  EXPECT_EQ(at(r, 1 + 3 * (kUsers - 1)), code::kQueued);
  EXPECT_EQ(at(r, 2 + 3 * (kUsers - 1)), kUsers) << "the last one's place";
  r = run(scripts().status, "e", users);
  ASSERT_EQ(r.elements.size(), 1u + kStatusHeader + 5 * kUsers) << r.str;
  EXPECT_EQ(at(r, 1 + kStatusHeader + 5 * (kUsers - 1)), code::kInQueue);
  // An operator admits 4,500 at once (6 values each to write); then holds
  // of 1 s for every seat, admission at a rate far above what one step may
  // admit (the caller's bound, here 20,000).
  ASSERT_EQ(at(run(scripts().put, "e", {std::to_string(kUsers + 1), "", "", "", "", ""}), 0),
            code::kOk);
  r = run(scripts().promote, "e", {"4500"});
  ASSERT_EQ(at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(at(r, 1), kUsers - 4500) << "still waiting";
  ASSERT_EQ(at(run(scripts().put, "e", {"", "", "", "1000000", "1", ""}), 0), code::kOk);
  r = run(scripts().tick, "e", {"20000", "60000"});
  ASSERT_EQ(at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(at(r, 1), kUsers - 4500) << "admitted";
  EXPECT_EQ(db_->scard(RedisClient::key("e", "reserved")), kUsers + 1);
  // Every hold ends (1 ms after the epoch): one sweep frees them all.
  std::vector<std::string> move{"ZADD", RedisClient::key("e", "holds")};
  for (const std::string& u : db_->smembers(RedisClient::key("e", "reserved")))
    move.insert(move.end(), {"1", u});
  ASSERT_FALSE(db_->command(move).is_error());
  r = run(scripts().tick, "e", {"20000", "60000"});
  ASSERT_EQ(at(r, 0), code::kOk) << r.str;
  EXPECT_EQ(at(r, 2), kUsers + 1) << "holds ended";
  EXPECT_EQ(db_->scard(RedisClient::key("e", "reserved")), 0);
  EXPECT_TRUE(db_->check_invariants("e", kUsers + 1).empty());
}

}  // namespace
}  // namespace ticketq::test
