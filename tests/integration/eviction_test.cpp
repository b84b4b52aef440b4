// Redis must not evict ticketq's keys: on every (re)connection the gateway
// reads Redis's maxmemory-policy, and anything but noeviction keeps /ready at
// 503 (with an error in the log) unless --redis-allow-eviction 1 accepts it.
// Requests are served either way. One event loop per server, so a single
// GET /ready speaks for the whole server.
#include <gtest/gtest.h>

#include <string>

#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

// Wide bounds: the suite also runs under ASan on a loaded machine.
constexpr Millis kDeadline{20000};

// The first log line holding `needle`, or "".
std::string log_line(const std::string& log, const std::string& needle) {
  size_t at = log.find(needle);
  if (at == std::string::npos) return "";
  size_t begin = log.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  size_t end = log.find('\n', at);
  return log.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

RedisOptions evicting_redis() {
  RedisOptions r;
  r.extra_config = {"maxmemory-policy allkeys-lru"};
  return r;
}

ServerOptions one_loop() {
  ServerOptions o;
  o.threads = 1;
  return o;
}

int ready_status(int port) {
  return HttpClient(port, Millis(5000)).get("/ready").status;
}

// A reserve, retried while the server is still (re)connecting; the same
// user id makes a retry harmless. Returns the last status.
int reserve_until_served(HttpClient& c, const std::string& user) {
  int status = 0;
  wait_until(
      [&] {
        status = c.post("/reserve", user_body(user)).status;
        return status == 200;
      },
      kDeadline, Millis(20));
  return status;
}

TEST(EvictionTest, EvictingRedisLogsAnErrorAndIsNotReadyButServes) {
  Stack stack(evicting_redis());
  ServerOptions o = one_loop();
  o.wait_ready = false;
  ASSERT_EQ(stack.start(o), "");
  ServerProcess& server = stack.server();
  ASSERT_TRUE(server.wait_for_log("maxmemory-policy allkeys-lru", 1, kDeadline)) << server.log();

  std::string line = log_line(server.log(), "maxmemory-policy allkeys-lru");
  EXPECT_NE(line.find(" error ["), std::string::npos) << line;
  EXPECT_NE(line.find("lost reservation"), std::string::npos) << line;
  EXPECT_NE(line.find("maxmemory-policy noeviction"), std::string::npos) << line;
  EXPECT_NE(line.find("redis_allow_eviction"), std::string::npos) << line;

  // Requests are served: the connection is up with its scripts loaded.
  HttpClient c = stack.client();
  HttpResponse r = c.post("/reserve", user_body("evict-a"));
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.body.find("\"reserved\""), std::string::npos) << r.describe();
  EXPECT_EQ(c.get("/health").status, 200);
  // ...and yet the server is not ready, on fresh connections too.
  for (int i = 0; i < 3; ++i) {
    HttpResponse ready = HttpClient(server.port()).get("/ready");
    EXPECT_EQ(ready.status, 503) << ready.describe();
  }
  EXPECT_EQ(server.log_count(kReadyLogLine), 0u);
  EXPECT_EQ(server.log_count("maxmemory-policy allkeys-lru"), 1u) << "once per connection";
}

TEST(EvictionTest, AllowEvictionAcceptsItWithAWarning) {
  Stack stack(evicting_redis());
  ServerOptions o = one_loop();
  o.extra_args = {"--redis-allow-eviction", "1"};
  ASSERT_EQ(stack.start(o), "");  // waits for the ready log line and /ready 200
  ServerProcess& server = stack.server();
  EXPECT_EQ(ready_status(server.port()), 200);
  ASSERT_TRUE(server.wait_for_log("maxmemory-policy allkeys-lru", 1, kDeadline)) << server.log();
  std::string line = log_line(server.log(), "maxmemory-policy allkeys-lru");
  EXPECT_NE(line.find(" warning ["), std::string::npos) << line;
  EXPECT_NE(line.find("redis_allow_eviction is 1"), std::string::npos) << line;
  EXPECT_EQ(server.log().find(" error ["), std::string::npos) << server.log();
}

// The policy is read again on every reconnection: a change made while the
// server runs shows once the connection is renewed, both ways.
TEST(EvictionTest, PolicyIsCheckedAgainOnEveryReconnect) {
  Stack stack;
  ASSERT_EQ(stack.start(one_loop()), "");
  ServerProcess& server = stack.server();
  ASSERT_EQ(ready_status(server.port()), 200);
  EXPECT_EQ(server.log_count("maxmemory-policy"), 0u) << server.log();

  RedisClient& db = stack.db();
  Reply set = db.command({"CONFIG", "SET", "maxmemory-policy", "volatile-lru"});
  ASSERT_EQ(set.str, "OK");
  // SKIPME yes (the default): our own connection survives.
  Reply killed = db.command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_EQ(killed.type, Reply::Type::kInteger) << killed.str;
  ASSERT_GE(killed.integer, 1);
  ASSERT_TRUE(server.wait_for_log("maxmemory-policy volatile-lru", 1, kDeadline)) << server.log();
  // The new connection serves requests, and /ready stays 503.
  HttpClient c = stack.client();
  EXPECT_EQ(reserve_until_served(c, "evict-c"), 200);
  EXPECT_TRUE(wait_until([&] { return ready_status(server.port()) == 503; }, kDeadline));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ready_status(server.port()), 503);

  set = db.command({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  ASSERT_EQ(set.str, "OK");
  size_t ready_lines = server.log_count(kReadyLogLine);
  killed = db.command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_GE(killed.integer, 1);
  // A new "ready" line and /ready 200 again.
  EXPECT_TRUE(server.wait_ready(kDeadline, ready_lines + 1)) << server.log();
  EXPECT_EQ(ready_status(server.port()), 200);
  EXPECT_EQ(server.log_count("maxmemory-policy volatile-lru"), 1u);
  EXPECT_EQ(reserve_until_served(c, "evict-c"), 200);
}

}  // namespace
}  // namespace ticketq::test
