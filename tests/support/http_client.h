// A small blocking HTTP/1.1 client over a TCP socket, for tests: keep-alive,
// Content-Length and chunked responses, hard timeouts so nothing hangs, and
// a raw mode that sends arbitrary bytes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/process_util.h"

namespace ticketq::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;     // 0: no response; `error` says why
  std::string error;  // transport failure (connect, timeout, garbled response)
  std::string version;
  std::string reason;
  Headers headers;                                           // in the order received
  std::string body;                                          // de-chunked
  nlohmann::json json = nlohmann::json::value_t::discarded;  // parsed body, when it is JSON
  bool keep_alive = false;  // the connection may carry another request
  int64_t elapsed_ms = 0;   // from sending the request to the whole response

  bool has_json() const { return !json.is_discarded(); }
  // Case-insensitive lookup of the first header with this name.
  std::optional<std::string> header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
  // For assertion messages.
  std::string describe() const;
};

// Parses one response from the front of `buf`. `eof`: the peer closed, so
// a close-delimited body ends here. `head`: the request was HEAD (no body).
enum class ParseResult { kNeedMore, kDone, kError };
ParseResult parse_response(std::string_view buf, bool eof, bool head, HttpResponse* out,
                           size_t* consumed);

// The bytes of one request. Adds Host, and Content-Length when there is a
// body or the method is POST/PUT/PATCH, unless `headers` already frame it.
std::string build_request(const std::string& method, const std::string& target,
                          const std::string& body = "", const Headers& headers = {}, int port = 0);

class HttpClient {
 public:
  explicit HttpClient(int port, Millis timeout = Millis(5000));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&& other) noexcept;

  // Sends one request on the kept-alive connection (opening one when
  // needed) and reads the whole response. Should a reused connection turn
  // out closed before any byte of the response, it reconnects and sends
  // once more.
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "", const Headers& headers = {});
  HttpResponse get(const std::string& target, const Headers& headers = {}) {
    return request("GET", target, "", headers);
  }
  HttpResponse post(const std::string& target, const std::string& body = "",
                    const Headers& headers = {}) {
    return request("POST", target, body, headers);
  }
  HttpResponse put(const std::string& target, const std::string& body,
                   const Headers& headers = {}) {
    return request("PUT", target, body, headers);
  }

  void close();
  bool connected() const { return fd_ >= 0; }
  int connections_opened() const { return connects_; }
  int port() const { return port_; }
  void set_timeout(Millis t) { timeout_ = t; }

 private:
  bool open(std::string* error);
  HttpResponse exchange(const std::string& bytes, bool head, int64_t deadline, bool* retryable);

  int port_;
  Millis timeout_;
  int fd_ = -1;
  int connects_ = 0;
  std::string pending_;  // bytes read past the previous response
};

// Raw mode: connects, sends `bytes` as they are, then reads until the peer
// closes, `timeout` passes, or (with stop_after_first) one full response
// arrived. For hostile input; never throws, never hangs.
struct RawResult {
  std::string data;  // every byte received
  bool peer_closed = false;
  bool timed_out = false;
  std::string error;                  // connect failure
  std::optional<HttpResponse> first;  // the first response, when one parsed
  int status() const { return first ? first->status : 0; }
};
RawResult raw_exchange(int port, std::string_view bytes, Millis timeout = Millis(3000),
                       bool stop_after_first = true);

}  // namespace ticketq::test
