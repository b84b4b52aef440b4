// The HTTP front end of one event loop (evhttp).
//
// Request path:
//   client connection (evhttp, limits set here)
//     -> on_request: framing checks, route (router.h), admin token (auth.h)
//     -> handler: body and query validation (validate.h)
//     -> Coalescer (reserve, status: one script call per loop turn and event)
//     -> QueueCore operation -> RedisGateway -> one Lua script in Redis
//     -> callback on this same loop -> JSON reply, sent exactly once
//        (metrics, access log and X-Request-Id in finish()).
//
// Error policy: a client mistake gets a 4xx with {"error": reason} and never
// reaches Redis; a Redis fault (down, slow, error) gets 503 with Retry-After;
// nothing a client sends can produce another 5xx.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "ticketq/coalescer.h"
#include "ticketq/config.h"
#include "ticketq/connection_guard.h"
#include "ticketq/metrics.h"
#include "ticketq/queue_core.h"
#include "ticketq/router.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;

namespace ticketq {

class HttpFrontend {
 public:
  HttpFrontend(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis,
               LoopMetrics& metrics);
  ~HttpFrontend();
  HttpFrontend(const HttpFrontend&) = delete;
  HttpFrontend& operator=(const HttpFrontend&) = delete;

  // Starts accepting on an already listening socket (owned from then on).
  bool accept_on(int fd);
  // Closes the listening socket; open connections keep being served.
  void stop_accepting();
  // Requests waiting for Redis.
  int64_t inflight() const { return inflight_; }

 private:
  // A request being answered, with what its reply needs for logs and metrics.
  struct Call {
    evhttp_request* req;
    const char* route;  // metrics label
    int64_t start_us;
    std::string id;  // X-Request-Id
  };

  static void on_request(evhttp_request* req, void* arg);
  void dispatch(Call call, const Route& route);

  void do_reserve(Call call, const Route& route);
  void do_status(Call call, const Route& route);
  void do_promote(Call call, const Route& route);
  void do_reset(Call call, const Route& route);
  void do_put_event(Call call, const Route& route);
  void do_get_event(Call call, const Route& route);
  void do_health(Call call);
  void do_metrics(Call call);

  // Sends the reply, exactly once per request, and accounts for it.
  void finish(const Call& call, int code, const std::string& body,
              const char* content_type = "application/json");
  void reply(const Call& call, int code, const nlohmann::ordered_json& body);
  void reply_error(const Call& call, int code, const std::string& why);
  // Replies for outcomes every operation shares (fault -> 503, no event ->
  // 404). Returns true when it replied.
  bool reply_failure(const Call& call, const Outcome& o, const std::string& event);
  std::string request_id(evhttp_request* req);

  evhttp* http_;
  ConnectionGuard guard_;  // after http_: built on it, destroyed after evhttp_free
  const Config& cfg_;
  QueueCore& core_;
  LoopMetrics& metrics_;
  Coalescer coalescer_;
  ScriptRunner& redis_;
  evhttp_bound_socket* listener_ = nullptr;
  int64_t inflight_ = 0;
  std::string id_prefix_;  // random per loop, for generated request ids
  uint64_t id_counter_ = 0;
  std::set<std::string> seen_events_;  // reported to Metrics once each
};

}  // namespace ticketq
