// Clients a real rush brings that are not people: they send and never read,
// open connections until the server has no descriptor left, hold hundreds
// of connections from one address, or open many streams with one token.
// Each case prints the figure it measured (FIGURE lines); docs/faults.md
// quotes them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "support/proc_stats.h"
#include "support/process_util.h"
#include "support/sse_client.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// A TCP connection to 127.0.0.1:port from `source` (another loopback
// address is another client); -1 when it failed. `rcvbuf`: the client's
// receive buffer, when not the kernel's default (which on loopback takes
// megabytes of replies a client never reads).
int connect_from(const char* source, int port, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// What arrives on `fd` within `wait` (until the peer closes, or `until`,
// when not empty, is in it).
std::string read_within(int fd, Millis wait, std::string_view until = "\r\n\r\n") {
  std::string got;
  auto end = Clock::now() + wait;
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (!until.empty() && got.find(until) != std::string::npos) break;
  }
  return got;
}

// GET `target` from `source` on a connection of its own: what arrived
// within `wait` (the whole reply: the server closes after it).
std::string get_from(const char* source, int port, const std::string& target, Millis wait) {
  int fd = connect_from(source, port);
  if (fd < 0) return "";
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string got = read_within(fd, wait, {});  // to the close
  close(fd);
  return got;
}

// GET /health from `source`, and how long the first answer took (-1: none
// within `wait`); `status` gets its status line.
int64_t answered_in(const char* source, int port, Millis wait, std::string* status) {
  auto t0 = Clock::now();
  std::string got = get_from(source, port, "/health", wait);
  *status = got.substr(0, got.find("\r\n"));
  return got.rfind("HTTP/1.1 ", 0) == 0 ? ms_since(t0) : -1;
}

// Opens up to `n` connections from `source` that send nothing (the kernel
// completes them; the server accepts, refuses or pauses).
std::vector<int> open_idle(const char* source, int port, int n, int rcvbuf = 0) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = connect_from(source, port, rcvbuf);
    if (fd < 0) break;
    fds.push_back(fd);
  }
  return fds;
}

// How many of `fds` have been answered with `status_line` (and closed).
int answered_with(const std::vector<int>& fds, std::string_view status_line) {
  int n = 0;
  for (int fd : fds) {
    char buf[256];
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
    if (got > 0 && std::string_view(buf, static_cast<size_t>(got)).rfind(status_line, 0) == 0) ++n;
  }
  return n;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}

class HostileClientsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args, std::vector<std::string> prefix = {}, int threads = 2) {
    ServerOptions o;
    o.threads = threads;
    o.extra_args = std::move(args);
    o.command_prefix = std::move(prefix);
    ASSERT_EQ(stack_.start(o), "");
  }
  int port() { return stack_.server().port(); }
  Stack stack_;
};

// Pipelines `n` GET `target` (/openapi.yaml: a 40 KB reply) on each of `fds`.
void pipeline_get(const std::vector<int>& fds, int n, const std::string& target = "/openapi.yaml") {
  std::string req;
  for (int i = 0; i < n; ++i) req += "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int fd : fds) ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), ssize_t(req.size()));
}

// 200 connections each pipeline 40 GET /openapi.yaml and never read. The
// server makes each reply only once the one before it has gone to the
// socket (here the kernel takes them all: the loopback's send buffers grow
// to 4 MB): its memory grows by a reply or so per connection, not by the 32
// it used to make at once; and each is closed by the idle timeout.
TEST_F(HostileClientsTest, ClientsThatNeverReadCostLittle) {
  start({"--idle-timeout-s", "5"});
  const pid_t pid = stack_.server().pid();
  const int64_t rss0 = vm_rss_kb(pid);
  std::vector<int> fds = open_idle("127.0.0.1", port(), 200);
  ASSERT_EQ(fds.size(), 200u);
  auto t0 = Clock::now();
  pipeline_get(fds, 40);
  // Peak memory: read while every connection still holds what it holds.
  int64_t peak = rss0;
  bool closed = wait_until(
      [&] {
        peak = std::max(peak, vm_rss_kb(pid));
        return tcp_open_connections(port()) == 0;
      },
      Millis(60000), Millis(100));
  const int64_t close_ms = ms_since(t0);
  close_all(fds);
  std::printf(
      "FIGURE non_readers: 200 connections x 40 pipelined GET /openapi.yaml, never read: RSS "
      "%lld -> %lld KiB (+%lld KiB, %.1f KiB per connection); all closed after %lld ms "
      "(idle_timeout_s 5)\n",
      static_cast<long long>(rss0), static_cast<long long>(peak),
      static_cast<long long>(peak - rss0), (peak - rss0) / 200.0, static_cast<long long>(close_ms));
  EXPECT_TRUE(closed) << tcp_open_connections(port()) << " still open after " << close_ms << " ms";
  EXPECT_LE(close_ms, 5000 + 20000);
  if (!server_is_sanitized(pid)) {  // the sanitizers keep freed memory in quarantine
    EXPECT_LE(peak - rss0, 32 * 1024) << "KiB grown";
  }
  EXPECT_EQ(stack_.client().get("/health").status, 200);
}

