// Tests of src/pages/visitor.cpp (what a visitor is told of their place, and the
// waiting room as first painted) and of the stream framing in
// src/pages/watchers.cpp.
#include "pages/visitor.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "pages/watchers.h"
#include "pages/web_assets.h"

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

TEST_F(VisitorTest, ProgressCountsThePeopleAheadAtTheJoinThatHaveGone) {
  // Joined with 3 ahead: place 4 is none passed, place 1 all three.
  EXPECT_EQ(line_progress(3, 4)->passed, 0);
  EXPECT_EQ(line_progress(3, 4)->of, 3);
  EXPECT_EQ(line_progress(3, 2)->passed, 2);
  EXPECT_EQ(line_progress(3, 1)->passed, 3);
  EXPECT_EQ(line_progress(3, 1)->of, 3);
  // At the front from the start: no way came, nothing to show (not a full bar).
  EXPECT_FALSE(line_progress(0, 1).has_value());
  // Not known (a token from elsewhere), or no place.
  EXPECT_FALSE(line_progress(-1, 5).has_value());
  EXPECT_FALSE(line_progress(3, 0).has_value());
  // Never more ahead than at the join; were it so, nobody is passed yet.
  EXPECT_EQ(line_progress(1, 5)->passed, 0);
  EXPECT_EQ(line_progress(1, 5)->of, 4);

  VisitorView v = visitor_view(waiting(2), "u", 3, "e", tokens_);
  add_progress(v, 1);
  EXPECT_EQ(v.data["progress"], Json({{"passed", 0}, {"of", 1}}));
  VisitorView front = visitor_view(waiting(1), "u", 3, "e", tokens_);
  add_progress(front, 0);
  EXPECT_FALSE(front.data.contains("progress"));
  VisitorView admitted = visitor_view(seat(3), "u", 3, "e", tokens_);
  add_progress(admitted, 4);
  EXPECT_FALSE(admitted.data.contains("progress"));
}

TEST_F(VisitorTest, ANewcomerIsToldTheEventsStateFirst) {
  EventInfo e;
  e.settings = {1, 2};
  EXPECT_EQ(newcomer_view(e), Json({{"state", "none"}, {"event_state", "open"}}));
  e.state = EventState::kPaused;
  EXPECT_EQ(newcomer_view(e), Json({{"state", "none"}, {"event_state", "paused"}}));
  e.reserved = 1;
  e.waiting = 1;
  EXPECT_EQ(newcomer_view(e)["state"], "none") << "a place is left in line";
  e.waiting = 2;
  EXPECT_EQ(newcomer_view(e), Json({{"state", "sold_out"}, {"event_state", "paused"}}));
  // Free seats go to the line first: with the line full, a join is refused
  // though seats are free (the reserve script's rule).
  e.reserved = 0;
  EXPECT_EQ(newcomer_view(e)["state"], "sold_out") << "seats free, the line full";
  // No line at all (queue_limit 0): a seat or nothing.
  e.settings = {1, 0};
  e.waiting = 0;
  EXPECT_EQ(newcomer_view(e)["state"], "none") << "a seat is free";
  e.reserved = 1;
  EXPECT_EQ(newcomer_view(e)["state"], "sold_out") << "no seat, no line";
  e.state = EventState::kClosed;
  EXPECT_EQ(newcomer_view(e), Json({{"state", "closed"}, {"event_state", "closed"}}));
  EXPECT_EQ(unknown_event_view(), Json({{"state", "unknown"}}));
}

TEST_F(VisitorTest, EachStateIsToldWithOneHeadingAndOneNotice) {
  auto t = [](Json view) {
    Told w = told(view);
    return w.state + "|" + w.heading + "|" + w.notice;
  };
  EXPECT_EQ(t({{"state", "none"}, {"event_state", "open"}}), "none|none|");
  EXPECT_EQ(t({{"state", "none"}, {"event_state", "paused"}}), "none|none|pausedJoin");
  EXPECT_EQ(t({{"state", "closed"}, {"event_state", "closed"}}), "closed|closed|");
  EXPECT_EQ(t({{"state", "sold_out"}}), "sold_out|sold_out|") << "one message, no second one";
  EXPECT_EQ(t({{"state", "unknown"}}), "unknown|unknown|unknown");
  EXPECT_EQ(t({{"state", "waiting"}, {"event_state", "paused"}}), "waiting|paused|paused");
  EXPECT_EQ(t({{"state", "waiting"}, {"event_state", "closed"}}),
            "waiting|waiting|closedKeepPlace");
  EXPECT_EQ(t({{"state", "left"}, {"reason", "left"}}), "left|left|left");
  EXPECT_EQ(t({{"state", "left"}, {"reason", "seat_given_up"}}),
            "left|seat_given_up|seat_given_up");
  EXPECT_EQ(t({{"state", "expired"}, {"reason", "hold_ended"}}), "expired|expired|hold_ended");
  EXPECT_EQ(t({{"state", "reconnect"}}), "none|none|");
  EXPECT_EQ(t({{"state", 5}}), "none|none|");
}

