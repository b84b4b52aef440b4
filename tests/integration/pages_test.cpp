// The pages ticketq serves (docs/pages.md) over real servers and Redis: the
// waiting room's calls by the visitor's cookie, the pages' security
// headers, the compiled-in files, and CORS for the API.
#include <gtest/gtest.h>

#include "support/sse_client.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

// The cookie a Set-Cookie header sets: "name=value".
std::string cookie_of(const HttpResponse& r) {
  std::string line = r.header("Set-Cookie").value_or("");
  return line.substr(0, line.find(';'));
}

class PagesTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ServerOptions o;
    o.threads = 1;
    o.extra_args = std::move(extra);
    ASSERT_EQ(stack_.start(o), "");
    HttpClient http = stack_.client();
    ASSERT_EQ(
        http.put("/v1/events/e", R"({"capacity":1,"queue_limit":2,"admit_rate":"manual"})", admin())
            .status,
        201);
  }
  Stack stack_;
};

TEST_F(PagesTest, TheWaitingRoomKeepsTheVisitorsPlaceByCookie) {
  start();
  HttpClient http = stack_.client();
  ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("holder")).status, 200);
  EXPECT_EQ(http.get("/wait/e/status").json, json({{"state", "none"}}));

  HttpResponse joined = http.post("/wait/e/join");
  ASSERT_EQ(joined.status, 200) << joined.describe();
  std::string set = joined.header("Set-Cookie").value_or("");
  EXPECT_EQ(set.rfind("tq_e=ey", 0), 0u) << set;
  for (const char* attr : {"; Path=/wait/e;", "; HttpOnly", "; SameSite=Strict", "; Max-Age=86400"})
    EXPECT_NE(set.find(attr), std::string::npos) << attr << " in " << set;
  EXPECT_EQ(set.find("Secure"), std::string::npos) << "not behind TLS by default";
  EXPECT_EQ(joined.json["state"], "waiting");
  EXPECT_EQ(joined.json["position"], 1);
  EXPECT_FALSE(joined.json.contains("token")) << "the token stays in the cookie";
  const std::string user = joined.json["user_id"];

  Headers cookie = {{"Cookie", cookie_of(joined)}};
  // A reload (or a second tab): the same place, no second join.
  HttpResponse again = http.post("/wait/e/join", "", cookie);
  EXPECT_EQ(again.json["user_id"], user);
  EXPECT_EQ(again.json["position"], 1);
  EXPECT_FALSE(again.header("Set-Cookie").has_value());
  HttpResponse st = http.get("/wait/e/status", cookie);
  EXPECT_EQ(st.json["state"], "waiting");
  EXPECT_EQ(st.json["user_id"], user);
  EXPECT_TRUE(st.json.contains("poll_after_ms"));
  EXPECT_EQ(http.get("/v1/events/e", admin()).json["waiting"], 1);

  // The cookie opens the waiting room's stream (where the browser sends it).
  SseClient s(stack_.server().port(), "/wait/e/stream", cookie);
  auto e = s.next(Millis(10000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->json()["user_id"], user);

  // Another visitor fills the line; the next is told it is sold out.
  ASSERT_EQ(http.post("/wait/e/join").status, 200);
  HttpResponse full = http.post("/wait/e/join");
  EXPECT_EQ(full.status, 409);
  EXPECT_EQ(full.json["state"], "sold_out");
  EXPECT_FALSE(full.header("Set-Cookie").has_value());

  // Leaving gives the place up and clears the cookie.
  HttpResponse left = http.post("/wait/e/leave", "", cookie);
  EXPECT_EQ(left.json["state"], "left");
  EXPECT_NE(left.header("Set-Cookie").value_or("").find("tq_e=; Path=/wait/e; Max-Age=0"),
            std::string::npos);
  EXPECT_EQ(http.get("/v1/events/e", admin()).json["waiting"], 1);
  // A cookie kept after leaving holds no place: the status says so.
  json gone = http.get("/wait/e/status", cookie).json;
  EXPECT_EQ(gone["state"], "expired");
  EXPECT_EQ(gone["reason"], "not_in_line");
  // A cookie that is not a token of this event is cleared.
  HttpResponse bad = http.get("/wait/e/status", {{"Cookie", "tq_e=garbage"}});
  EXPECT_EQ(bad.json, json({{"state", "none"}}));
  EXPECT_NE(bad.header("Set-Cookie").value_or("").find("Max-Age=0"), std::string::npos);
}

