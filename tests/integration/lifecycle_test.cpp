// The process from outside: signals, draining, the command line, the
// configuration file and environment, and Redis endpoints.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <thread>

#include "config/config.h"
#include "support/proc_stats.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

CommandResult run_server_command(std::vector<std::string> args, EnvList env = {}) {
  SpawnSpec spec;
  spec.argv = {server_binary()};
  for (auto& a : args) spec.argv.push_back(std::move(a));
  spec.env_overrides = std::move(env);
  spec.env_drop = {"TICKETQ_*", "REDIS_URL"};
  return run_command(spec, Millis(30000));
}

std::string flag_of(const Setting& s) {
  std::string f = std::string("--") + s.name;
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}

// ------------------------------------------------------------------ signals --

TEST(LifecycleTest, SigtermExitsZeroPromptlyAndStopsListening) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--shutdown-timeout-ms", "30000"};
  ASSERT_EQ(stack.start(o), "");
  int port = stack.server().port();
  HttpClient idle(port);  // a kept-alive connection that stays open
  ASSERT_EQ(idle.post("/reserve", user_body("a")).status, 200);
  ASSERT_TRUE(idle.connected());

  int64_t t0 = now_ms();
  ExitStatus st = stack.server().terminate(Millis(60000));
  int64_t took = now_ms() - t0;
  std::printf("FIGURE sigterm_idle_exit: %lld ms\n", static_cast<long long>(took));
  EXPECT_TRUE(st.exited) << st.describe();
  EXPECT_EQ(st.code, 0) << st.describe();
  EXPECT_FALSE(st.timed_out);
  // Promptly: the idle kept-alive connection does not hold the exit until
  // the shutdown timeout (30 s here). Well under 1 s when quiet.
  EXPECT_LT(took, 10000);
  std::string log = stack.server().log();
  EXPECT_NE(log.find("received SIGTERM, shutting down"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  HttpClient after(port, Millis(1000));
  EXPECT_EQ(after.get("/health").status, 0) << "still listening after exit";
}

TEST(LifecycleTest, SigintExitsZero) {
  Stack stack;
  ASSERT_EQ(stack.start(), "");
  ASSERT_EQ(::kill(stack.server().pid(), SIGINT), 0);
  ExitStatus st;
  ASSERT_TRUE(wait_exit(stack.server().pid(), Millis(30000), &st));
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
}

// A request waiting for Redis when SIGTERM comes may finish during the
// shutdown window.
TEST(LifecycleTest, SigtermLetsRequestsInFlightFinish) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--shutdown-timeout-ms", "20000", "--request-timeout-ms", "20000"};
  ASSERT_EQ(stack.start(o), "");
  stack.redis().pause();
  HttpResponse r;
  std::thread t([&] {
    HttpClient c(stack.server().port(), Millis(40000));
    r = c.post("/reserve", user_body("late"));
  });
  // The request is in flight once its call waits in the stopped Redis.
  EXPECT_TRUE(
      wait_until([&] { return tcp_unread_bytes(stack.redis().port()) > 0; }, Millis(20000)));
  EXPECT_EQ(::kill(stack.server().pid(), SIGTERM), 0);
  EXPECT_TRUE(stack.server().wait_for_log("received SIGTERM", 1, Millis(20000)));
  std::this_thread::sleep_for(Millis(200));  // draining, held on purpose
  EXPECT_TRUE(stack.server().running()) << "exited while a request was in flight";
  stack.redis().resume();
  t.join();
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(untokened(r.json), (json{{"status", "reserved"}, {"user_id", "late"}}));
  ExitStatus st = stack.server().terminate(Millis(30000));
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  EXPECT_EQ(stack.db().smembers("ticketq:{default}:reserved"), std::set<std::string>{"late"});
}