// Clients that never read and ask for more than the kernel's buffers take
// (150 replies of 40 KB each: 6 MB): the server cannot write, reads nothing
// more, and closes each once it has taken no byte for idle_timeout_s. They
// used to wait, with what they had sent past the pipeline kept, on a list
// without a timer: open for ever.
TEST_F(HostileClientsTest, ClientsThatCannotBeWrittenToAreClosed) {
  start({"--idle-timeout-s", "2"});
  std::vector<int> fds = open_idle("127.0.0.1", port(), 4, 4096);
  ASSERT_EQ(fds.size(), 4u);
  auto t0 = Clock::now();
  pipeline_get(fds, 150);
  bool closed =
      wait_until([&] { return tcp_open_connections(port()) == 0; }, Millis(60000), Millis(100));
  const int64_t close_ms = ms_since(t0);
  close_all(fds);
  std::string m = stack_.client().get("/metrics").body;
  const double answered = metric(m, R"(ticketq_http_requests_total{code="200",route="openapi"})");
  std::printf(
      "FIGURE slow_readers: 4 connections x 150 GET /openapi.yaml, never read: %.0f "
      "answered, all closed after %lld ms (idle_timeout_s 2), slow_readers %.0f\n",
      answered, static_cast<long long>(close_ms), metric(m, "ticketq_http_slow_readers_total"));
  EXPECT_TRUE(closed) << tcp_open_connections(port()) << " still open after " << close_ms << " ms";
  EXPECT_LE(close_ms, 2000 + 20000);
  EXPECT_EQ(metric(m, "ticketq_http_slow_readers_total"), 4) << m;
  EXPECT_LT(answered, 4 * 150) << "the kernel took every reply: the case was not made";
}

// More connections from one address than the server takes (open-file limit
// 1024: max_connections 857 by default, no per-client cap here): those past
// it are answered 503 with Retry-After and closed, at once; a client from
// another address is still answered. It used to hang: max_connections was
// the descriptor limit, accept failed first and the listener paused.
TEST_F(HostileClientsTest, ConnectionFloodIsAnsweredAndOthersGetThrough) {
  start({"--max-connections-per-client", "0"}, {"/usr/bin/prlimit", "--nofile=1024:1024", "--"});
  ASSERT_TRUE(stack_.server().wait_for_log("at most 857 open", 1, Millis(5000)))
      << stack_.server().log();
  std::vector<int> flood = open_idle("127.0.0.1", port(), 1200);
  ASSERT_EQ(flood.size(), 1200u);
  int refused = 0;
  bool all =
      wait_until([&] { return (refused = answered_with(flood, "HTTP/1.1 503")) >= 1200 - 857; },
                 Millis(30000), Millis(100));
  EXPECT_TRUE(all) << refused << " answered 503 of " << 1200 - 857 << " past the cap";
  for (int i = 0; i < 5; ++i) {
    std::string status;
    int64_t ms = answered_in("127.0.0.2", port(), Millis(10000), &status);
    std::printf(
        "FIGURE connection_flood: 1200 connections from 127.0.0.1 (%d refused 503); "
        "127.0.0.2 answered in %lld ms: %s\n",
        refused, static_cast<long long>(ms), status.c_str());
    EXPECT_GE(ms, 0) << "no answer within 10 s";
  }
  close_all(flood);
  EXPECT_TRUE(wait_until([&] { return stack_.client().get("/health").status == 200; },
                         Millis(20000), Millis(100)));
}

