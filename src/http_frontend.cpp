#include "ticketq/http_frontend.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "ticketq/auth.h"
#include "ticketq/clock.h"
#include "ticketq/openapi.h"
#include "ticketq/validate.h"

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

// What a client is told when Redis could not serve it; details go to the log.
const char* fault_text(Fault f) {
  switch (f) {
    case Fault::kTimeout:
      return "redis did not answer in time";
    case Fault::kOverloaded:
      return "too many requests waiting for redis";
    case Fault::kError:
      return "redis could not run the request";
    case Fault::kUnavailable:
    case Fault::kNone:
      break;
  }
  return "redis is unavailable";
}

// The admin token: exactly one X-Token header that matches.
bool authorized(evhttp_request* req, const std::string& expected) {
  const char* token = nullptr;
  int count = 0;
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (strcasecmp(h->key, "X-Token") == 0) {
      token = h->value;
      ++count;
    }
  }
  return count == 1 && token_matches(token, expected);
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
                           ScriptRunner& redis, LoopMetrics& metrics)
    : http_(evhttp_new(base)),
      guard_(base, http_,
             ConnectionLimits{cfg.max_connections, cfg.request_read_timeout_ms,
                              cfg.max_requests_per_connection},
             metrics.shared().open_connections, &metrics),
      cfg_(cfg),
      core_(core),
      metrics_(metrics),
      coalescer_(base, core, static_cast<size_t>(cfg.batch_max), &metrics),
      redis_(redis),
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

