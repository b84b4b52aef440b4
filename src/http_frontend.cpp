#include "ticketq/http_frontend.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <cstdio>

#include "ticketq/auth.h"
#include "ticketq/clock.h"

namespace ticketq {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// What a request says about who sends it, from one pass over its headers.
// The admin token counts only as exactly one X-Token header that matches;
// a bearer token only as exactly one "Authorization: Bearer ..." header.
// Chunked trailers never count: the parser drops them.
struct Credentials {
  bool admin = false;
  std::string bearer;
};

Credentials read_credentials(const ParsedRequest& req, const std::string& admin_token) {
  Credentials c;
  std::string_view token, authorization;
  int tokens = 0, authorizations = 0;
  for (const HttpHeader& h : req.headers) {
    if (iequals(h.name, "X-Token")) {
      token = h.value;
      ++tokens;
    } else if (iequals(h.name, "Authorization")) {
      authorization = h.value;
      ++authorizations;
    }
  }
  c.admin = tokens == 1 && token_matches(token, admin_token);
  if (authorizations == 1 && authorization.size() > 7 &&
      iequals(authorization.substr(0, 7), "Bearer ")) {
    std::string_view value = authorization.substr(7);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    c.bearer = value;
  }
  return c;
}

// A request id we can echo and log safely: 1-128 chars, no spaces or controls.
bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char ch : id) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- lifecycle --

HttpFrontend::HttpFrontend(event_base* base, const Config& cfg, QueueCore& core,
                           ScriptRunner& redis, LoopMetrics& metrics, const Tokens& tokens)
    : cfg_(cfg),
      metrics_(metrics),
      server_(base,
              HttpLimits{ParserLimits{static_cast<size_t>(cfg.max_header_bytes),
                                      static_cast<size_t>(cfg.max_body_bytes)},
                         cfg.max_connections, cfg.request_read_timeout_ms,
                         cfg.idle_timeout_s * 1000, cfg.max_requests_per_connection},
              *this, metrics.shared().open_connections, &metrics),
      api_(std::make_unique<Api>(base, cfg, core, redis, metrics, tokens)),
      id_prefix_(generate_token().substr(0, 8)) {}

// The Api goes first: replies it still holds (a batch not sent yet) are
// answered while the connections still exist.
HttpFrontend::~HttpFrontend() {
  server_.stop_accepting();
  api_.reset();
}

// ------------------------------------------------------------------ replies --

void HttpFrontend::deliver(const RequestInfo& info, Response r) {
  // Header lines: a few fixed names, values from literals and the checked
  // id, in one buffer reused from reply to reply (respond copies them).
  std::string& headers = headers_;
  headers.clear();
  headers += "Content-Type: ";
  headers += r.content_type;
  headers += "\r\nX-Request-Id: ";
  headers += info.id;
  headers += "\r\n";
  if (r.code == 503) headers += "Retry-After: 1\r\n";
  if (r.allow != nullptr) (headers += "Allow: ") += r.allow, headers += "\r\n";
  if (r.cache_control != nullptr)
    (headers += "Cache-Control: ") += r.cache_control, headers += "\r\n";
  double seconds = static_cast<double>(now_us() - info.start_us) / 1e6;
  metrics_.request(info.route, r.code, seconds);
  if (cfg_.access_log)
    spdlog::info("access id={} method={} path={} status={} duration_ms={:.3f} route={}", info.id,
                 info.method, info.path, r.code, seconds * 1e3, info.route);
  server_.respond(HttpExchange{static_cast<HttpConnection*>(info.handle), info.seq}, r.code,
                  headers, std::move(r.body));
}

std::string HttpFrontend::request_id(const ParsedRequest& req) {
  std::optional<std::string_view> given = req.header("X-Request-Id");
  if (given && usable_request_id(*given)) return std::string(*given);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%llx", id_prefix_.c_str(),
                static_cast<unsigned long long>(++id_counter_));
  return buf;
}

// ------------------------------------------------------------------ routing --

void HttpFrontend::on_request(HttpExchange ex, const ParsedRequest& req, std::string body) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (path.empty() || path.front() != '/') path = "/";  // "*" (OPTIONS)
  RequestInfo info;
  info.handle = ex.conn;
  info.seq = ex.seq;
  info.start_us = now_us();
  info.id = request_id(req);
  info.method = req.method;
  if (cfg_.access_log) info.path = path;

  RouteResult rr = match_route(req.method, path);
  if (rr.kind == RouteResult::Kind::kNotFound)
    return Reply(*this, std::move(info)).error(404, "no such route");
  info.route = op_name(rr.route.op);
  info.seed = rr.route.seed;
  Reply reply(*this, std::move(info));
  if (rr.kind == RouteResult::Kind::kMethodNotAllowed)
    return reply.error(405, "method " + std::string(req.method) + " not allowed here",
                       rr.allow.c_str());
  Credentials who = read_credentials(req, cfg_.admin_token);
  if (rr.route.admin && !who.admin) return reply.error(401, "unauthorized");
  if (!rr.route.bad_param.empty()) return reply.error(400, rr.route.bad_param);
  Request request{std::move(rr.route), std::move(body), std::string(query), who.admin,
                  std::move(who.bearer)};
  api_->handle(request, std::move(reply));
}

}  // namespace ticketq
