// Tests of src/visitor.cpp (what a visitor is told of their place) and of
// the stream framing in src/watchers.cpp.
#include "ticketq/visitor.h"

#include <gtest/gtest.h>

#include "ticketq/clock.h"
#include "ticketq/watchers.h"

namespace ticketq {
namespace {

using Json = nlohmann::ordered_json;

class VisitorTest : public ::testing::Test {
 protected:
  Tokens tokens_ = *Tokens::ephemeral({}).value;
  const int64_t now_ = now_wall_ms();

  static int64_t now_wall_ms() { return unix_now_s() * 1000; }

  StatusResult waiting(int64_t position, EventState state = EventState::kOpen) const {
    StatusResult r;
    r.status = UserStatus::kInQueue;
    r.position = position;
    r.pace.now_ms = now_;
    r.pace.state = state;
    r.pace.paused = state != EventState::kOpen;
    return r;
  }
  StatusResult seat(int64_t ticket, int64_t hold_ends_ms = 0, bool confirmed = false) const {
    StatusResult r;
    r.status = UserStatus::kReserved;
    r.ticket = ticket;
    r.hold_ends_ms = hold_ends_ms;
    r.confirmed = confirmed;
    r.pace.now_ms = now_;
    return r;
  }
  StatusResult gone(EventState state = EventState::kOpen) const {
    StatusResult r;
    r.pace.now_ms = now_;
    r.pace.state = state;
    return r;
  }
};

TEST_F(VisitorTest, AWaiterSeesPositionEtaAndTheEventsState) {
  VisitorView v = visitor_view(waiting(7), "u", 3, "e", tokens_);
  EXPECT_EQ(v.state, VisitorState::kWaiting);
  EXPECT_EQ(v.data.dump(),
            R"({"state":"waiting","user_id":"u","position":7,"eta_s":null,"event_state":"open"})");
  StatusResult fast = waiting(30);
  fast.pace.admitted_last_minute = 60;
  fast.pace.span_ms = 60000;
  EXPECT_EQ(visitor_view(fast, "u", 3, "e", tokens_).data["eta_s"], 30);
  EXPECT_EQ(visitor_view(waiting(1, EventState::kPaused), "u", 3, "e", tokens_).data["event_state"],
            "paused");
  EXPECT_FALSE(is_final(VisitorState::kWaiting));
}

TEST_F(VisitorTest, AnAdmittedVisitorGetsAnAdmissionTokenOfTheirJoin) {
  const int64_t ends = now_ + 120'000;
  VisitorView v = visitor_view(seat(3, ends), "u", 3, "e", tokens_);
  EXPECT_EQ(v.state, VisitorState::kAdmitted);
  EXPECT_EQ(v.hold_ends_ms, ends);
  EXPECT_EQ(v.data["hold_expires_at"], epoch_s_up(ends));
  ASSERT_TRUE(v.data["admission_token"].is_string());
  TokenCheck t = tokens_.verify(v.data["admission_token"].get<std::string>(), TokenKind::kAdmission,
                                "e", unix_now_s());
  ASSERT_TRUE(t.ok()) << t.reason();
  EXPECT_EQ(t.claims.sub, "u");
  EXPECT_EQ(t.claims.tkt, 3);
  EXPECT_LE(t.claims.exp, epoch_s_up(ends));
  EXPECT_FALSE(is_final(VisitorState::kAdmitted));
  // A hold that never ends.
  EXPECT_TRUE(visitor_view(seat(3), "u", 3, "e", tokens_).data["hold_expires_at"].is_null());
}

TEST_F(VisitorTest, EndsAreTold) {
  struct Row {
    const char* name;
    StatusResult r;
    VisitorState before;
    int64_t before_ends;
    VisitorState state;
    const char* reason;
  };
  StatusResult later_join = waiting(1);
  later_join.ticket = 9;
  const Row rows[] = {
      {"a later join waits in line", later_join, VisitorState::kWaiting, 0, VisitorState::kLeft,
       "superseded"},
      {"another join holds the seat", seat(9), VisitorState::kWaiting, 0, VisitorState::kLeft,
       "superseded"},
      {"sold", seat(3, 0, true), VisitorState::kAdmitted, 0, VisitorState::kConfirmed, ""},
      {"hold ended, still stored", seat(3, now_ - 1), VisitorState::kAdmitted, now_ - 1,
       VisitorState::kExpired, "hold_ended"},
      {"hold ended and swept", gone(), VisitorState::kAdmitted, now_ - 1, VisitorState::kExpired,
       "hold_ended"},
      {"seat given back", gone(), VisitorState::kAdmitted, now_ + 60'000, VisitorState::kLeft,
       "left"},
      {"left the line", gone(), VisitorState::kWaiting, 0, VisitorState::kLeft, "left"},
      {"closed event, not in it", gone(EventState::kClosed), VisitorState::kWaiting, 0,
       VisitorState::kClosed, ""},
      {"never seen", gone(), VisitorState::kNone, 0, VisitorState::kExpired, "not_in_line"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    VisitorView v = visitor_view(row.r, "u", 3, "e", tokens_, row.before, row.before_ends);
    EXPECT_EQ(v.state, row.state);
    EXPECT_EQ(v.data["state"], visitor_state_name(row.state));
    EXPECT_EQ(v.data["user_id"], "u");
    EXPECT_EQ(v.data.value("reason", ""), row.reason);
    EXPECT_TRUE(is_final(v.state));
    EXPECT_FALSE(v.data.contains("admission_token"));
  }
}

TEST_F(VisitorTest, TheStreamFramesEachViewAsOneEvent) {
  VisitorView v = visitor_view(waiting(2), "u", 3, "e", tokens_);
  std::string text = stream_event(v, 0xabc, view_json(v));
  EXPECT_EQ(text,
            std::string("id: 0000000000000abc\nevent: waiting\ndata: ") + v.data.dump() + "\n\n");
  EXPECT_EQ(stream_preamble(2000), "retry: 2000\n: ticketq\n\n");
}

TEST_F(VisitorTest, DigestsTellWhatNeedsSendingAgain) {
  auto view_digest = [](const VisitorView& v) { return ticketq::view_digest(v, view_json(v)); };
  const uint64_t a = view_digest(visitor_view(waiting(2), "u", 3, "e", tokens_));
  EXPECT_EQ(a, view_digest(visitor_view(waiting(2), "u", 3, "e", tokens_)));
  EXPECT_NE(a, view_digest(visitor_view(waiting(1), "u", 3, "e", tokens_)));
  EXPECT_NE(a, view_digest(visitor_view(waiting(2, EventState::kPaused), "u", 3, "e", tokens_)));
  EXPECT_NE(a, 0u);  // 0 means "nothing told"
  // An admission is the same news whatever its freshly signed token.
  VisitorView one = visitor_view(seat(3, now_ + 60'000), "u", 3, "e", tokens_);
  VisitorView two = visitor_view(seat(3, now_ + 60'000), "u", 3, "e", tokens_);
  EXPECT_EQ(view_digest(one), view_digest(two));
  EXPECT_NE(view_digest(one),
            view_digest(visitor_view(seat(3, now_ + 90'000), "u", 3, "e", tokens_)));
}

}  // namespace
}  // namespace ticketq
