#include "transport/http_server.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "base/clock.h"
#include "base/metrics.h"

namespace ticketq {

namespace {

constexpr char kRefusal[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 38\r\n\r\n"
    "{\"error\":\"too many open connections\"}\n";
constexpr char kClientRefusal[] =
    "HTTP/1.1 429 Too Many Requests\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 54\r\n\r\n"
    "{\"error\":\"too many open connections from this client\"}\n";
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr char kJsonType[] = "Content-Type: application/json\r\n";

// The body of an error the transport answers itself: {"error": reason}.
// `reason` is a literal of ours, with nothing to escape.
std::string json_error(const char* reason) {
  return std::string("{\"error\":\"") + reason + "\"}\n";
}
constexpr size_t kReadBuffer = 64 * 1024;
constexpr int64_t kSweepMs = 100;
// A connection closed by the server after its last reply keeps reading (and
// dropping) what the client still sends for up to this long, so that unread
// bytes do not make the kernel reset the connection before the client has
// read that reply.
constexpr int64_t kLingerMs = 2000;
// Parsers kept warm per loop for connections that start a request.
constexpr size_t kMaxFreeParsers = 256;

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

// A refusal at the door: one try to send it (a fresh socket's buffer takes
// it), then close. Logged once per loop per 10 s, whatever the flood.
void turn_away(int fd, std::string_view reply, const char* what, int64_t& last_log_us) {
  (void)!send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd);
  if (now_us() - last_log_us > 10'000'000) {
    last_log_us = now_us();
    spdlog::warn("refusing connections: {}", what);
  }
}

int open_spare() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// The descriptor a process keeps to answer a client when it has none left
// (HttpServer::accept_ready): one for the process, shared by its loops.
struct Reserve {
  std::mutex mutex;
  int fd = -1;                    // /dev/null, held for the purpose
  std::atomic<bool> used{false};  // a loop ran out of descriptors since start
};

Reserve& reserve() {
  static Reserve r;  // never freed: loops may use it until the process ends
  return r;
}

constexpr int kAcceptsPerTurn = 64;

int64_t now_ms_mono() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

// ------------------------------------------------------------ a connection --

struct HttpConnection {
  // One answer owed or ready, in request order. Seqs count slots.
  struct Slot {
    enum class State : unsigned char { kPending, kReady, kStream } state = State::kPending;
    bool head_only = false;  // a HEAD request: the body is not sent
    bool keep_alive = true;  // the connection may carry another request after it
    bool http10 = false;     // an HTTP/1.0 request
    bool close = false;      // the connection ends once this is sent
    std::string head;        // status line and header section
    std::string body;        // body, or a stream's unsent chunks
  };

  HttpServer* server = nullptr;
  ConnState state = ConnState::kIdle;  // says which list it is in
  HttpServer::ConnList::iterator self;
  int fd = -1;
  short watching = 0;            // EV_READ / EV_WRITE added to `ev`
  bool read_done = false;        // no further request will be read
  bool eof = false;              // the client closed its side
  bool want_write = false;       // the socket was full; waits for EV_WRITE
  bool dirty = false;            // in the loop's flush list
  bool continue_sent = false;    // 100 Continue sent for the current request
  bool close_when_sent = false;  // a closing reply is partly in `out`
  bool streaming = false;        // a stream was opened: no more requests
  int64_t since_ms = 0;          // entered its state, or last progress in it
  int64_t requests = 0;
  uint32_t first_seq = 0;  // seq of slots.front()
  uint32_t next_seq = 0;
  uint32_t owed = 0;  // replies handlers still owe
  uint32_t stream_seq = 0;
  event ev{};
  std::unique_ptr<RequestParser> parser;  // only while a request arrives
  std::vector<Slot> slots;
  std::string out;  // bytes to send before any slot (a partial write's rest)
  size_t out_off = 0;
  std::string stash;  // bytes read past the pipeline limit, parsed later
  std::function<void()> on_close;
  IpAddress peer;
  bool counted = false;  // in the server's per-client counts

