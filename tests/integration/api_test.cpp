// The HTTP API against a real Redis and a real server: reserve, status,
// process_queue, reset, events, health and the admin token.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  // The default event: 2 seats, 3 places in line.
  virtual ServerOptions options() {
    ServerOptions o;
    o.extra_args = {"--capacity", "2", "--queue-limit", "3"};
    return o;
  }
  void SetUp() override {
    ASSERT_EQ(stack_.start(options()), "");
    http_ = std::make_unique<HttpClient>(stack_.server().port());
  }
  HttpClient& http() { return *http_; }
  RedisClient& db() { return stack_.db(); }

  HttpResponse reserve(const std::string& user, const std::string& event = "") {
    return http().post(event.empty() ? "/reserve" : "/v1/events/" + event + "/reserve",
                       user_body(user));
  }
  HttpResponse status(const std::string& user, const std::string& event = "") {
    return http().get(event.empty() ? "/status/" + user
                                    : "/v1/events/" + event + "/status/" + user);
  }
  void put_event(const std::string& event, int64_t capacity, int64_t queue_limit, int expect) {
    auto r = http().put("/v1/events/" + event,
                        json{{"capacity", capacity}, {"queue_limit", queue_limit}}.dump(), admin());
    ASSERT_EQ(r.status, expect) << r.describe();
  }
  void expect_invariants(const std::string& event, int64_t capacity) {
    auto bad = db().check_invariants(event, capacity);
    EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
  }

  Stack stack_;
  std::unique_ptr<HttpClient> http_;
};

const std::regex kUuidV4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

TEST_F(ApiTest, ReserveGivesSeatsWhileFreeAndNobodyWaits) {
  auto a = reserve("alice");
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_EQ(untokened(a.json), (json{{"status", "reserved"}, {"user_id", "alice"}}));
  EXPECT_EQ(a.header("Content-Type").value_or(""), "application/json");
  auto b = reserve("bob");
  ASSERT_EQ(b.status, 200) << b.describe();
  EXPECT_EQ(untokened(b.json), (json{{"status", "reserved"}, {"user_id", "bob"}}));

  EXPECT_EQ(db().smembers("ticketq:{default}:reserved"), (std::set<std::string>{"alice", "bob"}));
  EXPECT_EQ(db().waiting("default"), 0);
  // Admitted at once, each with the ticket of the join and a hold that
  // never ends (hold_s 0).
  EXPECT_EQ(db().hgetall("ticketq:{default}:seats"),
            (std::map<std::string, std::string>{{"alice", "1"}, {"bob", "2"}}));
  EXPECT_EQ(db().snapshot("ticketq:{default}:holds")["ticketq:{default}:holds"].items,
            (std::vector<std::string>{"alice=inf", "bob=inf"}));
  EXPECT_EQ(db().command({"HGET", "ticketq:{default}:cfg", "tickets"}).str, "2");
  expect_invariants("default", 2);
}

TEST_F(ApiTest, ReserveWithoutUserIdGeneratesUuidV4) {
  std::set<std::string> ids;
  for (const std::string body : {"", "{}", R"({"user_id":null})"}) {
    SCOPED_TRACE("body: " + body);
    auto r = http().post("/reserve", body);
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_TRUE(r.json.contains("user_id")) << r.describe();
    std::string id = r.json["user_id"].get<std::string>();
    EXPECT_TRUE(std::regex_match(id, kUuidV4)) << id;
    ids.insert(id);
  }
  ASSERT_EQ(ids.size(), 3u);
  // Two got the seats, the third waits; each is known under its generated id.
  std::vector<std::string> line = db().line("default");
  ASSERT_EQ(line.size(), 1u);
  EXPECT_EQ(db().scard("ticketq:{default}:reserved"), 2);
  for (const auto& id : ids) {
    auto s = status(id);
    ASSERT_EQ(s.status, 200) << s.describe();
    EXPECT_EQ(s.json["status"], id == line[0] ? "in_queue" : "reserved");
  }
  expect_invariants("default", 2);
}

