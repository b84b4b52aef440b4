// The live stream of a visitor's place (GET /v1/events/{event}/stream,
// docs/pages.md) with a raw client against real servers and Redis: events
// on change, heartbeats, Last-Event-ID, authentication, limits, the
// watchers' cost to Redis, and shutdown.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "support/sse_client.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

class StreamTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, int threads = 2) {
    ServerOptions o;
    o.threads = threads;
    o.extra_args = {"--admission-tick-ms", "100"};
    for (auto& a : extra) o.extra_args.push_back(std::move(a));
    ASSERT_EQ(stack_.start(o), "");
  }
  // An event whose one seat is taken, so that joins wait in line.
  void make_event(
      const std::string& settings = R"({"capacity":1,"queue_limit":100,"admit_rate":"manual"})") {
    HttpClient http = stack_.client();
    ASSERT_EQ(http.put("/v1/events/e", settings, admin()).status, 201);
    ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("holder")).status, 200);
  }
  // Joins `user`; returns its user token.
  std::string join(const std::string& user) {
    HttpResponse r = stack_.client().post("/v1/events/e/reserve", user_body(user));
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json.value("token", "");
  }
  std::unique_ptr<SseClient> watch(const Headers& h,
                                   const std::string& target = "/v1/events/e/stream",
                                   size_t server = 0) {
    return std::make_unique<SseClient>(stack_.server(server).port(), target, h);
  }
  // The next event, which must come within 10 s.
  SseEvent expect_event(SseClient& s, const std::string& name) {
    auto e = s.next(Millis(10000));
    EXPECT_TRUE(e.has_value()) << "no '" << name << "' event";
    if (!e) return {};
    EXPECT_EQ(e->event, name) << e->data;
    return *e;
  }
  std::string metrics() { return stack_.client().get("/metrics").body; }

  Stack stack_;
};

TEST_F(StreamTest, TellsAWaiterOfEachChangeAndHandsOverTheAdmission) {
  start();
  make_event();
  std::string token = join("b");
  join("c");
  auto s = watch(bearer(token));
  ASSERT_TRUE(s->streaming()) << s->head().describe();
  EXPECT_EQ(s->head().header("Cache-Control"), "no-store");
  EXPECT_EQ(s->head().header("X-Accel-Buffering"), "no");
  EXPECT_EQ(s->head().header("Transfer-Encoding"), "chunked");

  SseEvent first = expect_event(*s, "waiting");
  EXPECT_EQ(s->retry_ms(), 2000);
  EXPECT_FALSE(first.id.empty());
  json d = first.json();
  EXPECT_EQ(d["state"], "waiting");
  EXPECT_EQ(d["user_id"], "b");
  EXPECT_EQ(d["position"], 1);
  EXPECT_TRUE(d["eta_s"].is_null());  // nobody admitted yet: no pace
  EXPECT_EQ(d["event_state"], "open");

  // Paused: the same place, the event's state changed.
  HttpClient http = stack_.client();
  ASSERT_EQ(http.put("/v1/events/e", R"({"state":"paused"})", admin()).status, 200);
  json paused = expect_event(*s, "waiting").json();
  EXPECT_EQ(paused["event_state"], "paused");
  EXPECT_EQ(paused["position"], 1);
  ASSERT_EQ(http.put("/v1/events/e", R"({"state":"open","capacity":2})", admin()).status, 200);
  EXPECT_EQ(expect_event(*s, "waiting").json()["event_state"], "open");

  // Admitted: the event carries an admission token the booking service verifies.
  int64_t t0 = now_ms();
  ASSERT_EQ(http.post("/v1/events/e/process_queue?limit=1", "", admin()).status, 200);
  SseEvent admitted = expect_event(*s, "admitted");
  std::printf("FIGURE stream_admission_delivery: %lld ms\n", static_cast<long long>(now_ms() - t0));
  json a = admitted.json();
  EXPECT_EQ(a["user_id"], "b");
  EXPECT_TRUE(a["hold_expires_at"].is_null());  // hold_s 0: never ends
  ASSERT_TRUE(a["admission_token"].is_string()) << admitted.data;
  HttpResponse v = http.post("/v1/events/e/verify", json{{"token", a["admission_token"]}}.dump());
  EXPECT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.json["valid"], true);

  // Sold: the last event, then the stream ends.
  ASSERT_EQ(http.post("/v1/events/e/confirm", "", bearer(a["admission_token"])).status, 200);
  expect_event(*s, "confirmed");
  EXPECT_TRUE(s->wait_closed(Millis(10000)));
  EXPECT_TRUE(s->ended());
}

