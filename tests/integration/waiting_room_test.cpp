// A user's whole life in the waiting room, through HTTP against real Redis
// and real servers: join, status with ETA, admission (manual, automatic at a
// rate, at once), the admission token, confirm, verify, cancel, leave, hold
// and waiter expiry, and every refusal on the way. Also the original
// systems' scenarios, with their times shortened.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "support/process_util.h"
#include "support/stack.h"
#include "tokens/tokens.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

// The claims of a JWT, unverified (the server verified it).
json claims_of(const std::string& jwt) {
  size_t a = jwt.find('.'), b = jwt.rfind('.');
  auto payload = base64url_decode(std::string_view(jwt).substr(a + 1, b - a - 1));
  return payload ? json::parse(*payload, nullptr, false) : json();
}

int64_t wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class WaitingRoomTest : public ::testing::Test {
 protected:
  // Servers tick every 50 ms unless a test says otherwise.
  void start(std::vector<std::string> extra = {"--admission-tick-ms", "50"}) {
    ServerOptions o;
    o.extra_args = std::move(extra);
    ASSERT_EQ(stack_.start(o), "");
    http_ = std::make_unique<HttpClient>(stack_.server(0).port(), Millis(30000));
  }
  void SetUp() override {
    if (!manual_start_) start();
  }

  HttpClient& http() { return *http_; }
  std::string path(const std::string& what = "") const {
    return "/v1/events/" + event_ + (what.empty() ? "" : "/" + what);
  }
  void put(const std::string& body) {
    auto r = http().put(path(), body, admin());
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.describe();
  }
  HttpResponse join(const std::string& user) {
    return http().post(path("reserve"), user_body(user));
  }
  // Joins and returns the user token.
  std::string joined(const std::string& user, const char* want_status) {
    auto r = join(user);
    EXPECT_EQ(r.json.value("status", ""), want_status) << r.describe();
    return r.json.value("token", "");
  }
  HttpResponse status(const std::string& user, const std::string& token = "") {
    return http().get(path("status/" + user), token.empty() ? Headers{} : bearer(token));
  }
  std::string admission_token(const std::string& user, const std::string& token) {
    auto r = status(user, token);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json.value("admission_token", "");
  }
  json info() {
    auto r = http().get(path(), admin());
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json;
  }
  int64_t count(const char* field) { return info().value(field, int64_t(-1)); }
  HttpResponse verify(const std::string& token, const std::string& query = "") {
    return http().post(path("verify") + query, json{{"token", token}}.dump());
  }
  void expect_sound(int64_t capacity) {
    auto bad = stack_.db().check_invariants(event_, capacity);
    EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
  }

  bool manual_start_ = false;
  std::string event_ = "show";
  Stack stack_;
  std::unique_ptr<HttpClient> http_;
};

// ------------------------------------------------------------ transitions --

