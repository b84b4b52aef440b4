// Tests of src/redis/redis_url.cpp: parse_redis_url, parse_redis_target and the
// endpoints' descriptions, with good and bad input.
#include "redis/redis_url.h"

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
  EXPECT_EQ(parse_redis_url("http://h").error,
            "redis URL must start with redis://, unix://, sentinel:// or cluster://");
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

RedisTarget target_ok(std::string_view url) {
  auto p = parse_redis_target(url);
  EXPECT_TRUE(p.ok()) << url << ": " << p.error;
  return p.value.value_or(RedisTarget{});
}

std::string target_error(std::string_view url) {
  auto p = parse_redis_target(url);
  EXPECT_FALSE(p.ok()) << url << " accepted";
  return p.error;
}

TEST(ParseRedisTarget, OneServer) {
  RedisTarget t = target_ok("redis://:pw@h:7/2");
  EXPECT_EQ(t.mode, RedisMode::kSingle);
  EXPECT_EQ(t.endpoint.host, "h");
  EXPECT_EQ(t.endpoint.port, 7);
  EXPECT_EQ(t.endpoint.password, "pw");
  EXPECT_EQ(t.endpoint.db, 2);
  EXPECT_TRUE(t.seeds.empty());
  EXPECT_EQ(target_ok("unix:///tmp/r.sock").mode, RedisMode::kSingle);
  EXPECT_EQ(t.describe(), "h:7 db 2");
}

TEST(ParseRedisTarget, Sentinel) {
  RedisTarget t = target_ok("sentinel://:s3cret@10.0.0.1:26380,sentinel-b,[::1]:5000/tqmaster");
  EXPECT_EQ(t.mode, RedisMode::kSentinel);
  EXPECT_EQ(t.master_name, "tqmaster");
  EXPECT_EQ(t.endpoint.password, "s3cret");
  ASSERT_EQ(t.seeds.size(), 3u);
  EXPECT_EQ(t.seeds[0].host, "10.0.0.1");
  EXPECT_EQ(t.seeds[0].port, 26380);
  EXPECT_EQ(t.seeds[1].host, "sentinel-b");
  EXPECT_EQ(t.seeds[1].port, 26379);  // Sentinel's own port by default
  EXPECT_EQ(t.seeds[2].host, "::1");
  EXPECT_EQ(t.seeds[2].port, 5000);
  for (const RedisEndpoint& s : t.seeds) EXPECT_EQ(s.password, "s3cret");
  EXPECT_EQ(t.describe(), "sentinel 10.0.0.1:26380,sentinel-b:26379,::1:5000 master tqmaster");
  EXPECT_EQ(t.describe().find("s3cret"), std::string::npos);
  EXPECT_EQ(target_ok("sentinel://h/m").seeds.size(), 1u);
  EXPECT_EQ(target_ok("sentinel://user:pw@h/m").endpoint.password, "pw");
}

TEST(ParseRedisTarget, Cluster) {
  RedisTarget t = target_ok("cluster://n1:7000,n2,10.1.1.1:7002");
  EXPECT_EQ(t.mode, RedisMode::kCluster);
  ASSERT_EQ(t.seeds.size(), 3u);
  EXPECT_EQ(t.seeds[0].port, 7000);
  EXPECT_EQ(t.seeds[1].port, 6379);
  EXPECT_EQ(t.seeds[2].host, "10.1.1.1");
  EXPECT_EQ(t.endpoint.password, "");
  EXPECT_EQ(target_ok("cluster://:pw@n1").seeds[0].password, "pw");
  EXPECT_EQ(target_ok("cluster://n1/").seeds.size(), 1u);  // an empty path is no path
  EXPECT_EQ(t.describe(), "cluster n1:7000,n2:6379,10.1.1.1:7002");
}

TEST(ParseRedisTarget, BadInput) {
  EXPECT_EQ(target_error("sentinel://h1,h2"),
            "sentinel:// needs /master-name after the hosts (printable, no '/', ',', '@')");
  EXPECT_NE(target_error("sentinel://h1/"), "");
  EXPECT_NE(target_error("sentinel://h1/a/b"), "");
  EXPECT_NE(target_error("sentinel://h1/a b"), "");
  EXPECT_NE(target_error(std::string("sentinel://h1/a\x01b")), "");
  EXPECT_NE(target_error("sentinel://h1/" + std::string(129, 'm')), "");
  EXPECT_EQ(target_error("sentinel:///m"), "sentinel:// needs at least one host");
  EXPECT_EQ(target_error("cluster://"), "cluster:// needs at least one host");
  EXPECT_EQ(target_error("cluster://:pw@"), "cluster:// needs at least one host");
  EXPECT_EQ(target_error("cluster://h:1/0"),
            "cluster:// takes no path (a Redis Cluster has only db 0)");
  EXPECT_EQ(target_error("cluster://h:1,,h:2"), "redis URL has no host");
  EXPECT_EQ(target_error("cluster://h:1,"), "redis URL has no host");
  EXPECT_EQ(target_error("cluster://h:0"), "bad port in redis URL");
  EXPECT_EQ(target_error("cluster://h:99999"), "bad port in redis URL");
  EXPECT_EQ(target_error("cluster://h:x"), "bad port in redis URL");
  EXPECT_EQ(target_error("cluster://[::1"), "unclosed '[' in redis URL");
  EXPECT_EQ(target_error("sentinel://[::1]x/m"), "bad port in redis URL");
  EXPECT_EQ(target_error("clusters://h"),
            "redis URL must start with redis://, unix://, sentinel:// or cluster://");
  std::string many = "cluster://";
  for (size_t i = 0; i <= kMaxRedisSeeds; ++i) many += (i ? ",h" : "h") + std::to_string(i);
  EXPECT_EQ(target_error(many), "cluster:// takes at most 32 hosts");
}

}  // namespace
}  // namespace ticketq
