// Tests of src/transport/listener.cpp: one listening socket per loop, all
// on one port with SO_REUSEPORT, non-blocking and close-on-exec; IPv4 and
// IPv6 loopback; a port in use or a bad address is an error and leaves no
// socket open. Only loopback and port 0 (or a port this test holds).
#include "transport/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace ticketq {
namespace {

int int_option(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// The listeners' sockets, closed at the end of the test.
struct Opened {
  Listeners l;
  explicit Opened(Listeners x) : l(std::move(x)) {}
  ~Opened() {
    for (int fd : l.fds) close(fd);
  }
};

// Whether this host can bind IPv6 loopback at all (some containers cannot).
bool has_ipv6_loopback() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Connects to 127.0.0.1:port (blocking) and returns the client's socket.
int connect_v4(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  return fd;
}

TEST(ListenerTest, OpensOneSocketPerLoopOnOnePortWithReusePort) {
  Opened o(open_listeners("127.0.0.1", 0, 3));
  ASSERT_EQ(o.l.error, "");
  ASSERT_EQ(o.l.fds.size(), 3u);
  EXPECT_GT(o.l.port, 0);
  for (int fd : o.l.fds) {
    SCOPED_TRACE(fd);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    EXPECT_EQ(a.sin_family, AF_INET);
    EXPECT_EQ(ntohs(a.sin_port), o.l.port);  // the port the first one picked
    EXPECT_EQ(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
    EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_REUSEPORT), 1);
    EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    EXPECT_NE(int_option(fd, IPPROTO_TCP, TCP_NODELAY), 0);  // inherited by accepted sockets
    EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
}

TEST(ListenerTest, AConnectionIsAcceptedOnOneOfTheSockets) {
  Opened o(open_listeners("127.0.0.1", 0, 2));
  ASSERT_EQ(o.l.error, "");
  ASSERT_EQ(o.l.fds.size(), 2u);
  // Nothing to accept yet, and accept does not block.
  EXPECT_EQ(accept(o.l.fds[0], nullptr, nullptr), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);

  int client = connect_v4(o.l.port);
  pollfd p[2] = {{o.l.fds[0], POLLIN, 0}, {o.l.fds[1], POLLIN, 0}};
  ASSERT_EQ(poll(p, 2, 10'000), 1) << "exactly one listener is told of the connection";
  int listener = (p[0].revents & POLLIN) ? o.l.fds[0] : o.l.fds[1];
  int accepted = accept(listener, nullptr, nullptr);
  EXPECT_GE(accepted, 0) << strerror(errno);
  EXPECT_NE(int_option(accepted, IPPROTO_TCP, TCP_NODELAY), 0);
  close(accepted);
  close(client);
}

TEST(ListenerTest, BindsIPv6LoopbackWithOrWithoutBrackets) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  for (const char* bind : {"::1", "[::1]"}) {
    SCOPED_TRACE(bind);
    Opened o(open_listeners(bind, 0, 2));
    ASSERT_EQ(o.l.error, "");
    ASSERT_EQ(o.l.fds.size(), 2u);
    EXPECT_GT(o.l.port, 0);
    for (int fd : o.l.fds) {
      sockaddr_in6 a{};
      socklen_t len = sizeof a;
      ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
      EXPECT_EQ(a.sin6_family, AF_INET6);
      EXPECT_EQ(ntohs(a.sin6_port), o.l.port);
      EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&a.sin6_addr));
      EXPECT_EQ(int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
      EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_REUSEPORT), 1);
    }
  }
}

TEST(ListenerTest, AGivenPortIsBound) {
  int port = 0;
  {
    Opened first(open_listeners("127.0.0.1", 0, 1));
    ASSERT_EQ(first.l.error, "");
    port = first.l.port;
  }
  // The port was free a moment ago; another process may take it, so only
  // when it binds is the port checked.
  Opened o(open_listeners("127.0.0.1", port, 2));
  if (!o.l.error.empty()) GTEST_SKIP() << "port " << port << " was taken meanwhile";
  EXPECT_EQ(o.l.port, port);
  EXPECT_EQ(o.l.fds.size(), 2u);
}

// A port held by a socket without SO_REUSEPORT is in use: an error that
// names the address, and no socket left open.
TEST(ListenerTest, APortInUseIsAnErrorAndLeavesNothingOpen) {
  int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int port = ntohs(a.sin_port);

  const size_t before = open_fds();
  Listeners l = open_listeners("127.0.0.1", port, 3);
  EXPECT_TRUE(l.fds.empty());
  EXPECT_EQ(open_fds(), before);
  EXPECT_NE(l.error.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << l.error;
  EXPECT_NE(l.error.find(strerror(EADDRINUSE)), std::string::npos) << l.error;
  close(holder);
}

TEST(ListenerTest, ABadAddressIsAnErrorThatNamesIt) {
  // Only numeric addresses: a name is never looked up.
  for (const char* bind :
       {"localhost", "not an address", "256.0.0.1", "127.0.0.1:80", "[::1", "::1]", "[]", ""}) {
    SCOPED_TRACE(bind);
    const size_t before = open_fds();
    Listeners l = open_listeners(bind, 0, 2);
    EXPECT_TRUE(l.fds.empty());
    EXPECT_EQ(open_fds(), before);
    EXPECT_EQ(l.port, 0);
    EXPECT_EQ(l.error.rfind("bad bind address '" + std::string(bind) + "'", 0), 0) << l.error;
  }
}

// A second set on the same port joins the first (how a restarted process
// can take over while the old one drains): SO_REUSEPORT on every socket.
TEST(ListenerTest, ASecondSetJoinsThePortOfTheFirst) {
  Opened first(open_listeners("127.0.0.1", 0, 1));
  ASSERT_EQ(first.l.error, "");
  Opened second(open_listeners("127.0.0.1", first.l.port, 1));
  EXPECT_EQ(second.l.error, "");
  EXPECT_EQ(second.l.port, first.l.port);
  EXPECT_EQ(second.l.fds.size(), 1u);
}

}  // namespace
}  // namespace ticketq