TEST_F(WaitingRoomTest, AdmittedUserConfirmsAndTheBookingServiceVerifies) {
  put(R"({"capacity":1,"queue_limit":5,"hold_s":600})");
  const int64_t before = wall_s();
  std::string token = joined("a", "reserved");
  json user_claims = claims_of(token);
  EXPECT_EQ(user_claims["kind"], "user");
  EXPECT_GT(user_claims["tkt"].get<int64_t>(), 0);

  // Anyone reads the state; only the token's holder gets the admission token.
  auto open = status("a");
  ASSERT_EQ(open.status, 200) << open.describe();
  EXPECT_EQ(open.json["state"], "admitted");
  EXPECT_FALSE(open.json.contains("admission_token"));
  int64_t ends = open.json["hold_expires_at"].get<int64_t>();
  EXPECT_GE(ends, before + 600 - 5);
  EXPECT_LE(ends, wall_s() + 600 + 5);
  std::string adm = admission_token("a", token);
  ASSERT_FALSE(adm.empty());
  json c = claims_of(adm);
  EXPECT_EQ(c["kind"], "admission");
  EXPECT_EQ(c["sub"], "a");
  EXPECT_EQ(c["evt"], event_);
  EXPECT_EQ(c["tkt"], user_claims["tkt"]);
  EXPECT_EQ(c["exp"], ends);

  auto v = verify(adm);
  ASSERT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.json["valid"], true);
  EXPECT_EQ(v.json["confirmed"], false);
  EXPECT_EQ(v.json["hold_expires_at"], ends);
  EXPECT_EQ(v.json["claims"]["sub"], "a");

  // Confirm takes the admission token, not the user token; it is idempotent.
  auto wrong = http().post(path("confirm"), "", bearer(token));
  EXPECT_EQ(wrong.status, 401) << wrong.describe();
  EXPECT_NE(wrong.json.value("error", "").find("wrong_kind"), std::string::npos);
  auto first = http().post(path("confirm"), "", bearer(adm));
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(first.json["already"], false);
  auto again = http().post(path("confirm"), "", bearer(adm));
  EXPECT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(again.json["already"], true);
  EXPECT_EQ(status("a").json["state"], "confirmed");
  EXPECT_TRUE(status("a").json["hold_expires_at"].is_null());
  v = verify(adm);
  EXPECT_EQ(v.json["confirmed"], true) << v.describe();
  EXPECT_TRUE(v.json["hold_expires_at"].is_null());

  // A sold seat: the user cannot cancel it, an operator can.
  auto mine = http().post(path("cancel"), "", bearer(token));
  EXPECT_EQ(mine.status, 409) << mine.describe();
  EXPECT_EQ(mine.json["status"], "confirmed");
  auto op = http().post(path("cancel"), user_body("a"), admin());
  EXPECT_EQ(op.status, 200) << op.describe();
  v = verify(adm);
  EXPECT_EQ(v.status, 409) << v.describe();
  EXPECT_EQ(v.json["reason"], "not_admitted");
  json i = info();
  EXPECT_EQ(i["cancelled"], 1);
  EXPECT_EQ(i["reserved"], 0);
  EXPECT_EQ(i["confirmed"], 0);
  expect_sound(1);
}

TEST_F(WaitingRoomTest, UserCancelsAHeldSeatWithEitherToken) {
  put(R"({"capacity":2,"queue_limit":5,"hold_s":600})");
  std::string ta = joined("a", "reserved");
  std::string tb = joined("b", "reserved");
  auto r = http().post(path("cancel"), "", bearer(ta));
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json["status"], "cancelled");
  std::string adm = admission_token("b", tb);
  r = http().post(path("cancel"), "", bearer(adm));
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(count("reserved"), 0);
  EXPECT_EQ(count("cancelled"), 2);
  // Once more: nothing to cancel.
  r = http().post(path("cancel"), "", bearer(ta));
  EXPECT_EQ(r.status, 404) << r.describe();
  expect_sound(2);
}

TEST_F(WaitingRoomTest, SeatCallsRefuseWhatTheyCannotDo) {
  put(R"({"capacity":1,"queue_limit":5})");
  std::string ta = joined("a", "reserved");
  std::string tb = joined("b", "queued");
  // A waiter has no seat to cancel or confirm.
  auto r = http().post(path("cancel"), "", bearer(tb));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["status"], "in_queue");
  r = http().post(path("confirm"), user_body("b"), admin());
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["status"], "not_admitted");
  // A seat holder is not in line.
  r = http().post(path("leave"), "", bearer(ta));
  EXPECT_EQ(r.status, 409) << r.describe();
  // Nobody of that name.
  EXPECT_EQ(http().post(path("cancel"), user_body("zed"), admin()).status, 404);
  EXPECT_EQ(http().post(path("leave"), user_body("zed"), admin()).status, 404);
  // No credentials, bad ones, another event's.
  r = http().post(path("cancel"));
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_EQ(http().post(path("cancel"), "", bearer("not.a.token")).status, 401);
  event_ = "other";
  put(R"({"capacity":1,"queue_limit":5})");
  r = http().post(path("cancel"), "", bearer(ta));
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_NE(r.json.value("error", "").find("wrong_event"), std::string::npos);
  // Admin calls must name the user.
  EXPECT_EQ(http().post(path("cancel"), "", admin()).status, 400);
  EXPECT_EQ(http().post(path("confirm"), R"({"user_id":"a b"})", admin()).status, 400);
}

