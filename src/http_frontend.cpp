#include "ticketq/http_frontend.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "ticketq/auth.h"
#include "ticketq/clock.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

const char* method_name(evhttp_cmd_type cmd) {
  switch (cmd) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_TRACE:
      return "TRACE";
    case EVHTTP_REQ_CONNECT:
      return "CONNECT";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
  }
  return "UNKNOWN";
}

std::string body_of(evhttp_request* req) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  std::string body(n, '\0');
  if (n > 0) evbuffer_copyout(in, body.data(), n);
  return body;
}

// Refuses framings that two HTTP parsers could read differently (request
// smuggling): a header name with white space in it, a Content-Length that is
// not all digits or given twice with different values, a Transfer-Encoding
// other than plain "chunked", or Content-Length together with it.
const char* framing_error(evhttp_request* req) {
  const char* length = nullptr;
  bool has_te = false;
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (std::strpbrk(h->key, " \t") != nullptr) return "white space in a header name";
    if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
      if (has_te || strcasecmp(h->value, "chunked") != 0)
        return "unsupported Transfer-Encoding (only a single \"chunked\" is accepted)";
      has_te = true;
    }
    if (strcasecmp(h->key, "Content-Length") != 0) continue;
    if (*h->value == '\0' || std::strspn(h->value, "0123456789") != std::strlen(h->value))
      return "Content-Length must be digits only";
    if (length != nullptr && strcmp(length, h->value) != 0)
      return "conflicting Content-Length headers";
    length = h->value;
  }
  if (length != nullptr && has_te) return "Content-Length together with Transfer-Encoding";
  return nullptr;
}

// What a request says about who sends it, from one pass over its headers.
// The admin token counts only as exactly one X-Token header that matches;
// a bearer token only as exactly one "Authorization: Bearer ..." header.
// libevent merges chunked trailers into the headers, so a chunked request
// could slip credentials in after its body: it is refused when it carries
// any.
struct Credentials {
  bool chunked = false;
  bool any = false;  // an X-Token or Authorization header is present
  bool admin = false;
  std::string bearer;
};

Credentials read_credentials(evhttp_request* req, const std::string& admin_token) {
  Credentials c;
  const char* token = nullptr;
  const char* authorization = nullptr;
  int tokens = 0, authorizations = 0;
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (strcasecmp(h->key, "X-Token") == 0) {
      token = h->value;
      ++tokens;
    } else if (strcasecmp(h->key, "Authorization") == 0) {
      authorization = h->value;
      ++authorizations;
    } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
      c.chunked = true;
    }
  }
  c.any = tokens + authorizations > 0;
  c.admin = tokens == 1 && token_matches(token, admin_token);
  if (authorizations == 1 && strncasecmp(authorization, "Bearer ", 7) == 0) {
    std::string_view value(authorization + 7);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    c.bearer = value;
  }
  return c;
}

// A request id we can echo and log safely: 1-128 chars, no spaces or controls.
bool usable_request_id(const char* id) {
  size_t n = 0;
  for (; id[n] != '\0'; ++n) {
    unsigned char c = static_cast<unsigned char>(id[n]);
    if (n >= 128 || c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return n > 0;
}

// ------------------------------------------------- accept errors (EMFILE) --
// When the process runs out of file descriptors, accept() fails and the
// listening socket stays readable: libevent would retry in a busy loop. We
// pause the listener instead and try again a little later. Listeners are
// looked up in a registry so a pause that outlives its listener is harmless.

std::mutex g_listeners_mutex;
std::unordered_set<evconnlistener*> g_listeners;

void resume_listener(evutil_socket_t, short, void* arg) {
  auto* lev = static_cast<evconnlistener*>(arg);
  std::lock_guard<std::mutex> lock(g_listeners_mutex);
  if (g_listeners.count(lev) != 0) evconnlistener_enable(lev);
}

void on_accept_error(evconnlistener* lev, void*) {
  int err = errno;
  if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
    spdlog::warn("accept failed: {}", std::strerror(err));
    return;
  }
  thread_local int64_t last_log_us = 0;  // one warning per loop per 10 s
  if (now_us() - last_log_us > 10'000'000) {
    last_log_us = now_us();
    spdlog::warn("accept failed: {}; pausing new connections for 100 ms at a time",
                 std::strerror(err));
  }
  evconnlistener_disable(lev);
  timeval pause{0, 100 * 1000};
  event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, resume_listener, lev, &pause);
}

}  // namespace

// ---------------------------------------------------------------- lifecycle --

HttpFrontend::HttpFrontend(event_base* base, const Config& cfg, QueueCore& core,
                           ScriptRunner& redis, LoopMetrics& metrics, const Tokens& tokens)
    : http_(evhttp_new(base)),
      guard_(base, http_,
             ConnectionLimits{cfg.max_connections, cfg.request_read_timeout_ms,
                              cfg.max_requests_per_connection},
             metrics.shared().open_connections, &metrics),
      cfg_(cfg),
      metrics_(metrics),
      api_(std::make_unique<Api>(base, cfg, core, redis, metrics, tokens)),
      id_prefix_(generate_token().substr(0, 8)) {
  // libevent's defaults are unsafe (no size limits); set every limit.
  evhttp_set_max_headers_size(http_, cfg.max_header_bytes);
  evhttp_set_max_body_size(http_, cfg.max_body_bytes);
  evhttp_set_timeout(http_, static_cast<int>(cfg.idle_timeout_s));
  evhttp_set_default_content_type(http_, "application/json");
  // Accept every method so that unknown ones get our 405 with Allow.
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(http_, &HttpFrontend::on_request, this);
}

