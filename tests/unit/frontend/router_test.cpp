// Tests of src/frontend/router.cpp: the route table, 404/405, path parameters,
// percent_decode and query_param.
#include "frontend/router.h"

#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>
#include <utility>

namespace ticketq {
namespace {

using Kind = RouteResult::Kind;

struct Expected {
  const char* method;
  const char* path;
  Op op;
  bool admin;
  const char* event;
  const char* user;
};

void expect_match(const Expected& e) {
  SCOPED_TRACE(std::string(e.method) + " " + e.path);
  RouteResult r = match_route(e.method, e.path);
  ASSERT_EQ(r.kind, Kind::kMatch);
  EXPECT_EQ(r.route.op, e.op);
  EXPECT_EQ(r.route.admin, e.admin);
  EXPECT_EQ(r.route.event, e.event);
  EXPECT_EQ(r.route.user_id, e.user);
  EXPECT_EQ(r.route.bad_param, "");
  EXPECT_EQ(r.allow, "");
}

// Every row of the table in src/frontend/router.cpp.
const Expected kTable[] = {
    {"POST", "/reserve", Op::kReserve, false, "default", ""},
    {"GET", "/status/u1", Op::kStatus, false, "default", "u1"},
    {"POST", "/process_queue", Op::kProcessQueue, true, "default", ""},
    {"POST", "/admin/reset", Op::kReset, true, "default", ""},
    {"GET", "/health", Op::kHealth, false, "default", ""},
    {"GET", "/ready", Op::kReady, false, "default", ""},
    {"POST", "/v1/events/concert/reserve", Op::kReserve, false, "concert", ""},
    {"GET", "/v1/events/concert/status/u1", Op::kStatus, false, "concert", "u1"},
    {"POST", "/v1/events/concert/process_queue", Op::kProcessQueue, true, "concert", ""},
    {"POST", "/v1/events/concert/reset", Op::kReset, true, "concert", ""},
    {"PUT", "/v1/events/concert", Op::kEventPut, true, "concert", ""},
    {"GET", "/v1/events/concert", Op::kEventGet, true, "concert", ""},
    {"GET", "/v1/events/concert/history", Op::kEventHistory, true, "concert", ""},
    {"POST", "/v1/events/concert/leave", Op::kLeave, false, "concert", ""},
    {"POST", "/v1/events/concert/cancel", Op::kCancel, false, "concert", ""},
    {"POST", "/v1/events/concert/confirm", Op::kConfirm, false, "concert", ""},
    {"POST", "/v1/events/concert/verify", Op::kVerify, false, "concert", ""},
    {"GET", "/v1/events", Op::kEventList, true, "default", ""},
    {"GET", "/metrics", Op::kMetrics, false, "default", ""},
    {"GET", "/openapi.yaml", Op::kOpenApi, false, "default", ""},
    {"GET", "/.well-known/jwks.json", Op::kJwks, false, "default", ""},
    {"GET", "/v1/events/concert/stream", Op::kStream, false, "concert", ""},
    {"GET", "/wait/concert/stream", Op::kStream, false, "concert", ""},
    {"GET", "/wait/concert", Op::kWaitPage, false, "concert", ""},
    {"GET", "/wait/concert/status", Op::kWaitStatus, false, "concert", ""},
    {"POST", "/wait/concert/join", Op::kWaitJoin, false, "concert", ""},
    {"POST", "/wait/concert/leave", Op::kWaitLeave, false, "concert", ""},
    {"GET", "/admin/", Op::kAdminPage, false, "default", ""},
    {"GET", "/admin", Op::kAdminPage, false, "default", ""},
    {"GET", "/assets/wait.js", Op::kAsset, false, "default", ""},
};

TEST(MatchRoute, EveryRouteOfTheTable) {
  for (const Expected& e : kTable) expect_match(e);
}

TEST(MatchRoute, HeadIsRoutedLikeGet) {
  for (Expected e : kTable) {
    if (std::string_view(e.method) != "GET") continue;
    e.method = "HEAD";
    expect_match(e);
  }
}

TEST(MatchRoute, SeedRoutesUseTheDefaultEvent) {
  EXPECT_STREQ(kDefaultEvent, "default");
  for (const char* path : {"/reserve", "/process_queue", "/admin/reset"})
    EXPECT_EQ(match_route("POST", path).route.event, "default") << path;
  EXPECT_EQ(match_route("GET", "/status/x").route.event, "default");
  // The default event is an ordinary event on the v1 routes too.
  expect_match({"POST", "/v1/events/default/reserve", Op::kReserve, false, "default", ""});
}

TEST(MatchRoute, EventsWithEveryAllowedCharacter) {
  expect_match({"GET", "/v1/events/A-z_0.9", Op::kEventGet, true, "A-z_0.9", ""});
  expect_match({"GET", "/v1/events/e/status/a:b@c.d-e_f", Op::kStatus, false, "e", "a:b@c.d-e_f"});
}

TEST(MatchRoute, UnknownPathsAreNotFound) {
  for (const char* path : {"/reserve/",
                           "/status",
                           "/status/",
                           "/status/a/b",
                           "",
                           "/",
                           "/v1",
                           "/v1/",
                           "/v1/events/",
                           "/v1/events//",
                           "/v1/Events",
                           "reserve",
                           "//reserve",
                           "/RESERVE",
                           "/Reserve",
                           "/health/",
                           "/v1/events/e/unknown",
                           "/v1/events/e/status",
                           "/v1/events/e/reserve/",
                           "/v1/events/e/status/u/x",
                           "/v1/events/e/cancel/",
                           "/v1/events/e/confirm/u1",
                           "/v1/events/e/verify/u1",
                           "/v1/events/e/leave/u1",
                           "/v1/events/e/Cancel",
                           "/v2/events/e",
                           "/v1/event/e",
                           "/admin/x",
                           "/wait",
                           "/wait/e/x",
                           "/assets",
                           "/v1/events/e/stream/x",
                           "/admin/reset/now",
                           "/reserve?x=1"}) {
    for (const char* method : {"GET", "POST", "PUT", "DELETE", "HEAD"}) {
      SCOPED_TRACE(std::string(method) + " '" + path + "'");
      RouteResult r = match_route(method, path);
      if (std::string_view(path) == "/status/" || std::string_view(path) == "/v1/events/") {
        // These match a pattern with an empty parameter: a 400 or 405, never a 200.
        EXPECT_NE(r.kind, Kind::kNotFound);
        if (r.kind == Kind::kMatch) {
          EXPECT_NE(r.route.bad_param, "");
        }
        continue;
      }
      EXPECT_EQ(r.kind, Kind::kNotFound);
      EXPECT_EQ(r.allow, "");
    }
  }
}

// Paths are split in place into at most eight segments: a longer one,
// however long, matches no route, and one at the limit is still matched.
TEST(MatchRoute, PathsWithManySegmentsMatchNothing) {
  for (int n : {7, 8, 9, 10, 100, 10000}) {
    std::string path;
    for (int i = 0; i < n; ++i) path += "/v1";
    EXPECT_EQ(match_route("GET", path).kind, Kind::kNotFound) << n;
  }
  EXPECT_EQ(match_route("GET", std::string(100000, '/')).kind, Kind::kNotFound);
  EXPECT_EQ(match_route("GET", "/v1/events/e/status/u1").kind, Kind::kMatch);
  EXPECT_EQ(match_route("GET", "/v1/events/e/status/u1/").kind, Kind::kNotFound);
}

TEST(MatchRoute, WrongMethodListsTheAllowedOnes) {
  struct Row {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (Row row : {
           Row{"GET", "/reserve", "POST"},
           Row{"HEAD", "/reserve", "POST"},
           Row{"PUT", "/reserve", "POST"},
           Row{"POST", "/status/u1", "GET, HEAD"},
           Row{"DELETE", "/status/u1", "GET, HEAD"},
           Row{"GET", "/process_queue", "POST"},
           Row{"GET", "/admin/reset", "POST"},
           Row{"POST", "/health", "GET, HEAD"},
           Row{"PUT", "/ready", "GET, HEAD"},
           Row{"GET", "/v1/events/e/reserve", "POST"},
           Row{"PUT", "/v1/events/e/status/u", "GET, HEAD"},
           Row{"GET", "/v1/events/e/process_queue", "POST"},
           Row{"DELETE", "/v1/events/e/reset", "POST"},
           Row{"POST", "/v1/events/e", "PUT, GET, HEAD"},
           Row{"DELETE", "/v1/events/e", "PUT, GET, HEAD"},
           Row{"PATCH", "/v1/events/e", "PUT, GET, HEAD"},
           Row{"GET", "/v1/events/e/leave", "POST"},
           Row{"GET", "/v1/events/e/cancel", "POST"},
           Row{"HEAD", "/v1/events/e/cancel", "POST"},
           Row{"DELETE", "/v1/events/e/cancel", "POST"},
           Row{"PUT", "/v1/events/e/confirm", "POST"},
           Row{"GET", "/v1/events/e/verify", "POST"},
           Row{"POST", "/v1/events", "GET, HEAD"},
           Row{"PUT", "/v1/events", "GET, HEAD"},
           Row{"DELETE", "/v1/events", "GET, HEAD"},
           Row{"get", "/health", "GET, HEAD"},  // methods are upper case
       }) {
    SCOPED_TRACE(std::string(row.method) + " " + row.path);
    RouteResult r = match_route(row.method, row.path);
    EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
    EXPECT_EQ(r.allow, row.allow);
  }
}

TEST(MatchRoute, PercentDecodedParameters) {
  expect_match({"GET", "/status/a%40b", Op::kStatus, false, "default", "a@b"});
  expect_match({"GET", "/status/a%3Ab", Op::kStatus, false, "default", "a:b"});
  expect_match({"GET", "/status/%61%62", Op::kStatus, false, "default", "ab"});
  expect_match({"POST", "/v1/events/con%63ert/reserve", Op::kReserve, false, "concert", ""});
  expect_match({"GET", "/v1/events/a%2Db/status/u%2e1", Op::kStatus, false, "a-b", "u.1"});
}

void expect_bad_param(const char* method, const char* path, const char* which, Op op) {
  SCOPED_TRACE(std::string(method) + " " + path);
  RouteResult r = match_route(method, path);
  ASSERT_EQ(r.kind, Kind::kMatch);
  EXPECT_EQ(r.route.op, op);
  EXPECT_EQ(r.route.bad_param.rfind(which, 0), 0u) << r.route.bad_param;
  EXPECT_EQ(r.allow, "");
}

TEST(MatchRoute, InvalidParametersAreBadParams) {
  const char* ev = "event must be 1-64 characters";
  const char* user = "user_id must be 1-64 characters";
  expect_bad_param("POST", "/v1/events/..%2F/reserve", ev, Op::kReserve);
  expect_bad_param("POST", "/v1/events/a%2Fb/reserve", ev, Op::kReserve);
  expect_bad_param("GET", "/v1/events/%00", ev, Op::kEventGet);
  expect_bad_param("PUT", "/v1/events/%zz", ev, Op::kEventPut);
  expect_bad_param("PUT", "/v1/events/%", ev, Op::kEventPut);
  expect_bad_param("GET", "/v1/events/a%40b", ev, Op::kEventGet);  // '@' only in user ids
  expect_bad_param("GET", "/v1/events/a:b", ev, Op::kEventGet);
  expect_bad_param("GET", "/v1/events/", ev, Op::kEventGet);
  expect_bad_param("POST", "/v1/events//reserve", ev, Op::kReserve);
  expect_bad_param("GET", ("/v1/events/" + std::string(65, 'e')).c_str(), ev, Op::kEventGet);
  expect_bad_param("GET", "/v1/events/caf%C3%A9", ev, Op::kEventGet);

  expect_bad_param("GET", "/status/..%2F", user, Op::kStatus);
  expect_bad_param("GET", "/status/%00", user, Op::kStatus);
  expect_bad_param("GET", "/status/a%00b", user, Op::kStatus);
  expect_bad_param("GET", "/status/%zz", user, Op::kStatus);
  expect_bad_param("GET", "/status/%4", user, Op::kStatus);
  expect_bad_param("GET", "/status/a%20b", user, Op::kStatus);
  expect_bad_param("GET", "/status/", user, Op::kStatus);
  expect_bad_param("HEAD", ("/status/" + std::string(65, 'u')).c_str(), user, Op::kStatus);
  expect_bad_param("GET", "/v1/events/e/status/%2F", user, Op::kStatus);
  // The event is checked first.
  expect_bad_param("GET", "/v1/events/%2F/status/%2F", ev, Op::kStatus);

  // 64 characters is fine.
  std::string u64(64, 'u');
  expect_match({"GET", ("/status/" + u64).c_str(), Op::kStatus, false, "default", u64.c_str()});
}

// The list of events: an operator's, and about no event in particular.
TEST(MatchRoute, EventListIsAnAdminGet) {
  for (const char* method : {"GET", "HEAD"}) {
    RouteResult r = match_route(method, "/v1/events");
    ASSERT_EQ(r.kind, Kind::kMatch) << method;
    EXPECT_EQ(r.route.op, Op::kEventList);
    EXPECT_TRUE(r.route.admin);
    EXPECT_FALSE(r.route.seed);
    EXPECT_EQ(r.route.bad_param, "");
  }
  RouteResult r = match_route("POST", "/v1/events");
  EXPECT_EQ(r.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(r.allow, "GET, HEAD");
  EXPECT_EQ(r.route.op, Op::kEventList);
}

// The calls on a seat are the user's own (by token), like leave: no admin
// flag; the API lets an operator act for anyone with the admin token.
TEST(MatchRoute, SeatCallsArePostsOnAnEvent) {
  for (auto [path, op] : {std::pair{"cancel", Op::kCancel}, std::pair{"confirm", Op::kConfirm},
                          std::pair{"verify", Op::kVerify}, std::pair{"leave", Op::kLeave}}) {
    SCOPED_TRACE(path);
    RouteResult r = match_route("POST", std::string("/v1/events/e1/") + path);
    ASSERT_EQ(r.kind, Kind::kMatch);
    EXPECT_EQ(r.route.op, op);
    EXPECT_FALSE(r.route.admin);
    EXPECT_FALSE(r.route.seed);
    EXPECT_EQ(r.route.event, "e1");
    EXPECT_EQ(r.route.user_id, "");
    // The event is checked like on every event route.
    expect_bad_param("POST", (std::string("/v1/events/a%2Fb/") + path).c_str(),
                     "event must be 1-64 characters", op);
    // There is no seed route for them.
    EXPECT_EQ(match_route("POST", std::string("/") + path).kind, Kind::kNotFound);
  }
}

TEST(MatchRoute, AssetsCaptureTheFileAsSent) {
  RouteResult r = match_route("GET", "/assets/admin.css");
  ASSERT_EQ(r.kind, Kind::kMatch);
  EXPECT_EQ(r.route.file, "admin.css");
  // The event of the waiting room is checked like on every event route.
  expect_bad_param("GET", "/wait/a%2Fb", "event must be 1-64 characters", Op::kWaitPage);
  expect_bad_param("GET", "/v1/events/a%20b/stream", "event must be 1-64 characters", Op::kStream);
  EXPECT_EQ(match_route("POST", "/admin/").allow, "GET, HEAD");
  EXPECT_EQ(match_route("GET", "/wait/e/join").allow, "POST");
}

TEST(OpName, EveryOperationHasItsLabel) {
  const std::pair<Op, const char*> names[] = {{Op::kReserve, "reserve"},
                                              {Op::kStatus, "status"},
                                              {Op::kProcessQueue, "process_queue"},
                                              {Op::kReset, "reset"},
                                              {Op::kEventPut, "event_put"},
                                              {Op::kEventGet, "event_get"},
                                              {Op::kEventHistory, "event_history"},
                                              {Op::kLeave, "leave"},
                                              {Op::kCancel, "cancel"},
                                              {Op::kConfirm, "confirm"},
                                              {Op::kVerify, "verify"},
                                              {Op::kEventList, "event_list"},
                                              {Op::kHealth, "health"},
                                              {Op::kReady, "ready"},
                                              {Op::kMetrics, "metrics"},
                                              {Op::kOpenApi, "openapi"},
                                              {Op::kJwks, "jwks"},
                                              {Op::kStream, "stream"},
                                              {Op::kWaitPage, "wait_page"},
                                              {Op::kWaitStatus, "wait_status"},
                                              {Op::kWaitJoin, "wait_join"},
                                              {Op::kWaitLeave, "wait_leave"},
                                              {Op::kAdminPage, "admin_page"},
                                              {Op::kAsset, "asset"}};
  std::set<std::string> seen;
  for (auto [op, name] : names) {
    EXPECT_STREQ(op_name(op), name);
    EXPECT_TRUE(seen.insert(name).second) << name;
  }
  EXPECT_EQ(static_cast<int>(Op::kAsset) + 1, static_cast<int>(std::size(names)));
}

// ---------------------------------------------------------- percent_decode --

TEST(PercentDecode, Valid) {
  EXPECT_EQ(percent_decode(""), "");
  EXPECT_EQ(percent_decode("abc"), "abc");
  EXPECT_EQ(percent_decode("%41"), "A");
  EXPECT_EQ(percent_decode("%41%42c"), "ABc");
  EXPECT_EQ(percent_decode("a%2fb%2F"), "a/b/");
  EXPECT_EQ(percent_decode("100%25"), "100%");
  EXPECT_EQ(percent_decode("%2541"), "%41");  // decoded once only
  EXPECT_EQ(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("%ff"), "\xff");
  EXPECT_EQ(percent_decode("a+b"), "a+b");  // '+' is not a space in a path
}

TEST(PercentDecode, Malformed) {
  for (const char* bad :
       {"%", "a%", "%4", "a%4", "%4g", "%g4", "%zz", "%%41", "%00", "a%00b", "%-1", "% 41"}) {
    EXPECT_EQ(percent_decode(bad), std::nullopt) << bad;
  }
}

// ------------------------------------------------------------- query_param --

std::optional<std::string> query(std::string_view q, std::string* error) {
  error->clear();
  return query_param(q, "limit", error);
}

TEST(QueryParam, AbsentOrPresent) {
  std::string error;
  EXPECT_EQ(query("", &error), std::nullopt);
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("a=1&b=2", &error), std::nullopt);
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("limits=3&xlimit=4&Limit=5", &error), std::nullopt);
  EXPECT_EQ(error, "");

  EXPECT_EQ(query("limit=5", &error), "5");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("a=1&limit=7&b=2", &error), "7");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("&&limit=4&", &error), "4");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("limit=a=b", &error), "a=b");
  EXPECT_EQ(error, "");
}

