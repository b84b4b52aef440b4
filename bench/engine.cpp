#include "engine.h"

#include <netdb.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

namespace tqbench {

std::atomic<bool> g_stop{false};

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

const char* err_name(Err e) {
  switch (e) {
    case Err::kConnectRefused: return "connect_refused";
    case Err::kConnectError: return "connect_error";
    case Err::kReset: return "reset";
    case Err::kClosed: return "closed";
    case Err::kTimeout: return "timeout";
    case Err::kBadResponse: return "bad_response";
    case Err::kCount: break;
  }
  return "?";
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kReserve: return "reserve";
    case Op::kStatus: return "status";
    case Op::kAdmin: return "admin";
    case Op::kLeave:
      return "leave";
    case Op::kCount: break;
  }
  return "?";
}

void Stats::merge(const Stats& o) {
  for (size_t i = 0; i < kOpCount; ++i) latency[i].merge(o.latency[i]);
  send_lag.merge(o.send_lag);
  for (size_t i = 0; i < by_status.size(); ++i) by_status[i] += o.by_status[i];
  for (size_t i = 0; i < kErrCount; ++i) errors[i] += o.errors[i];
  sent += o.sent;
  replies += o.replies;
  unsent += o.unsent;
  aborted += o.aborted;
  last_reply_ns = std::max(last_reply_ns, o.last_reply_ns);
  hard_deadline_hit = hard_deadline_hit || o.hard_deadline_hit;
}

// ------------------------------------------------------------------ target --

std::string parse_target(const std::string& url, Target* out) {
  std::string_view u = url;
  if (!u.starts_with("http://")) return "only http:// URLs are supported";
  u.remove_prefix(7);
  size_t slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : u.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.empty()) return "URL has no host";
  if (authority.find('@') != std::string_view::npos) return "user info in the URL is not supported";
  std::string host, port = "80";
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "unclosed '[' in URL";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "bad port in URL";
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535)
    return "bad host or port in URL";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr)
    return "cannot resolve " + host + ": " + gai_strerror(rc);
  std::memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addrlen = res->ai_addrlen;
  freeaddrinfo(res);
  out->host_header = std::string(authority);
  out->base_path = std::string(path);
  out->display = url;
  return {};
}

// ------------------------------------------------------------------ parsing --

namespace {

bool header_is(std::string_view line, std::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         strncasecmp(line.data(), name.data(), name.size()) == 0;
}

std::string_view header_value(std::string_view line, size_t name_len) {
  std::string_view v = line.substr(name_len + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool contains_nocase(std::string_view hay, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (strncasecmp(hay.data() + i, needle.data(), needle.size()) == 0) return true;
  return false;
}

}  // namespace

Parse parse_response_head(const char* buf, size_t len, ResponseHead* h) {
  const void* end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == nullptr) return len > 65536 ? Parse::kBad : Parse::kIncomplete;
  *h = ResponseHead{};
  h->head_len = static_cast<size_t>(static_cast<const char*>(end) - buf) + 4;
  std::string_view head(buf, h->head_len - 2);  // every line ends with \r\n
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ') return Parse::kBad;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Parse::kBad;
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return Parse::kBad;
  h->status = code;
  h->close_after = line[7] == '0';  // HTTP/1.0: close unless keep-alive
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    line = head.substr(pos, next - pos);
    pos = next + 2;
    if (header_is(line, "content-length")) {
      std::string_view v = header_value(line, 14);
      if (v.empty() || v.size() > 12) return Parse::kBad;
      size_t n = 0;
      for (char ch : v) {
        if (ch < '0' || ch > '9') return Parse::kBad;
        n = n * 10 + static_cast<size_t>(ch - '0');
      }
      if (h->has_length && n != h->length) return Parse::kBad;
      h->has_length = true;
      h->length = n;
    } else if (header_is(line, "transfer-encoding")) {
      if (!contains_nocase(header_value(line, 17), "chunked")) return Parse::kBad;
      h->chunked = true;
    } else if (header_is(line, "connection")) {
      std::string_view v = header_value(line, 10);
      if (contains_nocase(v, "close")) h->close_after = true;
      if (contains_nocase(v, "keep-alive")) h->close_after = false;
    }
  }
  if (h->chunked && h->has_length) return Parse::kBad;
  return Parse::kOk;
}

// ------------------------------------------------------------------- worker --

