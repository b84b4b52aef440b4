// Exactly-once replies, by construction.
//
// Every request that reaches a handler is given one Reply. Copies of it
// share one state, so it can travel through callbacks (std::function wants
// copies). The first send() answers the request; any later one is a bug,
// logged and ignored. Should the last copy go away unanswered (a callback
// dropped, a path nobody mapped), the request is answered 503 then, so no
// client waits forever and no request leaks.
//
// The transport (http_frontend.h) is a ReplySink: it turns a Response into
// bytes on the connection. Replies outliving their sink are dropped quietly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ticketq {

// What a reply needs to know of its request, besides the transport's handle.
struct RequestInfo {
  void* handle = nullptr;           // the transport's connection
  uint32_t seq = 0;                 // the request's place on it
  const char* route = "unmatched";  // metrics label: a string literal
  int64_t start_us = 0;             // arrival, for the duration metric and log
  std::string id;                   // X-Request-Id
  // A seed-compatible route: error bodies also carry "detail", the field
  // clients of the original FastAPI server read.
  bool seed = false;
  std::string_view method;  // a name of static storage ("GET", ...)
  std::string path;         // for the access log; empty when it is off
  std::string client;       // for the access log: the client's address (client_address.h)
};

struct Response {
  Response(int c = 200, std::string b = {}, const char* type = "application/json",
           const char* allow_methods = nullptr, const char* cache = nullptr)
      : code(c),
        body(std::move(b)),
        content_type(type),
        allow(allow_methods),
        cache_control(cache) {}

  int code = 200;
  std::string body;
  const char* content_type = "application/json";
  const char* allow = nullptr;          // for 405: the Allow header
  const char* cache_control = nullptr;  // the Cache-Control header, when set
  std::string headers;                  // more header lines, each ending in CRLF
};

// A response that goes on after its head (Server-Sent Events): the
// transport's handle of it, valid until end_stream() or its on_close.
using StreamHandle = void*;

// Where a stream's bytes go once it is open.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues bytes; false when the stream is gone or the client reads too
  // slowly (it is closed then, and its on_close runs later).
  virtual bool push(StreamHandle s, std::string_view data) = 0;
  // Ends the stream, then its connection.
  virtual void end_stream(StreamHandle s) = 0;
};

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // Sends `r` for the request; called exactly once per request.
  virtual void deliver(const RequestInfo& info, Response r) = 0;
  // Or answers it with a stream: `head` now (its body is ignored), then
  // what is pushed to the handle. `on_close` runs once if the client goes
  // before end_stream(), at the end of a loop turn. Null when the client
  // has gone already.
  virtual StreamHandle open_stream(const RequestInfo& info, Response head,
                                   std::function<void()> on_close) = 0;
  // Requests handed a Reply and not answered yet.
  int64_t unanswered() const { return unanswered_; }

 private:
  friend class Reply;
  int64_t unanswered_ = 0;
  // Lets a Reply tell whether its sink still exists.
  std::shared_ptr<ReplySink*> self_ = std::make_shared<ReplySink*>(this);
};

class Reply {
 public:
  Reply(ReplySink& sink, RequestInfo info);

  void send(Response r);
  // JSON body with a trailing newline; on a seed route an error body
  // (>= 400, with "error") also carries "detail", the same text.
  void json(int code, nlohmann::ordered_json body, const char* allow = nullptr);
  // {"error": why}
  void error(int code, const std::string& why, const char* allow = nullptr);
  // A JSON body written already (base/json_writer.h, no "error" in it),
  // sent with its trailing newline: the hot replies.
  void json_body(int code, std::string body);

  // Answers with a stream (ReplySink::open_stream); null if the client
  // has gone.
  StreamHandle stream(Response head, std::function<void()> on_close);
  // A header line ("Name: value", no CRLF) for the reply, whichever it is.
  void add_header(std::string_view line);

  bool answered() const;
  const RequestInfo& info() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ticketq