// ...but no longer than shutdown_timeout_ms: then it gets 503 and the
// process still exits 0.
TEST(LifecycleTest, SigtermAnswersStuckRequestsAfterShutdownTimeout) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--shutdown-timeout-ms", "500", "--request-timeout-ms", "60000"};
  ASSERT_EQ(stack.start(o), "");
  stack.redis().pause();
  HttpResponse r;
  std::thread t([&] {
    HttpClient c(stack.server().port(), Millis(60000));
    r = c.post("/reserve", user_body("stuck"));
  });
  // The request is in flight once its call waits in the stopped Redis.
  EXPECT_TRUE(
      wait_until([&] { return tcp_unread_bytes(stack.redis().port()) > 0; }, Millis(20000)));
  int64_t t0 = now_ms();
  ExitStatus st = stack.server().terminate(Millis(40000));
  int64_t took = now_ms() - t0;
  t.join();
  std::printf("FIGURE sigterm_stuck_exit: %lld ms (shutdown timeout 500 ms)\n",
              static_cast<long long>(took));
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  EXPECT_GE(took, 450);
  // Near 500 ms when quiet; far below the 60 s request deadline it must not wait for.
  EXPECT_LT(took, 10000);
  EXPECT_EQ(r.status, 503) << r.describe();
  EXPECT_EQ(r.header("Retry-After").value_or("(none)"), "1");
}

TEST(LifecycleTest, IdleConnectionsAreClosedAfterIdleTimeout) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--idle-timeout-s", "1"};
  ASSERT_EQ(stack.start(o), "");
  // Half a request, then silence (slowloris): the server must hang up.
  auto r = raw_exchange(stack.server().port(), "GET /health HTTP/1.1\r\nHost: x\r\n", Millis(20000),
                        /*stop_after_first=*/false);
  EXPECT_TRUE(r.peer_closed) << "still open after 20 s; got: " << r.data;
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(stack.server().running());
}

// The idle timeout is for silent clients, not for a client whose request
// waits on Redis: that one gets its 503 at the request deadline.
TEST(LifecycleTest, IdleTimeoutDoesNotCutARequestWaitingForRedis) {
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--idle-timeout-s", "1", "--request-timeout-ms", "1500"};
  ASSERT_EQ(stack.start(o), "");
  stack.redis().pause();
  HttpClient c(stack.server().port(), Millis(20000));
  auto r = c.post("/reserve", user_body("a"));
  EXPECT_EQ(r.status, 503) << r.describe() << " after " << r.elapsed_ms << " ms";
  EXPECT_GE(r.elapsed_ms, 1400);
  stack.redis().resume();
}

// ------------------------------------------------------------- command line --

TEST(LifecycleTest, CheckConfigPrintsTheEffectiveConfigAndExitsZero) {
  auto r = run_server_command({"--check-config", "--admin-token", "s3cret-token-value",
                               "--capacity", "77", "--queue-limit", "9"},
                              {{"TICKETQ_KEY_PREFIX", "envprefix"}});
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << r.err;
  EXPECT_TRUE(r.out.starts_with("configuration OK\n")) << r.out;
  EXPECT_NE(r.out.find("\ncapacity = 77\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nqueue_limit = 9\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nkey_prefix = \"envprefix\"\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nport = 8000\n"), std::string::npos) << r.out;  // a default
  EXPECT_NE(r.out.find("\nadmin_token = \"(redacted)\"\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cret-token-value"), std::string::npos) << "the token leaked: " << r.out;
  for (const Setting& s : settings_table()) {
    std::string line = "\n" + std::string(s.name) + " = ";
    EXPECT_NE(r.out.find(line), std::string::npos) << s.name << " missing from " << r.out;
  }
}