// max_connections set past the descriptors: accept() fails with EMFILE. The
// server gives up the descriptor it keeps for this, accepts, answers 503
// and closes, client after client, instead of leaving them hanging.
TEST_F(HostileClientsTest, OutOfDescriptorsClientsAreStillAnswered503) {
  start({"--max-connections-per-client", "0", "--max-connections", "100000"},
        {"/usr/bin/prlimit", "--nofile=256:256", "--"});
  std::vector<int> flood = open_idle("127.0.0.1", port(), 400);
  ASSERT_EQ(flood.size(), 400u);
  ASSERT_TRUE(stack_.server().wait_for_log("out of file descriptors", 1, Millis(20000)))
      << stack_.server().log();
  int refused = 0;
  wait_until([&] { return (refused = answered_with(flood, "HTTP/1.1 503")) >= 100; }, Millis(20000),
             Millis(100));
  std::string status;
  int64_t ms = answered_in("127.0.0.2", port(), Millis(10000), &status);
  std::printf(
      "FIGURE out_of_descriptors: 400 connections, open-file limit 256: %d answered 503; "
      "another client answered in %lld ms: %s\n",
      refused, static_cast<long long>(ms), status.c_str());
  EXPECT_GE(refused, 100);
  // Answered: 503 while no descriptor is free (200 if one was freed meanwhile).
  EXPECT_GE(ms, 0) << "no answer within 10 s";
  close_all(flood);
  EXPECT_TRUE(wait_until([&] { return stack_.client().get("/health").status == 200; },
                         Millis(20000), Millis(100)));
}

// One address holds at most max_connections_per_client; past it: 429 with
// Retry-After, and close. Others are not affected, a closed connection
// makes room, and a trusted proxy is not counted.
TEST_F(HostileClientsTest, OneAddressHoldsAtMostItsShareOfConnections) {
  // One loop, one accept queue: connections are taken in the order made
  // (with two, the ninth could be taken before one of the eight).
  start({"--max-connections-per-client", "8", "--trusted-proxies", "127.0.0.3"}, {}, 1);
  ASSERT_TRUE(wait_until([&] { return tcp_open_connections(port()) == 0; }, Millis(20000)));
  std::vector<int> held = open_idle("127.0.0.1", port(), 8);
  ASSERT_EQ(held.size(), 8u);
  auto t0 = Clock::now();
  int extra = connect_from("127.0.0.1", port());
  ASSERT_GE(extra, 0);
  std::string got = read_within(extra, Millis(10000), "\n}");
  close(extra);
  std::printf("FIGURE per_client: 8 held from 127.0.0.1, the ninth answered in %lld ms: %s\n",
              static_cast<long long>(ms_since(t0)), got.substr(0, got.find("\r\n")).c_str());
  EXPECT_EQ(got.rfind("HTTP/1.1 429", 0), 0u) << "[" << got << "]";
  EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
  EXPECT_NE(got.find("too many open connections from this client"), std::string::npos) << got;
  std::string status;
  EXPECT_GE(answered_in("127.0.0.2", port(), Millis(10000), &status), 0);
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  // The proxy's 20 connections are many clients': all served.
  std::vector<int> proxy = open_idle("127.0.0.3", port(), 20);
  EXPECT_GE(answered_in("127.0.0.3", port(), Millis(10000), &status), 0);
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  // One of the eight goes: the address may open one more.
  close(held.back());
  held.pop_back();
  bool room = wait_until(
      [&] {
        return answered_in("127.0.0.1", port(), Millis(5000), &status) >= 0 &&
               status == "HTTP/1.1 200 OK";
      },
      Millis(20000), Millis(100));
  EXPECT_TRUE(room) << status;
  std::string m = get_from("127.0.0.2", port(), "/metrics", Millis(10000));
  EXPECT_GE(metric(m, R"(ticketq_http_connections_refused_total{reason="per_client"})"), 1) << m;
  close_all(held);
  close_all(proxy);
}

