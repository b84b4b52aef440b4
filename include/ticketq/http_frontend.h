// The HTTP front end of one event loop (evhttp): the transport. It knows
// the wire and its limits, not what the routes do.
//
// Request path:
//   client connection (evhttp, limits set here; ConnectionGuard for those
//   evhttp has no hooks for)
//     -> on_request: NUL bytes and framing checks, route (router.h), admin
//        token (auth.h), path parameters; a Reply (reply.h) is made here
//     -> Api (api.h): body and query validation, then one queue operation
//     -> Coalescer / QueueCore -> RedisGateway -> one Lua script in Redis
//     -> callback on this same loop -> Reply -> deliver(): headers, metrics,
//        access log, the bytes; exactly once per request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ticketq/api.h"
#include "ticketq/config.h"
#include "ticketq/connection_guard.h"
#include "ticketq/metrics.h"
#include "ticketq/queue_core.h"
#include "ticketq/reply.h"
#include "ticketq/tokens.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;

namespace ticketq {

class HttpFrontend final : public ReplySink {
 public:
  HttpFrontend(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis,
               LoopMetrics& metrics, const Tokens& tokens);
  ~HttpFrontend() override;
  HttpFrontend(const HttpFrontend&) = delete;
  HttpFrontend& operator=(const HttpFrontend&) = delete;

  // Starts accepting on an already listening socket (owned from then on).
  bool accept_on(int fd);
  // Closes the listening socket; open connections keep being served.
  void stop_accepting();
  // Shutdown: every reply from now on says Connection: close, so
  // keep-alive clients go away after their answer.
  void start_draining() { draining_ = true; }
  // Requests not answered yet.
  int64_t inflight() const { return unanswered(); }
  // Client connections of this loop still open.
  size_t connections() const { return guard_.connections(); }

  void deliver(const RequestInfo& info, Response r) override;

 private:
  static void on_request(evhttp_request* req, void* arg);
  std::string request_id(evhttp_request* req);

  evhttp* http_;
  ConnectionGuard guard_;  // after http_: built on it, destroyed after evhttp_free
  const Config& cfg_;
  LoopMetrics& metrics_;
  std::unique_ptr<Api> api_;
  evhttp_bound_socket* listener_ = nullptr;
  bool draining_ = false;
  std::string id_prefix_;  // random per loop, for generated request ids
  uint64_t id_counter_ = 0;
};

}  // namespace ticketq