HttpFrontend::~HttpFrontend() {
  stop_accepting();
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

void HttpFrontend::finish(const Call& call, int code, const std::string& body,
                          const char* content_type) {
  evhttp_request* req = call.req;
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", content_type);
  evhttp_add_header(out, "X-Request-Id", call.id.c_str());
  if (code == 503) evhttp_add_header(out, "Retry-After", "1");
  double seconds = static_cast<double>(now_us() - call.start_us) / 1e6;
  metrics_.request(call.route, code, seconds);
  if (cfg_.access_log) {
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    spdlog::info("access id={} method={} path={} status={} duration_ms={:.3f} route={}", call.id,
                 method_name(evhttp_request_get_command(req)), path ? path : "-", code,
                 seconds * 1e3, call.route);
  }
  evhttp_cmd_type method = evhttp_request_get_command(req);
  if (method == EVHTTP_REQ_CONNECT) evhttp_add_header(out, "Connection", "close");
  // Framed by us: libevent 2.1 leaves CONNECT replies unframed and would send
  // a body after HEAD, which only announces it.
  evhttp_add_header(out, "Content-Length", std::to_string(body.size()).c_str());
  evbuffer* buf = evbuffer_new();
  if (method != EVHTTP_REQ_HEAD) evbuffer_add(buf, body.data(), body.size());
  evhttp_send_reply(req, code, nullptr, buf);
  evbuffer_free(buf);
}

void HttpFrontend::reply(const Call& call, int code, const Json& body) {
  std::string text = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  text += '\n';
  finish(call, code, text);
}

void HttpFrontend::reply_error(const Call& call, int code, const std::string& why) {
  reply(call, code, Json{{"error", why}});
}

bool HttpFrontend::reply_failure(const Call& call, const Outcome& o, const std::string& event) {
  if (o.fault != Fault::kNone) {
    spdlog::debug("request {}: 503: {}", call.id, o.detail);
    reply_error(call, 503, fault_text(o.fault));
    return true;
  }
  if (o.no_event) {
    reply_error(call, 404, "event '" + event + "' does not exist");
    return true;
  }
  return false;
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
  Call call{req, "unmatched", now_us(), self->request_id(req)};
  ConnectionGuard::ReadVerdict read = self->guard_.request_read(req);
  if (read.close_after)
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
  if (read.nul_byte) return self->reply_error(call, 400, "NUL byte in the request");
  const char* method = method_name(evhttp_request_get_command(req));
  if (const char* why = framing_error(req)) {
    // The rest of the stream cannot be trusted to be framed as we read it.
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    return self->reply_error(call, 400, why);
  }

  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  if (path == nullptr || *path == '\0') path = "/";
  RouteResult rr = match_route(method, path);
  if (rr.kind == RouteResult::Kind::kNotFound) return self->reply_error(call, 404, "no such route");
  if (rr.kind == RouteResult::Kind::kMethodNotAllowed) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", rr.allow.c_str());
    return self->reply_error(call, 405, std::string("method ") + method + " not allowed here");
  }
  call.route = op_name(rr.route.op);
  // libevent merges chunked trailers into the request headers, so an admin
  // call must not be chunked: its token may only come from the headers.
  if (rr.route.admin &&
      evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding") != nullptr)
    return self->reply_error(call, 400, "admin calls must not use a chunked body");
  if (rr.route.admin && !authorized(req, self->cfg_.admin_token))
    return self->reply(call, 401, Json{{"error", "unauthorized"}});
  if (!rr.route.bad_param.empty()) return self->reply_error(call, 400, rr.route.bad_param);
  self->dispatch(std::move(call), rr.route);
}

void HttpFrontend::dispatch(Call call, const Route& route) {
  switch (route.op) {
    case Op::kReserve:
      return do_reserve(std::move(call), route);
    case Op::kStatus:
      return do_status(std::move(call), route);
    case Op::kProcessQueue:
      return do_promote(std::move(call), route);
    case Op::kReset:
      return do_reset(std::move(call), route);
    case Op::kEventPut:
      return do_put_event(std::move(call), route);
    case Op::kEventGet:
      return do_get_event(std::move(call), route);
    case Op::kHealth:
      return do_health(std::move(call));
    case Op::kMetrics:
      return do_metrics(std::move(call));
    case Op::kOpenApi:
      return finish(call, 200, std::string(openapi_yaml()), "application/yaml");
    case Op::kReady:
      if (redis_.ready()) return reply(call, 200, Json{{"status", "ready"}});
      return reply(call, 503, Json{{"status", "not_ready"}});
  }
}

// ----------------------------------------------------------------- handlers --
// Each handler validates first, then makes one core call; its callback runs
// on this loop and replies exactly once.

void HttpFrontend::do_reserve(Call call, const Route& route) {
  auto parsed = parse_reserve_body(body_of(call.req));
  if (!parsed.ok()) return reply_error(call, 400, parsed.error);
  std::string user = parsed.value->empty() ? make_uuid_v4() : std::move(*parsed.value);
  if (seen_events_.insert(route.event).second) metrics_.shared().note_event(route.event);
  ++inflight_;
  coalescer_.reserve(route.event, user,
                     [this, call = std::move(call), user, event = route.event](ReserveResult r) {
                       --inflight_;
                       if (reply_failure(call, r, event)) return;
                       Json body{{"status", ""}, {"user_id", user}};
                       int code = 200;
                       switch (r.status) {
                         case ReserveStatus::kReserved:
                           body["status"] = "reserved";
                           break;
                         case ReserveStatus::kAlreadyReserved:
                           body["status"] = "already_reserved";
                           break;
                         case ReserveStatus::kQueued:
                           body["status"] = "queued";
                           body["position"] = r.position;
                           break;
                         case ReserveStatus::kAlreadyInQueue:
                           body["status"] = "already_in_queue";
                           body["position"] = r.position;
                           break;
                         case ReserveStatus::kSoldOut:
                           body["status"] = "sold_out";
                           code = 409;
                           break;
                       }
                       reply(call, code, body);
                     });
}

void HttpFrontend::do_status(Call call, const Route& route) {
  ++inflight_;
  coalescer_.status(
      route.event, route.user_id,
      [this, call = std::move(call), user = route.user_id, event = route.event](StatusResult r) {
        --inflight_;
        if (reply_failure(call, r, event)) return;
        switch (r.status) {
          case UserStatus::kReserved:
            return reply(call, 200, Json{{"status", "reserved"}, {"user_id", user}});
          case UserStatus::kInQueue:
            return reply(call, 200,
                         Json{{"status", "in_queue"}, {"user_id", user}, {"position", r.position}});
          case UserStatus::kNotFound:
            return reply(call, 404, Json{{"status", "not_found"}, {"user_id", user}});
        }
      });
}

void HttpFrontend::do_promote(Call call, const Route& route) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(call.req);
  const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
  std::string error;
  auto text = query_param(query != nullptr ? query : "", "limit", &error);
  if (!error.empty()) return reply_error(call, 400, error);
  auto limit = parse_promote_limit(text ? std::optional<std::string_view>(*text) : std::nullopt);
  if (!limit.ok()) return reply_error(call, 400, limit.error);
  ++inflight_;
  core_.promote(route.event, *limit.value,
                [this, call = std::move(call), event = route.event](PromoteResult r) {
                  --inflight_;
                  if (reply_failure(call, r, event)) return;
                  size_t count = r.promoted.size();
                  if (count > 0) metrics_.promoted(event, count);
                  reply(call, 200,
                        Json{{"status", "queue_processed"},
                             {"promoted_users", std::move(r.promoted)},
                             {"promoted_count", count},
                             {"remaining", r.remaining}});
                });
}

