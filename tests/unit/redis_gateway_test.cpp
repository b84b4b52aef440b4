// Tests of src/redis_gateway.cpp that need no network: parse_redis_url,
// RedisEndpoint::describe and parse_maxmemory_policy.
#include "ticketq/redis_gateway.h"

#include <gtest/gtest.h>

#include <string>

namespace ticketq {
namespace {

RedisEndpoint parse_ok(std::string_view url) {
  auto p = parse_redis_url(url);
  EXPECT_TRUE(p.ok()) << url << ": " << p.error;
  EXPECT_EQ(p.error, "") << url;
  return p.value.value_or(RedisEndpoint{});
}

void expect_tcp(std::string_view url, const std::string& host, int port,
                const std::string& password = "", int db = 0) {
  SCOPED_TRACE(std::string(url));
  auto p = parse_redis_url(url);
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_FALSE(p.value->is_unix);
  EXPECT_EQ(p.value->host, host);
  EXPECT_EQ(p.value->port, port);
  EXPECT_EQ(p.value->password, password);
  EXPECT_EQ(p.value->db, db);
  EXPECT_EQ(p.value->path, "");
}

void expect_fail(std::string_view url) {
  auto p = parse_redis_url(url);
  EXPECT_FALSE(p.ok()) << url << " accepted";
  EXPECT_NE(p.error, "") << url;
}

TEST(ParseRedisUrl, HostAndPort) {
  expect_tcp("redis://127.0.0.1:6379", "127.0.0.1", 6379);
  expect_tcp("redis://redis.internal:7000", "redis.internal", 7000);
  expect_tcp("redis://h:1", "h", 1);
  expect_tcp("redis://h:65535", "h", 65535);
}

TEST(ParseRedisUrl, DefaultPort) {
  expect_tcp("redis://localhost", "localhost", 6379);
  expect_tcp("redis://10.0.0.5/", "10.0.0.5", 6379);
}

TEST(ParseRedisUrl, PasswordForms) {
  expect_tcp("redis://:pw@h:1", "h", 1, "pw");
  expect_tcp("redis://user:pw@h:1", "h", 1, "pw");
  expect_tcp("redis://pw@h:1", "h", 1, "pw");  // no colon: the whole part
  expect_tcp("redis://:p:w@h:1", "h", 1, "p:w");
  expect_tcp("redis://:p@ss@h:1", "h", 1, "p@ss");  // the last '@' ends it
  expect_tcp("redis://:pw@h", "h", 6379, "pw");
  expect_tcp("redis://:p/w@h:1/5", "h", 1, "p/w", 5);
}

TEST(ParseRedisUrl, DbNumber) {
  expect_tcp("redis://h:1/3", "h", 1, "", 3);
  expect_tcp("redis://h/15", "h", 6379, "", 15);
  expect_tcp("redis://:pw@h:1/2", "h", 1, "pw", 2);
  expect_tcp("redis://h:1/0", "h", 1, "", 0);
  expect_tcp("redis://h:1/", "h", 1, "", 0);
}

TEST(ParseRedisUrl, Ipv6) {
  expect_tcp("redis://[::1]:6380", "::1", 6380);
  expect_tcp("redis://[::1]", "::1", 6379);
  expect_tcp("redis://[fe80::1:2]:7/4", "fe80::1:2", 7, "", 4);
  expect_tcp("redis://:pw@[::1]:6380", "::1", 6380, "pw");
}

TEST(ParseRedisUrl, UnixSocket) {
  RedisEndpoint ep = parse_ok("unix:///tmp/r.sock");
  EXPECT_TRUE(ep.is_unix);
  EXPECT_EQ(ep.path, "/tmp/r.sock");
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.password, "");

