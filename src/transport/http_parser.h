// The HTTP/1.1 request parser of ticketq's own connection layer: bytes in as
// they arrive, whole requests out, one at a time, with every framing rule the
// server enforces. It wraps llhttp (Node.js's parser, strict mode, no lenient
// flags) and adds what llhttp lets through: a small byte scanner ahead of it
// refuses bare CR/LF, NUL, whitespace at the start of a header line (obs-fold),
// methods ticketq does not serve, HTTP versions other than 1.0/1.1 and long
// targets, always at the same byte whatever the split of the input.
//
// Errors are values: a status (400, 413, 414, 431, 501, 505) and a short
// English reason for the JSON error body. After an error the connection's
// byte stream can no longer be trusted: answer, then close.
//
// Pipelining: feed() stops at the end of each complete request; the caller
// answers it (in order), calls next(), and feeds the rest. Buffers are reused
// from request to request, so a keep-alive connection does not allocate in
// steady state. Nothing here touches a socket or libevent.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct llhttp__internal_s;  // llhttp_t; llhttp.h stays out of this header

namespace ticketq {

struct ParserLimits {
  // Request line and header section on the wire, CRLFs and leading empty
  // lines included; beyond it 431.
  size_t max_header_bytes = 8192;
  // Body after any chunked decoding; beyond it 413 (a declared
  // Content-Length at once, a chunk when its size line arrives). A chunked
  // body may take at most max_body_bytes + max_header_bytes on the wire
  // (data, size lines, extensions and trailers), else 413 too.
  size_t max_body_bytes = 4096;
  // The request target as sent; beyond it 414.
  size_t max_target_bytes = 2048;
  // Header fields; beyond it 431. (Their bytes are bounded by
  // max_header_bytes already; this bounds the work on many tiny ones.)
  size_t max_headers = 256;
};

struct HttpHeader {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // without leading and trailing white space
};

// One complete request. The views point into the parser and stay valid until
// next(), reset() or the parser's destruction.
// ASCII case-insensitive equality, as header names compare.
bool iequals(std::string_view a, std::string_view b);

struct ParsedRequest {
  std::string_view method;  // GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH or TRACE
  // Origin-form path and query ("/a?b"); an absolute-form target
  // ("http://host/a?b") arrives as its origin-form ("/a?b"); "*" only with
  // OPTIONS.
  std::string_view target;
  int http_major = 1;
  int http_minor = 1;
  std::vector<HttpHeader> headers;  // in order; chunked trailers are dropped
  std::string body;                 // decoded body (chunked or not)
  // Whether the connection may carry another request: HTTP/1.1 unless
  // "Connection: close", HTTP/1.0 only with "Connection: keep-alive" (a
  // close token always wins).
  bool keep_alive = true;
  bool chunked = false;  // the body came with Transfer-Encoding: chunked

  // The first header named `name` (ASCII case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

struct ParseError {
  int status = 0;           // 0 when there is no error
  const char* reason = "";  // a string literal
};

class RequestParser {
 public:
  enum class State {
    kNeedMore,  // feed more bytes
    kRequest,   // request() is complete; answer it, then next()
    kError,     // error() says why; answer it and close the connection
    kClosed,    // next() after a request without keep-alive: close
  };

  // Neither copyable nor movable (llhttp points back at it): a connection
  // keeps one for its lifetime; reset() readies it for another connection.
  explicit RequestParser(ParserLimits limits = {});
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses as much of `bytes` as belongs to the current request and returns
  // how many bytes that was (never more than bytes.size()). In kNeedMore
  // every byte was consumed; in kRequest the rest of `bytes` (a pipelined
  // request) is the caller's to feed again after next(); in kError the count
  // is unspecified. Outside kNeedMore it consumes nothing.
  size_t feed(std::string_view bytes);

  State state() const { return state_; }
  const ParsedRequest& request() const { return request_; }  // in kRequest
  // Moves the body out (kRequest), to hand it on without a copy; the next
  // request's body then allocates afresh.
  std::string take_body() { return std::move(request_.body); }
  const ParseError& error() const { return error_; }  // in kError

  // After a request (kRequest): ready for the next one on the same
  // connection (kNeedMore), or kClosed when the request was not keep-alive.
  // In any other state it does nothing: after an error the stream position
  // is lost, so next() is refused and the state stays kError.
  void next();
  // Back to a fresh connection's state, whatever the current one.
  void reset();

  // The headers are complete, the body is still to come, and the client
  // sent "Expect: 100-continue" in HTTP/1.1: it may be waiting for an
  // interim "100 Continue" before it sends the body.
  bool expects_continue() const;
  // No byte of a next request has arrived (kNeedMore): the connection is
  // between requests, so an idle timeout rather than a read timeout applies.
  bool idle() const;

  const ParserLimits& limits() const { return limits_; }

 private:
  struct Callbacks;
  friend struct Callbacks;

  enum class Phase : unsigned char { kHead, kBody, kTrailer };
  enum class Scan : unsigned char {
    kLead,
    kLeadLF,
    kMethod,
    kTargetStart,
    kTarget,
    kProto,
    kMajor,
    kDot,
    kMinor,
    kLineCR,
    kLineLF,
    kLineStart,
    kHeader,
    kEndLF,
    kDone,
  };
  enum class Kind : unsigned char { kOther, kContentLength, kTransferEncoding, kExpect };
  struct Field {
    size_t name_off, name_len, value_off, value_len;
  };

  void clear_message();
  void fail(int status, const char* reason);
  size_t refuse(size_t at, int status, const char* reason);
  void step_method(char c);
  size_t scan(std::string_view s);
  size_t execute(const char* data, size_t len);
  void map_llhttp_error(int err);

  ParserLimits limits_;
  std::unique_ptr<llhttp__internal_s> llhttp_;
  State state_ = State::kNeedMore;
  ParseError error_;
  ParseError pending_;  // the scanner's refusal, for after llhttp
  ParsedRequest request_;

  // The current message.
  Phase phase_ = Phase::kHead;
  Scan scan_ = Scan::kLead;
  size_t head_bytes_ = 0;  // wire bytes of the head so far
  size_t body_wire_ = 0;   // wire bytes after the head so far
  size_t target_len_ = 0;
  unsigned char proto_i_ = 0, major_ = 0;
  unsigned char method_len_ = 0;
  char method_buf_[9] = {};  // the method and its SP, held back from llhttp
  std::string head_;         // the target's bytes, then the headers' bytes
  size_t target_off_ = 0, target_end_ = 0;
  std::vector<Field> fields_;
  bool field_open_ = false;
  Kind kind_ = Kind::kOther;
  int content_lengths_ = 0, transfer_encodings_ = 0;
  bool expect_continue_ = false;
  bool complete_ = false;
};

}  // namespace ticketq