TEST_F(WaitingRoomTest, StatusRefusesAnotherUsersOrABadToken) {
  put(R"({"capacity":1,"queue_limit":5})");
  std::string ta = joined("a", "reserved");
  joined("b", "queued");
  EXPECT_EQ(status("b", ta).status, 403);
  EXPECT_EQ(status("a", ta + "x").status, 401);
  auto ok = status("a", ta);
  EXPECT_EQ(ok.status, 200) << ok.describe();
  EXPECT_TRUE(ok.json.contains("admission_token"));
  // A seat whose hold never ends: the admission token lives a day.
  json c = claims_of(ok.json["admission_token"]);
  EXPECT_EQ(c["exp"].get<int64_t>() - c["iat"].get<int64_t>(), 24 * 3600);
  EXPECT_TRUE(ok.json["hold_expires_at"].is_null());
}

// ------------------------------------------------------------------ tokens --

// Anyone can send anyone's id: a repeated join learns the state, never a
// token, and without the token nobody leaves or cancels for the user.
TEST_F(WaitingRoomTest, RepeatedJoinGetsNoTokenAndCannotActForTheUser) {
  put(R"({"capacity":1,"queue_limit":5})");
  std::string ta = joined("a", "reserved");
  std::string tb = joined("b", "queued");
  for (const char* u : {"a", "b"}) {
    auto r = join(u);
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_FALSE(r.json.contains("token")) << r.describe();
  }
  EXPECT_EQ(http().post(path("leave"), user_body("b")).status, 401);
  EXPECT_EQ(http().post(path("cancel"), user_body("a")).status, 401);
  EXPECT_EQ(status("b").json["position"], 1);
  EXPECT_EQ(count("reserved"), 1);
}

// A token acts for the join it was given for: after a leave and a new join
// under the same id, the old token neither leaves, cancels nor gets the new
// seat's admission token.
TEST_F(WaitingRoomTest, ATokenActsOnlyForItsOwnJoin) {
  put(R"({"capacity":1,"queue_limit":5})");
  joined("x", "reserved");
  std::string old_token = joined("a", "queued");
  ASSERT_EQ(http().post(path("leave"), "", bearer(old_token)).status, 200);
  std::string new_token = joined("a", "queued");
  EXPECT_GT(claims_of(new_token)["tkt"], claims_of(old_token)["tkt"]);
  auto r = http().post(path("leave"), "", bearer(old_token));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["status"], "superseded");
  EXPECT_EQ(status("a").json["position"], 1);

  put(R"({"capacity":2})");
  ASSERT_EQ(http().post(path("process_queue"), "", admin()).json["promoted_count"], 1);
  EXPECT_EQ(admission_token("a", old_token), "");
  EXPECT_NE(admission_token("a", new_token), "");
  r = http().post(path("cancel"), "", bearer(old_token));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["status"], "superseded");
  EXPECT_EQ(http().post(path("cancel"), "", bearer(new_token)).status, 200);
  expect_sound(2);
}