  ep = parse_ok("unix:///tmp/r.sock?db=2");
  EXPECT_TRUE(ep.is_unix);
  EXPECT_EQ(ep.path, "/tmp/r.sock");
  EXPECT_EQ(ep.db, 2);
}

TEST(ParseRedisUrl, Errors) {
  expect_fail("");
  expect_fail("http://h:6379");
  expect_fail("rediss://h:6379");  // TLS is not supported
  expect_fail("redis:/h:6379");
  expect_fail("h:6379");
  expect_fail("redis://");
  expect_fail("redis://:6379");
  expect_fail("redis://:pw@");
  expect_fail("redis://:pw@:1");
  expect_fail("redis://h:0");
  expect_fail("redis://h:70000");
  expect_fail("redis://h:65536");
  expect_fail("redis://h:-1");
  expect_fail("redis://h:abc");
  expect_fail("redis://h:63 79");
  expect_fail("redis://h:1/abc");
  expect_fail("redis://h:1/-1");
  expect_fail("redis://h:1/1x");
  expect_fail("redis://[::1");
  expect_fail("redis://[::1]x");
  expect_fail("redis://[::1]:0");
  expect_fail("redis://[]:1");
  expect_fail("unix://");
  expect_fail("unix://tmp/r.sock");
  expect_fail("unix://r.sock");
  expect_fail("unix:///tmp/r.sock?db=");
  expect_fail("unix:///tmp/r.sock?db=x");
  expect_fail("unix:///tmp/r.sock?db=-1");
  expect_fail("unix://?db=1");
}

TEST(ParseRedisUrl, ErrorMessages) {
  EXPECT_EQ(parse_redis_url("http://h").error, "redis URL must start with redis:// or unix://");
  EXPECT_EQ(parse_redis_url("redis://:1").error, "redis URL has no host");
  EXPECT_EQ(parse_redis_url("redis://h:0").error, "bad port in redis URL");
  EXPECT_EQ(parse_redis_url("redis://h/x").error, "bad db number in redis URL");
  EXPECT_EQ(parse_redis_url("unix://a.sock").error, "unix:// needs an absolute socket path");
}

TEST(RedisEndpoint, DescribeNeverShowsThePassword) {
  for (const char* url : {"redis://:hunter2@h:1/2", "redis://admin:hunter2@h:1",
                          "redis://hunter2@[::1]:6380", "redis://:hunter2@h"}) {
    SCOPED_TRACE(url);
    RedisEndpoint ep = parse_ok(url);
    ASSERT_EQ(ep.password, "hunter2");
    EXPECT_EQ(ep.describe().find("hunter2"), std::string::npos) << ep.describe();
  }
  EXPECT_EQ(parse_ok("redis://:hunter2@h:1/2").describe(), "h:1 db 2");
  EXPECT_EQ(parse_ok("redis://h:1").describe(), "h:1");
  EXPECT_EQ(parse_ok("unix:///tmp/r.sock?db=3").describe(), "unix:///tmp/r.sock db 3");
  EXPECT_EQ(parse_ok("unix:///tmp/r.sock").describe(), "unix:///tmp/r.sock");
}

TEST(RedisEndpoint, Defaults) {
  RedisEndpoint ep;
  EXPECT_FALSE(ep.is_unix);
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(ep.describe(), "127.0.0.1:6379");
}

// The field as Redis 7 sends it in INFO memory (CRLF lines, a section header).
TEST(ParseMaxmemoryPolicy, ReadsTheFieldOfInfoMemory) {
  const std::string info =
      "# Memory\r\nused_memory:1032160\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
      "maxmemory_policy:allkeys-lru\r\nallocator_frag_ratio:1.22\r\n";
  EXPECT_EQ(parse_maxmemory_policy(info), "allkeys-lru");
  EXPECT_EQ(parse_maxmemory_policy("maxmemory_policy:noeviction"), "noeviction");  // last line
  EXPECT_EQ(parse_maxmemory_policy("a:1\nmaxmemory_policy:volatile-ttl\nb:2\n"), "volatile-ttl");
}

// Without the field the policy is unknown (a proxy's INFO, an error text):
// the gateway then warns and does not block readiness.
TEST(ParseMaxmemoryPolicy, MissingFieldIsUnknown) {
  EXPECT_EQ(parse_maxmemory_policy(""), std::nullopt);
  EXPECT_EQ(parse_maxmemory_policy("# Memory\r\nused_memory:1\r\n"), std::nullopt);
  // Only a whole field name at the start of a line counts.
  EXPECT_EQ(parse_maxmemory_policy("x_maxmemory_policy:allkeys-lru\r\n"), std::nullopt);
  EXPECT_EQ(parse_maxmemory_policy("maxmemory_policy_x:allkeys-lru\r\n"), std::nullopt);
}

}  // namespace
}  // namespace ticketq