TEST(QueryParam, EmptyValue) {
  std::string error;
  EXPECT_EQ(query("limit=", &error), "");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("limit", &error), "");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("x=1&limit&y=2", &error), "");
  EXPECT_EQ(error, "");
}

TEST(QueryParam, EncodedNameAndValue) {
  std::string error;
  EXPECT_EQ(query("limit=%35", &error), "5");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("li%6Dit=7", &error), "7");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("limit=1+2", &error), "1+2");
  EXPECT_EQ(error, "");
}

TEST(QueryParam, GivenTwiceIsAnError) {
  std::string error;
  EXPECT_EQ(query("limit=1&limit=2", &error), std::nullopt);
  EXPECT_EQ(error, "limit is given more than once");
  EXPECT_EQ(query("limit=1&limit=1", &error), std::nullopt);
  EXPECT_EQ(error, "limit is given more than once");
  EXPECT_EQ(query("limit=1&li%6dit=2", &error), std::nullopt);
  EXPECT_EQ(error, "limit is given more than once");
  EXPECT_EQ(query("limit&limit", &error), std::nullopt);
  EXPECT_EQ(error, "limit is given more than once");
}

TEST(QueryParam, MalformedEscapeIsAnError) {
  std::string error;
  EXPECT_EQ(query("limit=%zz", &error), std::nullopt);
  EXPECT_EQ(error, "limit is not properly encoded");
  EXPECT_EQ(query("limit=5%", &error), std::nullopt);
  EXPECT_EQ(error, "limit is not properly encoded");
  EXPECT_EQ(query("limit=%00", &error), std::nullopt);
  EXPECT_EQ(error, "limit is not properly encoded");
}

TEST(QueryParam, OtherParamsAreIgnoredEvenWhenMalformed) {
  std::string error;
  EXPECT_EQ(query("a=%zz&limit=3&b=%", &error), "3");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("%zz=1&limit=3", &error), "3");
  EXPECT_EQ(error, "");
  EXPECT_EQ(query("x=1&x=2&limit=3", &error), "3");
  EXPECT_EQ(error, "");
}

}  // namespace
}  // namespace ticketq