TEST(LifecycleTest, FileThenEnvironmentThenFlagsTakePrecedence) {
  TempDir dir("cfg");
  write_file(dir.file("t.toml"),
             "capacity = 11\nqueue_limit = 12\nthreads = 3\nlog_level = \"warn\"\n");
  auto r = run_server_command({"--check-config", "--config", dir.file("t.toml"), "--threads", "5"},
                              {{"TICKETQ_QUEUE_LIMIT", "13"}, {"TICKETQ_THREADS", "4"}});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << r.err;
  EXPECT_NE(r.out.find("\ncapacity = 11\n"), std::string::npos) << r.out;     // file
  EXPECT_NE(r.out.find("\nqueue_limit = 13\n"), std::string::npos) << r.out;  // env over file
  EXPECT_NE(r.out.find("\nthreads = 5\n"), std::string::npos) << r.out;       // flag over env
  EXPECT_NE(r.out.find("\nlog_level = \"warn\"\n"), std::string::npos) << r.out;
  // The file can also be named by TICKETQ_CONFIG.
  auto viaenv = run_server_command({"--check-config"}, {{"TICKETQ_CONFIG", dir.file("t.toml")}});
  ASSERT_TRUE(viaenv.status.exited && viaenv.status.code == 0) << viaenv.err;
  EXPECT_NE(viaenv.out.find("\ncapacity = 11\n"), std::string::npos) << viaenv.out;
}

TEST(LifecycleTest, ShippedConfigFileIsValid) {
  auto r = run_server_command(
      {"--check-config", "--config", std::string(TICKETQ_SOURCE_DIR) + "/config/ticketq.toml"});
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << r.err;
  EXPECT_TRUE(r.out.starts_with("configuration OK\n")) << r.out;
}

