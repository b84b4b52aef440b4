#include "transport/client_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <thread>
#include <vector>

namespace ticketq {
namespace {

IpAddress ip(std::string_view text) {
  std::optional<IpAddress> a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

std::vector<IpRange> ranges(std::string_view list) {
  Parsed<std::vector<IpRange>> r = parse_ip_ranges(list);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.value.value_or(std::vector<IpRange>{});
}

TEST(IpAddress, ParsesBothFamiliesAndPrintsThemBack) {
  EXPECT_EQ(ip("192.0.2.7").size, 4);
  EXPECT_EQ(ip("192.0.2.7").str(), "192.0.2.7");
  EXPECT_EQ(ip("2001:db8::1").size, 16);
  EXPECT_EQ(ip("2001:db8::1").str(), "2001:db8::1");
  EXPECT_EQ(ip("[2001:db8::1]").str(), "2001:db8::1");
  // An IPv4-mapped IPv6 address is the IPv4 client it is.
  EXPECT_EQ(ip("::ffff:192.0.2.7"), ip("192.0.2.7"));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "host.example", "1.2.3.4:80",
                          "::g", " 1.2.3.4", "[1.2.3.4"})
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')).has_value());
}

TEST(IpAddress, OfASocketAddress) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "198.51.100.9", &v4.sin_addr);
  EXPECT_EQ(IpAddress::of(reinterpret_cast<sockaddr*>(&v4)).str(), "198.51.100.9");
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:198.51.100.9", &v6.sin6_addr);
  EXPECT_EQ(IpAddress::of(reinterpret_cast<sockaddr*>(&v6)).str(), "198.51.100.9");
  sockaddr unix_peer{};
  unix_peer.sa_family = AF_UNIX;
  EXPECT_TRUE(IpAddress::of(&unix_peer).empty());
  EXPECT_TRUE(IpAddress::of(nullptr).empty());
}

// An IPv6 client is its /64: every address of one is one client.
TEST(IpAddress, ClientKeyOfIpv6IsItsSlash64) {
  EXPECT_EQ(ip("2001:db8:1:2::1").client_key(), ip("2001:db8:1:2:ffff::9").client_key());
  EXPECT_NE(ip("2001:db8:1:2::1").client_key(), ip("2001:db8:1:3::1").client_key());
  EXPECT_EQ(ip("10.0.0.1").client_key().size(), 4u);
  EXPECT_NE(ip("10.0.0.1").client_key(), ip("10.0.0.2").client_key());
}

TEST(IpRanges, BlocksContainTheirAddressesOnly) {
  std::vector<IpRange> r = ranges("10.0.0.0/8, 192.168.1.7 ,fd00::/8,172.16.0.0/12");
  EXPECT_EQ(r.size(), 4u);
  EXPECT_TRUE(in_ranges(r, ip("10.255.0.1")));
  EXPECT_FALSE(in_ranges(r, ip("11.0.0.1")));
  EXPECT_TRUE(in_ranges(r, ip("192.168.1.7")));
  EXPECT_FALSE(in_ranges(r, ip("192.168.1.8")));
  EXPECT_TRUE(in_ranges(r, ip("172.31.255.255")));
  EXPECT_FALSE(in_ranges(r, ip("172.32.0.0")));
  EXPECT_TRUE(in_ranges(r, ip("fd12::1")));
  EXPECT_FALSE(in_ranges(r, ip("fe80::1")));
  EXPECT_FALSE(in_ranges(r, IpAddress{}));  // a Unix socket is never a proxy
  EXPECT_TRUE(in_ranges(ranges("0.0.0.0/0"), ip("203.0.113.1")));
  EXPECT_FALSE(in_ranges(ranges("0.0.0.0/0"), ip("::1")));  // families apart
  EXPECT_TRUE(ranges("").empty());
  EXPECT_TRUE(ranges(" , ").empty());
}

TEST(IpRanges, ABadEntryIsNamed) {
  EXPECT_EQ(parse_ip_ranges("10.0.0.0/8,nope").error, "\"nope\" is not an address or block");
  EXPECT_EQ(parse_ip_ranges("10.0.0.0/").error, "\"10.0.0.0/\" has a bad prefix length");
  EXPECT_EQ(parse_ip_ranges("::1/129").error, "\"::1/129\" has a bad prefix length");
  EXPECT_EQ(parse_ip_ranges("10.0.0.0/-1").error, "\"10.0.0.0/-1\" has a bad prefix length");
  EXPECT_EQ(parse_ip_ranges("10.0.0.0/8x").error, "\"10.0.0.0/8x\" has a bad prefix length");
}

TEST(ForwardedClient, OnlyATrustedPeerIsBelieved) {
  std::vector<IpRange> trusted = ranges("10.0.0.0/8");
  // Untrusted peer: X-Forwarded-For is whatever the client wrote.
  EXPECT_EQ(forwarded_client(ip("203.0.113.5"), {"1.2.3.4"}, trusted).str(), "203.0.113.5");
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {"1.2.3.4"}, {}).str(), "10.0.0.2");
  // Trusted: the right-most address not a proxy; what a client put in
  // front of it is not believed.
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {"6.6.6.6, 198.51.100.1, 10.1.1.1"}, trusted).str(),
            "198.51.100.1");
  // Several headers are one list, in order.
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {"6.6.6.6", "198.51.100.1,10.9.9.9"}, trusted).str(),
            "198.51.100.1");
  // No header, or only proxies: the left-most hop known.
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {}, trusted).str(), "10.0.0.2");
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {"10.3.3.3, 10.4.4.4"}, trusted).str(), "10.3.3.3");
  // An entry that is no address ends the walk at the hop that wrote it.
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {"1.1.1.1, junk, 10.4.4.4"}, trusted).str(),
            "10.4.4.4");
  EXPECT_EQ(forwarded_client(ip("10.0.0.2"), {" [2001:db8::7] "}, trusted).str(), "2001:db8::7");
}

TEST(KeyedCounts, CapsEachKeyAndForgetsKeysAtZero) {
  KeyedCounts counts;
  EXPECT_TRUE(counts.acquire("a", 2));
  EXPECT_TRUE(counts.acquire("a", 2));
  EXPECT_FALSE(counts.acquire("a", 2));
  EXPECT_TRUE(counts.acquire("b", 2));
  EXPECT_EQ(counts.count("a"), 2);
  EXPECT_EQ(counts.keys(), 2u);
  counts.release("a");
  EXPECT_TRUE(counts.acquire("a", 2));
  counts.release("a");
  counts.release("a");
  counts.release("b");
  EXPECT_EQ(counts.keys(), 0u);  // nothing held: nothing kept
  counts.release("never");       // harmless
  EXPECT_EQ(counts.keys(), 0u);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(counts.acquire("x", 0));  // 0: no cap
  EXPECT_EQ(counts.count("x"), 1000);
}

// The loops of a process count together: no count is lost between threads.
TEST(KeyedCounts, ThreadsCountTogether) {
  KeyedCounts counts;
  std::vector<std::thread> threads;
  std::atomic<int> granted{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (counts.acquire("k", 1500)) ++granted;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1500);
  EXPECT_EQ(counts.count("k"), 1500);
}

}  // namespace
}  // namespace ticketq
