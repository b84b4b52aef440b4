// ticketq's HTTP/1.1 connection layer on one event loop: the transport. It
// accepts, reads, parses (http_parser.h), enforces every limit, writes and
// keeps connections alive; it knows nothing of routes. Handlers get each
// complete request and answer it through respond(), now or later, once.
//
// One connection is one socket, one libevent event (read, and write when the
// socket is full) and, only while a request is arriving, a parser borrowed
// from the loop's pool: an idle keep-alive connection costs a few hundred
// bytes. Reads go through one buffer per loop.
//
// Pipelining: requests are parsed and handed on as they arrive (up to
// max_pipeline ahead of their replies, then reading pauses); replies may
// come in any order and are written in request order. Every write of a loop
// turn is gathered and sent at the end of the turn: one gathering write
// (sendmsg) per connection per turn, whatever the number of replies ready
// on it (up to 31; more take one write per 31).
//
// Memory per connection is bounded whatever the client does: no further
// request is read while max_reply_buffer bytes of replies wait to be sent
// (a reply a handler still owes counts owed_reply_bytes: at most 8 are in
// flight, not the 32 of the pipeline), or while the socket is full (a client that sends and never
// reads gets one request answered at a time, the rest of what it sent left unread in the kernel);
// bytes read past the point where reading paused are kept (at most one read's worth) and parsed
// once replies went out.
//
// States and timers (PgBouncer's way): each connection is in exactly one
// state, kept in one list per state, and one function, change_state(),
// moves it between them. Each state has one timer, counted from when the
// connection entered the state or last made progress in it; one sweep per
// loop every 100 ms walks each list from its front (a list's order is its
// timer order), with no timer per connection.
//
//   state      timer, from entering it or progress in it   when it fires
//   ---------  ------------------------------------------  --------------------------
//   Idle       idle_timeout_ms (progress: the client took   close
//              a byte of a reply)
//   Reading    request_timeout_ms from the request's first  408, then close
//              byte
//   Busy       answer_timeout_ms (progress: a reply given)  close (logged: a handler
//                                                           missed its own deadline)
//   Writing    idle_timeout_ms (progress: the client took   close (a slow reader)
//              a byte)
//   Lingering  2 s                                          close
//   Closed     the end of the loop turn                     freed, once no reply is
//                                                           owed (each owed one comes
//                                                           by its handler's deadline)
//
// The moves, each where its event happens:
//   Idle, Busy, Writing -> Reading    a request's first byte
//   Reading -> Writing, Busy or Idle  the request is complete, refused or cut short
//                                     (wait_for_replies: Writing if the socket is
//                                     full, Busy if a reply is owed or requests wait
//                                     read ahead, else Idle)
//   Idle, Busy -> Writing             the socket is full
//   Writing -> Busy or Idle           the socket took every byte
//   Busy -> Idle                      the last reply owed went out
//   any but Closed -> Lingering       a reply that closes the connection went out
//   any but Closed -> Closed          the client reset or closed, a timer fired, a
//                                     stream's client fell too far behind
//
// When a request starts arriving while the socket is full, Reading wins
// (its deadline is the request's). What is not a state is a fact of the
// connection: the client closed its side (eof), no further request will be
// read (read_done), the socket was full (want_write), a stream was opened
// (streaming); a stream waits as any connection does (Idle between its
// chunks, Writing while its client lags).
//
// Deadlines: a request must arrive whole within request_timeout_ms of its
// first byte (else 408 and close); a connection with nothing to read or
// write for idle_timeout_ms is closed, and so is one whose client has not
// taken a byte of its replies for idle_timeout_ms (a stream that writes,
// or a client that reads a slow reply, is not idle); a connection whose
// handler has owed a reply for answer_timeout_ms is closed (the handlers
// answer within their own deadlines: this is a backstop). A closed
// connection keeps only its record (no socket, no buffers) until the
// replies it is owed have been given, since each exchange stays valid
// until answered.
//
// Streams: a handler may answer with a stream (open_stream) and push chunks
// to it for as long as it likes. Unsent bytes of a stream are capped at
// max_stream_buffer; past it the client is too slow and the stream is
// closed, never the process's memory grown.
//
// Errors the transport answers itself (malformed or over-limit requests,
// the request deadline, the connection cap) are JSON {"error": reason}, and
// close the connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/client_address.h"
#include "transport/http_parser.h"

struct event_base;
struct event;
struct sockaddr;

namespace ticketq {

class LoopMetrics;

struct HttpLimits {
  ParserLimits parser;
  int64_t max_connections = 20000;         // per process, over all loops
  int64_t max_connections_per_client = 0;  // per client address, over all loops; 0: no cap
  std::vector<IpRange> trusted_proxies;    // peers not counted as clients
  int64_t request_timeout_ms = 10000;      // whole request, from its first byte
  int64_t idle_timeout_ms = 60000;         // nothing read nor written
  int64_t max_requests = 100000;           // per connection; the last reply closes
  int64_t answer_timeout_ms = 60000;       // a handler's reply owed, at most
  size_t max_pipeline = 32;                // requests read ahead of their replies
  size_t max_reply_buffer = 32 * 1024;     // reply bytes held before reading pauses
  size_t owed_reply_bytes = 4 * 1024;      // what a reply still owed counts toward it
  size_t max_stream_buffer = 64 * 1024;    // unsent bytes of a stream
};

class HttpServer;
struct HttpConnection;

// A connection's state: what it waits for (the table above).
enum class ConnState : unsigned char { kIdle, kReading, kBusy, kWriting, kLingering, kClosed };
constexpr size_t kConnStates = 6;

// One request to answer: its connection and its place in the connection's
// order. Valid until answered, even if the client goes away meanwhile.
struct HttpExchange {
  HttpConnection* conn = nullptr;
  uint32_t seq = 0;
};

// A stream opened by open_stream. Valid until end_stream() or until its
// on_close callback has run, whichever comes first.
using HttpStream = HttpConnection;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // A complete request: answer it with respond() or open_stream(), exactly
  // once. `req` is valid during the call only; `body` is the request's.
  virtual void on_request(HttpExchange ex, const ParsedRequest& req, std::string body) = 0;
};