void HttpFrontend::do_reset(Call call, const Route& route) {
  ++inflight_;
  core_.reset(route.event, [this, call = std::move(call), event = route.event](ResetResult r) {
    --inflight_;
    if (reply_failure(call, r, event)) return;
    reply(call, 200, Json{{"status", "reset_done"}});
  });
}

void HttpFrontend::do_put_event(Call call, const Route& route) {
  auto parsed = parse_event_body(body_of(call.req));
  if (!parsed.ok()) return reply_error(call, 400, parsed.error);
  EventSettings s = *parsed.value;
  if (seen_events_.insert(route.event).second) metrics_.shared().note_event(route.event);
  ++inflight_;
  core_.put_event(
      route.event, s, [this, call = std::move(call), s, event = route.event](PutEventResult r) {
        --inflight_;
        if (r.below_reserved)
          return reply_error(call, 409,
                             "capacity " + std::to_string(s.capacity) + " is below the " +
                                 std::to_string(r.reserved) + " seats already reserved");
        if (reply_failure(call, r, event)) return;
        reply(call, r.created ? 201 : 200,
              Json{{"status", r.created ? "created" : "updated"},
                   {"event", event},
                   {"capacity", s.capacity},
                   {"queue_limit", s.queue_limit}});
      });
}

void HttpFrontend::do_get_event(Call call, const Route& route) {
  ++inflight_;
  core_.get_event(route.event, [this, call = std::move(call), event = route.event](EventInfo r) {
    --inflight_;
    if (reply_failure(call, r, event)) return;
    reply(call, 200,
          Json{{"event", event},
               {"capacity", r.settings.capacity},
               {"queue_limit", r.settings.queue_limit},
               {"reserved", r.reserved},
               {"waiting", r.waiting},
               {"promoted", r.promoted}});
  });
}

void HttpFrontend::do_health(Call call) {
  ++inflight_;
  redis_.ping([this, call = std::move(call)](ScriptReply&& r) {
    --inflight_;
    if (r.fault == Fault::kNone) return reply(call, 200, Json{{"status", "healthy"}});
    reply(call, 503, Json{{"status", "unhealthy"}, {"error", fault_text(r.fault)}});
  });
}

// Reads the live counts of every event served so far from Redis (one script
// call each, all pipelined), then renders. Counts of events Redis could not
// answer for keep their last value.
void HttpFrontend::do_metrics(Call call) {
  std::set<std::string> events = metrics_.shared().events();
  events.insert(kDefaultEvent);
  auto pending = std::make_shared<size_t>(events.size());
  auto call_ptr = std::make_shared<Call>(std::move(call));
  ++inflight_;
  for (const std::string& event : events) {
    core_.get_event(event, [this, pending, call_ptr, event](EventInfo r) {
      if (r.ok()) {
        metrics_.shared().event_reserved.Add({{"event", event}}).Set(double(r.reserved));
        metrics_.shared().event_waiting.Add({{"event", event}}).Set(double(r.waiting));
      }
      if (--*pending > 0) return;
      --inflight_;
      finish(*call_ptr, 200, metrics_.shared().render(), "text/plain; version=0.0.4");
    });
  }
}

}  // namespace ticketq