TEST_F(StreamTest, PositionsMoveWhenSomeoneAheadLeaves) {
  start();
  make_event();
  std::string b = join("b");
  std::string c = join("c");
  auto s = watch(bearer(c));
  EXPECT_EQ(expect_event(*s, "waiting").json()["position"], 2);
  join("d");  // a join behind moves nobody
  ASSERT_EQ(stack_.client().post("/v1/events/e/leave", "", bearer(b)).status, 200);
  EXPECT_EQ(expect_event(*s, "waiting").json()["position"], 1);
  // The visitor leaves: told so, and the stream ends.
  ASSERT_EQ(stack_.client().post("/v1/events/e/leave", "", bearer(c)).status, 200);
  EXPECT_EQ(expect_event(*s, "left").json()["reason"], "left");
  EXPECT_TRUE(s->wait_closed(Millis(10000)));
}

TEST_F(StreamTest, AResetTellsWatchersTheyLeft) {
  start();
  make_event();
  auto s = watch(bearer(join("b")));
  expect_event(*s, "waiting");
  ASSERT_EQ(stack_.client().post("/v1/events/e/reset", "", admin()).status, 200);
  expect_event(*s, "left");
  EXPECT_TRUE(s->wait_closed(Millis(10000)));
}

// A line of waiters only: the reset changes no counter but the line's length.
TEST_F(StreamTest, AResetOfALineWithoutSeatsIsToldToo) {
  start();
  HttpClient http = stack_.client();
  ASSERT_EQ(http.put("/v1/events/e", R"({"capacity":0,"queue_limit":10})", admin()).status, 201);
  auto s = watch(bearer(join("b")));
  expect_event(*s, "waiting");
  int64_t t0 = now_ms();
  ASSERT_EQ(http.post("/v1/events/e/reset", "", admin()).status, 200);
  expect_event(*s, "left");
  std::printf("FIGURE stream_reset_told: %lld ms\n", static_cast<long long>(now_ms() - t0));
  EXPECT_LT(now_ms() - t0, 10000) << "not at a periodic read (30 s)";
}

// A new rate changes the estimate: paused (rate 0) has none.
TEST_F(StreamTest, ARateChangeIsToldAsANewEstimate) {
  start();
  make_event(R"({"capacity":1,"queue_limit":100,"admit_rate":1})");
  HttpClient http = stack_.client();
  std::string b = join("b");
  join("c");
  // A seat more: the admission step admits b at the rate, and the line has a pace.
  ASSERT_EQ(http.put("/v1/events/e", R"({"capacity":2})", admin()).status, 200);
  ASSERT_TRUE(wait_until([&] { return http.get("/v1/events/e", admin()).json["promoted"] == 1; },
                         Millis(10000), Millis(50)));
  auto s = watch(bearer(join("d")));
  json first = expect_event(*s, "waiting").json();
  (void)b;
  // c then d wait, and the line moved in the last minute: an estimate.
  ASSERT_TRUE(first["eta_s"].is_number()) << first.dump();
  ASSERT_EQ(http.put("/v1/events/e", R"({"admit_rate":0})", admin()).status, 200);
  int64_t t0 = now_ms();
  json paused = expect_event(*s, "waiting").json();
  EXPECT_TRUE(paused["eta_s"].is_null()) << paused.dump();
  EXPECT_LT(now_ms() - t0, 10000) << "not at a periodic read (30 s)";
}

// A token of an earlier join of the same user id, in line again.
TEST_F(StreamTest, ATokenOfAnEarlierJoinIsToldItWasSuperseded) {
  start();
  make_event();
  std::string first = join("u");
  auto s = watch(bearer(first));
  expect_event(*s, "waiting");
  ASSERT_EQ(stack_.client().post("/v1/events/e/leave", "", bearer(first)).status, 200);
  expect_event(*s, "left");
  std::string second = join("u");
  auto old = watch(bearer(first));
  json d = expect_event(*old, "left").json();
  EXPECT_EQ(d["reason"], "superseded");
  auto now = watch(bearer(second));
  EXPECT_EQ(expect_event(*now, "waiting").json()["position"], 1);
}

TEST_F(StreamTest, HeadAnswersTheHeadWithoutWatching) {
  start({}, 1);
  make_event();
  std::string b = join("b");
  HttpResponse r = stack_.client().request("HEAD", "/v1/events/e/stream", "", bearer(b));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(metric(stack_.client().get("/metrics").body, R"(ticketq_streams{loop="0"})"), 0);
}

