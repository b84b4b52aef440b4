#include "ticketq/http_frontend.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <nlohmann/json.hpp>

#include "ticketq/auth.h"
#include "ticketq/validate.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

// ------------------------------------------------------------------ replies --

void reply(evhttp_request* req, int code, const Json& body) {
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", "application/json");
  if (code == 503) evhttp_add_header(out, "Retry-After", "1");
  std::string text = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  text += '\n';
  evbuffer* buf = evbuffer_new();
  evbuffer_add(buf, text.data(), text.size());
  evhttp_send_reply(req, code, nullptr, buf);
  evbuffer_free(buf);
}

void reply_error(evhttp_request* req, int code, const std::string& why) {
  reply(req, code, Json{{"error", why}});
}

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
// smuggling): Content-Length given with Transfer-Encoding, or given twice
// with different values.
const char* framing_error(evhttp_request* req) {
  const char* length = nullptr;
  bool has_te = false;
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (strcasecmp(h->key, "Transfer-Encoding") == 0) has_te = true;
    if (strcasecmp(h->key, "Content-Length") != 0) continue;
    if (length != nullptr && strcmp(length, h->value) != 0)
      return "conflicting Content-Length headers";
    length = h->value;
  }
  if (length != nullptr && has_te) return "Content-Length together with Transfer-Encoding";
  return nullptr;
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

}  // namespace

// ---------------------------------------------------------------- lifecycle --

HttpFrontend::HttpFrontend(event_base* base, const Config& cfg, QueueCore& core,
                           ScriptRunner& redis)
    : http_(evhttp_new(base)), cfg_(cfg), core_(core), coalescer_(base, core, static_cast<size_t>(cfg.batch_max)), redis_(redis) {
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
  evhttp_free(http_);
}

bool HttpFrontend::accept_on(int fd) {
  listener_ = evhttp_accept_socket_with_handle(http_, fd);
  return listener_ != nullptr;
}

void HttpFrontend::stop_accepting() {
  if (listener_ == nullptr) return;
  evhttp_del_accept_socket(http_, listener_);
  listener_ = nullptr;
}

// ------------------------------------------------------------------ routing --

void HttpFrontend::on_request(evhttp_request* req, void* arg) {
  auto* self = static_cast<HttpFrontend*>(arg);
  const char* method = method_name(evhttp_request_get_command(req));
  if (const char* why = framing_error(req)) {
    // The rest of the stream cannot be trusted to be framed as we read it.
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    return reply_error(req, 400, why);
  }

  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  if (path == nullptr || *path == '\0') path = "/";
  RouteResult rr = match_route(method, path);
  if (rr.kind == RouteResult::Kind::kNotFound) return reply_error(req, 404, "no such route");
  if (rr.kind == RouteResult::Kind::kMethodNotAllowed) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", rr.allow.c_str());
    return reply_error(req, 405, std::string("method ") + method + " not allowed here");
  }
  if (rr.route.admin && !authorized(req, self->cfg_.admin_token))
    return reply(req, 401, Json{{"error", "unauthorized"}});
  if (!rr.route.bad_param.empty()) return reply_error(req, 400, rr.route.bad_param);
  self->dispatch(req, rr.route);
}

void HttpFrontend::dispatch(evhttp_request* req, const Route& route) {
  switch (route.op) {
    case Op::kReserve:
      return do_reserve(req, route);
    case Op::kStatus:
      return do_status(req, route);
    case Op::kProcessQueue:
      return do_promote(req, route);
    case Op::kReset:
      return do_reset(req, route);
    case Op::kEventPut:
      return do_put_event(req, route);
    case Op::kEventGet:
      return do_get_event(req, route);
    case Op::kHealth:
      return do_health(req);
    case Op::kReady:
      if (redis_.ready()) return reply(req, 200, Json{{"status", "ready"}});
      return reply(req, 503, Json{{"status", "not_ready"}});
  }
}

bool HttpFrontend::reply_failure(evhttp_request* req, const Outcome& o, const std::string& event) {
  if (o.fault != Fault::kNone) {
    reply_error(req, 503, "redis unavailable: " + o.detail);
    return true;
  }
  if (o.no_event) {
    reply_error(req, 404, "event '" + event + "' does not exist");
    return true;
  }
  return false;
}

