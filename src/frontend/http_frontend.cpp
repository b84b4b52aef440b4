#include "frontend/http_frontend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "base/clock.h"
#include "tokens/auth.h"

namespace ticketq {

namespace {

// What a request says about who sends it, from one pass over its headers.
// The admin token counts only as exactly one X-Token header that matches;
// a bearer token only as exactly one "Authorization: Bearer ..." header; the
// visitor's token is the event's cookie (tq_{event}). A page of a sibling
// subdomain can add a second cookie of that name: every one is kept (up to
// kMaxCookies, in the order sent), and the first that verifies is used
// (Api::visitor), so a made-up cookie cannot hide the visitor's own
// (docs/pages.md says what it cannot stop).
// Chunked trailers never count: the parser drops them.
constexpr size_t kMaxCookies = 4;

struct Credentials {
  bool admin = false;
  std::string bearer;
  std::vector<std::string> cookies;
};

// The values of cookie `name` in a Cookie header ("a=1; b=2").
void find_cookies(std::string_view header, std::string_view name,
                  std::vector<std::string>* values) {
  while (!header.empty() && values->size() < kMaxCookies) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    values->emplace_back(pair.substr(eq + 1));
  }
}

Credentials read_credentials(const ParsedRequest& req, const std::string& admin_token,
                             const std::string& event) {
  Credentials c;
  std::string_view token, authorization;
  int tokens = 0, authorizations = 0;
  std::string cookie_name;  // made once a Cookie header is there
  for (const HttpHeader& h : req.headers) {
    if (iequals(h.name, "X-Token")) {
      token = h.value;
      ++tokens;
    } else if (iequals(h.name, "Authorization")) {
      authorization = h.value;
      ++authorizations;
    } else if (!event.empty() && iequals(h.name, "Cookie")) {
      if (cookie_name.empty()) cookie_name = "tq_" + event;
      find_cookies(h.value, cookie_name, &c.cookies);
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

// The transport's limits, from the settings. A handler answers within the
// Redis deadlines (a call, then a WAIT for replicas, a few calls at most):
// the transport's backstop for a reply owed is far past them.
HttpLimits http_limits(const Config& cfg) {
  HttpLimits l;
  l.parser = ParserLimits{static_cast<size_t>(cfg.max_header_bytes),
                          static_cast<size_t>(cfg.max_body_bytes)};
  l.max_connections = cfg.max_connections;  // resolved by the server (Config::connection_cap)
  l.max_connections_per_client = cfg.max_connections_per_client;
  l.trusted_proxies = *parse_ip_ranges(cfg.trusted_proxies).value;  // checked at load
  l.request_timeout_ms = cfg.request_read_timeout_ms;
  l.idle_timeout_ms = cfg.idle_timeout_s * 1000;
  l.max_requests = cfg.max_requests_per_connection;
  l.answer_timeout_ms =
      std::max<int64_t>(60000, 4 * (cfg.request_timeout_ms + cfg.redis_wait_timeout_ms));
  return l;
}

}  // namespace

// ---------------------------------------------------------------- lifecycle --

HttpFrontend::HttpFrontend(event_base* base, const Config& cfg, QueueCore& core,
                           ScriptRunner& redis, LoopMetrics& metrics, const Tokens& tokens,
                           SharedCounts& counts)
    : cfg_(cfg),
      metrics_(metrics),
      server_(base, http_limits(cfg), *this, metrics.shared().open_connections, &metrics,
              &counts.clients),
      api_(std::make_unique<Api>(base, cfg, core, redis, metrics, tokens, *this, counts.streams)),
      id_prefix_(generate_token().substr(0, 8)),
      cors_origins_(split_origins(cfg.cors_origins)) {
  cors_any_ = std::find(cors_origins_.begin(), cors_origins_.end(), "*") != cors_origins_.end();
}

// The Api goes first: replies it still holds (a batch not sent yet) are
// answered while the connections still exist.
HttpFrontend::~HttpFrontend() {
  server_.stop_accepting();
  api_.reset();
}

// ------------------------------------------------------------------ replies --

const std::string& HttpFrontend::reply_headers(const RequestInfo& info, const Response& r) {
  // Header lines: a few fixed names, values from literals and the checked
  // id, in one buffer reused from reply to reply (respond copies them).
  std::string& headers = headers_;
  headers.clear();
  headers += "Content-Type: ";
  headers += r.content_type;
  headers += "\r\nX-Request-Id: ";
  headers += info.id;
  headers += "\r\n";
  if (r.code == 503 || r.code == 429) headers += "Retry-After: 1\r\n";
  if (r.allow != nullptr) (headers += "Allow: ") += r.allow, headers += "\r\n";
  if (r.cache_control != nullptr)
    (headers += "Cache-Control: ") += r.cache_control, headers += "\r\n";
  headers += r.headers;
  double seconds = static_cast<double>(now_us() - info.start_us) / 1e6;
  metrics_.request(info.route, r.code, seconds);
  if (cfg_.access_log)
    spdlog::info("access id={} client={} method={} path={} status={} duration_ms={:.3f} route={}",
                 info.id, info.client, info.method, info.path, r.code, seconds * 1e3, info.route);
  return headers;
}

void HttpFrontend::deliver(const RequestInfo& info, Response r) {
  const std::string& headers = reply_headers(info, r);
  server_.respond(HttpExchange{static_cast<HttpConnection*>(info.handle), info.seq}, r.code,
                  headers, std::move(r.body));
}

StreamHandle HttpFrontend::open_stream(const RequestInfo& info, Response head,
                                       std::function<void()> on_close) {
  const std::string& headers = reply_headers(info, head);
  return server_.open_stream(HttpExchange{static_cast<HttpConnection*>(info.handle), info.seq},
                             head.code, headers, std::move(on_close));
}

bool HttpFrontend::push(StreamHandle s, std::string_view data) {
  return server_.push(static_cast<HttpStream*>(s), data);
}

void HttpFrontend::end_stream(StreamHandle s) {
  server_.end_stream(static_cast<HttpStream*>(s));
}

// The client that sent the request: its peer, or behind a trusted proxy the
// address the proxies' X-Forwarded-For headers name (client_address.h).
IpAddress HttpFrontend::client_of(HttpExchange ex, const ParsedRequest& req) const {
  const IpAddress& peer = HttpServer::peer(ex);
  const std::vector<IpRange>& trusted = server_.limits().trusted_proxies;
  if (trusted.empty()) return peer;
  std::vector<std::string_view> forwarded;
  for (const HttpHeader& h : req.headers)
    if (iequals(h.name, "X-Forwarded-For")) forwarded.push_back(h.value);
  return forwarded_client(peer, forwarded, trusted);
}

std::string HttpFrontend::request_id(const ParsedRequest& req) {
  std::optional<std::string_view> given = req.header("X-Request-Id");
  if (given && usable_request_id(*given)) return std::string(*given);
  // prefix-counter in hex, as 3f2a9c01-1a2b: no printf on the hot path.
  char buf[32];
  char* end = std::copy(id_prefix_.begin(), id_prefix_.end(), buf);
  *end++ = '-';
  end = std::to_chars(end, buf + sizeof buf, ++id_counter_, 16).ptr;
  return std::string(buf, end);
}

// ------------------------------------------------------------------ routing --

// The waiting room's own calls (join, leave: they carry the visitor's
// cookie) come from its own pages. A browser says where a request comes
// from (Fetch Metadata): same-origin, or none (typed by the user); a
// sibling subdomain is "same-site" and refused too. Where that header is
// absent (an older browser), the Origin must be the page's own, that is the
// Host asked; a client that sends neither is no browser acting for a
// visitor. cors_origins never relaxes this.
bool HttpFrontend::from_own_page(const ParsedRequest& req) {
  if (std::optional<std::string_view> site = req.header("Sec-Fetch-Site"))
    return *site == "same-origin" || *site == "none";
  std::optional<std::string_view> origin = req.header("Origin");
  if (!origin) return true;
  std::string_view host = *origin;
  for (std::string_view scheme : {"http://", "https://"})
    if (host.substr(0, scheme.size()) == scheme) host.remove_prefix(scheme.size());
  if (host.size() == origin->size()) return false;  // "null", or no scheme we serve
  std::optional<std::string_view> asked = req.header("Host");
  return asked && iequals(host, *asked);
}

bool HttpFrontend::origin_allowed(std::string_view origin) const {
  if (cors_any_) return true;
  return std::find(cors_origins_.begin(), cors_origins_.end(), origin) != cors_origins_.end();
}

// A browser asks whether a page of another origin may make a call: yes for
// the origins of cors_origins, with the methods the path has and the
// headers a client of the API sends (never X-Token: no operator's call
// comes from another origin).
void HttpFrontend::preflight(Reply reply, std::optional<std::string_view> origin,
                             std::string_view asked, const RouteResult& rr) {
  if (!origin || origin->empty() || !origin_allowed(*origin))
    return reply.error(403, "origin not allowed (cors_origins)");
  std::string methods = rr.kind == RouteResult::Kind::kMatch ? std::string(asked) : rr.allow;
  if (rr.kind == RouteResult::Kind::kMatch && asked == "GET") methods += ", HEAD";
  reply.add_header("Access-Control-Allow-Methods: " + methods);
  reply.add_header(
      "Access-Control-Allow-Headers: Authorization, Content-Type, X-Request-Id, Last-Event-ID");
  reply.add_header("Access-Control-Max-Age: 600");
  reply.send(Response{204, {}, "text/plain", nullptr, nullptr});
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
  if (cfg_.access_log) {
    info.path = path;
    info.client = client_of(ex, req).str();
  }

  // A CORS preflight is routed by the method it asks about.
  std::optional<std::string_view> asked =
      req.method == "OPTIONS" ? req.header("Access-Control-Request-Method") : std::nullopt;
  const bool asks_preflight = asked.has_value();
  RouteResult rr = match_route(asked.value_or(req.method), path);
  if (rr.kind == RouteResult::Kind::kNotFound)
    return Reply(*this, std::move(info)).error(404, "no such route");
  info.route = asks_preflight ? "preflight" : op_name(rr.route.op);
  info.seed = rr.route.seed;
  Reply reply(*this, std::move(info));
  // CORS: a page of an allowed origin may read the answer, and once some
  // origins are allowed every answer depends on the Origin (caches must know).
  std::optional<std::string_view> origin =
      cors_origins_.empty() ? std::nullopt : req.header("Origin");
  if (!cors_origins_.empty()) reply.add_header("Vary: Origin");
  if (origin && origin_allowed(*origin)) {
    reply.add_header("Access-Control-Allow-Origin: " + std::string(*origin));
    reply.add_header("Access-Control-Expose-Headers: Retry-After, X-Request-Id");
  }
  if (asks_preflight) return preflight(std::move(reply), origin, *asked, rr);
  if (rr.kind == RouteResult::Kind::kMethodNotAllowed)
    return reply.error(405, "method " + std::string(req.method) + " not allowed here",
                       rr.allow.c_str());
  Credentials who = read_credentials(req, cfg_.admin_token, rr.route.event);
  if (rr.route.admin && !who.admin) return reply.error(401, "unauthorized");
  if (!rr.route.bad_param.empty()) return reply.error(400, rr.route.bad_param);
  Request request;
  request.route = std::move(rr.route);
  request.body = std::move(body);
  request.query = query;
  request.admin = who.admin;
  request.bearer = std::move(who.bearer);
  request.cookies = std::move(who.cookies);
  if (request.route.op == Op::kStream)
    request.last_event_id = req.header("Last-Event-ID").value_or("");
  if (request.route.op == Op::kWaitJoin || request.route.op == Op::kWaitLeave)
    request.cross_site = !from_own_page(req);
  api_->handle(request, std::move(reply));
}

}  // namespace ticketq