TEST_F(PagesTest, AnotherSitesPageCannotJoinOrLeaveForAVisitor) {
  start();
  HttpClient http = stack_.client();
  HttpResponse mine = http.post("/wait/e/join", "", {{"Sec-Fetch-Site", "same-origin"}});
  ASSERT_EQ(mine.status, 200) << mine.describe();
  Headers cookie = {{"Cookie", cookie_of(mine)}};
  // A form another site submits: refused, no cookie set, nothing changed.
  for (const char* path : {"/wait/e/join", "/wait/e/leave"}) {
    SCOPED_TRACE(path);
    Headers h = {{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}};
    if (std::string_view(path) == "/wait/e/leave") h.push_back(cookie[0]);
    HttpResponse r = http.post(path, "", h);
    EXPECT_EQ(r.status, 403) << r.describe();
    EXPECT_FALSE(r.header("Set-Cookie").has_value());
  }
  json e = http.get("/v1/events/e", admin()).json;
  EXPECT_EQ(e["reserved"], 1) << e.dump();
  EXPECT_EQ(e["cancelled"], 0) << e.dump();
}

TEST_F(PagesTest, AnAdmittedVisitorLeavesByGivingTheSeatBack) {
  start();
  HttpClient http = stack_.client();
  HttpResponse joined = http.post("/wait/e/join");  // the one seat
  ASSERT_EQ(joined.json["state"], "admitted") << joined.describe();
  ASSERT_TRUE(joined.json["admission_token"].is_string());
  Headers cookie = {{"Cookie", cookie_of(joined)}};
  EXPECT_EQ(http.post("/wait/e/leave", "", cookie).json["state"], "left");
  json e = http.get("/v1/events/e", admin()).json;
  EXPECT_EQ(e["reserved"], 0) << e.dump();
  EXPECT_EQ(e["cancelled"], 1) << e.dump();
}

TEST_F(PagesTest, CookiesAreSecureBehindTls) {
  start({"--cookie-secure", "1"});
  HttpResponse joined = stack_.client().post("/wait/e/join");
  EXPECT_NE(joined.header("Set-Cookie").value_or("").find("; Secure"), std::string::npos);
}

TEST_F(PagesTest, PagesCarryStrictSecurityHeaders) {
  start({"--booking-url", "https://book.example/b?x=1&y=\"2\""});
  HttpClient http = stack_.client();
  HttpResponse wait = http.get("/wait/e");
  ASSERT_EQ(wait.status, 200);
  EXPECT_EQ(wait.header("Content-Type"), "text/html; charset=utf-8");
  std::string csp = wait.header("Content-Security-Policy").value_or("");
  for (const char* part : {"default-src 'none'", "script-src 'self'", "style-src 'self'",
                           "connect-src 'self'", "frame-ancestors 'none'"})
    EXPECT_NE(csp.find(part), std::string::npos) << part;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(wait.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(wait.header("Referrer-Policy"), "no-referrer");
  // No inline script or style in the page; the event and booking URL filled
  // in, escaped.
  EXPECT_EQ(wait.body.find("<script>"), std::string::npos);
  EXPECT_EQ(wait.body.find("<style"), std::string::npos);
  EXPECT_EQ(wait.body.find("{{"), std::string::npos);
  EXPECT_NE(wait.body.find("\"e\""), std::string::npos);
  EXPECT_NE(wait.body.find("https://book.example/b?x=1&amp;y=&quot;2&quot;"), std::string::npos);

  HttpResponse adm = http.get("/admin/");
  ASSERT_EQ(adm.status, 200);
  EXPECT_EQ(adm.header("Cache-Control"), "no-store");
  EXPECT_EQ(adm.header("Content-Security-Policy"), wait.header("Content-Security-Policy"));
  EXPECT_EQ(http.get("/admin").status, 200);

  for (auto [file, type] : {std::pair{"wait.js", "text/javascript; charset=utf-8"},
                            std::pair{"strings.js", "text/javascript; charset=utf-8"},
                            std::pair{"admin.js", "text/javascript; charset=utf-8"},
                            std::pair{"wait.css", "text/css; charset=utf-8"},
                            std::pair{"admin.css", "text/css; charset=utf-8"}}) {
    SCOPED_TRACE(file);
    HttpResponse r = http.get(std::string("/assets/") + file);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), type);
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
    EXPECT_GT(r.body.size(), 100u);
  }
  for (const char* bad :
       {"/assets/wait.html", "/assets/nope.js", "/assets/..%2Fwait.js", "/assets/x"})
    EXPECT_EQ(http.get(bad).status, 404) << bad;
}