TEST_F(WaitingRoomTest, VerifyRefusesWithAReason) {
  put(R"({"capacity":2,"queue_limit":5,"hold_s":600})");
  std::string ta = joined("a", "reserved");
  std::string adm = admission_token("a", ta);
  ASSERT_FALSE(adm.empty());
  std::string tampered = adm;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  struct Case {
    std::string token;
    const char* reason;
  };
  for (const Case& c : {Case{tampered, "bad_signature"}, Case{ta, "wrong_kind"},
                        Case{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", "alg_not_allowed"},
                        Case{"junk", "malformed"}}) {
    auto r = verify(c.token);
    EXPECT_EQ(r.status, 401) << c.reason << ": " << r.describe();
    EXPECT_EQ(r.json["valid"], false);
    EXPECT_EQ(r.json["reason"], c.reason);
  }
  event_ = "other";
  put(R"({"capacity":1,"queue_limit":5})");
  auto r = verify(adm);
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_EQ(r.json["reason"], "wrong_event");
  // Bad requests: 400, never a verdict.
  EXPECT_EQ(http().post(path("verify"), "{}").status, 400);
  EXPECT_EQ(http().post(path("verify"), R"({"token":1})").status, 400);
  EXPECT_EQ(http().post(path("verify"), R"({"token":"x","extra":1})").status, 400);
  EXPECT_EQ(http().post(path("verify") + "?consume=yes", R"({"token":"x"})").status, 400);
}

TEST_F(WaitingRoomTest, ConsumeAcceptsAnAdmissionOnce) {
  put(R"({"capacity":2,"queue_limit":5,"hold_s":600})");
  std::string ta = joined("a", "reserved");
  std::string adm = admission_token("a", ta);
  auto check = verify(adm, "?consume=0");
  ASSERT_EQ(check.status, 200) << check.describe();
  EXPECT_EQ(check.json["consumed"], false);
  EXPECT_EQ(check.json["used"], false);
  auto first = verify(adm, "?consume=1");
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(first.json["consumed"], true);
  EXPECT_EQ(first.json["used"], true);
  auto second = verify(adm, "?consume=1");
  EXPECT_EQ(second.status, 409) << second.describe();
  EXPECT_EQ(second.json["reason"], "already_used");
  // Another token of the same admission is the same admission.
  std::string again = admission_token("a", ta);
  ASSERT_NE(again, adm);
  EXPECT_EQ(verify(again, "?consume=1").json["reason"], "already_used");
  // A plain verify still says the seat is held, and that it was consumed.
  auto plain = verify(again);
  EXPECT_EQ(plain.status, 200) << plain.describe();
  EXPECT_EQ(plain.json["consumed"], false);
  EXPECT_EQ(plain.json["used"], true);
  expect_sound(2);
}

// ----------------------------------------------------------------- expiry --

// On an instance that runs no admission step nothing sweeps the hold: confirm
// and verify themselves see that its time is up.
class HoldEndTest : public WaitingRoomTest {
 protected:
  HoldEndTest() { manual_start_ = true; }
};

TEST_F(HoldEndTest, AHoldWhoseTimeIsUpCannotBeConfirmed) {
  start({"--admission-tick-ms", "0"});
  put(R"({"capacity":2,"queue_limit":5})");
  std::string ta = joined("a", "reserved");
  std::string adm = admission_token("a", ta);
  // The hold ended a second ago.
  const std::string holds = RedisClient::key(event_, "holds");
  ASSERT_FALSE(
      stack_.db().command({"ZADD", holds, std::to_string((wall_s() - 1) * 1000), "a"}).is_error());
  auto r = http().post(path("confirm"), user_body("a"), admin());
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["status"], "hold_ended");
  r = verify(adm);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json["reason"], "hold_ended");
  EXPECT_FALSE(status("a", ta).json.contains("admission_token"));
}

TEST_F(WaitingRoomTest, UnconfirmedHoldsEndAndTheirSeatsComeBack) {
  put(R"({"capacity":3,"queue_limit":5,"hold_s":1})");
  std::string ta = joined("a", "reserved");
  joined("b", "reserved");
  joined("c", "reserved");
  std::string adm = admission_token("a", ta);
  ASSERT_EQ(http().post(path("confirm"), "", bearer(adm)).status, 200);
  ASSERT_TRUE(wait_until([&] { return count("expired_holds") == 2; }, Millis(30000)))
      << info().dump();
  json i = info();
  EXPECT_EQ(i["reserved"], 1);
  EXPECT_EQ(i["confirmed"], 1);
  EXPECT_EQ(i["admitted"], 0);
  EXPECT_EQ(i["expired"], 2);
  EXPECT_EQ(status("b").status, 404);
  EXPECT_EQ(status("a").json["state"], "confirmed");
  // The seats are free again.
  joined("d", "reserved");
  joined("e", "reserved");
  expect_sound(3);
}

