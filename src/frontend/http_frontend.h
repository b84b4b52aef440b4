// The HTTP front end of one event loop: it stands between the transport
// (http_server.h: connections, parsing, limits, writes) and the API's
// handlers. It knows the routes and the credentials, not the wire.
//
// Request path:
//   client connection (HttpServer: every limit and framing rule)
//     -> on_request: route (router.h), admin token (auth.h), path
//        parameters; a Reply (reply.h) is made here
//     -> Api (api.h): body and query validation, then one queue operation
//     -> Coalescer / QueueCore -> RedisGateway -> one Lua script in Redis
//     -> callback on this same loop -> Reply -> deliver(): headers, metrics,
//        access log -> HttpServer::respond; exactly once per request.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "config/config.h"
#include "core/queue_core.h"
#include "frontend/api.h"
#include "tokens/tokens.h"
#include "transport/http_server.h"
#include "transport/reply.h"

struct event_base;

namespace ticketq {

// What the event loops of a process count together.
struct SharedCounts {
  KeyedCounts clients;  // open connections per client address
  KeyedCounts streams;  // open event streams per user of an event
};

class HttpFrontend final : public ReplySink, public StreamSink, public HttpHandler {
 public:
  HttpFrontend(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis,
               LoopMetrics& metrics, const Tokens& tokens, SharedCounts& counts);
  ~HttpFrontend() override;
  HttpFrontend(const HttpFrontend&) = delete;
  HttpFrontend& operator=(const HttpFrontend&) = delete;

  // Starts accepting on an already listening socket (owned from then on).
  bool accept_on(int fd) { return server_.accept_on(fd); }
  // Closes the listening socket; open connections keep being served.
  void stop_accepting() { server_.stop_accepting(); }
  // Shutdown: every reply from now on says Connection: close, so
  // keep-alive clients go away after their answer.
  void start_draining() { server_.start_draining(); }
  // Shutdown: streams are told to reconnect elsewhere, and ended.
  void end_streams() { api_->end_streams(); }
  // Requests not answered yet.
  int64_t inflight() const { return unanswered(); }
  // Client connections of this loop still open.
  size_t connections() const { return server_.connections(); }

  void on_request(HttpExchange ex, const ParsedRequest& req, std::string body) override;
  void deliver(const RequestInfo& info, Response r) override;
  StreamHandle open_stream(const RequestInfo& info, Response head,
                           std::function<void()> on_close) override;
  bool push(StreamHandle s, std::string_view data) override;
  void end_stream(StreamHandle s) override;

 private:
  std::string request_id(const ParsedRequest& req);
  IpAddress client_of(HttpExchange ex, const ParsedRequest& req) const;
  static bool from_own_page(const ParsedRequest& req);
  // The header lines of a reply (in headers_), with its metrics and log line.
  const std::string& reply_headers(const RequestInfo& info, const Response& r);
  // CORS (docs/pages.md): whether a page of `origin` may call the API.
  bool origin_allowed(std::string_view origin) const;
  // `rr`: the path routed by the method `asked` about.
  void preflight(Reply reply, std::optional<std::string_view> origin, std::string_view asked,
                 const RouteResult& rr);

  const Config& cfg_;
  LoopMetrics& metrics_;
  HttpServer server_;
  std::unique_ptr<Api> api_;  // after server_: destroyed first
  std::string headers_;       // a reply's header lines, being written
  std::string id_prefix_;     // random per loop, for generated request ids
  std::vector<std::string> cors_origins_;
  bool cors_any_ = false;
  uint64_t id_counter_ = 0;
};

}  // namespace ticketq