class HttpServer {
 public:
  // `open` counts connections over all loops of the process, `per_client`
  // (when given) each client's connections over all loops.
  HttpServer(event_base* base, HttpLimits limits, HttpHandler& handler, std::atomic<int64_t>& open,
             LoopMetrics* metrics, KeyedCounts* per_client = nullptr);
  // Closes every connection; requests not answered by then get nothing.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts accepting on a listening socket, which it owns from then on.
  bool accept_on(int fd);
  // Closes the listening socket; open connections keep being served.
  void stop_accepting();
  // Serves an already connected socket (owned from then on) of `peer`, as
  // if accepted; false, and the socket closed after a 503 past
  // max_connections or a 429 past max_connections_per_client.
  bool adopt(int fd, const IpAddress& peer = {});
  // Shutdown: every reply from now on closes its connection, and
  // connections read no request after the ones they have sent.
  void start_draining();

  // Answers a request. `headers` are extra header lines, each ending in
  // CRLF; the transport adds Date, Content-Length and Connection. After HEAD
  // the body is not sent (its length is). `close`: close after this reply.
  void respond(HttpExchange ex, int status, std::string_view headers, std::string body,
               bool close = false);

  // Answers a request with a stream: the status and headers now, then
  // whatever push() sends, until end_stream(). HTTP/1.1 streams are chunked;
  // an HTTP/1.0 stream ends with its connection. A stream is the
  // connection's last exchange: a second one asked for on the same
  // connection (pipelined) is answered 409 instead, and null returned. `on_close` runs once, at the
  // end of a loop turn (never inside a call of the handler's), if the connection closes before
  // end_stream() (client gone, too slow, idle); the stream is invalid once it has run. Null when
  // the client has gone already.
  HttpStream* open_stream(HttpExchange ex, int status, std::string_view headers,
                          std::function<void()> on_close);
  // Queues bytes on the stream, sent at the end of the turn. False when the
  // stream is closed, or its unsent bytes would pass max_stream_buffer: it
  // is closed then, and its on_close runs at the end of the turn.
  bool push(HttpStream* stream, std::string_view data);
  // Ends the stream (the last chunk), then the connection.
  void end_stream(HttpStream* stream);

  // The address a request came from (empty for a Unix socket).
  static const IpAddress& peer(HttpExchange ex);

  // Client connections of this loop still open.
  size_t connections() const { return open_here_; }
  // Counters since start: requests handed to the handler, and writes
  // (sendmsg calls) to client sockets.
  uint64_t requests() const { return requests_; }
  uint64_t writes() const { return writes_; }
  const HttpLimits& limits() const { return limits_; }

 private:
  using ConnList = std::list<HttpConnection>;
  friend struct HttpConnection;

  static void on_listen(int fd, short what, void* arg);
  static void on_resume(int fd, short what, void* arg);
  static void on_io(int fd, short what, void* arg);
  static void on_flush(int fd, short what, void* arg);
  static void on_sweep(int fd, short what, void* arg);
  void accept_ready(int listen_fd);
  bool refuse_with_reserve(int listen_fd);

  void read_from(HttpConnection& c);
  void parse(HttpConnection& c, std::string_view bytes);
  bool may_read_request(const HttpConnection& c) const;
  void dispatch(HttpConnection& c);
  void refuse(HttpConnection& c, int status, const char* reason);
  void release_parser(HttpConnection& c);
  static bool live_stream(const HttpConnection& c);
  void mark_dirty(HttpConnection& c);
  void schedule_flush();
  void flush_all();
  void flush(HttpConnection& c);
  bool write_some(HttpConnection& c);
  void socket_full(HttpConnection& c);
  void resume_reading(HttpConnection& c);
  void change_state(HttpConnection& c, ConnState to);
  void wait_for_replies(HttpConnection& c);
  void rewatch(HttpConnection& c);
  void watch(HttpConnection& c, bool read, bool write);
  void finish(HttpConnection& c);
  void close(HttpConnection& c);
  void expire(HttpConnection& c, int64_t now);
  int64_t timeout_ms(ConnState s) const;
  void sweep();
  ConnList& list(ConnState s) { return lists_[static_cast<size_t>(s)]; }
  const std::string& date();

  event_base* base_;
  HttpLimits limits_;
  HttpHandler& handler_;
  std::atomic<int64_t>& open_;
  LoopMetrics* metrics_;
  KeyedCounts* per_client_;
  int listen_fd_ = -1;
  event* listen_event_ = nullptr;
  event* resume_timer_;
  event* flush_event_;
  event* sweep_timer_;
  bool draining_ = false;
  bool flush_scheduled_ = false;
  bool stopping_ = false;
  size_t open_here_ = 0;
  uint64_t requests_ = 0;
  uint64_t writes_ = 0;

  // One list per state (the table above), in timer order: all in a list
  // have the same timeout, counted from `since_ms`.
  ConnList lists_[kConnStates];

  std::vector<HttpConnection*> dirty_;                   // to flush this turn
  std::vector<HttpConnection*> flushing_;                // being flushed
  std::vector<std::unique_ptr<RequestParser>> parsers_;  // free, warm
  std::vector<char> in_;                                 // the loop's read buffer
  std::string date_;                                     // "Date: ...\r\n"
  int64_t date_s_ = 0;
};

}  // namespace ticketq
