// Hardening against what a deployment and an attacker do: instances started
// with different flags, keys corrupted in Redis, floods of made-up event
// names, and a shutdown under keep-alive load.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "support/proc_stats.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

// ------------------------------------------------------- one set of settings --

// Instances started with different --capacity (a rolling deploy that lowers
// it) use the settings Redis holds: the first instance's, stored on first
// use. Every instance reports and enforces the same, and the others say
// their flags do not apply.
TEST(HardeningTest, InstancesAgreeOnTheDefaultEventWhateverTheirFlags) {
  Stack stack;
  ServerOptions small;
  small.extra_args = {"--capacity", "20", "--queue-limit", "20"};
  ASSERT_EQ(stack.start(small), "");
  ServerOptions big;
  big.extra_args = {"--capacity", "500", "--queue-limit", "500"};
  ASSERT_EQ(stack.add_server(big), "");
  EXPECT_EQ(stack.server(0).log_count("do not apply"), 0u);
  EXPECT_EQ(stack.server(1).log_count("do not apply"), 1u) << stack.server(1).log();

  HttpClient a = stack.client(0), b = stack.client(1);
  std::map<std::string, int> answers;
  for (int i = 0; i < 30; ++i) {
    HttpClient& c = i % 2 == 0 ? a : b;
    auto r = c.post("/reserve", user_body("u" + std::to_string(i)));
    ASSERT_TRUE(r.status == 200 || r.status == 409) << r.describe();
    ++answers[r.json["status"].get<std::string>()];
  }
  EXPECT_EQ(answers["reserved"], 20);
  EXPECT_EQ(answers["queued"], 10);
  EXPECT_EQ(stack.db().scard("ticketq:{default}:reserved"), 20);
  for (HttpClient* c : {&a, &b}) {
    auto info = c->get("/v1/events/default", admin());
    ASSERT_EQ(info.status, 200) << info.describe();
    EXPECT_EQ(info.json["capacity"], 20);
    EXPECT_EQ(info.json["queue_limit"], 20);
  }
  auto bad = stack.db().check_invariants("default", 20);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

// --------------------------------------------------------------- corruption --

// A key of the wrong type or a stored value that is not what it should be
// makes a script fail before its first write: the client gets 503, the
// event is unchanged. Each row corrupts one key and runs one call that
// reads it.
struct Corruption {
  const char* name;
  // "reserve_new", "reserve_repeat", "promote", "put", "leave", "cancel",
  // "confirm" (the last three by the operator, for a user named in the
  // body), "cancel_own" (a's user token), "confirm_own", "verify" (a's
  // admission token), "status" (of a)
  const char* op;
  const char* key;                   // which of the event's keys
  std::vector<std::string> command;  // "{key}" is replaced by the key's name
  bool del_first = true;             // DEL the key before the command
};

void PrintTo(const Corruption& c, std::ostream* os) {
  *os << c.name;
}

class CorruptKeyTest : public ::testing::TestWithParam<Corruption> {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack();
    ASSERT_EQ(stack_->start(), "");
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  static Stack* stack_;
};
Stack* CorruptKeyTest::stack_ = nullptr;

TEST_P(CorruptKeyTest, ScriptFailsBeforeItsFirstWrite) {
  ASSERT_NE(stack_, nullptr);
  const Corruption& c = GetParam();
  const std::string event = std::string("corrupt-") + c.name;
  const std::string base = "/v1/events/" + event;
  HttpClient http = stack_->client();
  RedisClient& db = stack_->db();
  // 2 seats taken (a, b: admitted at once, tickets 1 and 2, holds that
  // never end), 2 waiting (c, d: tickets 3 and 4), then a third seat, so
  // that a promote has something to write. The event admits by hand only
  // (admit_rate manual, no hold or waiter expiry): the admission timer
  // writes nothing to it.
  ASSERT_EQ(http.put(base, R"({"capacity":2,"queue_limit":10})", admin()).status, 201);
  std::string user_token;
  for (const char* u : {"a", "b", "c", "d"}) {
    auto r = http.post(base + "/reserve", user_body(u));
    ASSERT_EQ(r.status, 200) << r.describe();
    if (std::string(u) == "a") user_token = r.json.value("token", "");
  }
  ASSERT_EQ(http.put(base, R"({"capacity":3,"queue_limit":10})", admin()).status, 200);
  ASSERT_FALSE(user_token.empty());
  const Headers as_a{{"Authorization", "Bearer " + user_token}};
  auto seat = http.get(base + "/status/a", as_a);
  ASSERT_EQ(seat.status, 200) << seat.describe();
  const std::string admission = seat.json.value("admission_token", "");
  ASSERT_FALSE(admission.empty()) << seat.describe();
  const Headers as_seat{{"Authorization", "Bearer " + admission}};

  const std::string key = RedisClient::key(event, c.key);
  if (c.del_first) {
    ASSERT_FALSE(db.command({"DEL", key}).is_error());
  }
  std::vector<std::string> cmd = c.command;
  for (auto& w : cmd)
    if (w == "{key}") w = key;
  ASSERT_FALSE(db.command(cmd).is_error());
  const std::string prefix = "ticketq:{" + event + "}";
  Snapshot before = db.snapshot(prefix);

  HttpResponse r;
  const std::string op = c.op;
  if (op == "reserve_new") r = http.post(base + "/reserve", user_body("e"));
  if (op == "reserve_repeat") r = http.post(base + "/reserve", user_body("c"));
  if (op == "promote") r = http.post(base + "/process_queue", "", admin());
  if (op == "put") r = http.put(base, R"({"capacity":4,"queue_limit":10})", admin());
  if (op == "leave") r = http.post(base + "/leave", user_body("c"), admin());
  if (op == "cancel") r = http.post(base + "/cancel", user_body("a"), admin());
  if (op == "confirm") r = http.post(base + "/confirm", user_body("a"), admin());
  if (op == "cancel_own") r = http.post(base + "/cancel", "", as_a);
  if (op == "confirm_own") r = http.post(base + "/confirm", "", as_seat);
  if (op == "verify")
    r = http.post(base + "/verify?consume=1", nlohmann::json{{"token", admission}}.dump());
  if (op == "status") r = http.get(base + "/status/a", as_a);
  ASSERT_NE(r.status, 0) << "unknown op " << op;
  EXPECT_EQ(r.status, 503) << r.describe();
  EXPECT_TRUE(r.header("Retry-After").has_value()) << r.describe();
  EXPECT_EQ(diff(before, db.snapshot(prefix)), "") << "a failed script wrote";

  // A reset clears the line's keys, corrupt or not (settings must be sound).
  EXPECT_EQ(http.post(base + "/reset", "", admin()).status,
            std::string(c.key) == "cfg" ? 503 : 200);
}

// A hold's end: ms since the epoch, or inf. This one is not whole, and far
// in the future, so that no sweep of ended holds takes it away meanwhile.
constexpr const char* kFractionalEnd = "99999999999999.5";

const Corruption kCorruptions[] = {
    // A newcomer (e, who must queue) reads the settings and every key's size.
    {"reserved_not_a_set_reserve", "reserve_new", "reserved", {"SET", "{key}", "x"}},
    {"queued_not_a_zset_reserve", "reserve_new", "queued", {"SET", "{key}", "x"}},
    {"seats_not_a_hash_reserve", "reserve_new", "seats", {"SET", "{key}", "x"}},
    {"holds_not_a_zset_reserve", "reserve_new", "holds", {"SET", "{key}", "x"}},
    {"seen_not_a_zset_reserve", "reserve_new", "seen", {"SET", "{key}", "x"}},
    {"stats_not_a_hash_reserve", "reserve_new", "stats", {"SET", "{key}", "x"}},
    {"cfg_admit_rate_not_a_rate_reserve",
     "reserve_new",
     "cfg",
     {"HSET", "{key}", "admit_rate", "fast"},
     false},
    {"cfg_negative_hold_reserve", "reserve_new", "cfg", {"HSET", "{key}", "hold_s", "-1"}, false},
    {"cfg_fractional_waiter_ttl_reserve",
     "reserve_new",
     "cfg",
     {"HSET", "{key}", "waiter_ttl_s", "1.5"},
     false},
    {"cfg_tickets_not_a_number_reserve",
     "reserve_new",
     "cfg",
     {"HSET", "{key}", "tickets", "many"},
     false},
    {"queued_not_a_zset_repeat", "reserve_repeat", "queued", {"SADD", "{key}", "c", "d"}},
    // A promote reads the tickets of the head it admits (c) before writing.
    {"queued_fractional_ticket_promote",
     "promote",
     "queued",
     {"ZADD", "{key}", "3.5", "c", "4", "d"}},
    {"reserved_not_a_set_promote", "promote", "reserved", {"SET", "{key}", "x"}},
    {"queued_not_a_zset_promote", "promote", "queued", {"SET", "{key}", "x"}},
    {"seats_not_a_hash_promote", "promote", "seats", {"SET", "{key}", "x"}},
    {"holds_not_a_zset_promote", "promote", "holds", {"SET", "{key}", "x"}},
    {"seen_not_a_zset_promote", "promote", "seen", {"SET", "{key}", "x"}},
    {"stats_not_a_hash_promote", "promote", "stats", {"SET", "{key}", "x"}},
    {"stats_not_a_number_promote", "promote", "stats", {"HSET", "{key}", "promoted", "many"}},
    {"stats_rate_slot_not_a_number_promote", "promote", "stats", {"HSET", "{key}", "r3", "x"}},
    {"queued_not_a_zset_leave", "leave", "queued", {"SET", "{key}", "x"}},
    {"reserved_not_a_set_leave", "leave", "reserved", {"SET", "{key}", "x"}},
    {"seen_not_a_zset_leave", "leave", "seen", {"SET", "{key}", "x"}},
    {"holds_not_a_zset_leave", "leave", "holds", {"SET", "{key}", "x"}},
    {"stats_not_a_number_leave", "leave", "stats", {"HSET", "{key}", "left", "-1"}},
    // An operator gives a's seat back, or sells it.
    {"reserved_not_a_set_cancel", "cancel", "reserved", {"SET", "{key}", "x"}},
    {"queued_not_a_zset_cancel", "cancel", "queued", {"SET", "{key}", "x"}},
    {"seats_not_a_hash_cancel", "cancel", "seats", {"SET", "{key}", "x"}},
    {"holds_not_a_zset_cancel", "cancel", "holds", {"SET", "{key}", "x"}},
    {"stats_not_a_number_cancel", "cancel", "stats", {"HSET", "{key}", "cancelled", "x"}},
    {"reserved_not_a_set_confirm", "confirm", "reserved", {"SET", "{key}", "x"}},
    {"seats_not_a_hash_confirm", "confirm", "seats", {"SET", "{key}", "x"}},
    {"holds_not_a_zset_confirm", "confirm", "holds", {"SET", "{key}", "x"}},
    {"queued_not_a_zset_confirm", "confirm", "queued", {"SET", "{key}", "x"}},
    {"stats_not_a_hash_confirm", "confirm", "stats", {"SET", "{key}", "x"}},
    {"holds_fractional_end_confirm",
     "confirm",
     "holds",
     {"ZADD", "{key}", kFractionalEnd, "a"},
     false},
    // a's own calls read a's seat: its ticket names the join.
    {"seat_not_a_ticket_cancel_own", "cancel_own", "seats", {"HSET", "{key}", "a", "x"}, false},
    {"seat_not_a_ticket_confirm_own", "confirm_own", "seats", {"HSET", "{key}", "a", "x"}, false},
    {"seat_not_a_ticket_verify", "verify", "seats", {"HSET", "{key}", "a", "1x"}, false},
    {"seat_not_a_ticket_status", "status", "seats", {"HSET", "{key}", "a", "u"}, false},
    {"holds_fractional_end_verify",
     "verify",
     "holds",
     {"ZADD", "{key}", kFractionalEnd, "a"},
     false},
    {"holds_fractional_end_status",
     "status",
     "holds",
     {"ZADD", "{key}", kFractionalEnd, "a"},
     false},
    // An operator's cancel and confirm check the seat they act on too.
    {"seat_not_a_ticket_cancel", "cancel", "seats", {"HSET", "{key}", "a", "x"}, false},
    {"seat_not_a_ticket_confirm", "confirm", "seats", {"HSET", "{key}", "a", "x"}, false},
    {"holds_fractional_end_cancel",
     "cancel",
     "holds",
     {"ZADD", "{key}", kFractionalEnd, "a"},
     false},
    {"cfg_not_a_hash_put", "put", "cfg", {"SET", "{key}", "x"}},
    {"reserved_not_a_set_put", "put", "reserved", {"SET", "{key}", "x"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, CorruptKeyTest, ::testing::ValuesIn(kCorruptions),
                         [](const auto& info) { return std::string(info.param.name); });

// The default event, not stored yet, is stored only by a script that
// succeeds: a failing one leaves no settings behind either.
TEST(HardeningTest, FailedScriptDoesNotStoreTheDefaultEvent) {
  Stack stack;
  ASSERT_EQ(stack.start(), "");
  RedisClient& db = stack.db();
  ASSERT_FALSE(db.command({"DEL", "ticketq:{default}:cfg"}).is_error());
  ASSERT_FALSE(db.command({"SET", "ticketq:{default}:reserved", "x"}).is_error());
  Snapshot before = db.snapshot("");
  HttpClient http = stack.client();
  auto r = http.post("/reserve", user_body("a"));
  EXPECT_EQ(r.status, 503) << r.describe();
  EXPECT_EQ(diff(before, db.snapshot("")), "");
  EXPECT_FALSE(db.exists("ticketq:{default}:cfg"));
}

// ------------------------------------------------ anonymous traffic, bounded --

// Reserves for made-up events, `count` of them, from 4 keep-alive
// connections at once. Returns how many were answered 404.
int64_t flood_made_up_events(int port, int first, int count) {
  constexpr int kConns = 4;
  std::atomic<int64_t> not_found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConns; ++t) {
    threads.emplace_back([&, t] {
      HttpClient c(port, Millis(30000));
      for (int i = first + t; i < first + count; i += kConns)
        not_found +=
            c.post("/v1/events/made-up-" + std::to_string(i) + "/reserve", user_body("x")).status ==
            404;
    });
  }
  for (auto& th : threads) th.join();
  return not_found;
}

// Event names a client sends are not remembered before the event is known
// to exist: the metrics list no made-up names, and the server's memory does
// not grow with their number.
TEST(HardeningTest, MadeUpEventNamesAreNotRemembered) {
  Stack stack;
  ServerOptions o;
  o.threads = 1;
  ASSERT_EQ(stack.start(o), "");
  const int port = stack.server().port();
  const pid_t pid = stack.server().pid();
  const bool sanitized = server_is_sanitized(pid);
  // Under ASan freed memory sits in a quarantine, so RSS says nothing there.
  const int warmup = 4000, flood = sanitized ? 6000 : 60000;

  ASSERT_EQ(flood_made_up_events(port, 0, warmup), warmup);
  int64_t rss_before = vm_rss_kb(pid);
  int64_t t0 = now_ms();
  ASSERT_EQ(flood_made_up_events(port, warmup, flood), flood);
  int64_t rss_after = vm_rss_kb(pid);
  std::cout << "[ figure ] made_up_events=" << flood << " in " << now_ms() - t0 << " ms; rss_kb "
            << rss_before << " -> " << rss_after
            << (sanitized ? " (sanitized build: not asserted)" : "") << "\n";

  HttpClient http = stack.client();
  auto m = http.get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body.find("made-up-"), std::string::npos) << "a made-up event is in the metrics";
  EXPECT_EQ(stack.db().keys("ticketq:{made-up"), std::vector<std::string>{});
  if (!sanitized) {
    // Remembering each name costs about 150 B: 60,000 names would be ~9 MB.
    EXPECT_LT(rss_after - rss_before, 3 * 1024) << "RSS grew with made-up event names";
  }
}

// ------------------------------------------------------------------ shutdown --

// SIGTERM under keep-alive load: replies from then on say Connection: close,
// so clients leave, and the server exits soon, long before its shutdown
// timeout.
TEST(HardeningTest, ShutdownUnderKeepAliveLoadTellsClientsToClose) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--shutdown-timeout-ms", "60000"};
  ASSERT_EQ(stack.start(o), "");
  const int port = stack.server().port();
  constexpr int kClients = 6;
  std::atomic<int64_t> answered{0}, told_to_close{0}, cut_off{0}, bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      HttpClient c(port, Millis(30000));
      int64_t deadline = now_ms() + 120000;
      for (int i = 0; !stop && now_ms() < deadline; ++i) {
        auto r = c.post("/reserve", user_body("k" + std::to_string(t) + "-" + std::to_string(i)));
        if (r.status == 0) {  // closed without an answer (or refused once the listener is gone)
          ++cut_off;
          return;
        }
        ++answered;
        if (r.status != 200 && r.status != 409 && r.status != 503) ++bad;
        std::string conn = r.header("Connection").value_or("");
        if (conn == "close") {
          ++told_to_close;
          return;
        }
      }
    });
  }
  ASSERT_TRUE(wait_until([&] { return answered >= 300; }, Millis(60000)));
  int64_t t0 = now_ms();
  ExitStatus st = stack.server().terminate(Millis(50000));
  int64_t exit_ms = now_ms() - t0;
  stop = true;
  for (auto& th : clients) th.join();
  std::cout << "[ figure ] shutdown under keep-alive load: exit after " << exit_ms
            << " ms; clients told to close " << told_to_close << ", cut off " << cut_off << " of "
            << kClients << "\n";
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  EXPECT_FALSE(st.timed_out);
  EXPECT_LT(exit_ms, 30000) << "shutdown waited for its timeout";
  EXPECT_GE(told_to_close, 1) << "no reply during the drain said Connection: close";
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace ticketq::test