TEST_F(PagesTest, CorsAnswersAllowedOriginsOnly) {
  start({"--cors-origins", "https://Shop.Example"});  // matched in lower case
  HttpClient http = stack_.client();
  Headers from_shop = {{"Origin", "https://shop.example"},
                       {"Access-Control-Request-Method", "POST"},
                       {"Access-Control-Request-Headers", "content-type"}};
  HttpResponse pre = http.request("OPTIONS", "/v1/events/e/reserve", "", from_shop);
  EXPECT_EQ(pre.status, 204) << pre.describe();
  EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(pre.header("Access-Control-Allow-Methods"), "POST");
  EXPECT_NE(pre.header("Access-Control-Allow-Headers").value_or("").find("Authorization"),
            std::string::npos);
  EXPECT_EQ(pre.header("Access-Control-Allow-Headers").value_or("").find("X-Token"),
            std::string::npos);
  EXPECT_EQ(pre.header("Vary"), "Origin");
  EXPECT_EQ(pre.body, "");
  EXPECT_FALSE(pre.header("Content-Length").has_value()) << "204 has no length";

  Headers from_elsewhere = {{"Origin", "https://evil.example"},
                            {"Access-Control-Request-Method", "POST"}};
  HttpResponse no = http.request("OPTIONS", "/v1/events/e/reserve", "", from_elsewhere);
  EXPECT_EQ(no.status, 403);
  EXPECT_FALSE(no.header("Access-Control-Allow-Origin").has_value());
  EXPECT_EQ(http.request("OPTIONS", "/nowhere", "", from_shop).status, 404);

  // The call itself: readable from the allowed origin, and changes nothing else.
  HttpResponse r =
      http.post("/v1/events/e/reserve", user_body("a"), {{"Origin", "https://shop.example"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://shop.example");
  HttpResponse other =
      http.post("/v1/events/e/reserve", user_body("b"), {{"Origin", "https://evil.example"}});
  EXPECT_FALSE(other.header("Access-Control-Allow-Origin").has_value());
  // Answers depend on the Origin: caches are told so, whatever was sent.
  EXPECT_EQ(http.get("/assets/wait.js").header("Vary"), "Origin");
  // An OPTIONS that is not a preflight is still not a method of the path.
  EXPECT_EQ(http.request("OPTIONS", "/v1/events/e/reserve", "").status, 405);
}

TEST_F(PagesTest, WithoutCorsOriginsNoOriginIsAllowed) {
  start();
  HttpClient http = stack_.client();
  HttpResponse pre =
      http.request("OPTIONS", "/v1/events/e/reserve", "",
                   {{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 403);
  HttpResponse r =
      http.post("/v1/events/e/reserve", user_body("a"), {{"Origin", "https://shop.example"}});
  EXPECT_FALSE(r.header("Access-Control-Allow-Origin").has_value());
  EXPECT_FALSE(r.header("Vary").has_value());
}

}  // namespace
}  // namespace ticketq::test