TEST_F(ApiTest, FullEventQueuesInOrderThenSellsOut) {
  ASSERT_EQ(reserve("a").status, 200);
  ASSERT_EQ(reserve("b").status, 200);
  int pos = 0;
  for (const std::string u : {"c", "d", "e"}) {
    auto r = reserve(u);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(untokened(r.json), (json{{"status", "queued"}, {"user_id", u}, {"position", ++pos}}));
  }
  auto f = reserve("f");
  ASSERT_EQ(f.status, 409) << f.describe();
  EXPECT_EQ(f.json, (json{{"status", "sold_out"}, {"user_id", "f"}}));

  EXPECT_EQ(db().smembers("ticketq:{default}:reserved"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(db().line("default"), (std::vector<std::string>{"c", "d", "e"}));
  // Every first join takes the next ticket, those admitted at once too: a
  // and b took 1 and 2, the line goes on from 3. The refused f took none.
  EXPECT_EQ(db().hgetall("ticketq:{default}:seats"),
            (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(db().snapshot("ticketq:{default}:queued")["ticketq:{default}:queued"].items,
            (std::vector<std::string>{"c=3", "d=4", "e=5"}));  // user = ticket
  EXPECT_EQ(db().command({"HGET", "ticketq:{default}:cfg", "tickets"}).str, "5");
  expect_invariants("default", 2);
}

TEST_F(ApiTest, RepeatsAnswerAlreadyAndWriteNothing) {
  for (const std::string u : {"a", "b", "c", "d"}) ASSERT_EQ(reserve(u).status, 200);
  Snapshot before = db().snapshot("ticketq");

  auto a = reserve("a");
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_EQ(a.json, (json{{"status", "already_reserved"}, {"user_id", "a"}}));
  auto d = reserve("d");
  ASSERT_EQ(d.status, 200) << d.describe();
  EXPECT_EQ(d.json, (json{{"status", "already_in_queue"}, {"user_id", "d"}, {"position", 2}}));
  // The same again on the versioned route of the default event.
  auto d2 = reserve("d", "default");
  ASSERT_EQ(d2.status, 200) << d2.describe();
  EXPECT_EQ(d2.json, (json{{"status", "already_in_queue"}, {"user_id", "d"}, {"position", 2}}));
  EXPECT_EQ(diff(before, db().snapshot("ticketq")), "");

  // Sold out: a refusal writes nothing either, however often it is asked.
  ASSERT_EQ(reserve("e").status, 200);  // third and last place in line
  before = db().snapshot("ticketq");
  for (int i = 0; i < 3; ++i) {
    auto g = reserve("g");
    ASSERT_EQ(g.status, 409) << g.describe();
    EXPECT_EQ(g.json, (json{{"status", "sold_out"}, {"user_id", "g"}}));
  }
  EXPECT_EQ(diff(before, db().snapshot("ticketq")), "");
  expect_invariants("default", 2);
}

TEST_F(ApiTest, StatusReportsReservedInQueueAndNotFound) {
  for (const std::string u : {"a", "b", "c", "d", "e", "f"}) ASSERT_GT(reserve(u).status, 0);
  Snapshot before = db().snapshot("ticketq");

  // Without a token: no admission token, whatever the state.
  auto a = status("a");
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_EQ(a.json, holds_seat("a"));
  auto d = status("d");
  ASSERT_EQ(d.status, 200) << d.describe();
  EXPECT_EQ(d.json, in_queue("d", 2));  // nobody admitted from the line yet: no estimate
  auto e = status("e", "default");
  ASSERT_EQ(e.status, 200) << e.describe();
  EXPECT_EQ(e.json, in_queue("e", 3));
  // Somebody not known: 200 on the seed route, as the original server
  // answered (its clients count a 404 as a failure), 404 on /v1.
  for (const std::string u : {"f", "nobody"}) {  // f was turned away
    auto n = status(u);
    ASSERT_EQ(n.status, 200) << n.describe();
    EXPECT_EQ(n.json, (json{{"status", "not_found"}, {"user_id", u}}));
    auto v1 = status(u, "default");
    ASSERT_EQ(v1.status, 404) << v1.describe();
    EXPECT_EQ(v1.json, (json{{"status", "not_found"}, {"user_id", u}}));
  }
  // Percent-encoded ids are decoded: "a%40b" is "a@b".
  ASSERT_EQ(http().post("/reserve", user_body("x@y")).status, 409);
  auto enc = status("a%40b");
  ASSERT_EQ(enc.status, 200) << enc.describe();
  EXPECT_EQ(enc.json, (json{{"status", "not_found"}, {"user_id", "a@b"}}));
  EXPECT_EQ(diff(before, db().snapshot("ticketq")), "");
}

TEST_F(ApiTest, ProcessQueuePromotesFromTheHeadAndShiftsPositions) {
  put_event("gig", 2, 10, 201);
  for (const std::string u : {"a", "b", "c", "d", "e", "f", "g"})
    ASSERT_EQ(reserve(u, "gig").status, 200);
  // Full: nothing to promote.
  auto none = http().post("/v1/events/gig/process_queue", "", admin());
  ASSERT_EQ(none.status, 200) << none.describe();
  EXPECT_EQ(none.json, (json{{"status", "queue_processed"},
                             {"promoted_users", json::array()},
                             {"promoted_count", 0},
                             {"remaining", 5}}));

  put_event("gig", 5, 10, 200);
  const int64_t promoted_at = now_ms();
  auto p = http().post("/v1/events/gig/process_queue", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json, (json{{"status", "queue_processed"},
                          {"promoted_users", {"c", "d", "e"}},
                          {"promoted_count", 3},
                          {"remaining", 2}}));
  for (const std::string u : {"c", "d", "e"}) {
    auto s = status(u, "gig");
    EXPECT_EQ(s.json, holds_seat(u)) << s.describe();
  }
  // Promoted with the tickets of their joins.
  EXPECT_EQ(db().hgetall("ticketq:{gig}:seats"),
            (std::map<std::string, std::string>{
                {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}));
  // Three admitted from the line just now: the estimate counts them.
  auto f = status("f", "gig");
  auto g = status("g", "gig");
  const int64_t since = now_ms() - promoted_at;
  EXPECT_TRUE(waits_at_pace(f.json, "f", 1, 3, since)) << f.describe();
  EXPECT_TRUE(waits_at_pace(g.json, "g", 2, 3, since)) << g.describe();
  // A repeat of a promoted user now says reserved; a newcomer queues behind g.
  EXPECT_EQ(reserve("c", "gig").json["status"], "already_reserved");
  auto h = reserve("h", "gig");
  EXPECT_EQ(untokened(h.json), (json{{"status", "queued"}, {"user_id", "h"}, {"position", 3}}))
      << h.describe();

  auto info = http().get("/v1/events/gig", admin());
  ASSERT_EQ(info.status, 200) << info.describe();
  EXPECT_EQ(info.json, (json{{"event", "gig"},
                             {"state", "open"},
                             {"capacity", 5},
                             {"queue_limit", 10},
                             {"admit_rate", "manual"},
                             {"hold_s", 0},
                             {"waiter_ttl_s", 0},
                             {"reserved", 5},
                             {"waiting", 3},
                             {"admitted", 5},
                             {"confirmed", 0},
                             {"admitted_last_minute", 3},  // from the line: not a and b
                             {"promoted", 3},
                             {"left", 0},
                             {"cancelled", 0},
                             {"expired", 0},
                             {"expired_holds", 0},
                             {"expired_waiters", 0}}))
      << info.describe();
  EXPECT_EQ(db().smembers("ticketq:{gig}:reserved"),
            (std::set<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(db().line("gig"), (std::vector<std::string>{"f", "g", "h"}));
  expect_invariants("gig", 5);
}

TEST_F(ApiTest, ProcessQueueHonoursLimit) {
  put_event("gig", 1, 10, 201);
  for (const std::string u : {"a", "b", "c", "d", "e"}) ASSERT_EQ(reserve(u, "gig").status, 200);
  put_event("gig", 10, 10, 200);
  const int64_t promoted_at = now_ms();
  auto p = http().post("/v1/events/gig/process_queue?limit=2", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json, (json{{"status", "queue_processed"},
                          {"promoted_users", {"b", "c"}},
                          {"promoted_count", 2},
                          {"remaining", 2}}));
  auto d = status("d", "gig");
  EXPECT_TRUE(waits_at_pace(d.json, "d", 1, 2, now_ms() - promoted_at)) << d.describe();
  // The seed route works on the default event the same way.
  auto seed = http().post("/process_queue?limit=1", "", admin());
  ASSERT_EQ(seed.status, 200) << seed.describe();
  EXPECT_EQ(seed.json["promoted_count"], 0);
  expect_invariants("gig", 10);
}

TEST_F(ApiTest, ProcessQueueIsCappedAt1000PerCall) {
  put_event("big", 1, 5000, 201);
  const int kUsers = 2051;  // 1 seat + 2050 in line
  for (int i = 0; i < kUsers; ++i) {
    auto r = reserve("u" + std::to_string(i), "big");
    ASSERT_EQ(r.status, 200) << i << ": " << r.describe();
  }
  std::vector<std::string> line = db().line("big");
  ASSERT_EQ(line.size(), 2050u);
  EXPECT_EQ(line.front(), "u1");
  put_event("big", 10000, 5000, 200);

  auto first = http().post("/v1/events/big/process_queue", "", admin());  // default limit
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(first.json["promoted_count"], 1000);
  EXPECT_EQ(first.json["remaining"], 1050);
  EXPECT_EQ(first.json["promoted_users"],
            json(std::vector<std::string>(line.begin(), line.begin() + 1000)));

  auto second = http().post("/v1/events/big/process_queue?limit=1001", "", admin());
  ASSERT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.json["promoted_count"], 1000);
  EXPECT_EQ(second.json["remaining"], 50);
  EXPECT_EQ(second.json["promoted_users"],
            json(std::vector<std::string>(line.begin() + 1000, line.begin() + 2000)));

  auto third = http().post("/v1/events/big/process_queue?limit=99999999999999999999", "", admin());
  ASSERT_EQ(third.status, 200) << third.describe();
  EXPECT_EQ(third.json["promoted_count"], 50);
  EXPECT_EQ(third.json["remaining"], 0);
  EXPECT_EQ(db().scard("ticketq:{big}:reserved"), kUsers);
  expect_invariants("big", 10000);
}

TEST_F(ApiTest, ResetEmptiesTheEventButKeepsItsSettings) {
  put_event("gig", 1, 2, 201);
  ASSERT_EQ(reserve("a", "gig").json["status"], "reserved");
  ASSERT_EQ(reserve("b", "gig").json["status"], "queued");
  ASSERT_EQ(http().post("/v1/events/gig/process_queue", "", admin()).status, 200);
  ASSERT_EQ(reserve("a").status, 200);  // the default event has state too
  ASSERT_EQ(reserve("z").status, 200);

  auto r = http().post("/v1/events/gig/reset", "", admin());
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json, (json{{"status", "reset_done"}}));
  EXPECT_EQ(db().keys("ticketq:{gig}"), (std::vector<std::string>{"ticketq:{gig}:cfg"}));
  // The settings stay, and so does the ticket counter: a ticket names one
  // join for good.
  EXPECT_EQ(db().hgetall("ticketq:{gig}:cfg"),
            (std::map<std::string, std::string>{{"capacity", "1"},
                                                {"queue_limit", "2"},
                                                {"state", "open"},
                                                {"admit_rate", "manual"},
                                                {"hold_s", "0"},
                                                {"waiter_ttl_s", "0"},
                                                {"tickets", "2"}}));
  auto info = http().get("/v1/events/gig", admin());
  EXPECT_EQ(info.json, (json{{"event", "gig"},
                             {"state", "open"},
                             {"capacity", 1},
                             {"queue_limit", 2},
                             {"admit_rate", "manual"},
                             {"hold_s", 0},
                             {"waiter_ttl_s", 0},
                             {"reserved", 0},
                             {"waiting", 0},
                             {"admitted", 0},
                             {"confirmed", 0},
                             {"admitted_last_minute", 0},
                             {"promoted", 0},
                             {"left", 0},
                             {"cancelled", 0},
                             {"expired", 0},
                             {"expired_holds", 0},
                             {"expired_waiters", 0}}))
      << info.describe();
  EXPECT_EQ(status("a", "gig").status, 404);
  EXPECT_EQ(reserve("c", "gig").json["status"], "reserved");
  EXPECT_EQ(db().hgetall("ticketq:{gig}:seats"), (std::map<std::string, std::string>{{"c", "3"}}));
  // The other event was not touched.
  EXPECT_EQ(db().smembers("ticketq:{default}:reserved"), (std::set<std::string>{"a", "z"}));

  auto seed = http().post("/admin/reset", "", admin());
  ASSERT_EQ(seed.status, 200) << seed.describe();
  EXPECT_EQ(seed.json, (json{{"status", "reset_done"}}));
  // The default event's settings were stored by its first reserve; they stay.
  EXPECT_EQ(db().keys("ticketq:{default}"), std::vector<std::string>{"ticketq:{default}:cfg"});
  EXPECT_EQ(status("a", "default").status, 404);
}

TEST_F(ApiTest, HealthAndReady) {
  auto h = http().get("/health");
  ASSERT_EQ(h.status, 200) << h.describe();
  EXPECT_EQ(h.json, (json{{"status", "healthy"}}));
  auto r = http().get("/ready");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json, (json{{"status", "ready"}}));
}

// HEAD is routed like GET, and its response must not carry a body (RFC 9110
// 9.3.2): on a kept-alive connection the next response must follow the
// header block directly. Two requests are pipelined on one connection.
TEST_F(ApiTest, HeadResponseHasNoBody) {
  auto r = raw_exchange(stack_.server().port(),
                        "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        Millis(20000), /*stop_after_first=*/false);  // ends at the close
  HttpResponse head;
  size_t used = 0;
  ASSERT_EQ(parse_response(r.data, false, /*head=*/true, &head, &used), ParseResult::kDone)
      << r.data;
  EXPECT_EQ(head.status, 200);
  std::string rest = r.data.substr(used);
  EXPECT_TRUE(rest.starts_with("HTTP/1.1 200"))
      << "after the HEAD response's headers came: " << rest;
}

TEST_F(ApiTest, EventsAreCreatedUpdatedAndDescribed) {
  auto created = http().put("/v1/events/concert", R"({"capacity":3,"queue_limit":4})", admin());
  ASSERT_EQ(created.status, 201) << created.describe();
  EXPECT_EQ(created.json, (json{{"status", "created"},
                                {"event", "concert"},
                                {"capacity", 3},
                                {"queue_limit", 4},
                                {"state", "open"},
                                {"admit_rate", "manual"},
                                {"hold_s", 0},
                                {"waiter_ttl_s", 0}}));
  auto updated = http().put("/v1/events/concert", R"({"queue_limit":6,"capacity":5})", admin());
  ASSERT_EQ(updated.status, 200) << updated.describe();
  EXPECT_EQ(updated.json, (json{{"status", "updated"},
                                {"event", "concert"},
                                {"capacity", 5},
                                {"queue_limit", 6},
                                {"state", "open"},
                                {"admit_rate", "manual"},
                                {"hold_s", 0},
                                {"waiter_ttl_s", 0}}));
  // Every setting is stored; no ticket is given yet.
  EXPECT_EQ(db().hgetall("ticketq:{concert}:cfg"),
            (std::map<std::string, std::string>{{"capacity", "5"},
                                                {"queue_limit", "6"},
                                                {"state", "open"},
                                                {"admit_rate", "manual"},
                                                {"hold_s", "0"},
                                                {"waiter_ttl_s", "0"}}));
  ASSERT_EQ(reserve("a", "concert").json["status"], "reserved");
  auto info = http().get("/v1/events/concert", admin());
  ASSERT_EQ(info.status, 200) << info.describe();
  EXPECT_EQ(info.json, (json{{"event", "concert"},
                             {"state", "open"},
                             {"capacity", 5},
                             {"queue_limit", 6},
                             {"admit_rate", "manual"},
                             {"hold_s", 0},
                             {"waiter_ttl_s", 0},
                             {"reserved", 1},
                             {"waiting", 0},
                             {"admitted", 1},  // admitted at once, its hold never ends
                             {"confirmed", 0},
                             {"admitted_last_minute", 0},  // counts admissions from the line
                             {"promoted", 0},
                             {"left", 0},
                             {"cancelled", 0},
                             {"expired", 0},
                             {"expired_holds", 0},
                             {"expired_waiters", 0}}))
      << info.describe();
  // Names may use the whole alphabet of events.
  auto odd = http().put("/v1/events/A-z_0.9", R"({"capacity":0,"queue_limit":0})", admin());
  EXPECT_EQ(odd.status, 201) << odd.describe();
  EXPECT_EQ(reserve("x", "A-z_0.9").status, 409);
}

TEST_F(ApiTest, CapacityBelowReservedSeatsIsRefused) {
  put_event("gig", 3, 3, 201);
  ASSERT_EQ(reserve("a", "gig").status, 200);
  ASSERT_EQ(reserve("b", "gig").status, 200);
  Snapshot before = db().snapshot("ticketq");
  auto r = http().put("/v1/events/gig", R"({"capacity":1,"queue_limit":3})", admin());
  ASSERT_EQ(r.status, 409) << r.describe();
  ASSERT_TRUE(r.json.contains("error")) << r.describe();
  EXPECT_TRUE(r.json["error"].is_string());
  EXPECT_EQ(diff(before, db().snapshot("ticketq")), "");
  put_event("gig", 2, 3, 200);  // exactly the seats taken is fine
  EXPECT_EQ(reserve("c", "gig").json["status"], "queued");
}

TEST_F(ApiTest, NeverCreatedEventIs404AndWritesNothing) {
  struct Call {
    std::string method, target;
    Headers headers;
  };
  const std::vector<Call> calls = {
      {"POST", "/v1/events/nope/reserve", {}},
      {"GET", "/v1/events/nope/status/alice", {}},
      {"POST", "/v1/events/nope/process_queue", admin()},
      {"POST", "/v1/events/nope/reset", admin()},
      {"GET", "/v1/events/nope", admin()},
  };
  Snapshot before = db().snapshot("");
  for (const auto& c : calls) {
    SCOPED_TRACE(c.method + " " + c.target);
    auto r =
        http().request(c.method, c.target, c.method == "POST" ? user_body("alice") : "", c.headers);
    ASSERT_EQ(r.status, 404) << r.describe();
    ASSERT_TRUE(r.json.is_object()) << r.describe();
    EXPECT_EQ(r.json.size(), 1u) << r.describe();
    EXPECT_EQ(r.json["error"], "event 'nope' does not exist");
  }
  EXPECT_EQ(diff(before, db().snapshot("")), "");
  EXPECT_EQ(db().keys("ticketq:{nope}"), std::vector<std::string>{});
}

TEST_F(ApiTest, DefaultEventComesFromConfigurationAndCanBeChanged) {
  auto info = http().get("/v1/events/default", admin());
  ASSERT_EQ(info.status, 200) << info.describe();
  EXPECT_EQ(info.json, (json{{"event", "default"},
                             {"state", "open"},
                             {"capacity", 2},
                             {"queue_limit", 3},
                             {"admit_rate", "manual"},
                             {"hold_s", 0},
                             {"waiter_ttl_s", 0},
                             {"reserved", 0},
                             {"waiting", 0},
                             {"admitted", 0},
                             {"confirmed", 0},
                             {"admitted_last_minute", 0},
                             {"promoted", 0},
                             {"left", 0},
                             {"cancelled", 0},
                             {"expired", 0},
                             {"expired_holds", 0},
                             {"expired_waiters", 0}}))
      << info.describe();
  // The seed routes and /v1/events/default are one and the same event.
  ASSERT_EQ(reserve("a").json["status"], "reserved");
  EXPECT_EQ(reserve("a", "default").json["status"], "already_reserved");
  EXPECT_EQ(status("a", "default").json["status"], "reserved");

  auto put = http().put("/v1/events/default", R"({"capacity":1,"queue_limit":1})", admin());
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_EQ(put.json["status"], "updated");
  EXPECT_EQ(untokened(reserve("b").json),
            (json{{"status", "queued"}, {"user_id", "b"}, {"position", 1}}));
  EXPECT_EQ(reserve("c").status, 409);
  expect_invariants("default", 1);
}

TEST_F(ApiTest, EventsKeepSeparateStateUnderTheDocumentedKeys) {
  put_event("one", 1, 1, 201);
  put_event("two", 1, 1, 201);
  ASSERT_EQ(reserve("a", "one").json["status"], "reserved");
  ASSERT_EQ(reserve("b", "one").json["status"], "queued");
  ASSERT_EQ(reserve("b", "two").json["status"], "reserved");  // same user, other event
  EXPECT_EQ(status("a", "two").status, 404);

  // No seen without waiter_ttl_s; stats holds only the chart's history yet.
  EXPECT_EQ(db().keys("ticketq:{one}"),
            (std::vector<std::string>{"ticketq:{one}:cfg", "ticketq:{one}:holds",
                                      "ticketq:{one}:queued", "ticketq:{one}:reserved",
                                      "ticketq:{one}:seats", "ticketq:{one}:stats"}));
  for (const auto& [field, value] : db().hgetall("ticketq:{one}:stats"))
    EXPECT_EQ(field[0], 'h') << field << "=" << value;
  EXPECT_EQ(db().type("ticketq:{one}:cfg"), "hash");
  EXPECT_EQ(db().type("ticketq:{one}:reserved"), "set");
  EXPECT_EQ(db().type("ticketq:{one}:queued"), "zset");
  EXPECT_EQ(db().type("ticketq:{one}:seats"), "hash");
  EXPECT_EQ(db().type("ticketq:{one}:holds"), "zset");
  EXPECT_EQ(db().smembers("ticketq:{one}:reserved"), std::set<std::string>{"a"});
  EXPECT_EQ(db().smembers("ticketq:{two}:reserved"), std::set<std::string>{"b"});
  EXPECT_EQ(db().line("one"), std::vector<std::string>{"b"});
  EXPECT_EQ(db().keys("ticketq:{two}"),
            (std::vector<std::string>{"ticketq:{two}:cfg", "ticketq:{two}:holds",
                                      "ticketq:{two}:reserved", "ticketq:{two}:seats",
                                      "ticketq:{two}:stats"}));
  // Each event counts its own tickets.
  EXPECT_EQ(db().hgetall("ticketq:{one}:seats"), (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(db().command({"ZSCORE", "ticketq:{one}:queued", "b"}).str, "2");
  EXPECT_EQ(db().hgetall("ticketq:{two}:seats"), (std::map<std::string, std::string>{{"b", "1"}}));
  expect_invariants("one", 1);
  expect_invariants("two", 1);
}

TEST_F(ApiTest, AdminCallsNeedExactlyOneMatchingToken) {
  const json unauthorized{{"error", "unauthorized"}};
  const std::vector<Headers> bad = {
      {},
      {{"X-Token", "wrong"}},
      {{"X-Token", ""}},
      {{"X-Token", std::string(kAdminToken) + "x"}},
      {{"X-Token", kAdminToken}, {"X-Token", kAdminToken}},
      {{"X-Token", kAdminToken}, {"x-token", "wrong"}},
      {{"Authorization", std::string("Bearer ") + kAdminToken}},
  };
  // The seed route also says it in "detail", as FastAPI did.
  const json seed_unauthorized{{"error", "unauthorized"}, {"detail", "unauthorized"}};
  for (const auto& h : bad) {
    SCOPED_TRACE(::testing::PrintToString(h));
    auto r = http().post("/v1/events/default/process_queue", "", h);
    ASSERT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(r.json, unauthorized);
    auto seed = http().post("/process_queue", "", h);
    ASSERT_EQ(seed.status, 401) << seed.describe();
    EXPECT_EQ(seed.json, seed_unauthorized);
  }
  // Header names are case-insensitive.
  auto ok = http().post("/process_queue", "", {{"x-token", kAdminToken}});
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(ok.json["status"], "queue_processed");
}

TEST_F(ApiTest, KeepAliveCarriesManyRequestsOnOneConnection) {
  for (int i = 0; i < 50; ++i) {
    auto r = http().get("/v1/events/default/status/u" + std::to_string(i));
    ASSERT_EQ(r.status, 404) << r.describe();
    ASSERT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(http().connections_opened(), 1);
}

TEST_F(ApiTest, ChunkedRequestBodyIsRead) {
  std::string body = user_body("chunky");
  std::string req = "POST /reserve HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size() - 4);
  req += std::string(size) + "\r\n" + body.substr(0, body.size() - 4) + "\r\n4\r\n" +
         body.substr(body.size() - 4) + "\r\n0\r\n\r\n";
  auto r = raw_exchange(stack_.server().port(), req);
  ASSERT_TRUE(r.first) << r.data;
  EXPECT_EQ(r.status(), 200) << r.data;
  EXPECT_EQ(untokened(r.first->json), (json{{"status", "reserved"}, {"user_id", "chunky"}}));
}

// Requests pipelined on one connection (all written before any answer is
// read) are answered one each, in order, even when they share a script call.
TEST_F(ApiTest, PipelinedRequestsAreAnsweredInOrder) {
  put_event("pipe", 3, 100, 201);
  std::string bytes;
  const int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    std::string u = "p" + std::to_string(i);
    bytes += build_request("POST", "/v1/events/pipe/reserve", user_body(u));
    bytes += build_request("GET", "/v1/events/pipe/status/" + u);
  }
  bytes += build_request("GET", "/health", "", {{"Connection", "close"}});
  auto r = raw_exchange(stack_.server().port(), bytes, Millis(30000), /*stop_after_first=*/false);
  std::string_view rest = r.data;
  for (int i = 0; i < kRequests; ++i) {
    std::string u = "p" + std::to_string(i);
    for (const char* kind : {"reserve", "status"}) {
      SCOPED_TRACE(u + " " + kind);
      HttpResponse resp;
      size_t used = 0;
      ASSERT_EQ(parse_response(rest, r.peer_closed, false, &resp, &used), ParseResult::kDone)
          << "answers so far: " << r.data.size() - rest.size() << " bytes";
      rest.remove_prefix(used);
      ASSERT_EQ(resp.status, 200) << resp.describe();
      EXPECT_EQ(resp.json["user_id"], u) << resp.describe();
      if (i < 3) {
        EXPECT_EQ(resp.json["status"], "reserved") << resp.describe();
      } else {
        EXPECT_EQ(resp.json["position"], i - 2) << resp.describe();
      }
    }
  }
  HttpResponse last;
  size_t used = 0;
  ASSERT_EQ(parse_response(rest, true, false, &last, &used), ParseResult::kDone);
  EXPECT_EQ(last.json, (json{{"status", "healthy"}}));
  expect_invariants("pipe", 3);
}

TEST_F(ApiTest, LoweringQueueLimitBelowTheLineTurnsNewcomersAway) {
  put_event("gig", 1, 5, 201);
  for (const std::string u : {"a", "b", "c", "d"}) ASSERT_EQ(reserve(u, "gig").status, 200);
  put_event("gig", 1, 1, 200);
  EXPECT_EQ(reserve("e", "gig").status, 409);
  // Those already in line keep their places.
  EXPECT_EQ(status("d", "gig").json, in_queue("d", 3));
  EXPECT_EQ(reserve("d", "gig").json["status"], "already_in_queue");
  expect_invariants("gig", 1);
}

TEST_F(ApiTest, ResetStartsTheLineAgainAtPositionOne) {
  for (const std::string u : {"a", "b", "c", "d"}) ASSERT_EQ(reserve(u).status, 200);
  ASSERT_EQ(http().post("/admin/reset", "", admin()).status, 200);
  EXPECT_EQ(reserve("d").json["status"], "reserved");  // d starts over
  EXPECT_EQ(reserve("e").json["status"], "reserved");
  EXPECT_EQ(untokened(reserve("f").json),
            (json{{"status", "queued"}, {"user_id", "f"}, {"position", 1}}));
  // The tickets go on where they were (a..d took 1..4): d's new join is
  // another ticket than its first.
  EXPECT_EQ(db().hgetall("ticketq:{default}:seats"),
            (std::map<std::string, std::string>{{"d", "5"}, {"e", "6"}}));
  EXPECT_EQ(db().command({"ZSCORE", "ticketq:{default}:queued", "f"}).str, "7");
  expect_invariants("default", 2);
}

class KeyPrefixTest : public ApiTest {
 protected:
  ServerOptions options() override {
    ServerOptions o = ApiTest::options();
    o.extra_args.push_back("--key-prefix");
    o.extra_args.push_back("shop");
    return o;
  }
};

TEST_F(KeyPrefixTest, KeysLiveUnderTheConfiguredPrefix) {
  ASSERT_EQ(reserve("a").json["status"], "reserved");
  ASSERT_EQ(reserve("b").json["status"], "reserved");
  ASSERT_EQ(reserve("c").json["status"], "queued");
  EXPECT_EQ(db().keys("ticketq"), std::vector<std::string>{});
  EXPECT_EQ(db().smembers("shop:{default}:reserved"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(db().line("default", "shop"), std::vector<std::string>{"c"});
  auto bad = db().check_invariants("default", 2, "shop");
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace ticketq::test