TEST_F(VisitorTest, EveryWordThePagePaintsIsInStringsJs) {
  EXPECT_EQ(page_word("lang"), "en");
  EXPECT_EQ(page_word("states.waiting"), "You are in line.");
  EXPECT_EQ(page_word("states.nothing"), "");
  EXPECT_EQ(page_word("etaMinutes"), "") << "a function is the script's";
  for (const char* state :
       {"none", "waiting", "admitted", "confirmed", "expired", "left", "closed", "sold_out",
        "unknown", "loading", "paused", "seat_given_up", "seat_released"})
    EXPECT_NE(page_word(std::string("states.") + state), "") << state;
  for (const char* notice :
       {"paused", "pausedJoin", "closedKeepPlace", "hold_ended", "not_in_line", "left",
        "seat_given_up", "seat_released", "superseded", "unknown", "keepOpen"})
    EXPECT_NE(page_word(std::string("notices.") + notice), "") << notice;
  // Every {{t:...}} of the page names a word.
  std::string_view page = *web_file("wait.html");
  for (size_t at = page.find("{{t:"); at != std::string_view::npos;
       at = page.find("{{t:", at + 1)) {
    std::string_view name = page.substr(at + 4, page.find("}}", at) - at - 4);
    EXPECT_NE(page_word(name), "") << name;
  }
}

TEST_F(VisitorTest, ThePageIsPaintedInTheVisitorsStateAndEscapesWhatItShows) {
  std::string_view tmpl = *web_file("wait.html");
  Json waiting_view = {{"state", "waiting"},
                       {"user_id", "<u>"},
                       {"position", 2},
                       {"progress", {{"passed", 1}, {"of", 2}}},
                       {"event_state", "open"}};
  std::string html = wait_page_html(tmpl, "e", "", &waiting_view);
  EXPECT_EQ(html.find("{{"), std::string::npos);
  EXPECT_NE(html.find(">You are in line.</h2>"), std::string::npos) << html;
  EXPECT_NE(html.find("<span id=\"position\" class=\"position\">2</span>"), std::string::npos);
  EXPECT_NE(html.find("max=\"2\" value=\"1\""), std::string::npos);
  EXPECT_NE(html.find("<section id=\"line\">"), std::string::npos) << "shown";
  EXPECT_NE(html.find("<section id=\"admission\" hidden>"), std::string::npos);
  EXPECT_NE(html.find("<title>Waiting room – e</title>"), std::string::npos);
  EXPECT_EQ(html.find("<u>"), std::string::npos) << "the view is escaped";
  EXPECT_NE(html.find("&quot;user_id&quot;:&quot;&lt;u&gt;&quot;"), std::string::npos);

  // The admission without a booking URL: the words first, the code behind a
  // disclosure.
  Json admitted = {
      {"state", "admitted"}, {"admission_token", "a.b\"<c"}, {"hold_expires_at", nullptr}};
  html = wait_page_html(tmpl, "e", "", &admitted);
  EXPECT_NE(html.find("<div id=\"no-link\">"), std::string::npos);
  EXPECT_NE(html.find("<details id=\"code-details\">"), std::string::npos);
  EXPECT_NE(html.find(">a.b&quot;&lt;c</textarea>"), std::string::npos);
  EXPECT_NE(html.find(std::string(page_word("heldNoLimit"))), std::string::npos);
  // With one: a form that posts the token there (never in a URL).
  html = wait_page_html(tmpl, "e", "https://book.example/b?x=1&y=\"2\"", &admitted);
  EXPECT_NE(html.find("<form id=\"continue\" method=\"post\" "
                      "action=\"https://book.example/b?x=1&amp;y=&quot;2&quot;\">"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("name=\"token\" value=\"a.b&quot;&lt;c\""), std::string::npos) << html;
  EXPECT_NE(html.find("name=\"event\" value=\"e\""), std::string::npos) << html;
  EXPECT_EQ(html.find("token=a.b"), std::string::npos) << "the token is in no URL";
  EXPECT_NE(html.find("<div id=\"no-link\" hidden>"), std::string::npos);

  // A hostile event name (the router allows none, but nothing relies on it).
  Json none = {{"state", "none"}, {"event_state", "open"}};
  html = wait_page_html(tmpl, "<script>x", "", &none);
  EXPECT_EQ(html.find("<script>x"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;x"), std::string::npos);

  // Not known (Redis did not answer): the script asks.
  html = wait_page_html(tmpl, "e", "", nullptr);
  EXPECT_NE(html.find("data-view=\"\""), std::string::npos);
  EXPECT_NE(html.find(std::string(page_word("states.loading"))), std::string::npos);
}

}  // namespace
}  // namespace ticketq