// Behind a trusted proxy the access log names the client its
// X-Forwarded-For names; from anyone else the header is not believed.
TEST_F(HostileClientsTest, ForwardedForIsBelievedFromTrustedProxiesOnly) {
  start({"--access-log", "1", "--trusted-proxies", "127.0.0.3"});
  auto ask = [&](const char* source) {
    int fd = connect_from(source, port());
    const std::string req =
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.3\r\n"
        "Connection: close\r\n\r\n";
    (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    read_within(fd, Millis(5000));
    close(fd);
  };
  ask("127.0.0.3");
  ASSERT_TRUE(stack_.server().wait_for_log("client=203.0.113.9 ", 1, Millis(10000)))
      << stack_.server().log();
  ask("127.0.0.2");
  ASSERT_TRUE(stack_.server().wait_for_log("client=127.0.0.2 ", 1, Millis(10000)))
      << stack_.server().log();
  EXPECT_NE(stack_.server().log().find("client=203.0.113.9 "), std::string::npos);
}

// One user token opens at most max_streams_per_user streams (4 by
// default); the fifth gets 429 with Retry-After. Another user is not
// affected, and a stream closed makes room.
TEST_F(HostileClientsTest, OneTokenHoldsAtMostFourStreams) {
  start({});
  HttpClient http = stack_.client();
  ASSERT_EQ(
      http.put("/v1/events/e", R"({"capacity":1,"queue_limit":100,"admit_rate":"manual"})", admin())
          .status,
      201);
  ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("holder")).status, 200);
  auto token_of = [&](const std::string& user) {
    return http.post("/v1/events/e/reserve", user_body(user)).json.value("token", "");
  };
  const Headers mine{{"Authorization", "Bearer " + token_of("bot")}};
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(std::make_unique<SseClient>(port(), "/v1/events/e/stream", mine));
    ASSERT_EQ(streams.back()->status(), 200) << i;
  }
  auto t0 = Clock::now();
  SseClient fifth(port(), "/v1/events/e/stream", mine);
  std::printf(
      "FIGURE streams_per_user: 4 streams open with one token, the fifth answered %d in "
      "%lld ms\n",
      fifth.status(), static_cast<long long>(ms_since(t0)));
  EXPECT_EQ(fifth.status(), 429) << fifth.head().describe();
  EXPECT_EQ(fifth.head().header("Retry-After").value_or(""), "1");
  EXPECT_NE(fifth.head().body.find("max_streams_per_user"), std::string::npos);
  SseClient other(port(), "/v1/events/e/stream",
                  {{"Authorization", "Bearer " + token_of("person")}});
  EXPECT_EQ(other.status(), 200);
  streams.back()->close();
  bool room =
      wait_until([&] { return SseClient(port(), "/v1/events/e/stream", mine).status() == 200; },
                 Millis(20000), Millis(100));
  EXPECT_TRUE(room);
}

// /metrics names every event touched and reads each one's counters from
// Redis: with metrics_token set, only a scraper with it (or an operator with
// the admin token) gets them; no event name leaks in the refusal.
TEST_F(HostileClientsTest, MetricsTokenKeepsTheMetricsPrivate) {
  start({"--metrics-token", "scrape-me"});
  HttpClient http = stack_.client();
  ASSERT_EQ(http.put("/v1/events/secret-sale", R"({"capacity":1,"queue_limit":1})", admin()).status,
            201);
  for (const Headers& h :
       {Headers{}, Headers{{"Authorization", "Bearer nope"}},
        Headers{{"Authorization", "Bearer scrape-mee"}},
        Headers{{"Authorization", "Basic scrape-me"}}, Headers{{"X-Token", "scrape-me"}}}) {
    HttpResponse r = http.get("/metrics", h);
    EXPECT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(r.body.find("secret-sale"), std::string::npos);
  }
  HttpResponse scraped = http.get("/metrics", {{"Authorization", "Bearer scrape-me"}});
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.body.find("ticketq_http_connections"), std::string::npos);
  EXPECT_EQ(http.get("/metrics", admin()).status, 200);
  // The rest is as open as before.
  EXPECT_EQ(http.get("/health").status, 200);
}

}  // namespace
}  // namespace ticketq::test
