// Hostile and malformed requests, table-driven: each case is sent as raw
// bytes on a fresh connection and must get exactly its expected status
// (never a 5xx), and Redis must be exactly as before, byte for byte.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <set>

#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

enum class Body {
  kJsonError,  // {"error": "<non-empty text>"} and nothing else
  kJson,       // some JSON object (e.g. {"status":"not_found",...})
  kAny,        // produced by libevent itself (HTML)
};

// How the bytes are exchanged.
enum class Mode {
  kFirst,      // raw_exchange: the first response must have one of `statuses`
  kHalfClose,  // send, then shut down our write side (the client "closed");
               // 0 in `statuses` means "no response at all" is expected
  kPipelined,  // the bytes hold two requests: the first response must have
               // one of `first_statuses`, the second one of `statuses`
};

struct BadCase {
  std::string name;     // test name suffix
  std::string request;  // the raw bytes sent
  std::set<int> statuses;
  Body body = Body::kJsonError;
  std::string allow;  // expected Allow header, when set
  std::string why;    // shown on failure
  Mode mode = Mode::kFirst;
  std::set<int> first_statuses;  // kPipelined only
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

std::string req(const std::string& method, const std::string& target, const std::string& body = "",
                const Headers& headers = {}) {
  return build_request(method, target, body, headers);
}
std::string reserve_with(const std::string& body) {
  return req("POST", "/reserve", body);
}
std::string admin_req(const std::string& method, const std::string& target,
                      const std::string& body = "") {
  return req(method, target, body, admin());
}
std::string limit(const std::string& query) {
  return admin_req("POST", "/v1/events/concert/process_queue?" + query);
}
std::string put_concert(const std::string& body) {
  return admin_req("PUT", "/v1/events/concert", body);
}
std::string raw_post(const std::string& headers, const std::string& body) {
  return "POST /reserve HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body;
}

const std::string k65(65, 'a');
const std::string kTok = kAdminToken;

std::string chunked_req(const std::string& method, const std::string& target,
                        const std::string& chunked_body, const std::string& extra_headers = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + extra_headers +
         "Transfer-Encoding: chunked\r\n\r\n" + chunked_body;
}

// Sends `bytes` on a fresh connection (optionally shutting down our write
// side afterwards) and reads until `want` responses parsed, the peer closed,
// or `timeout` passed.
struct Exchange {
  std::string data;
  std::vector<HttpResponse> responses;
  bool peer_closed = false;
  bool timed_out = false;
  std::string error;
};
Exchange exchange_raw(int port, const std::string& bytes, bool half_close, size_t want,
                      int timeout_ms) {
  Exchange out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    out.error = "socket";
    return out;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    out.error = "connect";
    ::close(fd);
    return out;
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early: read what it said
    off += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto parse_all = [&](bool eof) {
    out.responses.clear();
    std::string_view rest = out.data;
    while (!rest.empty()) {
      HttpResponse r;
      size_t consumed = 0;
      if (parse_response(rest, eof, false, &r, &consumed) != ParseResult::kDone) break;
      out.responses.push_back(std::move(r));
      rest.remove_prefix(consumed);
    }
  };
  while (true) {
    parse_all(out.peer_closed);
    if (out.responses.size() >= want || out.peer_closed) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      out.timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      out.peer_closed = true;
    } else {
      out.data.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

std::vector<BadCase> cases() {
  std::vector<BadCase> c;
  auto add = [&](std::string name, std::string request, std::set<int> statuses,
                 Body body = Body::kJsonError, std::string allow = "", std::string why = "") {
    c.push_back({std::move(name),
                 std::move(request),
                 std::move(statuses),
                 body,
                 std::move(allow),
                 std::move(why),
                 Mode::kFirst,
                 {}});
  };

  // ---- reserve bodies
  add("body_truncated_json", reserve_with(R"({"user_id":)"), {400});
  add("body_not_json", reserve_with("hello"), {400});
  add("body_json_array", reserve_with(R"(["alice"])"), {400});
  add("body_json_string", reserve_with(R"("alice")"), {400});
  add("body_json_number", reserve_with("42"), {400});
  add("body_json_null", reserve_with("null"), {400});
  add("user_id_number", reserve_with(R"({"user_id":42})"), {400});
  add("user_id_bool", reserve_with(R"({"user_id":true})"), {400});
  add("user_id_array", reserve_with(R"({"user_id":["a"]})"), {400});
  add("user_id_object", reserve_with(R"({"user_id":{"id":"a"}})"), {400});
  add("user_id_empty", reserve_with(R"({"user_id":""})"), {400});
  add("user_id_65_chars", reserve_with(json{{"user_id", k65}}.dump()), {400});
  add("user_id_space", reserve_with(R"({"user_id":"a b"})"), {400});
  add("user_id_slash", reserve_with(R"({"user_id":"a/b"})"), {400});
  add("user_id_braces", reserve_with(R"({"user_id":"{x}"})"), {400});
  add("user_id_star", reserve_with(R"({"user_id":"a*"})"), {400});
  add("user_id_newline", reserve_with(R"({"user_id":"a\nb"})"), {400});
  add("user_id_nul_escape", reserve_with(R"({"user_id":"a\u0000b"})"), {400});
  add("user_id_non_ascii", reserve_with("{\"user_id\":\"caf\xc3\xa9\"}"), {400});
  add("user_id_invalid_utf8", reserve_with("{\"user_id\":\"a\xff\"}"), {400});
  add("other_field_invalid_utf8", reserve_with("{\"x\":\"\xc3\x28\",\"user_id\":\"zz\"}"), {400});
  add("body_trailing_object", reserve_with(R"({"user_id":"zz"} {})"), {400});
  add("body_trailing_garbage", reserve_with(R"({"user_id":"zz"}x)"), {400});
  add("body_trailing_nul", reserve_with(std::string("{\"user_id\":\"zz\"}\0garbage", 24)), {400},
      Body::kJsonError, "",
      "trailing bytes after a NUL byte must be refused like any other trailing bytes");
  add("body_duplicate_key", reserve_with(R"({"user_id":"zz","user_id":"yy"})"), {400});
  add("body_duplicate_key_same_value", reserve_with(R"({"user_id":"zz","user_id":"zz"})"), {400});
  add("body_nested_duplicate_key", reserve_with(R"({"user_id":"zz","m":{"a":1,"a":2}})"), {400});
  add("body_over_4KiB", reserve_with(R"({"user_id":"zz","pad":")" + std::string(5000, 'p') + "\"}"),
      {413}, Body::kAny);
  {
    std::string big = R"({"user_id":"zz","pad":")" + std::string(5000, 'p') + "\"}";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", big.size());
    add("chunked_body_over_4KiB",
        raw_post("Transfer-Encoding: chunked\r\n",
                 std::string(size) + "\r\n" + big + "\r\n0\r\n\r\n"),
        {413}, Body::kAny);
  }

  // ---- reserve and status of users already known, refusals: no writes
  add("repeat_of_reserved_user", reserve_with(R"({"user_id":"alice"})"), {200}, Body::kJson);
  add("repeat_of_queued_user", req("POST", "/v1/events/concert/reserve", R"({"user_id":"carol"})"),
      {200}, Body::kJson);
  add("sold_out", req("POST", "/v1/events/tiny/reserve", R"({"user_id":"zz"})"), {409},
      Body::kJson);
  add("status_not_found", req("GET", "/status/nobody"), {200}, Body::kJson);  // seed: 200 not_found
  add("status_reserved", req("GET", "/v1/events/concert/status/alice"), {200}, Body::kJson);

  // ---- path parameters
  add("event_space", req("POST", "/v1/events/a%20b/reserve"), {400});
  add("event_65_chars", req("POST", "/v1/events/" + k65 + "/reserve"), {400});
  add("event_braces", req("POST", "/v1/events/%7Bx%7D/reserve"), {400});
  add("event_colon", req("POST", "/v1/events/a:b/reserve"), {400});
  add("event_at", req("POST", "/v1/events/a@b/reserve"), {400});
  add("event_bad_escape", req("POST", "/v1/events/%zz/reserve"), {400});
  add("event_truncated_escape", req("POST", "/v1/events/a%2/reserve"), {400});
  add("event_nul", req("POST", "/v1/events/a%00/reserve"), {400});
  add("event_empty", req("POST", "/v1/events//reserve"), {400});
  add("event_encoded_slash", req("POST", "/v1/events/a%2Fb/reserve"), {400});
  add("event_never_created", req("POST", "/v1/events/nope/reserve", R"({"user_id":"zz"})"), {404});
  add("event_never_created_status", req("GET", "/v1/events/nope/status/alice"), {404});
  add("event_invalid_put",
      admin_req("PUT", "/v1/events/a%20b", R"({"capacity":1,"queue_limit":1})"), {400});
  add("status_user_65_chars", req("GET", "/status/" + k65), {400});
  add("status_user_space", req("GET", "/status/a%20b"), {400});
  add("status_user_slash", req("GET", "/status/a%2Fb"), {400});
  add("status_user_nul", req("GET", "/status/a%00b"), {400});
  add("status_user_bad_escape", req("GET", "/status/%zz"), {400});
  add("status_user_empty", req("GET", "/status/"), {400});
  add("status_user_non_ascii", req("GET", "/status/caf%C3%A9"), {400});
  add("v1_status_user_invalid", req("GET", "/v1/events/concert/status/a%7Cb"), {400});

  // ---- routes and methods
  add("unknown_route", req("GET", "/nope"), {404});
  add("root", req("GET", "/"), {404});
  add("trailing_slash", req("POST", "/reserve/"), {404});
  add("extra_segment", req("POST", "/v1/events/concert/reserve/x"), {404});
  add("double_slash", req("GET", "//health"), {404});
  add("GET_reserve", req("GET", "/reserve"), {405}, Body::kJsonError, "POST");
  add("DELETE_event", admin_req("DELETE", "/v1/events/concert"), {405}, Body::kJsonError,
      "PUT, GET, HEAD");
  add("PUT_status", req("PUT", "/status/alice", "{}"), {405}, Body::kJsonError, "GET, HEAD");
  add("GET_process_queue", admin_req("GET", "/process_queue"), {405}, Body::kJsonError, "POST");
  add("POST_health", req("POST", "/health"), {405}, Body::kJsonError, "GET, HEAD");
  add("PATCH_reset", admin_req("PATCH", "/admin/reset"), {405}, Body::kJsonError, "POST");
  add("OPTIONS_reserve", req("OPTIONS", "/reserve"), {405}, Body::kJsonError, "POST");
  add("TRACE_reserve", req("TRACE", "/reserve"), {405}, Body::kJsonError, "POST");
  // The one 5xx a client can cause: libevent 2.1 answers a method it does not
  // recognise with 501 (RFC 9110 section 9.1) before any hook of ours runs.
  add("unknown_method", req("FOO", "/reserve"), {501}, Body::kAny);
  add("lowercase_method", req("get", "/health"), {501}, Body::kAny);

  // ---- the admin token (checked before anything else of an admin route)
  add("admin_no_token", req("POST", "/process_queue"), {401});
  add("admin_wrong_token", req("POST", "/process_queue", "", {{"X-Token", "wrong"}}), {401});
  add("admin_empty_token", req("POST", "/process_queue", "", {{"X-Token", ""}}), {401});
  add("admin_token_prefix",
      req("POST", "/admin/reset", "",
          {{"X-Token", std::string(kAdminToken).substr(0, std::string(kAdminToken).size() - 1)}}),
      {401});
  add("admin_token_longer",
      req("POST", "/admin/reset", "", {{"X-Token", std::string(kAdminToken) + "0"}}), {401});
  add("admin_token_twice",
      req("POST", "/admin/reset", "", {{"X-Token", kAdminToken}, {"X-Token", kAdminToken}}), {401});
  add("admin_token_twice_one_wrong",
      req("POST", "/v1/events/concert/reset", "", {{"X-Token", "bad"}, {"x-token", kAdminToken}}),
      {401});
  add("admin_token_in_query", req("POST", std::string("/admin/reset?token=") + kAdminToken), {401});
  add("admin_put_no_token", req("PUT", "/v1/events/concert", R"({"capacity":9,"queue_limit":9})"),
      {401});
  add("admin_get_wrong_token", req("GET", "/v1/events/concert", "", {{"X-Token", "x"}}), {401});
  add("admin_bad_event_no_token", req("POST", "/v1/events/a%20b/reset"), {401});

  // ---- ?limit of process_queue (admin; the event has free seats? no: it is
  // full, but a valid limit would still be accepted with 200)
  add("limit_zero", limit("limit=0"), {400});
  add("limit_negative", limit("limit=-1"), {400});
  add("limit_text", limit("limit=abc"), {400});
  add("limit_twice", limit("limit=1&limit=2"), {400});
  add("limit_twice_same", limit("limit=1&limit=1"), {400});
  add("limit_empty", limit("limit="), {400});
  add("limit_no_value", limit("limit"), {400});
  add("limit_fraction", limit("limit=1.5"), {400});
  add("limit_plus_sign", limit("limit=%2B1"), {400});
  add("limit_leading_space", limit("limit=%201"), {400});
  add("limit_suffix", limit("limit=1abc"), {400});
  add("limit_hex", limit("limit=0x10"), {400});
  add("limit_bad_escape", limit("limit=%zz"), {400});
  add("limit_huge_negative", limit("limit=-99999999999999999999"), {400});
  add("limit_on_seed_route", admin_req("POST", "/process_queue?limit=0"), {400});

  // ---- PUT /v1/events/{event} bodies
  add("put_negative_capacity", put_concert(R"({"capacity":-1,"queue_limit":5})"), {400});
  add("put_fraction_capacity", put_concert(R"({"capacity":2.5,"queue_limit":5})"), {400});
  add("put_string_capacity", put_concert(R"({"capacity":"5","queue_limit":5})"), {400});
  add("put_bool_capacity", put_concert(R"({"capacity":true,"queue_limit":5})"), {400});
  add("put_null_capacity", put_concert(R"({"capacity":null,"queue_limit":5})"), {400});
  // An existing event takes any subset; a new one needs both sizes.
  add("put_new_event_missing_queue_limit",
      admin_req("PUT", "/v1/events/brand-new", R"({"capacity":5})"), {400});
  add("put_new_event_missing_capacity",
      admin_req("PUT", "/v1/events/brand-new", R"({"queue_limit":5,"state":"open"})"), {400});
  add("put_nothing", put_concert("{}"), {400});
  add("put_unknown_state", put_concert(R"({"state":"ajar"})"), {400});
  add("put_state_not_a_string", put_concert(R"({"state":0})"), {400});
  add("put_unknown_field", put_concert(R"({"capacity":5,"queue_limit":5,"x":1})"), {400});
  add("put_capacity_over_2p40", put_concert(R"({"capacity":1099511627777,"queue_limit":5})"),
      {400});
  add("put_capacity_over_int64",
      put_concert(R"({"capacity":18446744073709551616,"queue_limit":5})"), {400});
  add("put_not_json", put_concert("capacity=5"), {400});
  add("put_empty_body", put_concert(""), {400});
  add("put_array", put_concert("[5,5]"), {400});
  add("put_duplicate_key", put_concert(R"({"capacity":5,"capacity":6,"queue_limit":5})"), {400});
  add("put_trailing_bytes", put_concert(R"({"capacity":5,"queue_limit":5}})"), {400});
  add("put_capacity_below_reserved", put_concert(R"({"capacity":1,"queue_limit":5})"), {409});
  // The admission settings: a rate of users per second ("manual" or 0 to
  // 1,000,000), whole seconds for the hold and the waiters' time to live.
  add("put_admit_rate_negative", put_concert(R"({"admit_rate":-1})"), {400});
  add("put_admit_rate_text", put_concert(R"({"admit_rate":"fast"})"), {400});
  add("put_admit_rate_numeric_text", put_concert(R"({"admit_rate":"5"})"), {400});
  add("put_admit_rate_over_max", put_concert(R"({"admit_rate":1000001})"), {400});
  add("put_admit_rate_null", put_concert(R"({"admit_rate":null})"), {400});
  add("put_hold_s_negative", put_concert(R"({"hold_s":-1})"), {400});
  add("put_hold_s_fraction", put_concert(R"({"hold_s":1.5})"), {400});
  add("put_waiter_ttl_s_text", put_concert(R"({"waiter_ttl_s":"30"})"), {400});

  // ---- the calls on a seat and GET /v1/events, refused: no writes
  add("cancel_no_credentials", req("POST", "/v1/events/concert/cancel", R"({"user_id":"alice"})"),
      {401});
  add("cancel_not_a_token",
      req("POST", "/v1/events/concert/cancel", "", {{"Authorization", "Bearer alice"}}), {401});
  add("cancel_admin_names_nobody", admin_req("POST", "/v1/events/concert/cancel", "{}"), {400});
  add("cancel_unknown_user", admin_req("POST", "/v1/events/concert/cancel", R"({"user_id":"zz"})"),
      {404}, Body::kJson);
  add("cancel_waiting_user",
      admin_req("POST", "/v1/events/concert/cancel", R"({"user_id":"carol"})"), {409}, Body::kJson);
  add("cancel_never_created_event",
      admin_req("POST", "/v1/events/nope/cancel", R"({"user_id":"alice"})"), {404});
  add("GET_cancel", admin_req("GET", "/v1/events/concert/cancel"), {405}, Body::kJsonError, "POST");
  add("confirm_no_credentials", req("POST", "/v1/events/concert/confirm", R"({"user_id":"alice"})"),
      {401});
  add("confirm_not_a_token",
      req("POST", "/v1/events/concert/confirm", "", {{"Authorization", "Bearer x.y.z"}}), {401});
  add("confirm_unknown_user",
      admin_req("POST", "/v1/events/concert/confirm", R"({"user_id":"zz"})"), {409}, Body::kJson);
  add("confirm_waiting_user",
      admin_req("POST", "/v1/events/concert/confirm", R"({"user_id":"carol"})"), {409},
      Body::kJson);
  add("leave_seat_holder", admin_req("POST", "/v1/events/concert/leave", R"({"user_id":"alice"})"),
      {409}, Body::kJson);
  add("verify_no_body", req("POST", "/v1/events/concert/verify"), {400});
  add("verify_not_json", req("POST", "/v1/events/concert/verify", "token=x"), {400});
  add("verify_token_not_a_string", req("POST", "/v1/events/concert/verify", R"({"token":1})"),
      {400});
  add("verify_extra_member",
      req("POST", "/v1/events/concert/verify", R"({"token":"x","user_id":"alice"})"), {400});
  add("verify_consume_2", req("POST", "/v1/events/concert/verify?consume=2", R"({"token":"x"})"),
      {400});
  add("verify_consume_twice",
      req("POST", "/v1/events/concert/verify?consume=0&consume=1", R"({"token":"x"})"), {400});
  add("verify_not_a_token", req("POST", "/v1/events/concert/verify", R"({"token":"x"})"), {401},
      Body::kJson);
  add("list_events_no_token", req("GET", "/v1/events"), {401});
  add("list_events_wrong_token", req("GET", "/v1/events", "", {{"X-Token", "x"}}), {401});
  add("POST_list_events", admin_req("POST", "/v1/events"), {405}, Body::kJsonError, "GET, HEAD");
  add("list_events", admin_req("GET", "/v1/events"), {200}, Body::kJson);  // a read

  // ---- framing and the protocol
  add("content_length_conflict", raw_post("Content-Length: 2\r\nContent-Length: 3\r\n", "{}"),
      {400});
  add("content_length_and_chunked",
      raw_post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("chunked_and_content_length",
      raw_post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("transfer_encoding_not_chunked",
      raw_post("Transfer-Encoding: gzip\r\n", R"({"user_id":"zz"})"), {400}, Body::kAny, "",
      "RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked MUST get 400 "
      "(the body length cannot be determined; request smuggling)");
  add("space_before_colon", raw_post("Content-Length : 16\r\n", R"({"user_id":"zz"})"), {400},
      Body::kAny, "",
      "RFC 9112 5.1: whitespace between a field name and the colon MUST get 400 (smuggling)");
  add("content_length_plus_sign", raw_post("Content-Length: +16\r\n", R"({"user_id":"zz"})"), {400},
      Body::kAny, "", "RFC 9112 6.3: an invalid Content-Length MUST get 400");
  add("content_length_negative", raw_post("Content-Length: -1\r\n", "{}"), {400}, Body::kAny);
  add("content_length_text", raw_post("Content-Length: abc\r\n", "{}"), {400}, Body::kAny);
  add("content_length_list", raw_post("Content-Length: 2, 3\r\n", "{}"), {400}, Body::kAny);
  add("content_length_huge", raw_post("Content-Length: 99999999999999999999999\r\n", "{}"),
      {400, 413}, Body::kAny);
  add("chunked_twice",
      raw_post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
               "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("bad_chunk_size", raw_post("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n"),
      {400, 413}, Body::kAny);
  add("header_over_8KiB", req("GET", "/health", "", {{"X-Big", std::string(9000, 'h')}}),
      {400, 431}, Body::kAny);
  {
    Headers many;
    for (int i = 0; i < 100; ++i)
      many.emplace_back("X-H" + std::to_string(i), std::string(100, 'h'));
    add("headers_over_8KiB_in_all", req("POST", "/reserve", "{}", many), {400, 431}, Body::kAny);
  }
  add("request_line_over_8KiB", req("GET", "/status/" + std::string(9000, 'u')), {400, 414, 431},
      Body::kAny);
  add("garbage_request_line", "HELLO\r\n\r\n", {400}, Body::kAny);
  add("http_0_9", "GET /health\r\n\r\n", {400}, Body::kAny);
  add("http_version_2", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", {400, 505}, Body::kAny);
  add("nul_in_path", std::string("GET /status/a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 38), {400},
      Body::kAny);
  add("header_without_colon", "GET /health HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n", {400},
      Body::kAny);

  // ================= added hostile cases =================
  auto add_mode = [&](std::string name, std::string request, Mode mode,
                      std::set<int> first_statuses, std::set<int> statuses, Body body = Body::kAny,
                      std::string why = "") {
    c.push_back({std::move(name), std::move(request), std::move(statuses), body, "", std::move(why),
                 mode, std::move(first_statuses)});
  };

  // ---- deeply nested JSON (all within 4 KiB)
  add("nested_arrays_2000", reserve_with(std::string(2000, '[') + std::string(2000, ']')), {400});
  add("nested_arrays_unclosed_4000", reserve_with(std::string(4000, '[')), {400});
  add("nested_in_field_1900",
      reserve_with(R"({"user_id":)" + std::string(1900, '[') + R"("zz")" + std::string(1900, ']') +
                   "}"),
      {400});
  {
    std::string objs = R"({"user_id":)";
    for (int i = 0; i < 600; ++i) objs += R"({"a":)";
    objs += "1" + std::string(601, '}');
    add("nested_objects_600", reserve_with(objs), {400});
  }
  add("put_nested_arrays_2000", put_concert(std::string(2000, '[') + std::string(2000, ']')),
      {400});
  add("put_capacity_nested",
      put_concert(R"({"capacity":)" + std::string(1500, '[') + "5" + std::string(1500, ']') +
                  R"(,"queue_limit":5})"),
      {400});

  // ---- huge numbers, exponents, -0 in PUT bodies
  add("put_capacity_exponent", put_concert(R"({"capacity":1e3,"queue_limit":5})"), {400});
  add("put_capacity_huge_exponent", put_concert(R"({"capacity":1e999999,"queue_limit":5})"), {400});
  add("put_queue_limit_huge_exponent", put_concert(R"({"capacity":5,"queue_limit":9E+400})"),
      {400});
  add("put_capacity_negative_zero", put_concert(R"({"capacity":-0,"queue_limit":5})"), {409},
      Body::kJsonError, "", "-0 is the integer 0: below the 2 seats already reserved");
  add("put_capacity_negative_zero_float", put_concert(R"({"capacity":-0.0,"queue_limit":5})"),
      {400});
  add("put_queue_limit_negative", put_concert(R"({"capacity":5,"queue_limit":-1})"), {400});
  add("put_queue_limit_over_2p40", put_concert(R"({"capacity":5,"queue_limit":1099511627777})"),
      {400});
  add("put_capacity_100_digits",
      put_concert(R"({"capacity":)" + std::string(100, '9') + R"(,"queue_limit":5})"), {400});
  add("put_capacity_below_int64_min",
      put_concert(R"({"capacity":-9223372036854775809,"queue_limit":5})"), {400});
  add("put_capacity_leading_zero", put_concert(R"({"capacity":05,"queue_limit":5})"), {400});
  add("put_capacity_hex", put_concert(R"({"capacity":0x5,"queue_limit":5})"), {400});
  add("put_capacity_nan", put_concert(R"({"capacity":NaN,"queue_limit":5})"), {400});
  add("put_capacity_infinity", put_concert(R"({"capacity":Infinity,"queue_limit":5})"), {400});
  add("put_capacity_exponent_tiny", put_concert(R"({"capacity":5e-324,"queue_limit":5})"), {400});

  // ---- non-UTF-8 and overlong user ids (JSON and paths)
  add("user_id_overlong_utf8_slash", reserve_with("{\"user_id\":\"\xc0\xaf\"}"), {400});
  add("user_id_lone_surrogate", reserve_with(R"({"user_id":"\ud800"})"), {400});
  add("user_id_1000_chars", reserve_with(json{{"user_id", std::string(1000, 'u')}}.dump()), {400});
  add("status_user_overlong_utf8", req("GET", "/status/%C0%AF"), {400});
  add("status_user_ff", req("GET", "/status/a%FF"), {400});
  add("status_user_1000_chars", req("GET", "/status/" + std::string(1000, 'u')), {400});
  add("v1_status_user_65_chars", req("GET", "/v1/events/concert/status/" + k65), {400});
  add("event_ff", req("POST", "/v1/events/%FF/reserve", R"({"user_id":"zz"})"), {400});
  add("event_overlong_utf8", req("POST", "/v1/events/%C0%AF/reserve", R"({"user_id":"zz"})"),
      {400});
  add("event_1000_chars", req("POST", "/v1/events/" + std::string(1000, 'e') + "/reserve"), {400});

  // ---- NUL / CR / LF injected in ids
  add("status_user_cr", req("GET", "/status/a%0Db"), {400});
  add("status_user_lf", req("GET", "/status/a%0Ab"), {400});
  add("status_user_header_injection", req("GET", "/status/a%0D%0AX-Token:%20" + kTok), {400});
  add("v1_status_user_nul", req("GET", "/v1/events/concert/status/alice%00"), {400});
  add("event_crlf", req("POST", "/v1/events/con%0D%0Acert/reserve", R"({"user_id":"zz"})"), {400});
  add("user_id_crlf_json", reserve_with(R"({"user_id":"a\r\nb"})"), {400});
  add("user_id_raw_nul_json", reserve_with(std::string("{\"user_id\":\"a\0b\"}", 17)), {400});

  // ---- traversal forms
  add("event_dotdot_encoded_slash",
      req("POST", "/v1/events/..%2Fconcert/reserve", R"({"user_id":"zz"})"), {400});
  add("event_encoded_dotdot", req("POST", "/v1/events/%2e%2e/reserve", R"({"user_id":"zz"})"),
      {404}, Body::kJsonError, "", "'..' is a valid event name (dots allowed) that does not exist");
  add("event_literal_dotdot", req("POST", "/v1/events/../reserve", R"({"user_id":"zz"})"), {404},
      Body::kJsonError, "", "the target is not normalised: event '..', which does not exist");
  add("v1_status_user_dotdot", req("GET", "/v1/events/concert/status/..%2Falice"), {400});
  add("status_user_encoded_dotdot_slash", req("GET", "/status/%2e%2e/alice"), {404});
  add("status_user_encoded_dotdot_encoded_slash", req("GET", "/status/%2e%2e%2Falice"), {400});
  add("event_dotdot_admin_no_token", req("POST", "/v1/events/..%2F..%2Fadmin/reset"), {401});

  // ---- chunked floods and bad chunk framing: a chunk size over the body
  // limit is 413, one that cannot be parsed 400; the connection closes
  {
    std::string tiny;
    for (int i = 0; i < 5000; ++i) tiny += "1\r\na\r\n";
    add("chunked_5000_one_byte_chunks",
        raw_post("Transfer-Encoding: chunked\r\n", tiny + "0\r\n\r\n"), {413}, Body::kAny);
  }
  add("chunk_size_huge_hex",
      raw_post("Transfer-Encoding: chunked\r\n", "FFFFFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"),
      {400, 413}, Body::kAny);
  add("chunk_size_int64_max",
      raw_post("Transfer-Encoding: chunked\r\n", "7FFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"), {400, 413},
      Body::kAny);
  add("chunk_size_negative", raw_post("Transfer-Encoding: chunked\r\n", "-2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kJsonError);
  add("chunk_extension_junk",
      raw_post("Transfer-Encoding: chunked\r\n",
               std::string("2;\x01\x02junk=\"\xff\"\r\n{}\r\n0\r\n\r\n")),
      {400}, Body::kJsonError);

  // ---- declared lengths that lie
  add_mode("content_length_larger_then_close",
           raw_post("Content-Length: 100\r\n", R"({"user_id":"zz"})"), Mode::kHalfClose, {}, {0},
           Body::kAny, "the client closed before the declared 100 bytes: nothing may be processed");
  add_mode("admin_put_content_length_larger_then_close",
           "PUT /v1/events/concert HTTP/1.1\r\nHost: x\r\nX-Token: " + kTok +
               "\r\nContent-Length: 500\r\n\r\n{\"capacity\":9,\"queue_limit\":9}",
           Mode::kHalfClose, {}, {0}, Body::kAny);
  add_mode("content_length_smaller_rest_is_next_request",
           raw_post("Content-Length: 2\r\n", "[]{\"user_id\":\"zz\"}\r\n\r\n"), Mode::kPipelined,
           {400}, {400}, Body::kAny,
           "the bytes past Content-Length are a (garbage) next request: 400, no reservation");
  add_mode("content_length_smaller_tail_is_chunk", raw_post("Content-Length: 2\r\n", "[]0\r\n\r\n"),
           Mode::kPipelined, {400}, {400}, Body::kAny);

  // ---- header floods
  {
    Headers many;
    for (int i = 0; i < 200; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
    add("headers_200_within_8KiB", req("POST", "/reserve", R"({"user_id":""})", many), {400});
    add("headers_200_within_8KiB_status", req("GET", "/status/nobody", "", many), {200},
        Body::kJson);
  }
  add("header_over_8KiB_on_reserve",
      req("POST", "/reserve", R"({"user_id":"zz"})", {{"X-Big", std::string(9000, 'h')}}),
      {400, 431}, Body::kAny);
  add("header_name_over_8KiB",
      req("POST", "/reserve", R"({"user_id":"zz"})", {{"X-" + std::string(9000, 'n'), "v"}}),
      {400, 431}, Body::kAny);

  // ---- smuggling framings
  add("cl_te_smuggled_admin",
      raw_post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
               "0\r\n\r\nPOST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Token: " + kTok + "\r\n\r\n"),
      {400}, Body::kAny);
  add("te_cl_smuggled_admin",
      raw_post("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
               "0\r\n\r\nPOST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Token: " + kTok + "\r\n\r\n"),
      {400}, Body::kAny);
  add("te_space_before_colon", raw_post("Transfer-Encoding : chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("te_tab_before_colon", raw_post("Transfer-Encoding\t: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("te_chunked_then_identity",
      raw_post("Transfer-Encoding: chunked, identity\r\n", "2\r\n{}\r\n0\r\n\r\n"), {400},
      Body::kAny);
  add("te_chunked_and_gzip_headers",
      raw_post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);
  add("te_xchunked", raw_post("Transfer-Encoding: xchunked\r\n", "2\r\n{}\r\n0\r\n\r\n"), {400},
      Body::kAny);
  add("te_obs_fold",
      raw_post("X-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 14\r\n",
               R"({"user_id":""})"),
      {400}, Body::kJsonError, "",
      "RFC 9112 5.2: the folded line is part of X-A (replaced by SP), not a Transfer-Encoding: "
      "the body is framed by Content-Length and refused by the handler");
  add("content_length_hex", raw_post("Content-Length: 0x10\r\n", R"({"user_id":"zz"})"), {400},
      Body::kAny);
  add("te_with_cl_zero",
      raw_post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
      {400}, Body::kAny);

  // ---- admin-token variants
  add("admin_token_trailing_junk_suffix",
      req("POST", "/admin/reset", "", {{"X-Token", kTok + "x"}}), {401});
  add("admin_token_with_prefix", req("POST", "/admin/reset", "", {{"X-Token", "x" + kTok}}), {401});
  add("admin_token_bearer_in_x_token",
      req("POST", "/admin/reset", "", {{"X-Token", "Bearer " + kTok}}), {401});
  add("admin_token_in_authorization",
      req("POST", "/admin/reset", "", {{"Authorization", "Bearer " + kTok}}), {401});
  add("admin_token_in_query_x_token", req("POST", "/admin/reset?X-Token=" + kTok), {401});
  add("admin_put_token_in_query",
      req("PUT", "/v1/events/concert?token=" + kTok, R"({"capacity":9,"queue_limit":9})"), {401});
  add("admin_token_right_then_wrong",
      req("POST", "/admin/reset", "", {{"X-Token", kTok}, {"X-Token", "bad"}}), {401});
  add("admin_token_comma_list", req("POST", "/admin/reset", "", {{"X-Token", kTok + ", " + kTok}}),
      {401});
  add("admin_token_uppercased",
      [] {
        std::string t = kTok;
        for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return req("POST", "/admin/reset", "", {{"X-Token", t}});
      }(),
      {401});
  add("admin_token_with_inner_space",
      req("POST", "/admin/reset", "", {{"X-Token", kTok.substr(0, 8) + " " + kTok.substr(8)}}),
      {401});
  add("admin_token_trailing_space_is_ows",
      "GET /v1/events/concert HTTP/1.1\r\nHost: x\r\nX-Token: " + kTok + " \r\n\r\n", {200},
      Body::kJson, "",
      "RFC 9110 5.5: trailing whitespace is not part of a field value, so this is the right "
      "token (read-only call)");
  add("admin_token_trailing_vertical_tab",
      "POST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Token: " + kTok + "\v\r\n\r\n", {400, 401},
      Body::kJsonError, "",
      "RFC 9110 5.5: a control character in a field value may be refused (400); either way it "
      "is not the token");
  add("admin_token_trailing_nul",
      std::string("GET /v1/events/concert HTTP/1.1\r\nHost: x\r\nX-Token: ") + kTok +
          std::string("\0\r\n\r\n", 5),
      {400}, Body::kJsonError, "",
      "RFC 9110 5.5: a NUL in a field value is refused (libevent would cut the value there)");
  add("admin_token_nul_then_junk",
      std::string("POST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Token: ") + kTok +
          std::string("\0junk\r\n\r\n", 9),
      {400, 401}, Body::kAny, "",
      "RFC 9110 5.5: NUL in a field value must be rejected or replaced by SP; either way the "
      "value is not the token, so the call must not be authorized");
  add("admin_token_only_in_chunked_trailer",
      chunked_req("POST", "/admin/reset", "0\r\nX-Token: " + kTok + "\r\n\r\n",
                  "Trailer: X-Token\r\n"),
      {400, 401}, Body::kAny, "",
      "a token that arrives only in a chunked trailer must not authorize an admin call");
  add("admin_put_token_only_in_chunked_trailer",
      chunked_req("PUT", "/v1/events/concert",
                  "1e\r\n{\"capacity\":9,\"queue_limit\":9}\r\n0\r\nX-Token: " + kTok + "\r\n\r\n"),
      {400, 401}, Body::kAny, "",
      "a token that arrives only in a chunked trailer must not authorize an admin call");
  return c;
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack();
    ServerOptions o;
    o.extra_args = {"--capacity", "5", "--queue-limit", "5"};
    start_error_ = new std::string(stack_->start(o));
  }
  static void TearDownTestSuite() {
    delete stack_;
    delete start_error_;
    stack_ = nullptr;
  }

  // Fresh state for every case: concert (2 seats, both taken, carol waits),
  // tiny (1 seat, taken, no line) and the default event with one seat taken.
  void SetUp() override {
    ASSERT_EQ(*start_error_, "");
    stack_->db().flushall();
    HttpClient c(stack_->server().port());
    auto put = [&](const std::string& e, int cap, int limit) {
      auto r =
          c.put("/v1/events/" + e, json{{"capacity", cap}, {"queue_limit", limit}}.dump(), admin());
      ASSERT_EQ(r.status, 201) << r.describe();
    };
    auto reserve = [&](const std::string& e, const std::string& u, const std::string& want) {
      auto r = c.post("/v1/events/" + e + "/reserve", user_body(u));
      ASSERT_EQ(r.json["status"], want) << r.describe();
    };
    put("concert", 2, 5);
    put("tiny", 1, 0);
    reserve("concert", "alice", "reserved");
    reserve("concert", "bob", "reserved");
    reserve("concert", "carol", "queued");
    reserve("tiny", "solo", "reserved");
    reserve("default", "alice", "reserved");
  }

  static Stack* stack_;
  static std::string* start_error_;
};

Stack* BadInputTest::stack_ = nullptr;
std::string* BadInputTest::start_error_ = nullptr;

TEST_P(BadInputTest, IsRefusedAndWritesNothing) {
  const BadCase& bc = GetParam();
  if (!bc.why.empty()) RecordProperty("why", bc.why);
  Snapshot before = stack_->db().snapshot("");
  ASSERT_FALSE(before.empty());

  std::optional<HttpResponse> got;
  if (bc.mode == Mode::kFirst) {
    RawResult r = raw_exchange(stack_->server().port(), bc.request, Millis(20000));
    ASSERT_TRUE(r.first.has_value())
        << "no parseable response; got: " << r.data << (r.timed_out ? " (timed out)" : "") << "\n"
        << bc.why;
    got = std::move(r.first);
  } else {
    const bool half = bc.mode == Mode::kHalfClose;
    const size_t want = half ? 1 : 2;
    Exchange x = exchange_raw(stack_->server().port(), bc.request, half, want, 20000);
    ASSERT_EQ(x.error, "");
    if (half && x.responses.empty()) {
      EXPECT_TRUE(bc.statuses.count(0) == 1)
          << "no response (" << (x.timed_out ? "timed out" : "closed") << "), got bytes: " << x.data
          << "\n"
          << bc.why;
      EXPECT_TRUE(x.data.empty()) << "unparseable bytes: " << x.data;
      EXPECT_FALSE(x.timed_out) << "the server neither answered nor closed the connection";
    } else {
      ASSERT_GE(x.responses.size(), want)
          << "got " << x.responses.size() << " responses; bytes: " << x.data
          << (x.timed_out ? " (timed out)" : "") << "\n"
          << bc.why;
      if (!half) {
        EXPECT_TRUE(bc.first_statuses.count(x.responses[0].status) == 1)
            << "first response: " << x.responses[0].describe() << "\n"
            << bc.why;
        EXPECT_LT(x.responses[0].status, 500);
      }
      got = x.responses[want - 1];
    }
  }
  if (got) {
    const HttpResponse& resp = *got;
    EXPECT_TRUE(bc.statuses.count(resp.status) == 1)
        << "status " << resp.status << " not in " << ::testing::PrintToString(bc.statuses) << "\n"
        << resp.describe() << "\n"
        << bc.why;
    // A 5xx only where the case allows one (501 method, 505 version).
    if (*bc.statuses.rbegin() < 500) {
      EXPECT_LT(resp.status, 500) << resp.describe();
    }
    if (bc.body == Body::kJsonError) {
      // {"error": why}; on a seed route also "detail", the same text.
      bool detail_ok = resp.json.size() == 1 ||
                       (resp.json.size() == 2 && resp.json.contains("detail") &&
                        resp.json.contains("error") && resp.json["detail"] == resp.json["error"]);
      EXPECT_TRUE(resp.json.is_object() && detail_ok && resp.json.contains("error") &&
                  resp.json["error"].is_string() && !resp.json["error"].get<std::string>().empty())
          << resp.describe();
    } else if (bc.body == Body::kJson) {
      EXPECT_TRUE(resp.json.is_object()) << resp.describe();
    }
    if (!bc.allow.empty()) {
      EXPECT_EQ(resp.header("Allow").value_or("(none)"), bc.allow);
    }
  }

  EXPECT_EQ(diff(before, stack_->db().snapshot("")), "") << "Redis changed; " << bc.why;
  // The server is unharmed.
  ASSERT_TRUE(stack_->server().running());
  HttpClient c(stack_->server().port());
  EXPECT_EQ(c.get("/health").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInputTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

// A response must be framed so a kept-alive client finds its end: with
// Content-Length, chunked, or by closing the connection. CONNECT (a proxy's
// method) is not implemented: 501, framed, like any other refusal.
TEST(BadInputFraming, ConnectGetsAFramedClientError) {
  Stack stack;
  ASSERT_EQ(stack.start(), "");
  // Stops at the first whole response: at once when it is framed, at the
  // close when it is not (or, unframed and left open, after 20 s).
  RawResult r = raw_exchange(stack.server().port(), "CONNECT /reserve HTTP/1.1\r\nHost: x\r\n\r\n",
                             Millis(20000), /*stop_after_first=*/true);
  ASSERT_TRUE(r.first.has_value()) << r.data;
  EXPECT_TRUE(r.first->status == 501 || (r.first->status >= 400 && r.first->status < 500))
      << r.first->describe();
  bool framed = r.first->header("Content-Length").has_value() ||
                r.first->header("Transfer-Encoding").has_value();
  EXPECT_TRUE(framed || r.peer_closed)
      << "neither Content-Length nor chunked, and the connection stayed open: the client cannot "
         "tell where the body ends.\n"
      << r.data;
}

// A connection the server closes on an error must not disturb the next
// one: a second request with headers over 8 KiB, sent at once on a fresh
// connection (likely to get the same descriptor), is refused like the
// first, whole.
TEST(BadInputFraming, ConnectionAfterAnErrorCloseIsReadWhole) {
  Stack stack;
  ServerOptions o;
  o.threads = 1;  // every connection on the same event loop
  ASSERT_EQ(stack.start(o), "");
  const std::string oversized = req("GET", "/health", "", {{"X-Big", std::string(9000, 'h')}});
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    RawResult r = raw_exchange(stack.server().port(), oversized, Millis(5000));
    ASSERT_TRUE(r.first.has_value()) << r.data;
    EXPECT_EQ(r.first->status, 431) << r.first->describe();
  }
}

}  // namespace
}  // namespace ticketq::test
