// Redis given by host name: resolved without blocking the event loop, so an
// unresolvable name costs a 503 at once, not a frozen loop.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "support/stack.h"

namespace ticketq::test {
namespace {

TEST(DnsTest, HostNameOfRedisIsResolved) {
  // "localhost" may resolve to 127.0.0.1 or to ::1 first (hosts file,
  // gai.conf), and the server connects to the first answer: Redis listens
  // on both (::1 only where the machine has it).
  RedisOptions ro;
  ro.extra_config = {"bind 127.0.0.1 -::1"};
  Stack stack(ro);
  ASSERT_EQ(stack.start(), "");  // Redis, and a first server that uses its IP
  ServerOptions o;
  o.redis_url = "redis://localhost:" + std::to_string(stack.redis().port());
  ASSERT_EQ(stack.add_server(o), "");
  HttpResponse r = stack.client(1).post("/reserve", user_body("by-name"));
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json["status"], "reserved") << r.describe();
}

TEST(DnsTest, UnresolvableHostGets503AtOnceAndTheLoopStaysResponsive) {
  ServerOptions o;
  o.redis_url = "redis://no-such-host.invalid:6379";
  o.wait_ready = false;
  // Where the resolver does not answer, each lookup takes 30 s: a loop that
  // waited for one would answer nothing sooner.
  o.env = {{"RES_OPTIONS", "timeout:30 attempts:1"}};
  ServerProcess server(o);
  ASSERT_EQ(server.start(), "");
  HttpClient c(server.port(), Millis(20000));
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = c.post("/reserve", user_body("u" + std::to_string(i)));
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    std::printf("FIGURE dns_unresolvable: request %d answered in %lld ms\n", i,
                static_cast<long long>(ms));
    EXPECT_EQ(r.status, 503) << r.describe();
    EXPECT_TRUE(r.header("Retry-After").has_value()) << r.describe();
    // Typically a few ms. A loop blocked in the lookup would wait for the
    // resolver's timeout (30 s, above); 10 s is far from both, even for an
    // ASan build on a busy machine.
    EXPECT_LT(ms, 10000) << "request " << i;
  }
  EXPECT_EQ(c.get("/ready").status, 503);
}

}  // namespace
}  // namespace ticketq::test
