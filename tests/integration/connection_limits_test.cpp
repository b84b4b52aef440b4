// Connection limits of the transport: requests per connection, a deadline
// for a whole request to arrive (slow-drip clients), and a cap on open
// connections answered with 503.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/proc_stats.h"
#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{0, 200 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads what arrives within `wait`; sets `closed` when the peer ended the
// stream. Returns early once `until` (when given) has arrived.
std::string read_for(int fd, std::chrono::milliseconds wait, bool* closed,
                     std::string_view until = {}) {
  std::string out;
  *closed = false;
  auto end = Clock::now() + wait;
  char buf[4096];
  while (Clock::now() < end) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      *closed = true;
      break;
    }
    if (n > 0) out.append(buf, n);
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}

class ConnectionLimitsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args) {
    ServerOptions o;
    o.threads = 1;
    o.extra_args = std::move(args);
    ASSERT_EQ(stack_.start(o), "");
  }
  Stack stack_;
};

TEST_F(ConnectionLimitsTest, LastAllowedRequestOfAConnectionClosesIt) {
  start({"--max-requests-per-connection", "3"});
  HttpClient c = stack_.client();
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = c.get("/health");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.keep_alive, i < 3) << "request " << i << ": " << r.describe();
  }
  EXPECT_EQ(c.get("/health").status, 200);  // on a fresh connection
  EXPECT_EQ(c.connections_opened(), 2);
}

TEST_F(ConnectionLimitsTest, ClientDrippingARequestIsCutAtTheDeadline) {
  start({"--request-read-timeout-ms", "500"});
  int fd = connect_to(stack_.server().port());
  ASSERT_GE(fd, 0);
  auto t0 = Clock::now();
  std::string line = "GET /health HTTP/1.1\r\n";
  ASSERT_EQ(send(fd, line.data(), line.size(), MSG_NOSIGNAL), ssize_t(line.size()));
  bool closed = false;
  // One header line every 100 ms: never idle long enough for the idle
  // timeout (60 s). Dripped for up to 10 s, far past the 500 ms deadline.
  for (int i = 0; i < 100 && !closed && Clock::now() - t0 < std::chrono::seconds(10); ++i) {
    std::string h = "X-Drip-" + std::to_string(i) + ": a\r\n";
    if (send(fd, h.data(), h.size(), MSG_NOSIGNAL) < 0) closed = true;
    if (!closed) read_for(fd, std::chrono::milliseconds(100), &closed);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  close(fd);
  std::printf("FIGURE slow_drip: cut after %lld ms (deadline 500 ms)\n",
              static_cast<long long>(ms));
  EXPECT_TRUE(closed) << "still open after " << ms << " ms";
  EXPECT_GE(ms, 400) << "cut before the deadline";
  // Near 500 ms when quiet; the margin is for an ASan build on a busy machine.
  EXPECT_LE(ms, 5000);
  // The server goes on serving, and counts the refusal as its transport's.
  EXPECT_EQ(stack_.client().get("/health").status, 200);
  std::string metrics = stack_.client().get("/metrics").body;
  EXPECT_NE(metrics.find("ticketq_http_requests_total{code=\"408\",route=\"transport\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(ConnectionLimitsTest, IdleKeepAliveConnectionOutlivesTheRequestDeadline) {
  start({"--request-read-timeout-ms", "300"});
  HttpClient c = stack_.client();
  ASSERT_EQ(c.get("/health").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  ASSERT_EQ(c.get("/health").status, 200);
  EXPECT_EQ(c.connections_opened(), 1) << "an idle connection is not a slow request";
}

TEST_F(ConnectionLimitsTest, ConnectionsPastTheCapGet503AndAreClosed) {
  start({"--max-connections", "4"});
  // The harness's own readiness probe must be closed on the server's side
  // too, or it would count as one of the four.
  ASSERT_TRUE(
      wait_until([&] { return tcp_open_connections(stack_.server().port()) == 0; }, Millis(20000)));
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_to(stack_.server().port()));
  int extra = connect_to(stack_.server().port());
  ASSERT_GE(extra, 0);
  bool closed = false;
  std::string got = read_for(extra, std::chrono::milliseconds(10000), &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
  EXPECT_NE(got.find("too many open connections"), std::string::npos) << got;
  EXPECT_TRUE(closed);
  close(extra);
  // Held connections are served; once they close, new ones are admitted.
  std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(held[0], req.data(), req.size(), MSG_NOSIGNAL), ssize_t(req.size()));
  EXPECT_NE(read_for(held[0], std::chrono::milliseconds(10000), &closed, "200 OK").find("200 OK"),
            std::string::npos);
  for (int fd : held) close(fd);
  bool admitted = wait_until([&] { return stack_.client().get("/health").status == 200; },
                             Millis(20000), Millis(50));
  EXPECT_TRUE(admitted);
}

}  // namespace
}  // namespace ticketq::test

namespace ticketq::test {
namespace {

// utime + stime of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(close_paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// Out of file descriptors (max_connections set past them), accept() keeps
// failing while the listening socket stays readable: the server must answer
// the waiting clients (hostile_clients_test.cpp), not spin, and recover.
TEST(FdExhaustionTest, OutOfDescriptorsTheServerIdlesAndRecovers) {
  Stack stack;
  ServerOptions o;
  o.threads = 1;
  o.command_prefix = {"/usr/bin/prlimit", "--nofile=48:48", "--"};
  o.extra_args = {"--max-connections", "1000"};
  ASSERT_EQ(stack.start(o), "");
  std::vector<int> fds;
  for (int i = 0; i < 80; ++i) {
    int fd = connect_to(stack.server().port());  // the kernel queues them
    if (fd >= 0) fds.push_back(fd);
  }
  // Out of descriptors now (the server says so once), with every
  // connection it could take already set up: from here on it only idles.
  ASSERT_TRUE(stack.server().wait_for_log("out of file descriptors", 1, Millis(20000)))
      << stack.server().log();
  long before = cpu_ticks(stack.server().pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the window measured
  long used = cpu_ticks(stack.server().pid()) - before;
  long per_second = sysconf(_SC_CLK_TCK);
  std::printf("FIGURE fd_exhaustion: cpu %ld of %ld ticks in 1 s with %zu connections\n", used,
              per_second, fds.size());
  // Idle is ~0 (nothing left to accept); spinning is a whole core,
  // or on a loaded machine at least a third of one.
  EXPECT_LT(used, per_second / 5) << "the server spun while out of descriptors";
  for (int fd : fds) close(fd);
  EXPECT_TRUE(wait_until([&] { return stack.client().get("/health").status == 200; }, Millis(20000),
                         Millis(100)));
}

}  // namespace
}  // namespace ticketq::test
