// Tests of src/redis/host_resolver.cpp: names from /etc/hosts, cancelled lookups
// (which must neither call back nor leak: run under ASan), and what counts
// as a numeric address.
#include "redis/host_resolver.h"

#include <event2/event.h>
#include <gtest/gtest.h>

#include <memory>

namespace ticketq {
namespace {

struct Loop {
  event_base* base = event_base_new();
  ~Loop() { event_base_free(base); }
  // Runs the loop until nothing is left to do or `ms` pass.
  void run_for(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
};

TEST(HostResolverTest, NumericHosts) {
  EXPECT_TRUE(is_numeric_host("127.0.0.1"));
  EXPECT_TRUE(is_numeric_host("::1"));
  EXPECT_TRUE(is_numeric_host("fe80::1"));
  EXPECT_FALSE(is_numeric_host("localhost"));
  EXPECT_FALSE(is_numeric_host("redis.example"));
  EXPECT_FALSE(is_numeric_host("127.0.0"));
  EXPECT_FALSE(is_numeric_host(""));
}

TEST(HostResolverTest, NameFromTheHostsFileIsAnsweredAtOnce) {
  Loop loop;
  HostResolver resolver(loop.base);
  int answers = 0;
  std::string address;
  HostResolver::Lookup* lookup =
      resolver.lookup("localhost", [&](const std::string& a, const std::string&) {
        ++answers;
        address = a;
      });
  EXPECT_EQ(lookup, nullptr);  // answered before lookup() returned
  EXPECT_EQ(answers, 1);
  EXPECT_TRUE(address == "127.0.0.1" || address == "::1") << address;
}

TEST(HostResolverTest, CancelledLookupNeverCallsBack) {
  Loop loop;
  int answers = 0;
  {
    HostResolver resolver(loop.base);
    // ".invalid" is never a real name (RFC 6761): whatever the DNS server,
    // the answer comes on a later turn of the loop, if at all.
    HostResolver::Lookup* lookup = resolver.lookup(
        "no-such-host.invalid", [&](const std::string&, const std::string&) { ++answers; });
    ASSERT_NE(lookup, nullptr);
    HostResolver::cancel(lookup);
  }  // the resolver goes first; libevent's answer to the cancel frees the rest
  loop.run_for(50);
  EXPECT_EQ(answers, 0);
}

TEST(HostResolverTest, ALookupMayStartAnotherFromItsAnswer) {
  Loop loop;
  HostResolver resolver(loop.base);
  int answers = 0;
  resolver.lookup("localhost", [&](const std::string&, const std::string&) {
    ++answers;
    resolver.lookup("localhost", [&](const std::string&, const std::string&) { ++answers; });
  });
  EXPECT_EQ(answers, 2);
}

}  // namespace
}  // namespace ticketq
