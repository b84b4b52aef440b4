// Redis given by host name: resolved without blocking the event loop, so an
// unresolvable name costs a 503 at once, not a frozen loop.
#include <gtest/gtest.h>

#include <chrono>

#include "support/stack.h"

namespace ticketq::test {
namespace {

TEST(DnsTest, HostNameOfRedisIsResolved) {
  Stack stack;
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
  ServerProcess server(o);
  ASSERT_EQ(server.start(), "");
  HttpClient c(server.port(), Millis(3000));
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = c.post("/reserve", user_body("u" + std::to_string(i)));
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_EQ(r.status, 503) << r.describe();
    EXPECT_TRUE(r.header("Retry-After").has_value()) << r.describe();
    EXPECT_LT(ms, 500) << "request " << i;
  }
  EXPECT_EQ(c.get("/ready").status, 503);
}

}  // namespace
}  // namespace ticketq::test