// The Api goes first: replies it still holds (a batch not sent yet) are
// answered while their requests and evhttp still exist.
HttpFrontend::~HttpFrontend() {
  stop_accepting();
  api_.reset();
  evhttp_free(http_);
}

bool HttpFrontend::accept_on(int fd) {
  listener_ = evhttp_accept_socket_with_handle(http_, fd);
  if (listener_ == nullptr) return false;
  evconnlistener* lev = evhttp_bound_socket_get_listener(listener_);
  evconnlistener_set_error_cb(lev, on_accept_error);
  std::lock_guard<std::mutex> lock(g_listeners_mutex);
  g_listeners.insert(lev);
  return true;
}

void HttpFrontend::stop_accepting() {
  if (listener_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(g_listeners_mutex);
    g_listeners.erase(evhttp_bound_socket_get_listener(listener_));
  }
  evhttp_del_accept_socket(http_, listener_);
  listener_ = nullptr;
}

// ------------------------------------------------------------------ replies --

void HttpFrontend::deliver(const RequestInfo& info, Response r) {
  auto* req = static_cast<evhttp_request*>(info.handle);
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", r.content_type);
  evhttp_add_header(out, "X-Request-Id", info.id.c_str());
  if (r.code == 503) evhttp_add_header(out, "Retry-After", "1");
  if (r.allow != nullptr) evhttp_add_header(out, "Allow", r.allow);
  if (r.cache_control != nullptr) evhttp_add_header(out, "Cache-Control", r.cache_control);
  double seconds = static_cast<double>(now_us() - info.start_us) / 1e6;
  metrics_.request(info.route, r.code, seconds);
  evhttp_cmd_type method = evhttp_request_get_command(req);
  if (cfg_.access_log) {
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    spdlog::info("access id={} method={} path={} status={} duration_ms={:.3f} route={}", info.id,
                 method_name(method), path ? path : "-", r.code, seconds * 1e3, info.route);
  }
  if ((draining_ || method == EVHTTP_REQ_CONNECT) &&
      evhttp_find_header(out, "Connection") == nullptr)
    evhttp_add_header(out, "Connection", "close");
  // Framed by us: libevent 2.1 leaves CONNECT replies unframed and would send
  // a body after HEAD, which only announces it.
  evhttp_add_header(out, "Content-Length", std::to_string(r.body.size()).c_str());
  evbuffer* buf = evbuffer_new();
  if (method != EVHTTP_REQ_HEAD) evbuffer_add(buf, r.body.data(), r.body.size());
  evhttp_send_reply(req, r.code, nullptr, buf);
  evbuffer_free(buf);
}

std::string HttpFrontend::request_id(evhttp_request* req) {
  const char* given = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
  if (given != nullptr && usable_request_id(given)) return given;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%llx", id_prefix_.c_str(),
                static_cast<unsigned long long>(++id_counter_));
  return buf;
}

// ------------------------------------------------------------------ routing --

void HttpFrontend::on_request(evhttp_request* req, void* arg) {
  auto* self = static_cast<HttpFrontend*>(arg);
  evkeyvalq* out_headers = evhttp_request_get_output_headers(req);
  RequestInfo info{req, "unmatched", now_us(), self->request_id(req)};
  ConnectionGuard::ReadVerdict read = self->guard_.request_read(req);
  if (read.close_after) evhttp_add_header(out_headers, "Connection", "close");
  if (read.nul_byte) return Reply(*self, std::move(info)).error(400, "NUL byte in the request");
  const char* method = method_name(evhttp_request_get_command(req));
  if (const char* why = framing_error(req)) {
    // The rest of the stream cannot be trusted to be framed as we read it.
    evhttp_add_header(out_headers, "Connection", "close");
    return Reply(*self, std::move(info)).error(400, why);
  }

  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  if (path == nullptr || *path == '\0') path = "/";
  RouteResult rr = match_route(method, path);
  if (rr.kind == RouteResult::Kind::kNotFound)
    return Reply(*self, std::move(info)).error(404, "no such route");
  info.route = op_name(rr.route.op);
  info.seed = rr.route.seed;
  Reply reply(*self, std::move(info));
  if (rr.kind == RouteResult::Kind::kMethodNotAllowed)
    return reply.error(405, std::string("method ") + method + " not allowed here",
                       rr.allow.c_str());
  Credentials who = read_credentials(req, self->cfg_.admin_token);
  if (who.chunked && (rr.route.admin || who.any))
    return reply.error(400, rr.route.admin ? "admin calls must not use a chunked body"
                                           : "calls with credentials must not use a chunked body");
  if (rr.route.admin && !who.admin) return reply.error(401, "unauthorized");
  if (!rr.route.bad_param.empty()) return reply.error(400, rr.route.bad_param);
  const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
  Request request{std::move(rr.route), body_of(req), query != nullptr ? query : "", who.admin,
                  std::move(who.bearer)};
  self->api_->handle(request, std::move(reply));
}

}  // namespace ticketq
