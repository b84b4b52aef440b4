// What operators rely on: Prometheus metrics, the OpenAPI document, request
// ids, the access log, and an admin token that only headers can carry.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.threads = 1;
    o.extra_args = {"--capacity", "1", "--queue-limit", "5", "--access-log", "1"};
    ASSERT_EQ(stack_.start(o), "");
  }
  Stack stack_;
};

TEST_F(OperationsTest, MetricsCountRequestsAndReadEventsFromRedis) {
  HttpClient c = stack_.client();
  ASSERT_EQ(c.post("/reserve", user_body("m1")).status, 200);  // reserved
  ASSERT_EQ(c.post("/reserve", user_body("m2")).status, 200);  // queued
  ASSERT_EQ(c.post("/reserve", user_body("m3")).status, 200);  // queued
  ASSERT_EQ(c.get("/v1/events/default/status/nobody").status, 404);
  ASSERT_EQ(c.get("/status/nobody").status, 200);  // the seed route, as the original answered
  ASSERT_EQ(c.get("/reserve").status, 405);        // counted under its route
  ASSERT_EQ(c.put("/v1/events/default", R"({"capacity":2,"queue_limit":5})", admin()).status, 200);
  HttpResponse p = c.post("/process_queue", "", admin());
  ASSERT_EQ(p.status, 200) << p.describe();
  ASSERT_EQ(p.json["promoted_count"], 1);

  HttpResponse m = c.get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.header("Content-Type").value_or(""), "text/plain; version=0.0.4");
  const std::string& t = "\n" + m.body;
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="200",route="reserve"})"), 3);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="404",route="status"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="200",route="status"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="405",route="reserve"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="405",route="unmatched"})"), -1);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="200",route="process_queue"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_promoted_users_total{event="default"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_event_reserved{event="default"})"), 2);
  EXPECT_EQ(metric(t, R"(ticketq_event_waiting{event="default"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_redis_connected{loop="0"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_redis_errors_total{kind="timeout"})"), 0);
  // 3 reserves and the 405.
  EXPECT_EQ(metric(t, R"(ticketq_http_request_duration_seconds_count{route="reserve"})"), 4);
  EXPECT_GE(metric(t, "ticketq_redis_roundtrip_seconds_count"), 6);
  EXPECT_GE(metric(t, "ticketq_coalesced_batch_users_count"), 1);
  EXPECT_GE(metric(t, R"(ticketq_http_connections{loop="0"})"), 1);  // this client, at least
}

TEST_F(OperationsTest, MetricsShowRedisFaults) {
  HttpClient c = stack_.client();
  stack_.redis().kill9();
  HttpResponse r = c.post("/reserve", user_body("f1"));
  ASSERT_EQ(r.status, 503);
  std::string t = "\n" + c.get("/metrics").body;
  EXPECT_EQ(metric(t, R"(ticketq_redis_connected{loop="0"})"), 0);
  EXPECT_GE(metric(t, R"(ticketq_redis_errors_total{kind="unavailable"})"), 1);
  EXPECT_EQ(metric(t, R"(ticketq_http_requests_total{code="503",route="reserve"})"), 1);
}

TEST_F(OperationsTest, OpenApiDocumentIsServedAndNamesEveryRoute) {
  HttpResponse r = stack_.client().get("/openapi.yaml");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/yaml");
  std::string want = read_file(std::string(TICKETQ_SOURCE_DIR) + "/docs/openapi.yaml");
  EXPECT_EQ(r.body, want);
  for (const char* path : {"/reserve:",
                           "/status/{user_id}:",
                           "/process_queue:",
                           "/admin/reset:",
                           "/v1/events/{event}/reserve:",
                           "/v1/events/{event}/status/{user_id}:",
                           "/v1/events/{event}/process_queue:",
                           "/v1/events/{event}/reset:",
                           "/v1/events/{event}:",
                           "/v1/events/{event}/history:",
                           "/v1/events/{event}/leave:",
                           "/v1/events/{event}/cancel:",
                           "/v1/events/{event}/confirm:",
                           "/v1/events/{event}/verify:",
                           "/v1/events:",
                           "/health:",
                           "/ready:",
                           "/metrics:",
                           "/openapi.yaml:",
                           "/.well-known/jwks.json:",
                           "/v1/events/{event}/stream:",
                           "/wait/{event}:",
                           "/wait/{event}/status:",
                           "/wait/{event}/join:",
                           "/wait/{event}/leave:",
                           "/wait/{event}/stream:",
                           "/admin/:",
                           "/assets/{file}:"})
    EXPECT_NE(r.body.find(std::string("  ") + path), std::string::npos) << path;
}

TEST_F(OperationsTest, RequestIdIsEchoedOrMadeAndLoggedWithoutTheToken) {
  HttpClient c = stack_.client();
  HttpResponse mine = c.get("/health", {{"X-Request-Id", "trace-abc.123"}});
  EXPECT_EQ(mine.header("X-Request-Id").value_or(""), "trace-abc.123");
  HttpResponse bad = c.get("/health", {{"X-Request-Id", "has space"}});
  std::string made = bad.header("X-Request-Id").value_or("");
  EXPECT_TRUE(std::regex_match(made, std::regex("[0-9a-f]{8}-[0-9a-f]+"))) << made;
  HttpResponse other = c.get("/health");
  EXPECT_NE(other.header("X-Request-Id").value_or(""), made);
  ASSERT_EQ(c.post("/admin/reset", "", admin()).status, 200);

  ASSERT_TRUE(wait_until(
      [&] { return stack_.server().log().find("id=trace-abc.123") != std::string::npos; },
      Millis(20000)));
  std::string log = stack_.server().log();
  EXPECT_NE(log.find("access id=trace-abc.123 client=127.0.0.1 method=GET path=/health status=200"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("path=/admin/reset status=200"), std::string::npos) << log;
  EXPECT_EQ(log.find(kAdminToken), std::string::npos) << "the admin token was logged";
}

TEST_F(OperationsTest, AdminTokenFromAChunkedTrailerIsRefused) {
  std::string raw =
      "POST /admin/reset HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nX-Token: " +
      std::string(kAdminToken) + "\r\n\r\n";
  RawResult r = raw_exchange(stack_.server().port(), raw, Millis(20000));
  ASSERT_TRUE(r.first.has_value()) << r.data;
  EXPECT_EQ(r.first->status, 401) << r.first->describe();
  // Trailers are dropped, so a token as a header of a chunked call is the
  // only one that counts: in the header and in a trailer, still one token.
  raw = "POST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Token: " + std::string(kAdminToken) +
        "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Token: " + std::string(kAdminToken) +
        "\r\n\r\n";
  r = raw_exchange(stack_.server().port(), raw, Millis(20000));
  ASSERT_TRUE(r.first.has_value()) << r.data;
  EXPECT_EQ(r.first->status, 200) << r.first->describe();
  // And the token in the query string is no token at all.
  EXPECT_EQ(stack_.client().post(std::string("/admin/reset?X-Token=") + kAdminToken).status, 401);
}

}  // namespace
}  // namespace ticketq::test
