// Tests of src/redis/redis_link.cpp without Redis: a link to a port nobody
// listens on tries again with backoff until stopped, and a name lookup in
// flight is cancelled when the link stops or goes (run under ASan: nothing
// may leak or call back into a link that is gone).
#include "redis/redis_link.h"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"

namespace ticketq {
namespace {

struct Fixture {
  event_base* base = event_base_new();
  HostResolver resolver{base};
  std::vector<std::string> troubles;
  ~Fixture() {
    // Cancelled lookups are answered (and freed) on a later turn.
    run_for(20);
    event_base_free(base);
  }
  void run_for(int ms) {
    timeval tv = timeval_of_ms(ms);
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
  LinkOptions options(const std::string& host, int port) {
    LinkOptions o;
    o.endpoint.host = host;
    o.endpoint.port = port;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 20;
    return o;
  }
  RedisLink::Hooks hooks() {
    RedisLink::Hooks h;
    h.trouble = [this](const std::string& why) { troubles.push_back(why); };
    return h;
  }
};

// A loopback port that was free a moment ago.
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(RedisLinkTest, ARefusedServerIsTriedAgainWithBackoffUntilStopped) {
  Fixture f;
  RedisLink link(f.base, f.resolver, f.options("127.0.0.1", closed_port()), f.hooks());
  link.start();
  f.run_for(300);
  // Each attempt is refused and waits 5-20 ms before the next.
  EXPECT_GE(f.troubles.size(), 5u);
  for (const std::string& why : f.troubles) EXPECT_EQ(why, "cannot connect");
  link.stop();
  size_t seen = f.troubles.size();
  f.run_for(100);
  EXPECT_EQ(f.troubles.size(), seen);
}

TEST(RedisLinkTest, StopCancelsTheLookupInFlight) {
  Fixture f;
  RedisLink link(f.base, f.resolver, f.options("no-such-host.invalid", 6379), f.hooks());
  link.start();
  link.stop();
  f.run_for(300);
  EXPECT_TRUE(f.troubles.empty());  // "cannot resolve" would say it was answered
  EXPECT_FALSE(link.connection().is_open());
}

TEST(RedisLinkTest, ALinkGoneWithItsLookupInFlightIsNotCalledBack) {
  Fixture f;
  {
    RedisLink link(f.base, f.resolver, f.options("no-such-host.invalid", 6379), f.hooks());
    link.start();
  }
  f.run_for(300);
  EXPECT_TRUE(f.troubles.empty());
}

TEST(RedisLinkTest, MovingCancelsTheLookupAndConnectsToTheNewAddress) {
  Fixture f;
  RedisLink link(f.base, f.resolver, f.options("no-such-host.invalid", 6379), f.hooks());
  link.start();
  RedisEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = closed_port();
  link.set_endpoint(ep);  // an address: opened at once, no lookup
  EXPECT_TRUE(link.connection().is_open() || !f.troubles.empty());
  f.run_for(50);
  ASSERT_FALSE(f.troubles.empty());
  for (const std::string& why : f.troubles) EXPECT_EQ(why, "cannot connect");
  link.stop();
}

}  // namespace
}  // namespace ticketq