TEST_F(WaitingRoomTest, WaitersWhoStopPollingLoseTheirPlace) {
  put(R"({"capacity":0,"queue_limit":5,"waiter_ttl_s":3})");
  joined("a", "queued");
  joined("b", "queued");
  joined("c", "queued");
  // b keeps polling; a and c do not.
  bool gone = wait_until(
      [&] {
        auto s = status("b");
        EXPECT_EQ(s.status, 200) << s.describe();
        EXPECT_EQ(s.json.value("poll_after_ms", 0), 1000);
        return count("expired_waiters") == 2;
      },
      Millis(30000), Millis(200));
  ASSERT_TRUE(gone) << info().dump();
  auto b = status("b");
  EXPECT_EQ(b.json["position"], 1) << b.describe();
  EXPECT_EQ(status("a").status, 404);
  EXPECT_EQ(count("waiting"), 1);
  // Then b goes quiet too.
  ASSERT_TRUE(wait_until([&] { return count("waiting") == 0; }, Millis(30000)));
  EXPECT_EQ(count("expired_waiters"), 3);
  expect_sound(0);
}

// Positions stay exact through expiries: whoever is still waiting is at 1 +
// the number still waiting ahead, in join order.
TEST_F(WaitingRoomTest, PositionsStayExactWhenWaitersExpire) {
  put(R"({"capacity":0,"queue_limit":500,"waiter_ttl_s":5})");
  std::vector<std::string> users;
  for (int i = 0; i < 200; ++i) {
    users.push_back("w" + std::to_string(i));
    joined(users.back(), "queued");
  }
  // Every third waiter has been silent for far longer than the TTL; the
  // others keep polling.
  const std::string seen = RedisClient::key(event_, "seen");
  std::vector<std::string> stay;
  for (size_t i = 0; i < users.size(); ++i) {
    if (i % 3 == 0)
      ASSERT_FALSE(stack_.db()
                       .command({"ZADD", seen, "1", stack_.db().ticket_of(event_, users[i])})
                       .is_error());
    else
      stay.push_back(users[i]);
  }
  ASSERT_TRUE(wait_until(
      [&] {
        for (const std::string& u : stay) EXPECT_EQ(status(u).status, 200) << u;
        return count("waiting") == int64_t(stay.size());
      },
      Millis(60000), Millis(100)))
      << info().dump();
  EXPECT_EQ(count("expired_waiters"), int64_t(users.size() - stay.size()));
  EXPECT_EQ(stack_.db().line(event_), stay);
  for (size_t i = 0; i < stay.size(); ++i) {
    auto s = status(stay[i]);
    EXPECT_EQ(s.json["position"], int64_t(i + 1)) << s.describe();
  }
  EXPECT_EQ(status(users[0]).status, 404);
  expect_sound(0);
}

// After an outage (here: no instance running for longer than the TTL) the
// waiters could not poll: they get one waiter_ttl_s to be heard from again.
// Without the grace the first step after it would drop them all.
TEST_F(WaitingRoomTest, WaitersKeepTheirPlaceAcrossAnOutage) {
  put(R"({"capacity":0,"queue_limit":5,"waiter_ttl_s":4})");
  for (const char* u : {"a", "b", "c", "quiet"}) joined(u, "queued");
  // Everyone polls until the admission step has run for the event (it
  // notes when).
  ASSERT_TRUE(wait_until(
      [&] {
        for (const char* u : {"a", "b", "c", "quiet"}) EXPECT_EQ(status(u).status, 200) << u;
        return stack_.db().hgetall(RedisClient::key(event_, "stats")).count("stepped_ms") > 0;
      },
      Millis(30000), Millis(100)));
  stack_.server(0).terminate();
  std::this_thread::sleep_for(Millis(5000));  // the outage: every heartbeat is now stale
  ServerOptions again;
  again.extra_args = {"--admission-tick-ms", "50"};
  ASSERT_EQ(stack_.add_server(again), "");
  http_ = std::make_unique<HttpClient>(stack_.server(1).port(), Millis(30000));
  // a, b and c poll again; "quiet" does not, and expires after the grace.
  ASSERT_TRUE(wait_until(
      [&] {
        for (const char* u : {"a", "b", "c"}) {
          auto s = status(u);
          EXPECT_EQ(s.status, 200) << u << ": " << s.describe();
        }
        return count("expired_waiters") == 1;
      },
      Millis(30000), Millis(200)))
      << info().dump();
  EXPECT_EQ(status("quiet").status, 404);
  EXPECT_EQ(stack_.db().line(event_), (std::vector<std::string>{"a", "b", "c"}));
}

