#include "frontend/router.h"

#include <array>

#include "base/validate.h"

namespace ticketq {

const char* const kDefaultEvent = "default";

namespace {

// The route table. ":event" and ":user" capture one path segment.
struct RouteSpec {
  const char* method;
  const char* pattern;
  Op op;
  bool admin;
  bool seed;  // a route of the original server, answered as it did
};

constexpr RouteSpec kRoutes[] = {
    {"POST", "/reserve", Op::kReserve, false, true},
    {"GET", "/status/:user", Op::kStatus, false, true},
    {"POST", "/process_queue", Op::kProcessQueue, true, true},
    {"POST", "/admin/reset", Op::kReset, true, true},
    {"GET", "/health", Op::kHealth, false, true},
    {"GET", "/ready", Op::kReady, false, false},
    {"GET", "/metrics", Op::kMetrics, false, false},
    {"GET", "/openapi.yaml", Op::kOpenApi, false, false},
    {"GET", "/.well-known/jwks.json", Op::kJwks, false, false},
    {"POST", "/v1/events/:event/reserve", Op::kReserve, false, false},
    {"GET", "/v1/events/:event/status/:user", Op::kStatus, false, false},
    {"POST", "/v1/events/:event/process_queue", Op::kProcessQueue, true, false},
    {"POST", "/v1/events/:event/reset", Op::kReset, true, false},
    {"PUT", "/v1/events/:event", Op::kEventPut, true, false},
    {"GET", "/v1/events/:event", Op::kEventGet, true, false},
    {"GET", "/v1/events/:event/history", Op::kEventHistory, true, false},
    {"POST", "/v1/events/:event/leave", Op::kLeave, false, false},
    {"POST", "/v1/events/:event/cancel", Op::kCancel, false, false},
    {"POST", "/v1/events/:event/confirm", Op::kConfirm, false, false},
    {"POST", "/v1/events/:event/verify", Op::kVerify, false, false},
    {"GET", "/v1/events", Op::kEventList, true, false},
    {"GET", "/v1/events/:event/stream", Op::kStream, false, false},
    {"GET", "/wait/:event/stream", Op::kStream, false, false},
    {"GET", "/wait/:event", Op::kWaitPage, false, false},
    {"GET", "/wait/:event/status", Op::kWaitStatus, false, false},
    {"POST", "/wait/:event/join", Op::kWaitJoin, false, false},
    {"POST", "/wait/:event/leave", Op::kWaitLeave, false, false},
    {"GET", "/admin/", Op::kAdminPage, false, false},
    {"GET", "/admin", Op::kAdminPage, false, false},
    {"GET", "/assets/:file", Op::kAsset, false, false},
};

// A path's segments, in place: no route has more than kMaxSegments, so a
// longer path (too_many) matches none.
constexpr size_t kMaxSegments = 8;
struct Segments {
  std::array<std::string_view, kMaxSegments> at;
  size_t size = 0;
  bool too_many = false;
};

constexpr Segments split_path(std::string_view path) {
  Segments out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    if (out.size == kMaxSegments) {
      out.too_many = true;
      return out;
    }
    size_t slash = path.find('/');
    out.at[out.size++] = path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// The patterns of kRoutes, split once.
constexpr std::array<Segments, std::size(kRoutes)> split_patterns() {
  std::array<Segments, std::size(kRoutes)> out{};
  for (size_t i = 0; i < std::size(kRoutes); ++i) out[i] = split_path(kRoutes[i].pattern);
  return out;
}
constexpr auto kPatterns = split_patterns();
static_assert(
    [] {
      for (const Segments& p : kPatterns)
        if (p.too_many) return false;
      return true;
    }(),
    "a route has more than kMaxSegments segments");

// Matches one pattern; fills captures (still encoded) on success.
bool match_pattern(const Segments& pat, const Segments& segs, std::string_view* event,
                   std::string_view* user, std::string_view* file) {
  if (pat.size != segs.size || segs.too_many) return false;
  for (size_t i = 0; i < pat.size; ++i) {
    if (pat.at[i] == ":event")
      *event = segs.at[i];
    else if (pat.at[i] == ":user")
      *user = segs.at[i];
    else if (pat.at[i] == ":file")
      *file = segs.at[i];
    else if (pat.at[i] != segs.at[i])
      return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kReserve:
      return "reserve";
    case Op::kStatus:
      return "status";
    case Op::kProcessQueue:
      return "process_queue";
    case Op::kReset:
      return "reset";
    case Op::kEventPut:
      return "event_put";
    case Op::kEventGet:
      return "event_get";
    case Op::kEventHistory:
      return "event_history";
    case Op::kLeave:
      return "leave";
    case Op::kCancel:
      return "cancel";
    case Op::kConfirm:
      return "confirm";
    case Op::kVerify:
      return "verify";
    case Op::kEventList:
      return "event_list";
    case Op::kHealth:
      return "health";
    case Op::kReady:
      return "ready";
    case Op::kMetrics:
      return "metrics";
    case Op::kOpenApi:
      return "openapi";
    case Op::kJwks:
      return "jwks";
    case Op::kStream:
      return "stream";
    case Op::kWaitPage:
      return "wait_page";
    case Op::kWaitStatus:
      return "wait_status";
    case Op::kWaitJoin:
      return "wait_join";
    case Op::kWaitLeave:
      return "wait_leave";
    case Op::kAdminPage:
      return "admin_page";
    case Op::kAsset:
      return "asset";
  }
  return "unknown";
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

RouteResult match_route(std::string_view method, std::string_view path) {
  if (method == "HEAD") method = "GET";
  const Segments segs = split_path(path);
  RouteResult result;
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    const RouteSpec& spec = kRoutes[i];
    std::string_view event = kDefaultEvent, user, file;
    if (!match_pattern(kPatterns[i], segs, &event, &user, &file)) continue;
    if (method != spec.method) {
      if (result.allow.empty()) {  // the path's first route names it in a 405
        result.route.op = spec.op;
        result.route.seed = spec.seed;
      } else {
        result.allow += ", ";
      }
      result.allow += spec.method;
      result.kind = RouteResult::Kind::kMethodNotAllowed;
      continue;
    }
    result.kind = RouteResult::Kind::kMatch;
    result.allow.clear();
    Route& r = result.route;
    r.op = spec.op;
    r.admin = spec.admin;
    r.seed = spec.seed;
    auto ev = percent_decode(event);
    if (!ev || !valid_event(*ev)) {
      r.bad_param = "event must be 1-64 characters of A-Z a-z 0-9 . _ -";
      return result;
    }
    r.event = std::move(*ev);
    r.file = file;
    if (spec.op == Op::kStatus) {
      auto u = percent_decode(user);
      if (!u || !valid_user_id(*u)) {
        r.bad_param = "user_id must be 1-64 characters of A-Z a-z 0-9 . _ : @ -";
        return result;
      }
      r.user_id = std::move(*u);
    }
    return result;
  }
  if (result.kind == RouteResult::Kind::kMethodNotAllowed &&
      result.allow.find("GET") != std::string::npos)
    result.allow += ", HEAD";
  return result;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name,
                                       std::string* error) {
  std::optional<std::string> found;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    if (!key || *key != name) continue;
    if (found) {
      *error = std::string(name) + " is given more than once";
      return std::nullopt;
    }
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) {
      *error = std::string(name) + " is not properly encoded";
      return std::nullopt;
    }
    found = std::move(*value);
  }
  return found;
}

}  // namespace ticketq
