// The pages ticketq serves (docs/pages.md) over real servers and Redis: the
// waiting room's calls by the visitor's cookie, the pages' security
// headers, the compiled-in files, and CORS for the API.
#include <gtest/gtest.h>

#include "pages/visitor.h"
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

// What the waiting room's page was painted as: its body's data-state.
std::string painted_state(const HttpResponse& page) {
  const std::string mark = "<body ";
  size_t body = page.body.find(mark);
  if (body == std::string::npos) return "(no body)";
  size_t at = page.body.find(" data-state=\"", body);
  if (at == std::string::npos) return "(no data-state)";
  at += 13;
  return page.body.substr(at, page.body.find('"', at) - at);
}

// Whether the page shows `word` of web/strings.js (as the server paints it);
// a word strings.js does not have is shown nowhere.
bool shows(const HttpResponse& page, const std::string& word) {
  const std::string_view text = page_word(word);
  return !text.empty() && page.body.find(html_escaped(text)) != std::string::npos;
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
  EXPECT_EQ(http.get("/wait/e/status").json, json({{"state", "none"}, {"event_state", "open"}}));

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
  EXPECT_EQ(left.json["reason"], "left");
  EXPECT_NE(left.header("Set-Cookie").value_or("").find("tq_e=; Path=/wait/e; Max-Age=0"),
            std::string::npos);
  EXPECT_EQ(http.get("/v1/events/e", admin()).json["waiting"], 1);
  // A cookie kept after leaving holds no place: the status says so.
  json gone = http.get("/wait/e/status", cookie).json;
  EXPECT_EQ(gone["state"], "expired");
  EXPECT_EQ(gone["reason"], "not_in_line");
  // A cookie that is not a token of this event is cleared.
  HttpResponse bad = http.get("/wait/e/status", {{"Cookie", "tq_e=garbage"}});
  EXPECT_EQ(bad.json, json({{"state", "none"}, {"event_state", "open"}}));
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

// Only the waiting room's own pages join or leave for a visitor: a sibling
// subdomain's page (same-site) is refused like another site's; without
// Fetch Metadata the Origin must be the page's own; cors_origins, even "*",
// does not open these calls. A client that sends neither (curl) is served.
TEST_F(PagesTest, OnlyTheRoomsOwnPagesJoinOrLeave) {
  start({"--cors-origins", "*"});
  HttpClient http = stack_.client();
  const std::string own = "http://127.0.0.1:" + std::to_string(stack_.server().port());
  HttpResponse seat = http.post("/wait/e/join", "", {{"Sec-Fetch-Site", "same-origin"}});
  ASSERT_EQ(seat.json["state"], "admitted") << seat.describe();
  const std::pair<std::string, std::string> victim{"Cookie", cookie_of(seat)};
  struct Case {
    const char* why;
    Headers headers;
    int status;
  };
  for (const Case& c : {
           Case{"a sibling subdomain's page", {{"Sec-Fetch-Site", "same-site"}}, 403},
           Case{"another site's page", {{"Sec-Fetch-Site", "cross-site"}}, 403},
           Case{"an older browser, another origin", {{"Origin", "https://shop.example"}}, 403},
           Case{"an opaque origin", {{"Origin", "null"}}, 403},
           Case{"another port", {{"Origin", own + "1"}}, 403},
           Case{"another site, allowed by cors_origins",
                {{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://shop.example"}},
                403},
           Case{"a typed address", {{"Sec-Fetch-Site", "none"}}, 200},
           Case{"an older browser, the page's own origin", {{"Origin", own}}, 200},
           Case{"no browser", {}, 200},
       }) {
    SCOPED_TRACE(c.why);
    HttpResponse j = http.post("/wait/e/join", "", c.headers);
    EXPECT_EQ(j.status, c.status) << j.describe();
    Headers leave = c.headers;
    leave.push_back(c.status == 200 ? std::pair<std::string, std::string>{"Cookie", cookie_of(j)}
                                    : victim);
    HttpResponse l = http.post("/wait/e/leave", "", leave);
    EXPECT_EQ(l.status, c.status) << l.describe();
    if (c.status == 200) {
      EXPECT_EQ(l.json["state"], "left") << l.describe();
    }
    if (c.status == 403) {
      EXPECT_FALSE(j.header("Set-Cookie").has_value());
      EXPECT_FALSE(l.header("Set-Cookie").has_value());
    }
  }
  // The visitor made to leave by the refused calls still holds the seat.
  EXPECT_EQ(http.get("/wait/e/status", {victim}).json["state"], "admitted");
  json e = http.get("/v1/events/e", admin()).json;
  EXPECT_EQ(e["reserved"], 1) << e.dump();
  EXPECT_EQ(e["waiting"], 0) << e.dump();
}

// A sibling subdomain can add a second tq_e cookie (garbage, or a token of
// its own): the visitor's own, the one that verifies, is still used.
TEST_F(PagesTest, ATossedCookieDoesNotEraseTheVisitor) {
  start();
  HttpClient http = stack_.client();
  ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("holder")).status, 200);
  HttpResponse joined = http.post("/wait/e/join");
  ASSERT_EQ(joined.json["state"], "waiting") << joined.describe();
  const std::string mine = cookie_of(joined);
  for (const std::string& tossed : {std::string("tq_e=garbage"), std::string("tq_e=")}) {
    SCOPED_TRACE(tossed);
    for (const std::string& both : {tossed + "; " + mine, mine + "; " + tossed}) {
      HttpResponse st = http.get("/wait/e/status", {{"Cookie", both}});
      EXPECT_EQ(st.json["state"], "waiting") << st.describe();
      EXPECT_EQ(st.json["user_id"], joined.json["user_id"]);
      EXPECT_FALSE(st.header("Set-Cookie").has_value()) << "the visitor's cookie is kept";
    }
  }
  // Join again with both: the same place, no second one.
  HttpResponse again = http.post("/wait/e/join", "", {{"Cookie", "tq_e=garbage; " + mine}});
  EXPECT_EQ(again.json["user_id"], joined.json["user_id"]);
  EXPECT_EQ(again.json["position"], 1);
  // The stream by cookie too.
  SseClient s(stack_.server().port(), "/wait/e/stream", {{"Cookie", "tq_e=garbage; " + mine}});
  EXPECT_EQ(s.status(), 200) << s.head().describe();
}

TEST_F(PagesTest, AnAdmittedVisitorLeavesByGivingTheSeatBack) {
  start();
  HttpClient http = stack_.client();
  HttpResponse joined = http.post("/wait/e/join");  // the one seat
  ASSERT_EQ(joined.json["state"], "admitted") << joined.describe();
  ASSERT_TRUE(joined.json["admission_token"].is_string());
  Headers cookie = {{"Cookie", cookie_of(joined)}};
  // The page, painted by the cookie: the turn, in words; the code behind a
  // disclosure (no booking_url here).
  HttpResponse page = http.get("/wait/e", cookie);
  EXPECT_EQ(painted_state(page), "admitted");
  EXPECT_TRUE(shows(page, "admittedNoLink"));
  EXPECT_NE(page.body.find("<details id=\"code-details\">"), std::string::npos);
  EXPECT_NE(page.body.find(joined.json["admission_token"].get<std::string>().substr(0, 40)),
            std::string::npos);
  // Giving the seat up is told as such, not as leaving the line.
  HttpResponse left = http.post("/wait/e/leave", "", cookie);
  EXPECT_EQ(left.json["state"], "left");
  EXPECT_EQ(left.json["reason"], "seat_given_up");
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
  // Forms post to this site, and to the booking site (the hand-over).
  EXPECT_NE(csp.find("; form-action 'self' https://book.example;"), std::string::npos) << csp;
  EXPECT_EQ(wait.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(wait.header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(wait.header("Cache-Control"), "no-store") << "painted for one visitor";
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

TEST_F(PagesTest, TheFirstPaintIsTheEventsState) {
  start();
  HttpClient http = stack_.client();
  // No such event: a 404 page that says so, offering nothing; the call too.
  HttpResponse none = http.get("/wait/nosuchevent");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(none.header("Content-Security-Policy").has_value());
  EXPECT_EQ(painted_state(none), "unknown");
  EXPECT_TRUE(shows(none, "states.unknown"));
  EXPECT_TRUE(shows(none, "notices.unknown"));
  EXPECT_FALSE(shows(none, "states.none"));
  EXPECT_EQ(http.get("/wait/nosuchevent/status").status, 404);

  // Open, with room: join.
  HttpResponse open = http.get("/wait/e");
  EXPECT_EQ(open.status, 200);
  EXPECT_EQ(painted_state(open), "none");
  EXPECT_TRUE(shows(open, "states.none"));
  EXPECT_TRUE(shows(open, "noScript")) << "the page says it needs JavaScript";
  EXPECT_NE(open.body.find("<a id=\"refresh\" href=\"/wait/e\">"), std::string::npos);

  // Paused: newcomers may join, and are told the line waits.
  ASSERT_EQ(http.put("/v1/events/e", R"({"state":"paused"})", admin()).status, 200);
  HttpResponse paused = http.get("/wait/e");
  EXPECT_EQ(painted_state(paused), "none");
  EXPECT_TRUE(shows(paused, "notices.pausedJoin"));
  EXPECT_EQ(http.get("/wait/e/status").json, json({{"state", "none"}, {"event_state", "paused"}}));

  // No seat and no place: sold out, one message, before anyone clicks.
  ASSERT_EQ(http.put("/v1/events/e", R"({"state":"open"})", admin()).status, 200);
  for (const char* u : {"a", "b", "c"})
    ASSERT_EQ(http.post("/v1/events/e/reserve", user_body(u)).status, 200) << u;
  HttpResponse full = http.get("/wait/e");
  EXPECT_EQ(painted_state(full), "sold_out");
  EXPECT_TRUE(shows(full, "states.sold_out"));
  EXPECT_FALSE(shows(full, "states.none"));
  EXPECT_EQ(http.get("/wait/e/status").json["state"], "sold_out");
  // A seat comes back, but free seats go to the line first: still no place
  // for a newcomer, as the join itself says.
  ASSERT_EQ(http.post("/v1/events/e/cancel", user_body("a"), admin()).status, 200);
  EXPECT_EQ(painted_state(http.get("/wait/e")), "sold_out") << "a seat free, the line full";
  HttpResponse join = http.post("/wait/e/join", "");
  EXPECT_EQ(join.status, 409) << join.describe();
  EXPECT_EQ(join.json["state"], "sold_out") << join.describe();

  // Closed: said at once, no invitation to join.
  ASSERT_EQ(http.put("/v1/events/e", R"({"state":"closed"})", admin()).status, 200);
  HttpResponse closed = http.get("/wait/e");
  EXPECT_EQ(closed.status, 200);
  EXPECT_EQ(painted_state(closed), "closed");
  EXPECT_TRUE(shows(closed, "states.closed"));
  EXPECT_FALSE(shows(closed, "states.none"));
  EXPECT_EQ(http.get("/wait/e/status").json,
            json({{"state", "closed"}, {"event_state", "closed"}}));
}

TEST_F(PagesTest, TheVisitorsPlaceAndWayToTheFrontArePaintedFromTheCookie) {
  start();
  HttpClient http = stack_.client();
  ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("holder")).status, 200);
  ASSERT_EQ(http.post("/v1/events/e/reserve", user_body("ahead")).status, 200);
  HttpResponse joined = http.post("/wait/e/join");
  ASSERT_EQ(joined.json["position"], 2) << joined.describe();
  EXPECT_EQ(joined.json["progress"], json({{"passed", 0}, {"of", 1}}));
  Headers cookie = {{"Cookie", cookie_of(joined)}};

  HttpResponse page = http.get("/wait/e", cookie);
  EXPECT_EQ(painted_state(page), "waiting");
  EXPECT_TRUE(shows(page, "states.waiting"));
  EXPECT_NE(page.body.find("<span id=\"position\" class=\"position\">2</span>"), std::string::npos);
  EXPECT_NE(page.body.find("max=\"1\" value=\"0\""), std::string::npos);
  EXPECT_FALSE(page.header("Set-Cookie").has_value());

  // The one ahead leaves: place 1, the way done. Every call says the same,
  // however often asked (the numbers are the server's, not a tab's).
  ASSERT_EQ(http.post("/v1/events/e/leave", user_body("ahead"), admin()).status, 200);
  for (int i = 0; i < 2; ++i) {
    json st = http.get("/wait/e/status", cookie).json;
    EXPECT_EQ(st["position"], 1);
    EXPECT_EQ(st["progress"], json({{"passed", 1}, {"of", 1}}));
  }
  page = http.get("/wait/e", cookie);
  EXPECT_NE(page.body.find("max=\"1\" value=\"1\""), std::string::npos);
  SseClient s(stack_.server().port(), "/wait/e/stream", cookie);
  auto e = s.next(Millis(10000));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->json()["progress"], json({{"passed", 1}, {"of", 1}}));

  // At the front from the start: no way to show (not a full bar).
  ASSERT_EQ(http.put("/v1/events/f", R"({"capacity":0,"queue_limit":5})", admin()).status, 201);
  HttpResponse first = http.post("/wait/f/join");
  ASSERT_EQ(first.json["position"], 1) << first.describe();
  EXPECT_FALSE(first.json.contains("progress"));
  page = http.get("/wait/f", {{"Cookie", cookie_of(first)}});
  EXPECT_EQ(painted_state(page), "waiting");
  EXPECT_NE(page.body.find("<div id=\"progress-box\" hidden>"), std::string::npos);

  // A token of the API's reserve says nothing of the way: no bar, no fault.
  HttpResponse api = http.post("/v1/events/f/reserve", user_body("api"));
  ASSERT_TRUE(api.json["token"].is_string()) << api.describe();
  page = http.get("/wait/f", {{"Cookie", "tq_f=" + api.json["token"].get<std::string>()}});
  EXPECT_EQ(painted_state(page), "waiting");
  EXPECT_NE(page.body.find("<div id=\"progress-box\" hidden>"), std::string::npos);
}

TEST_F(PagesTest, ABadOrForgedCookieGetsThePlainNotInLinePage) {
  start();
  HttpClient http = stack_.client();
  HttpResponse joined = http.post("/wait/e/join");
  std::string token = cookie_of(joined).substr(5);
  ASSERT_FALSE(token.empty());
  std::string forged = token;
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  ASSERT_EQ(http.put("/v1/events/g", R"({"capacity":1,"queue_limit":1})", admin()).status, 201);
  std::string other_event = cookie_of(http.post("/wait/g/join")).substr(5);
  for (const std::string& value :
       {std::string("garbage"), forged, other_event, std::string("\"><script>alert(1)</script>"),
        std::string(5000, 'x'), token.substr(0, token.size() / 2)}) {
    SCOPED_TRACE(value.substr(0, 60));
    HttpResponse page = http.get("/wait/e", {{"Cookie", "tq_e=" + value}});
    EXPECT_EQ(page.status, 200) << page.describe();
    EXPECT_EQ(painted_state(page), "none");
    EXPECT_TRUE(shows(page, "states.none"));
    EXPECT_EQ(page.body.find("<script>alert"), std::string::npos);
    EXPECT_EQ(page.body.find(value), std::string::npos) << "nothing of the cookie is shown";
    EXPECT_NE(page.header("Set-Cookie").value_or("").find("tq_e=; Path=/wait/e; Max-Age=0"),
              std::string::npos);
  }
  // The real one still holds its place.
  EXPECT_EQ(painted_state(http.get("/wait/e", {{"Cookie", "tq_e=" + token}})), "admitted");
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