// Redis runs with fsync always: a poll refreshes the heartbeat only when
// the stored one is older than a quarter of waiter_ttl_s.
TEST_F(WaitingRoomTest, PollingDoesNotWriteOnEveryCall) {
  put(R"({"capacity":0,"queue_limit":5,"waiter_ttl_s":600})");
  joined("a", "queued");
  const std::string seen = RedisClient::key(event_, "seen");
  const std::string ticket = stack_.db().ticket_of(event_, "a");
  auto beat = [&] { return stack_.db().command({"ZSCORE", seen, ticket}).str; };
  std::string first = beat();
  ASSERT_FALSE(first.empty());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(status("a").status, 200);
  EXPECT_EQ(beat(), first);
  // Made stale by hand, the next poll refreshes it.
  ASSERT_FALSE(stack_.db().command({"ZADD", seen, "1000", ticket}).is_error());
  ASSERT_EQ(status("a").status, 200);
  EXPECT_GT(std::stoll(beat()), 1000);
  // Without waiter expiry nothing is kept at all.
  event_ = "plain";
  put(R"({"capacity":0,"queue_limit":5})");
  joined("a", "queued");
  status("a");
  EXPECT_EQ(stack_.db().type(RedisClient::key(event_, "seen")), "none");
}

// ---------------------------------------------------------------- admission --

TEST_F(WaitingRoomTest, ProcessQueueAdmitsWithHolds) {
  put(R"({"capacity":0,"queue_limit":5,"hold_s":600})");
  std::string ta = joined("a", "queued");
  put(R"({"capacity":1})");
  auto p = http().post(path("process_queue"), "", admin());
  ASSERT_EQ(p.json["promoted_users"], json::array({"a"})) << p.describe();
  auto s = status("a", ta);
  EXPECT_EQ(s.json["state"], "admitted");
  EXPECT_GT(s.json["hold_expires_at"].get<int64_t>(), wall_s() + 500);
  EXPECT_TRUE(s.json.contains("admission_token"));
  EXPECT_EQ(count("admitted_last_minute"), 1);
}

TEST_F(WaitingRoomTest, EtaComesFromTheMeasuredRateAndPollingFromTheEta) {
  put(R"({"capacity":0,"queue_limit":100})");
  for (int i = 0; i < 40; ++i) joined("u" + std::to_string(i), "queued");
  // Nobody admitted in the last minute: unknown.
  auto s = status("u39");
  EXPECT_TRUE(s.json["eta_s"].is_null()) << s.describe();
  EXPECT_EQ(s.json["poll_after_ms"], 5000);

  put(R"({"capacity":10})");
  const int64_t t0 = now_ms();
  ASSERT_EQ(http().post(path("process_queue"), "", admin()).json["promoted_count"], 10);
  EXPECT_EQ(count("admitted_last_minute"), 10);
  // 10 admitted over a span of 5 s (one slot) up to 10 s plus the time
  // since: a rate between 10 / (10 s + elapsed) and 2 per second.
  int64_t previous = 0;
  for (int pos = 1; pos <= 30; ++pos) {
    auto r = status("u" + std::to_string(9 + pos));
    ASSERT_EQ(r.json["position"], pos) << r.describe();
    ASSERT_TRUE(r.json["eta_s"].is_number()) << r.describe();
    int64_t eta = r.json["eta_s"];
    const double slowest_span_s = 10.0 + double(now_ms() - t0) / 1000 + 1;
    EXPECT_GE(eta, (pos + 1) / 2) << "position " << pos;
    EXPECT_LE(eta, int64_t(pos * slowest_span_s / 10) + 1) << "position " << pos;
    EXPECT_GE(eta, previous);
    previous = eta;
    EXPECT_EQ(r.json["poll_after_ms"], std::clamp<int64_t>(eta * 100, 1000, 30000));
  }
  std::printf("[ figures ] eta at position 30: %lld s (10 admitted in the last minute)\n",
              static_cast<long long>(previous));
  // Paused: nobody is admitted, so no estimate.
  put(R"({"state":"paused"})");
  EXPECT_TRUE(status("u20").json["eta_s"].is_null());
}

