// Routing: maps a method and a request target to an operation. Pure; knows
// the URL shapes of the API but nothing of the transport.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ticketq {

extern const char* const kDefaultEvent;  // "default"

enum class Op {
  kReserve,
  kStatus,
  kProcessQueue,
  kReset,
  kEventPut,
  kEventGet,
  kEventHistory,  // the counts of the last minutes, for the dashboard's chart
  kLeave,
  kCancel,
  kConfirm,
  kVerify,
  kEventList,
  kHealth,
  kReady,
  kMetrics,
  kOpenApi,
  kJwks,
  kStream,      // the visitor's live state, as Server-Sent Events
  kWaitPage,    // the waiting room (docs/pages.md)
  kWaitStatus,  // the waiting room's calls, by the visitor's cookie
  kWaitJoin,
  kWaitLeave,
  kAdminPage,  // the operator's dashboard
  kAsset,      // the pages' scripts and styles
};

// The label of an operation in metrics and logs ("reserve", "status", ...).
const char* op_name(Op op);

struct Route {
  Op op = Op::kHealth;
  bool admin = false;     // needs X-Token
  bool seed = false;      // a route of the original server (see api.h)
  std::string event;      // decoded; the default event for seed routes
  std::string user_id;    // decoded; for status
  std::string file;       // for assets: the file's name, as sent
  std::string bad_param;  // non-empty: a path parameter is invalid (400)
};

struct RouteResult {
  enum class Kind { kMatch, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
  Route route;        // for 405: op and seed of the path's first route
  std::string allow;  // for 405: the methods the path accepts, e.g. "GET, PUT"
};

// `method` is the HTTP method in upper case; HEAD is routed like GET.
// `path` is the raw path without the query string.
RouteResult match_route(std::string_view method, std::string_view path);

// Decodes %XX escapes; nullopt on a malformed escape or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view s);

// Looks up `name` in a raw query string ("a=1&b=2"). Returns nullopt when
// absent; sets `error` when it is given twice or is malformed.
std::optional<std::string> query_param(std::string_view query, std::string_view name,
                                       std::string* error);

}  // namespace ticketq