TEST(LifecycleTest, BadCommandLinesExitNonZeroWithAMessage) {
  TempDir dir("cfg");
  write_file(dir.file("unknown.toml"), "capacity = 1\nno_such_setting = 2\n");
  write_file(dir.file("typed.toml"), "capacity = \"ten\"\n");
  write_file(dir.file("broken.toml"), "capacity = = 1\n");
  struct Bad {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Bad> bad = {
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--port", "70000"}, "port"},
      {{"--port", "-1"}, "port"},
      {{"--capacity", "abc"}, "capacity"},
      {{"--capacity", "-5"}, "capacity"},
      {{"--threads", "1000"}, "threads"},
      {{"--request-timeout-ms", "0"}, "request_timeout_ms"},
      {{"--log-level", "loud"}, "log_level"},
      {{"--key-prefix", "a{b"}, "key_prefix"},
      {{"--key-prefix", ""}, "key_prefix"},
      {{"--capacity"}, "capacity"},
      {{"positional"}, "positional"},
      {{"--config", dir.file("missing.toml")}, "missing.toml"},
      {{"--config", dir.file("unknown.toml")}, "no_such_setting"},
      {{"--config", dir.file("typed.toml")}, "capacity"},
      {{"--config", dir.file("broken.toml")}, "broken.toml"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(::testing::PrintToString(b.args));
    std::vector<std::string> args = b.args;
    args.push_back("--check-config");
    auto r = run_server_command(args);
    EXPECT_TRUE(r.status.exited) << r.status.describe();
    EXPECT_EQ(r.status.code, 2) << r.err;
    EXPECT_NE(r.err.find(b.mentions), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(r.out, "");
  }
  // A bad value from the environment is refused the same way.
  auto env = run_server_command({"--check-config"}, {{"TICKETQ_CAPACITY", "many"}});
  EXPECT_EQ(env.status.code, 2) << env.err;
  EXPECT_NE(env.err.find("TICKETQ_CAPACITY"), std::string::npos) << env.err;
}

TEST(LifecycleTest, HelpListsEverySettingAndVersionPrintsIt) {
  auto help = run_server_command({"--help"});
  EXPECT_TRUE(help.status.exited && help.status.code == 0) << help.status.describe();
  EXPECT_NE(help.out.find("Usage"), std::string::npos) << help.out;
  for (const Setting& s : settings_table()) {
    EXPECT_NE(help.out.find(flag_of(s)), std::string::npos) << flag_of(s);
    EXPECT_NE(help.out.find(s.env), std::string::npos) << s.env;
  }
  auto version = run_server_command({"--version"});
  EXPECT_TRUE(version.status.exited && version.status.code == 0) << version.status.describe();
  EXPECT_EQ(version.out, std::string("ticketq-server ") + TICKETQ_VERSION + "\n");
}

TEST(LifecycleTest, PortInUseExitsNonZero) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  auto r = run_server_command({"--bind", "127.0.0.1", "--port", std::to_string(port), "--redis",
                               "redis://127.0.0.1:1", "--threads", "2", "--admin-token", "t"});
  close(fd);
  EXPECT_TRUE(r.status.exited) << r.status.describe();
  EXPECT_NE(r.status.code, 0);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.err;
}

TEST(LifecycleTest, GeneratedAdminTokenIsLoggedOnceAndWorks) {
  Stack stack;
  ServerOptions o;
  o.admin_token = "";
  ASSERT_EQ(stack.start(o), "");
  std::smatch m;
  std::string log = stack.server().log();
  static const std::regex kToken("generated one for this run: ([0-9a-f]{32})");
  ASSERT_TRUE(std::regex_search(log, m, kToken)) << log;
  HttpClient c(stack.server().port());
  EXPECT_EQ(c.post("/process_queue", "", {{"X-Token", m[1].str()}}).status, 200);
  EXPECT_EQ(c.post("/process_queue", "", admin()).status, 401);
}

// ---------------------------------------------------------- redis endpoints --

TEST(LifecycleTest, RedisUrlWithPasswordAndDatabase) {
  RedisOptions ro;
  ro.password = "pw-for-tests";
  Stack stack(ro);
  ServerOptions o;
  ASSERT_EQ(stack.redis().start(), "");
  o.redis_url = "redis://:pw-for-tests@127.0.0.1:" + std::to_string(stack.redis().port()) + "/2";
  ASSERT_EQ(stack.add_server(o), "");
  HttpClient c(stack.server().port());
  EXPECT_EQ(untokened(c.post("/reserve", user_body("a")).json),
            (json{{"status", "reserved"}, {"user_id", "a"}}));
  RedisClient db2(stack.redis().port(), "127.0.0.1", 2000, "pw-for-tests", 2);
  RedisClient db0(stack.redis().port(), "127.0.0.1", 2000, "pw-for-tests", 0);
  EXPECT_EQ(db2.smembers("ticketq:{default}:reserved"), std::set<std::string>{"a"});
  EXPECT_EQ(db0.keys(""), std::vector<std::string>{});
  EXPECT_EQ(stack.server().log().find("pw-for-tests"), std::string::npos) << "password in the log";
}

TEST(LifecycleTest, WrongRedisPasswordMeansNotReadyAnd503) {
  RedisOptions ro;
  ro.password = "right";
  Stack stack(ro);
  ASSERT_EQ(stack.redis().start(), "");
  ServerOptions o;
  o.redis_url = "redis://:wrong@127.0.0.1:" + std::to_string(stack.redis().port());
  o.wait_ready = false;
  ASSERT_EQ(stack.add_server(o), "");
  ASSERT_TRUE(stack.server().wait_for_log("AUTH failed", 1, Millis(20000))) << stack.server().log();
  HttpClient c(stack.server().port());
  EXPECT_EQ(c.get("/ready").status, 503);
  auto r = c.post("/reserve", user_body("a"));
  EXPECT_EQ(r.status, 503) << r.describe();
  EXPECT_EQ(r.header("Retry-After").value_or("(none)"), "1");
  EXPECT_EQ(stack.server().log().find("wrong"), std::string::npos) << "password in the log";
}

TEST(LifecycleTest, RedisOverUnixSocket) {
  RedisOptions ro;
  ro.unix_socket = true;
  Stack stack(ro);
  ASSERT_EQ(stack.redis().start(), "");
  ServerOptions o;
  o.redis_url = "unix://" + stack.redis().socket_path();
  ASSERT_EQ(stack.add_server(o), "");
  HttpClient c(stack.server().port());
  EXPECT_EQ(untokened(c.post("/reserve", user_body("a")).json),
            (json{{"status", "reserved"}, {"user_id", "a"}}));
  EXPECT_EQ(stack.db().smembers("ticketq:{default}:reserved"), std::set<std::string>{"a"});
}

}  // namespace
}  // namespace ticketq::test