// The shop's queue: N per second, changed live, 0 pauses; on three
// instances, the total stays within rate x time + the burst.
TEST_F(WaitingRoomTest, AutomaticAdmissionKeepsTheRateOnThreeInstancesChangedLive) {
  ServerOptions more;
  more.extra_args = {"--admission-tick-ms", "50"};
  ASSERT_EQ(stack_.add_server(more), "");
  ASSERT_EQ(stack_.add_server(more), "");
  const int kUsers = 300;
  put(R"({"capacity":0,"queue_limit":1000})");
  std::vector<std::string> order;
  for (int i = 0; i < kUsers; ++i) {
    order.push_back("u" + std::to_string(i));
    joined(order.back(), "queued");
  }
  const int64_t t0 = now_ms();
  put(R"({"capacity":1000,"admit_rate":100})");
  // The bucket starts full (burst: half a second of the rate).
  const int64_t burst = 50;
  int64_t admitted = 0, samples = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        admitted = count("promoted");
        const int64_t elapsed = now_ms() - t0;
        EXPECT_LE(admitted, 100 * elapsed / 1000 + burst) << "after " << elapsed << " ms";
        ++samples;
        return admitted >= 150;
      },
      Millis(60000), Millis(20)));
  // Admitted in line order: the line is what is left of the join order.
  auto line = stack_.db().line(event_);
  ASSERT_LE(line.size(), size_t(kUsers - 150));
  EXPECT_EQ(line, std::vector<std::string>(order.end() - line.size(), order.end()));

  // Paused with 0: from the moment the PUT is answered, nobody more.
  put(R"({"admit_rate":0})");
  const int64_t paused_at = count("promoted");
  EXPECT_TRUE(status(order.back()).json["eta_s"].is_null());
  std::this_thread::sleep_for(Millis(1000));  // showing that nothing happens takes time
  EXPECT_EQ(count("promoted"), paused_at);

  // Faster, live: the rest is admitted.
  const int64_t t1 = now_ms();
  put(R"({"admit_rate":400})");
  ASSERT_TRUE(wait_until([&] { return count("waiting") == 0; }, Millis(60000)));
  const int64_t t2 = now_ms();
  EXPECT_EQ(count("promoted"), kUsers);
  EXPECT_EQ(count("reserved"), kUsers);
  std::printf(
      "[ figures ] 3 instances, 100/s: 150 admitted in %lld ms (%lld samples); 400/s: %lld in "
      "%lld ms\n",
      static_cast<long long>(t1 - t0), static_cast<long long>(samples),
      static_cast<long long>(kUsers - paused_at), static_cast<long long>(t2 - t1));
  expect_sound(1000);
}

// ----------------------------------------------------------------- scenarios --