  bool closed() const { return state == ConnState::kClosed; }
  // The server is done with it: lingering, or closed.
  bool done() const { return state == ConnState::kLingering || state == ConnState::kClosed; }
  size_t unsent() const { return out.size() - out_off; }
  // Bytes of replies held for the client: the rest of a partial write and
  // every reply (or stream chunk) ready but not written.
  size_t held() const {
    size_t n = unsent();
    for (const Slot& s : slots) n += s.head.size() + s.body.size();
    return n;
  }
  Slot* slot(uint32_t seq) {
    uint32_t i = seq - first_seq;
    return i < slots.size() ? &slots[i] : nullptr;
  }
  Slot& add_slot() {
    ++next_seq;
    return slots.emplace_back();
  }
};

namespace {

using Slot = HttpConnection::Slot;

// The status line and header section of a reply. A stream has no length:
// chunked in HTTP/1.1, ended by the close in HTTP/1.0.
void format_head(Slot& s, int status, std::string_view headers, size_t length, bool stream,
                 const std::string& date) {
  // No printf: the status and the length with to_chars.
  char digits[24];
  auto number = [&](uint64_t v) {
    return std::string_view(digits, std::to_chars(digits, digits + sizeof digits, v).ptr - digits);
  };
  std::string& h = s.head;
  h.reserve(date.size() + headers.size() + 128);
  h += "HTTP/1.1 ";
  h += number(static_cast<uint64_t>(status));
  h += ' ';
  h += reason_phrase(status);
  h += "\r\n";
  h += date;
  h += headers;
  if (stream && s.http10) s.close = true;
  if (stream && !s.http10) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (!stream && status != 204 && status != 304) {  // those have no body, nor its length
    h += "Content-Length: ";
    h += number(length);
    h += "\r\n";
  }
  if (s.close)
    h += "Connection: close\r\n";
  else if (s.http10)
    h += "Connection: keep-alive\r\n";
  h += "\r\n";
}

}  // namespace

// ------------------------------------------------------------------ set up --

HttpServer::HttpServer(event_base* base, HttpLimits limits, HttpHandler& handler,
                       std::atomic<int64_t>& open, LoopMetrics* metrics, KeyedCounts* per_client)
    : base_(base),
      limits_(std::move(limits)),
      handler_(handler),
      open_(open),
      metrics_(metrics),
      per_client_(per_client),
      resume_timer_(event_new(base, -1, 0, &HttpServer::on_resume, this)),
      flush_event_(event_new(base, -1, 0, &HttpServer::on_flush, this)),
      sweep_timer_(event_new(base, -1, EV_PERSIST, &HttpServer::on_sweep, this)),
      in_(kReadBuffer) {
  {
    std::lock_guard lock(reserve().mutex);
    if (reserve().fd < 0) reserve().fd = open_spare();
  }
  timeval every{0, kSweepMs * 1000};
  event_add(sweep_timer_, &every);
}

// The handlers may be gone already: no on_close runs from here.
HttpServer::~HttpServer() {
  stopping_ = true;  // no request is handed on from here
  stop_accepting();
  for (ConnList& l : lists_)
    for (HttpConnection& c : l) c.on_close = nullptr;
  flush_all();  // replies answered during shutdown get their one try
  for (ConnList& l : lists_)
    while (&l != &list(ConnState::kClosed) && !l.empty()) close(l.front());
  event_free(resume_timer_);
  event_free(flush_event_);
  event_free(sweep_timer_);
}

bool HttpServer::accept_on(int fd) {
  // The socket listens already (listener.cpp, with the backlog a rush
  // needs): it is only watched here, never listen()ed again.
  listen_fd_ = fd;
  listen_event_ = event_new(base_, fd, EV_READ | EV_PERSIST, &HttpServer::on_listen, this);
  if (listen_event_ == nullptr || event_add(listen_event_, nullptr) != 0) {
    stop_accepting();
    return false;
  }
  return true;
}

void HttpServer::stop_accepting() {
  if (listen_fd_ < 0) return;
  event_del(resume_timer_);
  if (listen_event_ != nullptr) event_free(listen_event_);
  listen_event_ = nullptr;
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void HttpServer::start_draining() {
  draining_ = true;
}

void HttpServer::on_listen(int fd, short, void* arg) {
  static_cast<HttpServer*>(arg)->accept_ready(fd);
}

// Takes the clients waiting on the listening socket, up to kAcceptsPerTurn
// (the loop has other work; the socket stays readable for the rest).
//
// When the process (or the system) runs out of file descriptors, accept()
// fails and the client would wait unanswered. max_connections keeps descriptors in
// reserve so that this should not happen; when it does anyway, the
// process's reserve descriptor is given up for a moment to accept the
// client, answer it 503 (as past max_connections) and close it. From the
// first time on, every loop accepts under the reserve's lock, so that the
// descriptor freed goes to the client it was freed for and not to another
// loop's accept. Should something else take it even so, the listener
// pauses for 10 ms at a time (never spinning) until it has one again.
void HttpServer::accept_ready(int listen_fd) {
  Reserve& r = reserve();
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = -1, err = 0;
    bool refused = false;
    {
      std::unique_lock lock(r.mutex, std::defer_lock);
      if (r.used.load(std::memory_order_acquire)) lock.lock();
      fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
      err = errno;
      if (fd < 0 && (err == EMFILE || err == ENFILE)) {
        if (!lock.owns_lock()) {
          r.used.store(true, std::memory_order_release);
          lock.lock();
        }
        refused = refuse_with_reserve(listen_fd);
        err = errno;
      }
    }
    if (fd >= 0) {
      adopt(fd, IpAddress::of(reinterpret_cast<sockaddr*>(&addr)));
      continue;
    }
    if (refused || err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    thread_local int64_t last_log_us = 0;  // one warning per loop per 10 s
    if (now_us() - last_log_us > 10'000'000) {
      last_log_us = now_us();
      spdlog::warn("accept failed: {}; pausing new connections for 10 ms at a time",
                   std::strerror(err));
    }
    event_del(listen_event_);
    timeval pause{0, 10 * 1000};
    event_add(resume_timer_, &pause);
    return;
  }
}

// With the reserve's lock held: gives up the reserve descriptor to accept
// one client, answers it 503 and closes it, and takes the reserve again.
// False, with errno, when no client was waiting (EAGAIN) or there was no
// reserve to give up.
bool HttpServer::refuse_with_reserve(int listen_fd) {
  thread_local int64_t last_log_us = 0;
  Reserve& r = reserve();
  if (r.fd < 0) r.fd = open_spare();
  if (r.fd < 0) {
    errno = EMFILE;
    return false;
  }
  ::close(r.fd);
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int err = errno;
  if (fd >= 0) {
    if (metrics_ != nullptr) metrics_->connection_refused();
    turn_away(fd, std::string_view(kRefusal, sizeof kRefusal - 1),
              "out of file descriptors (raise the open-file limit, or lower max_connections)",
              last_log_us);
  }
  r.fd = open_spare();
  errno = err;
  return fd >= 0;
}

void HttpServer::on_resume(int, short, void* arg) {
  auto* self = static_cast<HttpServer*>(arg);
  if (self->listen_event_ != nullptr) event_add(self->listen_event_, nullptr);
}

bool HttpServer::adopt(int fd, const IpAddress& peer) {
  thread_local int64_t last_log_us = 0, last_client_log_us = 0;
  if (++open_ > limits_.max_connections) {
    --open_;
    if (metrics_ != nullptr) metrics_->connection_refused();
    turn_away(fd, std::string_view(kRefusal, sizeof kRefusal - 1),
              "max_connections are open (they are answered 503)", last_log_us);
    return false;
  }
  // A client's connections are counted by its address (a trusted proxy's
  // carry many clients: not counted).
  bool count = per_client_ != nullptr && limits_.max_connections_per_client > 0 && !peer.empty() &&
               !in_ranges(limits_.trusted_proxies, peer);
  if (count && !per_client_->acquire(peer.client_key(), limits_.max_connections_per_client)) {
    --open_;
    if (metrics_ != nullptr) metrics_->connection_refused_client();
    turn_away(fd, std::string_view(kClientRefusal, sizeof kClientRefusal - 1),
              "a client has max_connections_per_client open (its next ones are answered 429)",
              last_client_log_us);
    return false;
  }
  ++open_here_;
  if (metrics_ != nullptr) metrics_->connection_opened();
  ConnList& idle = list(ConnState::kIdle);
  idle.emplace_back();
  HttpConnection& c = idle.back();
  c.server = this;
  c.state = ConnState::kIdle;
  c.self = std::prev(idle.end());
  c.fd = fd;
  c.peer = peer;
  c.counted = count;
  c.since_ms = now_ms_mono();
  watch(c, true, false);
  return true;
}

const IpAddress& HttpServer::peer(HttpExchange ex) {
  return ex.conn->peer;
}

// ---------------------------------------------------------------- reading --

void HttpServer::on_io(int, short what, void* arg) {
  auto* c = static_cast<HttpConnection*>(arg);
  HttpServer* self = c->server;
  if (what & EV_WRITE) {
    c->want_write = false;
    self->flush(*c);
  }
  if ((what & EV_READ) && !c->closed()) self->read_from(*c);
  self->rewatch(*c);
}

void HttpServer::read_from(HttpConnection& c) {
  ssize_t n = recv(c.fd, in_.data(), in_.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return close(c);  // reset by the peer, or worse
  }
  if (n == 0) {
    c.eof = true;
    // What was read in full is still answered (then write_some() closes); a
    // request cut short is not, nor a stream (its client is gone).
    if (c.state == ConnState::kLingering || live_stream(c) || (c.slots.empty() && c.unsent() == 0))
      return close(c);
    c.read_done = true;
    c.stash.clear();
    release_parser(c);
    wait_for_replies(c);  // a request cut short is dropped; stashed ones too
    return;
  }
  // A stream reads only to see its client go; a lingering connection drops.
  if (c.state == ConnState::kLingering || c.streaming || c.read_done) return;
  parse(c, std::string_view(in_.data(), static_cast<size_t>(n)));
}

void HttpServer::parse(HttpConnection& c, std::string_view bytes) {
  while (!bytes.empty() && !c.read_done && !stopping_) {
    bool between = c.parser == nullptr || c.parser->idle();
    if (between && !may_read_request(c)) {
      c.stash.append(bytes);  // reading pauses until replies go out
      release_parser(c);
      break;
    }
    if (c.parser == nullptr) {
      if (parsers_.empty()) {
        c.parser = std::make_unique<RequestParser>(limits_.parser);
      } else {
        c.parser = std::move(parsers_.back());
        parsers_.pop_back();
      }
    }
    if (c.parser->idle()) change_state(c, ConnState::kReading);  // a request starts: its clock runs
    bytes.remove_prefix(c.parser->feed(bytes));
    switch (c.parser->state()) {
      case RequestParser::State::kNeedMore:
        if (c.parser->expects_continue() && !c.continue_sent) {
          c.continue_sent = true;
          Slot& s = c.add_slot();
          s.state = Slot::State::kReady;
          s.head = kContinue;
          mark_dirty(c);
        }
        break;
      case RequestParser::State::kRequest:
        dispatch(c);
        break;
      case RequestParser::State::kError:
      case RequestParser::State::kClosed:
        return refuse(c, c.parser->error().status, c.parser->error().reason);
    }
  }
  if (c.parser != nullptr && c.parser->idle()) release_parser(c);
  // No request is arriving any more (complete, refused, or reading paused).
  if (c.parser == nullptr && !c.done()) wait_for_replies(c);
}

// Another request may be read: the pipeline is not full and the replies
// held for the client, with those still owed (counted owed_reply_bytes
// each: their size is not known yet), are under max_reply_buffer. A client
// that does not read thus costs at most a few replies, and one read's bytes.
bool HttpServer::may_read_request(const HttpConnection& c) const {
  return c.slots.size() < limits_.max_pipeline &&
         c.held() + c.owed * limits_.owed_reply_bytes < limits_.max_reply_buffer;
}

void HttpServer::dispatch(HttpConnection& c) {
  const ParsedRequest& req = c.parser->request();
  Slot& s = c.add_slot();
  s.head_only = req.method == "HEAD";
  s.http10 = req.http_minor == 0;
  s.keep_alive = req.keep_alive && ++c.requests < limits_.max_requests;
  if (!s.keep_alive) c.read_done = true;
  HttpExchange ex{&c, c.next_seq - 1};
  ++c.owed;
  ++requests_;
  c.continue_sent = false;
  handler_.on_request(ex, req, c.parser->take_body());
  // A handler may have closed the connection already (a stream that
  // overflowed at its first push): nothing more is read from it.
  if (c.parser == nullptr) return;
  c.parser->next();
  if (c.parser->state() != RequestParser::State::kNeedMore) release_parser(c);
}

// The transport's own error: JSON, after the replies owed before it; then
// the connection closes.
void HttpServer::refuse(HttpConnection& c, int status, const char* reason) {
  if (metrics_ != nullptr) metrics_->request("transport", status != 0 ? status : 400, 0);
  release_parser(c);
  c.add_slot();
  ++c.owed;
  respond(HttpExchange{&c, c.next_seq - 1}, status != 0 ? status : 400, kJsonType,
          json_error(status != 0 ? reason : "malformed request"), true);
  if (c.state == ConnState::kReading) wait_for_replies(c);  // the refusal goes out next
}

void HttpServer::release_parser(HttpConnection& c) {
  if (c.parser == nullptr) return;
  if (parsers_.size() < kMaxFreeParsers) {
    c.parser->reset();
    parsers_.push_back(std::move(c.parser));
  }
  c.parser.reset();
}

// ---------------------------------------------------------------- replies --

void HttpServer::respond(HttpExchange ex, int status, std::string_view headers, std::string body,
                         bool close_after) {
  HttpConnection& c = *ex.conn;
  --c.owed;
  Slot* s = c.closed() ? nullptr : c.slot(ex.seq);
  if (s == nullptr || s->state != Slot::State::kPending) {
    if (c.closed() && c.owed == 0) schedule_flush();  // to free it
    return;
  }
  if (close_after || !s->keep_alive || (draining_ && ex.seq + 1 == c.next_seq)) {
    s->close = true;
    c.read_done = true;
    c.stash.clear();
  }
  format_head(*s, status, headers, body.size(), false, date());
  if (!s->head_only) s->body = std::move(body);
  s->state = Slot::State::kReady;
  if (c.state == ConnState::kBusy)
    change_state(c, ConnState::kBusy);  // progress: its clock restarts
  mark_dirty(c);
}

// ---------------------------------------------------------------- streams --

// The connection's stream is being sent: nothing before it is left.
bool HttpServer::live_stream(const HttpConnection& c) {
  return c.streaming && !c.slots.empty() && c.slots.front().state == Slot::State::kStream &&
         c.unsent() == 0;
}

HttpStream* HttpServer::open_stream(HttpExchange ex, int status, std::string_view headers,
                                    std::function<void()> on_close) {
  HttpConnection& c = *ex.conn;
  if (c.streaming && !c.closed()) {  // a second stream, pipelined behind the first
    respond(ex, 409, kJsonType, json_error("a connection carries one stream"));
    return nullptr;
  }
  --c.owed;
  Slot* s = c.closed() ? nullptr : c.slot(ex.seq);
  if (s == nullptr || s->state != Slot::State::kPending) {
    if (c.closed() && c.owed == 0) schedule_flush();
    return nullptr;
  }
  c.streaming = true;
  c.read_done = true;
  c.stash.clear();
  c.stream_seq = ex.seq;
  c.on_close = std::move(on_close);
  if (s->head_only) {  // HEAD: the head of the stream, and the end
    s->close = true;
    format_head(*s, status, headers, 0, false, date());
    s->state = Slot::State::kReady;
  } else {
    format_head(*s, status, headers, 0, true, date());
    s->state = Slot::State::kStream;
  }
  mark_dirty(c);
  return &c;
}

bool HttpServer::push(HttpStream* stream, std::string_view data) {
  HttpConnection& c = *stream;
  Slot* s = c.closed() ? nullptr : c.slot(c.stream_seq);
  if (s == nullptr || s->state != Slot::State::kStream) return false;
  if (data.empty()) return true;
  size_t unsent = c.unsent() + s->body.size();
  if (unsent + data.size() > limits_.max_stream_buffer) {
    thread_local int64_t last_log_us = 0;
    if (now_us() - last_log_us > 10'000'000) {
      last_log_us = now_us();
      spdlog::warn("closing a stream whose client reads too slowly ({} bytes unsent)", unsent);
    }
    close(c);
    return false;
  }
  if (s->http10) {
    s->body += data;
  } else {
    char size[24];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    s->body.append(size, static_cast<size_t>(n));
    s->body += data;
    s->body += "\r\n";
  }
  mark_dirty(c);
  return true;
}

void HttpServer::end_stream(HttpStream* stream) {
  HttpConnection& c = *stream;
  c.on_close = nullptr;
  Slot* s = c.closed() ? nullptr : c.slot(c.stream_seq);
  if (s == nullptr || s->state != Slot::State::kStream) return;
  if (!s->http10) s->body += "0\r\n\r\n";
  s->state = Slot::State::kReady;
  s->close = true;
  mark_dirty(c);
}

// ---------------------------------------------------------------- writing --

void HttpServer::mark_dirty(HttpConnection& c) {
  if (c.dirty || c.closed()) return;
  c.dirty = true;
  dirty_.push_back(&c);
  schedule_flush();
}

void HttpServer::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  event_active(flush_event_, EV_TIMEOUT, 0);
}

void HttpServer::on_flush(int, short, void* arg) {
  auto* self = static_cast<HttpServer*>(arg);
  self->flush_scheduled_ = false;
  self->flush_all();
}

// The end of a loop turn (libevent runs an activated event after those
// already active): one write per connection with something to send (and
// requests read ahead resume); then closed connections run their on_close
// and are freed once no reply is owed: the Closed state's timer.
void HttpServer::flush_all() {
  while (!dirty_.empty()) {
    flushing_.swap(dirty_);  // connections made dirty meanwhile go round again
    for (HttpConnection* c : flushing_) {
      c->dirty = false;
      flush(*c);
      rewatch(*c);
    }
    flushing_.clear();
  }
  ConnList& closed = list(ConnState::kClosed);
  for (auto it = closed.begin(); it != closed.end();) {
    HttpConnection& c = *it++;
    if (c.on_close) {
      std::function<void()> f = std::move(c.on_close);
      c.on_close = nullptr;
      f();
    }
    if (c.owed == 0 && !c.dirty) closed.erase(c.self);
  }
}

// Writes what is ready, in order: the rest of a partial write, then
// ready replies up to the first one still owed (or a stream, or a reply that
// closes). Once replies went out, requests read ahead resume and the
// connection waits for what is left.
void HttpServer::flush(HttpConnection& c) {
  while (!c.closed() && !c.want_write && write_some(c)) {
  }
  resume_reading(c);
  if (!c.done() && c.state != ConnState::kReading) wait_for_replies(c);
}

// Requests read ahead (held while reading paused) are parsed once the
// replies before them went out.
void HttpServer::resume_reading(HttpConnection& c) {
  if (c.stash.empty() || c.done() || c.unsent() > 0 || c.want_write || stopping_ ||
      !may_read_request(c))
    return;
  std::string stash = std::move(c.stash);
  c.stash.clear();
  parse(c, stash);
}

// One write of as much as one iovec array takes. True when it was all
// written and more replies are ready than it could take.
bool HttpServer::write_some(HttpConnection& c) {
  constexpr int kMaxIov = 64;
  iovec iov[kMaxIov];
  int n = 0;
  bool more = false;
  if (c.unsent() > 0) iov[n++] = {c.out.data() + c.out_off, c.unsent()};
  for (Slot& s : c.slots) {
    // Nothing goes after a closing reply, even one partly written.
    if (s.state == Slot::State::kPending || c.close_when_sent) break;
    if (n + 2 > kMaxIov) {
      more = true;
      break;
    }
    if (!s.head.empty()) iov[n++] = {s.head.data(), s.head.size()};
    if (!s.body.empty()) iov[n++] = {s.body.data(), s.body.size()};
    if (s.state == Slot::State::kStream || s.close) break;
  }
  // Nothing to send; but a reply with nothing left in it (an HTTP/1.0
  // stream ended after its last bytes went out) still has to go.
  bool empty_reply = n == 0 && !c.slots.empty() && c.slots.front().state == Slot::State::kReady;
  if (n == 0 && !empty_reply) return false;
  ssize_t written = 0;
  if (n > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    written = sendmsg(c.fd, &msg, MSG_NOSIGNAL);  // a gone client is an error, not a signal
    ++writes_;
  }
  if (written < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      close(c);
    else
      socket_full(c);
    return false;
  }
  size_t left = static_cast<size_t>(written);
  size_t from_out = std::min(left, c.unsent());
  c.out_off += from_out;
  left -= from_out;
  if (c.unsent() == 0) {
    c.out.clear();
    c.out_off = 0;
  }
  // Replies written in full go; one written in part leaves its rest in `out`
  // (the only copy of a body, and only on a full socket). A stream's slot
  // stays for its next chunks.
  size_t done = 0;
  for (Slot& s : c.slots) {
    size_t size = s.head.size() + s.body.size();
    if (s.state == Slot::State::kPending || c.close_when_sent || (left == 0 && size > 0)) break;
    if (left < size) {
      if (left < s.head.size()) {
        c.out.append(s.head, left);
        c.out.append(s.body);
      } else {
        c.out.append(s.body, left - s.head.size());
      }
      left = 0;
    } else {
      left -= size;
    }
    if (s.state == Slot::State::kStream) {
      // A stream idles between its chunks: it holds no buffer meanwhile.
      std::string().swap(s.head);
      std::string().swap(s.body);
      break;
    }
    s.head.clear();
    s.body.clear();
    ++done;
    if (s.close) {
      c.close_when_sent = true;
      break;
    }
  }
  c.slots.erase(c.slots.begin(), c.slots.begin() + static_cast<ptrdiff_t>(done));
  c.first_seq += static_cast<uint32_t>(done);
  // The client took bytes: a connection that waits on it is not idle.
  if (c.state == ConnState::kIdle || c.state == ConnState::kWriting) change_state(c, c.state);
  if (c.unsent() > 0) {
    socket_full(c);
    return false;
  }
  if (c.close_when_sent) {
    finish(c);
    return false;
  }
  // The client left before its stream began: the replies before it went out.
  if (c.eof && live_stream(c)) {
    close(c);
    return false;
  }
  // The last reply owed went out after the client closed its side.
  if (c.read_done && !c.streaming && c.slots.empty()) {
    finish(c);
    return false;
  }
  return more;
}

// The socket is full: the connection waits for the client to read (unless
// a request is arriving meanwhile, whose deadline comes first).
void HttpServer::socket_full(HttpConnection& c) {
  c.want_write = true;
  if (c.state != ConnState::kReading && c.state != ConnState::kWriting)
    change_state(c, ConnState::kWriting);
}

// ------------------------------------------------- lists, timers, closing --

// The one place a connection changes state: out of its list, into the
// back of the new one (the same one for progress in a state), its clock
// (re)started; entering Closed ends its count among the open connections.
void HttpServer::change_state(HttpConnection& c, ConnState to) {
  ConnList& dest = list(to);
  dest.splice(dest.end(), list(c.state), c.self);
  if (to == ConnState::kClosed && c.state != ConnState::kClosed) {
    --open_;
    --open_here_;
    if (c.counted) per_client_->release(c.peer.client_key());
    if (metrics_ != nullptr) metrics_->connection_closed();
  }
  c.state = to;
  c.since_ms = now_ms_mono();
}

// No request is arriving: the connection waits for the client to take its
// replies (Writing), for its handlers (Busy: a reply owed, or requests read
// ahead that wait for replies to go out), or for the next request (Idle).
void HttpServer::wait_for_replies(HttpConnection& c) {
  ConnState to = c.want_write                     ? ConnState::kWriting
                 : c.owed > 0 || !c.stash.empty() ? ConnState::kBusy
                                                  : ConnState::kIdle;
  if (c.state != to) change_state(c, to);
}

// Watches the socket for what the connection waits for. Reading pauses
// while the client does not read its replies, and while the pipeline is
// full; a stream reads only to see its client go. (Lingering and Closed
// set their own: read until EOF, nothing.)
void HttpServer::rewatch(HttpConnection& c) {
  if (c.done()) return;
  bool read = !c.eof && (c.streaming ||
                         (!c.read_done && c.stash.empty() && c.unsent() == 0 && !c.want_write));
  watch(c, read, c.want_write);
}

void HttpServer::watch(HttpConnection& c, bool read, bool write) {
  short mask = static_cast<short>((read ? EV_READ : 0) | (write ? EV_WRITE : 0));
  if (mask == c.watching) return;
  if (c.watching != 0) event_del(&c.ev);
  c.watching = mask;
  if (mask == 0) return;
  event_assign(&c.ev, base_, c.fd, static_cast<short>(mask | EV_PERSIST), &HttpServer::on_io, &c);
  event_add(&c.ev, nullptr);
}

// The server is done with the connection. After a reply that closes it, the
// writing side is shut down and input dropped until the client closes (at
// most kLingerMs): closing at once with unread input would make the kernel
// reset the connection, and the client could lose that reply.
void HttpServer::finish(HttpConnection& c) {
  if (c.eof || c.state == ConnState::kLingering) return close(c);
  shutdown(c.fd, SHUT_WR);
  c.read_done = true;
  c.slots.clear();  // replies to requests after the closing one are dropped
  release_parser(c);
  change_state(c, ConnState::kLingering);
  watch(c, true, false);
}

void HttpServer::close(HttpConnection& c) {
  if (c.closed()) return;
  watch(c, false, false);
  ::close(c.fd);
  c.fd = -1;
  release_parser(c);
  c.slots.clear();
  std::string().swap(c.out);
  std::string().swap(c.stash);
  c.out_off = 0;
  change_state(c, ConnState::kClosed);
  schedule_flush();
}

void HttpServer::on_sweep(int, short, void* arg) {
  static_cast<HttpServer*>(arg)->sweep();
}

// Each state's timeout (the table in http_server.h); Closed has none, its
// records being freed at the end of the turn once no reply is owed.
int64_t HttpServer::timeout_ms(ConnState s) const {
  switch (s) {
    case ConnState::kIdle:
    case ConnState::kWriting:
      return limits_.idle_timeout_ms;
    case ConnState::kReading:
      return limits_.request_timeout_ms;
    case ConnState::kBusy:
      return limits_.answer_timeout_ms;
    case ConnState::kLingering:
      return kLingerMs;
    case ConnState::kClosed:
      break;
  }
  return -1;
}

// What each state's timer does when it fires.
void HttpServer::expire(HttpConnection& c, int64_t now) {
  switch (c.state) {
    case ConnState::kReading:
      if (metrics_ != nullptr) metrics_->slow_request();
      refuse(c, 408, "the request did not arrive in time");  // out of Reading
      rewatch(c);
      return;
    case ConnState::kWriting:
      if (metrics_ != nullptr) metrics_->slow_reader();
      return close(c);
    case ConnState::kBusy: {
      thread_local int64_t last_log_us = 0;  // a handler missed its own deadline: a bug
      if (now_us() - last_log_us > 10'000'000) {
        last_log_us = now_us();
        spdlog::error("closing a connection whose reply has been owed for {} ms", now - c.since_ms);
      }
      return close(c);
    }
    case ConnState::kIdle:
    case ConnState::kLingering:
      return close(c);
    case ConnState::kClosed:
      return;
  }
}

// Each list is in timer order: walked from its front while expired.
void HttpServer::sweep() {
  int64_t now = now_ms_mono();
  for (size_t i = 0; i < kConnStates; ++i) {
    auto state = static_cast<ConnState>(i);
    int64_t timeout = timeout_ms(state);
    ConnList& l = list(state);
    while (timeout >= 0 && !l.empty() && now - l.front().since_ms > timeout) expire(l.front(), now);
  }
}

const std::string& HttpServer::date() {
  time_t now = time(nullptr);
  if (now != date_s_) {
    date_s_ = now;
    tm t;
    gmtime_r(&now, &t);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &t);
    date_.assign(buf, n);
  }
  return date_;
}

}  // namespace ticketq
