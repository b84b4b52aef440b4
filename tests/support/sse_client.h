// A blocking Server-Sent Events client for tests: one GET on its own
// connection, the response head, then the stream's events as they arrive
// (chunked or close-delimited), with a hard timeout on every wait.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "support/http_client.h"

namespace ticketq::test {

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
  nlohmann::json json() const { return nlohmann::json::parse(data, nullptr, false); }
};

class SseClient {
 public:
  // Connects and sends the request; then reads the response head (or the
  // whole response, when it is not a stream) within `timeout`.
  SseClient(int port, const std::string& target, const Headers& headers = {},
            Millis timeout = Millis(5000));
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  // The response head (status 0 and `error` when none came).
  const HttpResponse& head() const { return head_; }
  int status() const { return head_.status; }
  bool streaming() const { return streaming_; }
  // The next event within `timeout`; nullopt when none came or the stream ended.
  std::optional<SseEvent> next(Millis timeout = Millis(5000));
  // Comment lines (heartbeats) read so far, and the last retry: field.
  int comments() const { return comments_; }
  int64_t retry_ms() const { return retry_ms_; }
  // The server ended the stream (last chunk, or closed the connection).
  bool ended() const { return ended_; }
  // Waits until the server closes the connection; false on timeout.
  bool wait_closed(Millis timeout);
  // Closes the client's end.
  void close();
  // Stops reading: the socket's receive buffer fills, then the server's.
  int fd() const { return fd_; }

 private:
  bool read_more(int64_t deadline);  // false: timeout or closed
  void decode();                     // raw_ -> text_ (de-chunked)
  std::optional<SseEvent> take_event();

  int fd_ = -1;
  HttpResponse head_;
  bool streaming_ = false;
  bool chunked_ = false;
  bool ended_ = false;
  bool closed_ = false;
  std::string raw_;   // bytes after the head, not decoded yet
  std::string text_;  // the stream's text, not parsed yet
  int comments_ = 0;
  int64_t retry_ms_ = 0;
};

}  // namespace ticketq::test