// The concert: at most 50 in booking at once, each with a hold (10 minutes
// there, 2 s here); whoever does not finish in time makes room for the next.
TEST_F(WaitingRoomTest, ConcertFiftyAtOnceWithHoldsAndAutomaticRefill) {
  put(R"({"capacity":0,"queue_limit":100})");
  std::vector<std::string> tokens;
  for (int i = 0; i < 80; ++i) tokens.push_back(joined("u" + std::to_string(i), "queued"));
  put(R"({"capacity":50,"hold_s":3,"admit_rate":1000})");
  ASSERT_TRUE(wait_until([&] { return count("reserved") == 50; }, Millis(30000)));
  // Ten finish booking in time.
  for (int i = 0; i < 10; ++i) {
    std::string adm = admission_token("u" + std::to_string(i), tokens[i]);
    ASSERT_EQ(http().post(path("confirm"), "", bearer(adm)).status, 200);
  }
  ASSERT_TRUE(wait_until(
      [&] {
        json i = info();
        EXPECT_LE(i["reserved"].get<int64_t>(), 50);
        return i["expired_holds"] == 70;
      },
      Millis(60000), Millis(50)))
      << info().dump();
  json i = info();
  EXPECT_EQ(i["promoted"], 80);  // every waiter got a turn
  EXPECT_EQ(i["reserved"], 10);
  EXPECT_EQ(i["confirmed"], 10);
  EXPECT_EQ(i["waiting"], 0);
  expect_sound(50);
}

// The train: a passenger cancels, the seat goes to the head of the line.
TEST_F(WaitingRoomTest, CancelledSeatGoesToTheHeadOfTheLine) {
  put(R"({"capacity":2,"queue_limit":5,"admit_rate":10})");
  joined("a", "reserved");
  std::string tb = joined("b", "reserved");
  joined("c", "queued");
  joined("d", "queued");
  ASSERT_EQ(http().post(path("cancel"), "", bearer(tb)).status, 200);
  ASSERT_TRUE(
      wait_until([&] { return status("c").json.value("state", "") == "admitted"; }, Millis(30000)));
  EXPECT_EQ(status("d").json["position"], 1);
  EXPECT_EQ(status("b").status, 404);
  expect_sound(2);
}

// ------------------------------------------------------------------ operators --

TEST_F(WaitingRoomTest, OperatorsListEventsAndSeeTheSettings) {
  put(R"({"capacity":3,"queue_limit":4,"admit_rate":2.5,"hold_s":60,"waiter_ttl_s":30})");
  event_ = "alpha";
  put(R"({"capacity":1,"queue_limit":1})");
  auto list = http().get("/v1/events", admin());
  ASSERT_EQ(list.status, 200) << list.describe();
  EXPECT_EQ(list.json["events"], json::array({"alpha", "default", "show"}));
  EXPECT_EQ(list.json["truncated"], false);
  EXPECT_EQ(http().get("/v1/events").status, 401);

  event_ = "show";
  json i = info();
  EXPECT_EQ(i["admit_rate"], 2.5);
  EXPECT_EQ(i["hold_s"], 60);
  EXPECT_EQ(i["waiter_ttl_s"], 30);
  put(R"({"admit_rate":"manual"})");
  EXPECT_EQ(info()["admit_rate"], "manual");
  EXPECT_EQ(info()["hold_s"], 60);
}

TEST_F(WaitingRoomTest, BadSettingsAre400AndChangeNothing) {
  put(R"({"capacity":3,"queue_limit":4,"admit_rate":5})");
  const std::string cfg = RedisClient::key(event_, "cfg");
  auto before = stack_.db().hgetall(cfg);
  for (const char* body :
       {R"({"admit_rate":"fast"})", R"({"admit_rate":-1})", R"({"admit_rate":true})",
        R"({"admit_rate":null})", R"({"admit_rate":2000000})", R"({"hold_s":-1})",
        R"({"hold_s":1.5})", R"({"waiter_ttl_s":99999999999})", R"({"hold_s":"60"})"}) {
    auto r = http().put(path(), body, admin());
    EXPECT_EQ(r.status, 400) << body << ": " << r.describe();
    EXPECT_FALSE(r.json.value("error", "").empty());
  }
  EXPECT_EQ(stack_.db().hgetall(cfg), before);
}

}  // namespace
}  // namespace ticketq::test
