// The HTTP front end of one event loop (evhttp).
//
// Request path:
//   client connection (evhttp, limits set here)
//     -> on_request: framing checks, route (router.h), admin token (auth.h)
//     -> handler: body and query validation (validate.h)
//     -> Coalescer (reserve, status: one script call per loop turn and event)
//     -> QueueCore operation -> RedisGateway -> one Lua script in Redis
//     -> callback on this same loop -> JSON reply, sent exactly once.
//
// Error policy: a client mistake gets a 4xx with {"error": reason} and never
// reaches Redis; a Redis fault (down, slow, error) gets 503 with Retry-After;
// nothing a client sends can produce another 5xx.
#pragma once

#include <cstdint>
#include <string>

#include "ticketq/coalescer.h"
#include "ticketq/config.h"
#include "ticketq/queue_core.h"
#include "ticketq/router.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;

namespace ticketq {

class HttpFrontend {
 public:
  HttpFrontend(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis);
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
  static void on_request(evhttp_request* req, void* arg);
  void dispatch(evhttp_request* req, const Route& route);

  void do_reserve(evhttp_request* req, const Route& route);
  void do_status(evhttp_request* req, const Route& route);
  void do_promote(evhttp_request* req, const Route& route);
  void do_reset(evhttp_request* req, const Route& route);
  void do_put_event(evhttp_request* req, const Route& route);
  void do_get_event(evhttp_request* req, const Route& route);
  void do_health(evhttp_request* req);

  // Replies for outcomes every operation shares (fault -> 503, no event ->
  // 404). Returns true when it replied.
  bool reply_failure(evhttp_request* req, const Outcome& o, const std::string& event);

  evhttp* http_;
  const Config& cfg_;
  QueueCore& core_;
  Coalescer coalescer_;
  ScriptRunner& redis_;
  evhttp_bound_socket* listener_ = nullptr;
  int64_t inflight_ = 0;
};

}  // namespace ticketq