struct Worker::Conn {
  int fd = -1;
  enum class St : uint8_t { kDown, kConnecting, kReady } st = St::kDown;
  bool busy = false;
  uint32_t events = 0;  // registered with epoll; 0 = not registered
  Job job;
  std::string out;
  size_t out_off = 0;
  std::vector<char> in = std::vector<char>(8192);
  size_t in_len = 0;
  int64_t deadline_ns = 0;
  int64_t cool_until = 0;
  int failures = 0;  // in a row
};

Worker::Worker(const Target& target, int connections) : target_(target) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the timer; connections are never null
  epoll_ctl(ep_, EPOLL_CTL_ADD, timer_fd_, &ev);
  for (int i = 0; i < connections; ++i) {
    conns_.push_back(new Conn);
    free_.push_back(conns_.back());
  }
}

Worker::~Worker() {
  for (Conn* c : conns_) {
    if (c->fd >= 0) close(c->fd);
    delete c;
  }
  close(timer_fd_);
  close(ep_);
}

void Worker::close_conn(Conn& c) {
  if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.st = Conn::St::kDown;
  c.events = 0;
  c.in_len = 0;
  c.out_off = 0;
}

void Worker::set_events(Conn& c, uint32_t events) {
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &c;
  epoll_ctl(ep_, c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

int open_socket(const Target& t, bool* connected) {
  *connected = false;
  int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.addrlen) == 0) {
    *connected = true;
    return fd;
  }
  if (errno != EINPROGRESS) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// Returns false (errno set) when the connect failed at once.
bool Worker::start_connect(Conn& c) {
  bool connected = false;
  c.fd = open_socket(target_, &connected);
  if (c.fd < 0) return false;
  c.st = connected ? Conn::St::kReady : Conn::St::kConnecting;
  set_events(c, connected ? EPOLLIN : EPOLLIN | EPOLLOUT);
  return true;
}

void Worker::preconnect(int64_t deadline_ns) {
  int pending = 0;
  for (Conn* c : conns_)
    if (c->st == Conn::St::kDown && start_connect(*c) && c->st == Conn::St::kConnecting) ++pending;
  epoll_event evs[256];
  while (pending > 0 && now_ns() < deadline_ns) {
    int n = epoll_wait(ep_, evs, 256, 50);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c == nullptr || c->st != Conn::St::kConnecting) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        close_conn(*c);
      } else {
        c->st = Conn::St::kReady;
        set_events(*c, EPOLLIN);
      }
      --pending;
    }
  }
  for (Conn* c : conns_)
    if (c->st == Conn::St::kConnecting) close_conn(*c);
}

void Worker::arm_timer(int64_t at_ns) {
  if (timer_at_ == at_ns) return;
  itimerspec its{};
  its.it_value.tv_sec = at_ns / 1'000'000'000;
  its.it_value.tv_nsec = at_ns % 1'000'000'000;
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
  timer_at_ = at_ns;
}

bool Worker::more_allowed(const RunLimits& lim, int64_t now) const {
  if (g_stop.load(std::memory_order_relaxed)) return false;
  if (lim.quota >= 0 && issued_ >= lim.quota) return false;
  if (now >= lim.end_ns) return false;  // a backlog left at the end is counted as unsent
  if (lim.rate > 0)
    return lim.start_ns + static_cast<int64_t>(static_cast<double>(issued_) * interval_ns_) <
           lim.end_ns;
  return true;
}

void Worker::dispatch(Source& src, const RunLimits& lim, int64_t now) {
  static thread_local std::vector<Conn*> cooling;
  cooling.clear();
  while (!free_.empty() && more_allowed(lim, now)) {
    int64_t intended = now;
    if (lim.rate > 0) {
      intended = lim.start_ns + static_cast<int64_t>(static_cast<double>(issued_) * interval_ns_);
      if (intended > now) {
        arm_timer(intended);
        break;
      }
    }
    Conn* c = free_.back();
    if (c->cool_until > now) {
      free_.pop_back();
      cooling.push_back(c);
      continue;
    }
    c->out.clear();
    Job job;
    int64_t retry = 0;
    if (!src.next(now, job, c->out, &retry)) {
      if (retry > 0 && (src_retry_ == 0 || retry < src_retry_)) src_retry_ = retry;
      break;
    }
    free_.pop_back();
    job.intended_ns = intended;
    c->job = job;
    ++issued_;
    if (now >= lim.measure_from_ns) ++stats_.sent;
    if (intended >= lim.measure_from_ns && lim.rate > 0) stats_.send_lag.record((now - intended) / 1000);
    begin(*c, now, src, lim);
  }
  for (Conn* c : cooling) {
    free_.push_back(c);
    if (cool_wake_ == 0 || c->cool_until < cool_wake_) cool_wake_ = c->cool_until;
  }
}