// ----------------------------------------------------------------- handlers --
// Each handler validates first, then makes one core call; its callback runs
// on this loop and replies exactly once.

void HttpFrontend::do_reserve(evhttp_request* req, const Route& route) {
  auto parsed = parse_reserve_body(body_of(req));
  if (!parsed.ok()) return reply_error(req, 400, parsed.error);
  std::string user = parsed.value->empty() ? make_uuid_v4() : std::move(*parsed.value);
  ++inflight_;
  coalescer_.reserve(route.event, user, [this, req, user, event = route.event](ReserveResult r) {
    --inflight_;
    if (reply_failure(req, r, event)) return;
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
    reply(req, code, body);
  });
}

void HttpFrontend::do_status(evhttp_request* req, const Route& route) {
  ++inflight_;
  coalescer_.status(
      route.event, route.user_id,
      [this, req, user = route.user_id, event = route.event](StatusResult r) {
        --inflight_;
        if (reply_failure(req, r, event)) return;
        switch (r.status) {
          case UserStatus::kReserved:
            return reply(req, 200, Json{{"status", "reserved"}, {"user_id", user}});
          case UserStatus::kInQueue:
            return reply(req, 200,
                         Json{{"status", "in_queue"}, {"user_id", user}, {"position", r.position}});
          case UserStatus::kNotFound:
            return reply(req, 404, Json{{"status", "not_found"}, {"user_id", user}});
        }
      });
}

void HttpFrontend::do_promote(evhttp_request* req, const Route& route) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
  std::string error;
  auto text = query_param(query != nullptr ? query : "", "limit", &error);
  if (!error.empty()) return reply_error(req, 400, error);
  auto limit = parse_promote_limit(text ? std::optional<std::string_view>(*text) : std::nullopt);
  if (!limit.ok()) return reply_error(req, 400, limit.error);
  ++inflight_;
  core_.promote(route.event, *limit.value, [this, req, event = route.event](PromoteResult r) {
    --inflight_;
    if (reply_failure(req, r, event)) return;
    size_t count = r.promoted.size();
    reply(req, 200,
          Json{{"status", "queue_processed"},
               {"promoted_users", std::move(r.promoted)},
               {"promoted_count", count},
               {"remaining", r.remaining}});
  });
}

void HttpFrontend::do_reset(evhttp_request* req, const Route& route) {
  ++inflight_;
  core_.reset(route.event, [this, req, event = route.event](ResetResult r) {
    --inflight_;
    if (reply_failure(req, r, event)) return;
    reply(req, 200, Json{{"status", "reset_done"}});
  });
}

void HttpFrontend::do_put_event(evhttp_request* req, const Route& route) {
  auto parsed = parse_event_body(body_of(req));
  if (!parsed.ok()) return reply_error(req, 400, parsed.error);
  EventSettings s = *parsed.value;
  ++inflight_;
  core_.put_event(route.event, s, [this, req, s, event = route.event](PutEventResult r) {
    --inflight_;
    if (r.below_reserved)
      return reply_error(req, 409,
                         "capacity " + std::to_string(s.capacity) + " is below the " +
                             std::to_string(r.reserved) + " seats already reserved");
    if (reply_failure(req, r, event)) return;
    reply(req, r.created ? 201 : 200,
          Json{{"status", r.created ? "created" : "updated"},
               {"event", event},
               {"capacity", s.capacity},
               {"queue_limit", s.queue_limit}});
  });
}

void HttpFrontend::do_get_event(evhttp_request* req, const Route& route) {
  ++inflight_;
  core_.get_event(route.event, [this, req, event = route.event](EventInfo r) {
    --inflight_;
    if (reply_failure(req, r, event)) return;
    reply(req, 200,
          Json{{"event", event},
               {"capacity", r.settings.capacity},
               {"queue_limit", r.settings.queue_limit},
               {"reserved", r.reserved},
               {"waiting", r.waiting},
               {"promoted", r.promoted}});
  });
}

void HttpFrontend::do_health(evhttp_request* req) {
  ++inflight_;
  redis_.ping([this, req](ScriptReply&& r) {
    --inflight_;
    if (r.fault == Fault::kNone) return reply(req, 200, Json{{"status", "healthy"}});
    reply(req, 503, Json{{"status", "unhealthy"}, {"error", r.detail}});
  });
}

}  // namespace ticketq