TEST_F(StreamTest, HeartbeatsKeepAQuietStreamPastTheIdleTimeout) {
  // Idle timeout 2 s; heartbeats every second (at most half of it).
  start({"--idle-timeout-s", "2", "--stream-heartbeat-s", "1"});
  make_event();
  auto s = watch(bearer(join("b")));
  expect_event(*s, "waiting");
  int64_t t0 = now_ms();
  // Four heartbeats span at least 3 s, past the 2 s idle timeout.
  while (s->comments() < 5 && !s->ended() && now_ms() - t0 < 30000) s->next(Millis(500));
  std::printf("FIGURE stream_heartbeats: %d comments in %lld ms\n", s->comments(),
              static_cast<long long>(now_ms() - t0));
  EXPECT_GE(s->comments(), 5);  // the preamble's comment, then four heartbeats
  EXPECT_FALSE(s->ended());
  // A plain idle connection is still closed at the idle timeout.
  RawResult quiet = raw_exchange(stack_.server().port(), "", Millis(15000), false);
  EXPECT_TRUE(quiet.peer_closed);
}

TEST_F(StreamTest, LastEventIdResumesWithoutRepeatingWhatTheClientHas) {
  start();
  make_event();
  std::string b = join("b");
  std::string c = join("c");
  std::string id;
  {
    auto s = watch(bearer(c));
    SseEvent e = expect_event(*s, "waiting");
    EXPECT_EQ(e.json()["position"], 2);
    id = e.id;
  }
  // Reconnecting with the id of the state it has: the next event is news.
  Headers h = bearer(c);
  h.emplace_back("Last-Event-ID", id);
  auto s = watch(h);
  ASSERT_TRUE(s->streaming());
  ASSERT_EQ(stack_.client().post("/v1/events/e/leave", "", bearer(b)).status, 200);
  SseEvent e = expect_event(*s, "waiting");
  EXPECT_EQ(e.json()["position"], 1) << "the first event after a resume is the change";
  EXPECT_NE(e.id, id);
  // A stale id: the current state is sent at once.
  Headers stale = bearer(c);
  stale.emplace_back("Last-Event-ID", id);
  auto again = watch(stale);
  EXPECT_EQ(expect_event(*again, "waiting").json()["position"], 1);
}

TEST_F(StreamTest, TheTokenMayComeInTheCookieOrTheQuery) {
  start();
  make_event();
  std::string b = join("b");
  auto by_cookie = watch({{"Cookie", "other=1; tq_e=" + b + "; x=y"}});
  EXPECT_EQ(expect_event(*by_cookie, "waiting").json()["user_id"], "b");
  auto by_query = watch({}, "/v1/events/e/stream?token=" + b);
  EXPECT_EQ(expect_event(*by_query, "waiting").json()["user_id"], "b");
  // Another event's cookie is not this event's.
  auto other = watch({{"Cookie", "tq_f=" + b}});
  EXPECT_EQ(other->status(), 401);
}

TEST_F(StreamTest, RefusesWithoutAGoodUserTokenOfTheEvent) {
  start();
  make_event();
  HttpClient http = stack_.client();
  ASSERT_EQ(http.put("/v1/events/f", R"({"capacity":0,"queue_limit":10})", admin()).status, 201);
  std::string other_event = http.post("/v1/events/f/reserve", user_body("x")).json["token"];
  ASSERT_EQ(http.put("/v1/events/e", R"({"capacity":2})", admin()).status, 200);
  std::string b = join("b");  // a seat at once
  HttpResponse st = http.get("/v1/events/e/status/b", bearer(b));
  std::string admission = st.json.value("admission_token", "");
  ASSERT_FALSE(admission.empty()) << st.describe();

  struct Row {
    const char* name;
    Headers headers;
    std::string target;
    int status;
  };
  const std::string t = "/v1/events/e/stream";
  for (const Row& row : {Row{"none", {}, t, 401}, Row{"garbage", bearer("x.y.z"), t, 401},
                         Row{"admission token", bearer(admission), t, 401},
                         Row{"other event's", bearer(other_event), t, 401},
                         Row{"query twice", {}, t + "?token=a&token=b", 400},
                         Row{"bad event", bearer(b), "/v1/events/a%20b/stream", 400}}) {
    SCOPED_TRACE(row.name);
    auto s = watch(row.headers, row.target);
    EXPECT_FALSE(s->streaming());
    EXPECT_EQ(s->status(), row.status) << s->head().describe();
    EXPECT_TRUE(s->head().json.contains("error")) << s->head().describe();
  }
}