void Worker::begin(Conn& c, int64_t now, Source& src, const RunLimits& lim) {
  c.busy = true;
  ++inflight_;
  c.out_off = 0;
  c.in_len = 0;
  c.deadline_ns = now + lim.request_timeout_ns;
  if (c.st == Conn::St::kDown && !start_connect(c)) {
    fail(c, errno == ECONNREFUSED ? Err::kConnectRefused : Err::kConnectError, src, lim);
    return;
  }
  if (c.st == Conn::St::kReady) flush(c, src, lim);
}

void Worker::flush(Conn& c, Source& src, const RunLimits& lim) {
  while (c.out_off < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_events(c, EPOLLIN | EPOLLOUT);
      return;
    } else {
      fail(c, Err::kReset, src, lim);
      return;
    }
  }
  set_events(c, EPOLLIN);
}

void Worker::on_event(Conn& c, uint32_t events, Source& src, const RunLimits& lim) {
  if (c.st == Conn::St::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      if (c.busy)
        fail(c, err == ECONNREFUSED ? Err::kConnectRefused : Err::kConnectError, src, lim);
      else
        close_conn(c);
      return;
    }
    c.st = Conn::St::kReady;
    if (c.busy)
      flush(c, src, lim);
    else
      set_events(c, EPOLLIN);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_ready(c, src, lim);
  if (c.fd >= 0 && (events & EPOLLOUT) && c.busy && c.out_off < c.out.size()) flush(c, src, lim);
}

void Worker::read_ready(Conn& c, Source& src, const RunLimits& lim) {
  for (;;) {
    if (c.in.size() - c.in_len < 2048) c.in.resize(c.in.size() * 2);
    size_t room = c.in.size() - c.in_len;
    ssize_t n = recv(c.fd, c.in.data() + c.in_len, room, 0);
    if (n > 0) {
      c.in_len += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < room) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // EOF or an error: the connection is gone.
    if (c.busy)
      fail(c, n == 0 ? Err::kClosed : Err::kReset, src, lim);
    else
      close_conn(c);
    return;
  }
  if (!c.busy) {  // bytes nobody asked for
    ++stats_.errors[static_cast<size_t>(Err::kBadResponse)];
    close_conn(c);
    return;
  }
  ResponseHead h;
  Parse p = parse_response_head(c.in.data(), c.in_len, &h);
  if (p == Parse::kIncomplete) return;
  // The servers measured here always send Content-Length (none: 1xx, 204, 304).
  bool length_ok = h.has_length || h.status / 100 == 1 || h.status == 204 || h.status == 304;
  if (p == Parse::kBad || h.chunked || !length_ok || h.length > (64u << 20)) {
    fail(c, Err::kBadResponse, src, lim);
    return;
  }
  const int status = h.status;
  const size_t head_len = h.head_len, body_len = h.length;
  bool close_after = h.close_after;
  if (status / 100 == 1) {  // interim reply (100 Continue): skip it
    std::memmove(c.in.data(), c.in.data() + head_len, c.in_len - head_len);
    c.in_len -= head_len;
    return;
  }
  size_t total = head_len + body_len;
  if (c.in_len < total) return;
  if (c.in_len > total) close_after = true;  // pipelined junk: do not trust this connection
  complete(c, status, std::string_view(c.in.data() + head_len, body_len), close_after, src, lim);
  c.in_len = 0;
}

