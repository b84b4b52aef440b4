#include "frontend/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/clock.h"
#include "base/validate.h"
#include "frontend/openapi.h"
#include "tokens/auth.h"

namespace ticketq {

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

Api::Api(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis,
         LoopMetrics& metrics, const Tokens& tokens, StreamSink& streams, KeyedCounts& user_streams)
    : cfg_(cfg),
      core_(core),
      redis_(redis),
      metrics_(metrics),
      tokens_(tokens),
      coalescer_(base, core, static_cast<size_t>(cfg.batch_max), &metrics),
      watchers_(base, core, streams, tokens,
                // Heartbeats well inside the idle timeout, which they keep off.
                WatchOptions{.tick_ms = cfg.stream_tick_ms,
                             .heartbeat_ms = std::min(cfg.stream_heartbeat_s * 1000,
                                                      cfg.idle_timeout_s * 1000 / 2),
                             .per_user = &user_streams,
                             .max_per_user = cfg.max_streams_per_user},
                &metrics),
      page_headers_(page_headers(cfg.booking_url)) {}

void Api::handle(const Request& req, Reply reply) {
  switch (req.route.op) {
    case Op::kReserve:
      return reserve(req, std::move(reply));
    case Op::kStatus:
      return status(req, std::move(reply));
    case Op::kProcessQueue:
      return promote(req, std::move(reply));
    case Op::kReset:
      return reset(req, std::move(reply));
    case Op::kEventPut:
      return put_event(req, std::move(reply));
    case Op::kEventGet:
      return get_event(req, std::move(reply));
    case Op::kEventHistory:
      return event_history(req, std::move(reply));
    case Op::kLeave:
      return leave(req, std::move(reply));
    case Op::kCancel:
      return cancel(req, std::move(reply));
    case Op::kConfirm:
      return confirm(req, std::move(reply));
    case Op::kVerify:
      return verify(req, std::move(reply));
    case Op::kEventList:
      return list_events(std::move(reply));
    case Op::kHealth:
      return health(std::move(reply));
    case Op::kMetrics:
      // Scrapers send the metrics token as a bearer token; an operator's
      // tools may send the admin token.
      if (!cfg_.metrics_token.empty() && !req.admin &&
          !token_matches(req.bearer, cfg_.metrics_token))
        return reply.error(401, "/metrics needs the metrics token (Authorization: Bearer)");
      return metrics(std::move(reply));
    case Op::kOpenApi:
      return reply.send(Response{200, std::string(openapi_yaml()), "application/yaml"});
    case Op::kJwks:
      return jwks(std::move(reply));
    case Op::kStream:
      return stream(req, std::move(reply));
    case Op::kWaitPage:
    case Op::kAdminPage:
      return page(req, std::move(reply));
    case Op::kAsset:
      return asset(req, std::move(reply));
    case Op::kWaitStatus:
      return wait_status(req, std::move(reply));
    case Op::kWaitJoin:
      return wait_join(req, std::move(reply));
    case Op::kWaitLeave:
      return wait_leave(req, std::move(reply));
    case Op::kReady:
      return ready(req, std::move(reply));
  }
}

bool Api::reply_failure(Reply& reply, const Outcome& o, const std::string& event) {
  if (o.fault != Fault::kNone) {
    spdlog::debug("request {}: 503: {}", reply.info().id, o.detail);
    reply.error(503, fault_text(o.fault));
    return true;
  }
  if (o.no_event) {
    reply.error(404, "event '" + event + "' does not exist");
    return true;
  }
  note_event(event);
  return false;
}

TokenCheck Api::check_token(std::string_view token, const std::string& event,
                            std::initializer_list<TokenKind> kinds) const {
  TokenCheck t;
  for (TokenKind kind : kinds) {
    t = tokens_.verify(token, kind, event, unix_now_s());
    if (t.error != TokenError::kWrongKind) break;
  }
  return t;
}

std::optional<Api::Actor> Api::actor(const Request& req, Reply& reply,
                                     std::initializer_list<TokenKind> kinds) {
  if (!req.bearer.empty()) {
    TokenCheck t = check_token(req.bearer, req.route.event, kinds);
    if (!t.ok()) {
      reply.error(401, std::string("token refused: ") + t.reason());
      return std::nullopt;
    }
    return Actor{std::move(t.claims.sub), t.claims.tkt};
  }
  if (req.admin) {
    auto parsed = parse_reserve_body(req.body);
    if (!parsed.ok()) {
      reply.error(400, parsed.error);
      return std::nullopt;
    }
    if (parsed.value->empty()) {
      reply.error(400, "user_id is required");
      return std::nullopt;
    }
    return Actor{std::move(*parsed.value), std::nullopt};
  }
  std::string wanted;
  for (TokenKind kind : kinds)
    wanted += std::string(wanted.empty() ? "" : " or ") + token_kind_name(kind);
  const char* article = wanted[0] == 'a' ? "an " : "a ";
  reply.error(401,
              article + wanted + " token (Authorization: Bearer) or the admin token is required");
  return std::nullopt;
}

void Api::note_event(const std::string& event) {
  if (noted_events_.size() >= Metrics::kMaxTrackedEvents || noted_events_.count(event) != 0) return;
  noted_events_.insert(event);
  metrics_.shared().note_event(event);
}

}  // namespace ticketq