TEST_F(StreamTest, WatchingIsAHeartbeatForWaiterExpiry) {
  start();
  make_event(R"({"capacity":1,"queue_limit":100,"admit_rate":"manual","waiter_ttl_s":4})");
  auto s = watch(bearer(join("watcher")));
  expect_event(*s, "waiting");
  join("silent");  // neither polls nor watches
  HttpClient http = stack_.client();
  int64_t t0 = now_ms();
  ASSERT_TRUE(wait_until(
      [&] {
        // Admin reads of the event do not heartbeat anyone.
        return http.get("/v1/events/e", admin()).json.value("expired_waiters", 0) >= 1;
      },
      Millis(30000), Millis(200)));
  std::printf("FIGURE silent_waiter_expired_after: %lld ms\n",
              static_cast<long long>(now_ms() - t0));
  // The watcher outlived the silent waiter who joined after it.
  json e = http.get("/v1/events/e", admin()).json;
  EXPECT_EQ(e["waiting"], 1) << e.dump();
  EXPECT_EQ(e["expired_waiters"], 1) << e.dump();
  EXPECT_EQ(http.get("/v1/events/e/status/silent").status, 404);
  EXPECT_FALSE(s->ended());
}

TEST_F(StreamTest, RedisCallsDoNotGrowWithTheWatchers) {
  start({}, 1);
  make_event();
  constexpr int kWatchers = 60;
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < kWatchers; ++i)
    streams.push_back(watch(bearer(join("w" + std::to_string(i)))));
  for (int i = 0; i < kWatchers; ++i) {
    SseEvent e = expect_event(*streams[i], "waiting");
    EXPECT_EQ(e.json()["position"], i + 1);
  }
  const std::string users = R"(ticketq_stream_redis_calls_total{kind="users"})";
  const std::string event = R"(ticketq_stream_redis_calls_total{kind="event"})";
  std::string m0 = metrics();
  // 60 watchers joined over several ticks: their first reads were batched.
  EXPECT_LE(metric(m0, users), kWatchers / 2) << m0;
  EXPECT_EQ(metric(m0, R"(ticketq_streams{loop="0"})"), kWatchers);
  // Nothing changes: a read of the event per tick, none of the watchers.
  ASSERT_TRUE(wait_until([&] { return metric(metrics(), event) >= metric(m0, event) + 8; },
                         Millis(30000), Millis(100)));
  std::string m1 = metrics();
  std::printf("FIGURE stream_quiet_reads: %g event reads, %g user reads for %d watchers\n",
              metric(m1, event) - metric(m0, event), metric(m1, users) - metric(m0, users),
              kWatchers);
  EXPECT_LE(metric(m1, users) - metric(m0, users), 1);
  // One change: every watcher is told with one batched read.
  HttpClient http = stack_.client();
  ASSERT_EQ(http.post("/v1/events/e/leave", user_body("w0"), admin()).status, 200);
  for (int i = 1; i < kWatchers; ++i)
    EXPECT_EQ(expect_event(*streams[i], "waiting").json()["position"], i);
  std::string m2 = metrics();
  EXPECT_LE(metric(m2, users) - metric(m1, users), 3) << "one read per change, batched";
}

TEST_F(StreamTest, StreamsCountAgainstMaxConnections) {
  start({"--max-connections", "3"}, 1);
  make_event();
  std::vector<std::string> tokens = {join("a"), join("b"), join("c")};
  std::vector<std::unique_ptr<SseClient>> streams;
  for (const std::string& t : tokens) {
    // The joins' connections close on the server a moment after the client's.
    ASSERT_TRUE(wait_until(
        [&] {
          auto s = watch(bearer(t));
          if (!s->streaming()) return false;
          streams.push_back(std::move(s));
          return true;
        },
        Millis(10000), Millis(20)));
    expect_event(*streams.back(), "waiting");
  }
  RawResult r = raw_exchange(stack_.server().port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status(), 503) << r.data;
  streams.pop_back();  // one goes: room for another
  EXPECT_TRUE(wait_until(
      [&] {
        return raw_exchange(stack_.server().port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                   .status() == 200;
      },
      Millis(10000), Millis(50)));
}

TEST_F(StreamTest, ShutdownTellsStreamsToReconnectElsewhere) {
  start();
  make_event();
  auto s = watch(bearer(join("b")));
  expect_event(*s, "waiting");
  int64_t t0 = now_ms();
  std::thread stop([&] { stack_.server().terminate(Millis(30000)); });
  SseEvent bye = expect_event(*s, "reconnect");
  int64_t told = now_ms() - t0;
  EXPECT_EQ(bye.json()["retry_ms"], 2000);
  EXPECT_TRUE(s->wait_closed(Millis(10000)));
  std::printf("FIGURE stream_shutdown: reconnect told in %lld ms, closed in %lld ms\n",
              static_cast<long long>(told), static_cast<long long>(now_ms() - t0));
  stop.join();
}

}  // namespace
}  // namespace ticketq::test
