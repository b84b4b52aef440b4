// The request target as a client sends it: "METHOD /path?query" (the method
// is everything before the first space; without a space the whole input is
// the target of a GET). Runs match_route for that method and for each method
// of the API, percent_decode, query_param("limit") and parse_promote_limit.
// Invariants:
//   - a match without bad_param names a valid event, and for status a valid
//     user id (those reach Redis keys unchecked);
//   - 405 lists the methods the path accepts (HEAD with GET), never the
//     one that was asked; 404 lists none;
//   - percent_decode never turns %00 into a NUL, never grows the text, and undoes
//     percent-encoding of any byte string without NUL;
//   - parse_promote_limit is 1000 when absent, else agrees with a reference
//     reading: digits only, value >= 1, capped at 1000.
#include <algorithm>
#include <optional>
#include <string>

#include "base/validate.h"
#include "frontend/router.h"
#include "fuzz_check.h"

namespace {

using namespace ticketq;

void check_route(std::string_view method, std::string_view path) {
  RouteResult r = match_route(method, path);
  std::string what = std::string(method) + " " + std::string(path);
  switch (r.kind) {
    case RouteResult::Kind::kMatch:
      FUZZ_CHECK(r.allow.empty(), what);
      if (!r.route.bad_param.empty()) break;
      FUZZ_CHECK(valid_event(r.route.event), what + " -> event " + r.route.event);
      if (r.route.op == Op::kStatus)
        FUZZ_CHECK(valid_user_id(r.route.user_id), what + " -> user " + r.route.user_id);
      else
        FUZZ_CHECK(r.route.user_id.empty(), what);
      // The admin operations and no others need the token.
      FUZZ_CHECK(r.route.admin == (r.route.op == Op::kProcessQueue || r.route.op == Op::kReset ||
                                   r.route.op == Op::kEventPut || r.route.op == Op::kEventGet ||
                                   r.route.op == Op::kEventList),
                 what);
      break;
    case RouteResult::Kind::kMethodNotAllowed: {
      FUZZ_CHECK(!r.allow.empty(), what);
      std::string m(method == "HEAD" ? "GET" : method);
      std::string list = ", " + r.allow + ", ";
      FUZZ_CHECK(list.find(", " + m + ", ") == std::string::npos, what + " allow " + r.allow);
      FUZZ_CHECK((list.find(", GET, ") != std::string::npos) ==
                     (list.find(", HEAD, ") != std::string::npos),
                 what + " allow " + r.allow);
      break;
    }
    case RouteResult::Kind::kNotFound:
      FUZZ_CHECK(r.allow.empty(), what);
      break;
  }
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// What ?limit=TEXT means by the API's documentation.
std::optional<int64_t> reference_limit(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  size_t first = text.find_first_not_of('0');
  if (first == std::string_view::npos) return std::nullopt;  // zero
  text.remove_prefix(first);
  if (text.size() > 4) return kMaxPromoteLimit;
  int64_t v = 0;
  for (char c : text) v = v * 10 + (c - '0');
  return std::min(v, kMaxPromoteLimit);
}

void check_decode(std::string_view s) {
  auto d = percent_decode(s);
  if (d) {
    // A %00 never decodes; a raw NUL (the parser would not pass one) stays as is.
    FUZZ_CHECK(std::count(d->begin(), d->end(), '\0') == std::count(s.begin(), s.end(), '\0'), s);
    FUZZ_CHECK(d->size() <= s.size(), s);
    if (s.find('%') == std::string_view::npos) FUZZ_CHECK(*d == s, s);
  }
  if (s.find('\0') == std::string_view::npos) {
    auto round = percent_decode(percent_encode(s));
    FUZZ_CHECK(round && *round == s, s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view method = "GET", target = in;
  if (size_t sp = in.find(' '); sp != std::string_view::npos) {
    method = in.substr(0, sp);
    target = in.substr(sp + 1);
  }
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  check_route(method, path);
  for (const char* m : {"GET", "HEAD", "POST", "PUT"})
    if (method != m) check_route(m, path);

  check_decode(path);
  check_decode(query);

  std::string error;
  auto limit = query_param(query, "limit", &error);
  FUZZ_CHECK(error.empty() || !limit, query);
  if (!error.empty()) return 0;
  if (limit && query.find('\0') == std::string_view::npos)
    FUZZ_CHECK(limit->find('\0') == std::string::npos, query);
  auto parsed = parse_promote_limit(limit ? std::optional<std::string_view>(*limit) : std::nullopt);
  FUZZ_CHECK(parsed.ok() != !parsed.error.empty(), query);
  if (!limit) {
    FUZZ_CHECK(parsed.ok() && *parsed.value == kMaxPromoteLimit, query);
    return 0;
  }
  auto want = reference_limit(*limit);
  FUZZ_CHECK(parsed.ok() == want.has_value(), "limit=" + *limit);
  if (want)
    FUZZ_CHECK(*parsed.value == *want, "limit=" + *limit + " gave " +
                                           std::to_string(*parsed.value) + ", expected " +
                                           std::to_string(*want));
  return 0;
}