void Worker::complete(Conn& c, int status, std::string_view body, bool close_after, Source& src,
                      const RunLimits& lim) {
  int64_t now = now_ns();
  c.busy = false;
  --inflight_;
  c.failures = 0;
  const Job job = c.job;
  if (job.intended_ns >= lim.measure_from_ns)
    stats_.latency[static_cast<size_t>(job.op)].record((now - job.intended_ns) / 1000);
  if (now >= lim.measure_from_ns) {
    ++stats_.by_status[status < 600 ? status : 599];
    ++stats_.replies;
    stats_.last_reply_ns = now;
  }
  progress_done.store(progress_done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  free_.push_back(&c);
  src.on_response(job, status, body, now);  // body lives in c.in until we return
  if (close_after) close_conn(c);
}

void Worker::fail(Conn& c, Err e, Source& src, const RunLimits& lim) {
  int64_t now = now_ns();
  close_conn(c);
  if (!c.busy) return;
  c.busy = false;
  --inflight_;
  const Job job = c.job;
  if (now >= lim.measure_from_ns) ++stats_.errors[static_cast<size_t>(e)];
  progress_errors.store(progress_errors.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  progress_done.store(progress_done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Back off from a server that keeps failing: connect failures at once,
  // others from the second in a row; 10 ms doubling up to 1 s.
  ++c.failures;
  bool connect_failure = e == Err::kConnectRefused || e == Err::kConnectError;
  int steps = connect_failure ? c.failures - 1 : c.failures - 2;
  int64_t backoff = steps < 0 ? 0 : std::min<int64_t>(10'000'000LL << std::min(steps, 7), 1'000'000'000);
  c.cool_until = now + backoff;
  free_.push_back(&c);
  src.on_error(job, e, now);
}

void Worker::run(Source& src, const RunLimits& lim) {
  issued_ = 0;
  interval_ns_ = lim.rate > 0 ? 1e9 / lim.rate : 0;
  timer_at_ = 0;
  int64_t next_timeout_scan = 0;
  epoll_event evs[512];
  for (;;) {
    int64_t now = now_ns();
    if (now >= lim.hard_deadline_ns) {
      for (Conn* c : conns_) {
        if (!c->busy) continue;
        close_conn(*c);
        c->busy = false;
        --inflight_;
        free_.push_back(c);
        ++stats_.aborted;
      }
      stats_.hard_deadline_hit = true;
      break;
    }
    src_retry_ = 0;
    cool_wake_ = 0;
    if (now >= lim.start_ns) dispatch(src, lim, now);
    if (inflight_ == 0 && (!more_allowed(lim, now) || src.exhausted())) break;

    int64_t wake = now + 100'000'000;  // at least every 100 ms: stop flag, hard deadline
    if (src_retry_ > 0) wake = std::min(wake, src_retry_);
    if (cool_wake_ > 0) wake = std::min(wake, cool_wake_);
    if (inflight_ > 0) wake = std::min(wake, now + 10'000'000);  // request timeouts
    if (now < lim.start_ns) wake = std::min(wake, lim.start_ns);
    if (lim.rate == 0 && lim.end_ns > now) wake = std::min(wake, lim.end_ns);
    wake = std::min(wake, lim.hard_deadline_ns);
    int timeout_ms = static_cast<int>(std::max<int64_t>(0, (wake - now + 999'999) / 1'000'000));
    int n = epoll_wait(ep_, evs, 512, timeout_ms);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c == nullptr) {
        uint64_t ticks;
        [[maybe_unused]] ssize_t r = read(timer_fd_, &ticks, sizeof ticks);
        timer_at_ = 0;
        continue;
      }
      if (c->fd < 0) continue;
      on_event(*c, evs[i].events, src, lim);
    }
    now = now_ns();
    if (inflight_ > 0 && now >= next_timeout_scan) {
      for (Conn* c : conns_)
        if (c->busy && now >= c->deadline_ns) fail(*c, Err::kTimeout, src, lim);
      next_timeout_scan = now + 10'000'000;
    }
  }
  // Open loop: requests the schedule intended inside the measured window that
  // were never sent because no connection was free in time (not those a
  // source that ran out of ids would never have made).
  if (lim.rate > 0 && !g_stop.load() && lim.end_ns != INT64_MAX && !src.exhausted()) {
    auto planned = static_cast<int64_t>(
        std::ceil(static_cast<double>(lim.end_ns - lim.start_ns) / interval_ns_));
    if (lim.quota >= 0) planned = std::min(planned, lim.quota);
    auto first_measured = static_cast<int64_t>(std::ceil(
        static_cast<double>(std::max<int64_t>(0, lim.measure_from_ns - lim.start_ns)) / interval_ns_));
    int64_t from = std::max(issued_, first_measured);
    if (planned > from) stats_.unsent += static_cast<uint64_t>(planned - from);
  }
}

}  // namespace tqbench
