// The watch scenario: --watchers users wait in line on one event, each with
// a Server-Sent Events stream open (GET /v1/events/E/stream, Authorization:
// Bearer <user token>, one connection each), and the bench measures how fast
// an admission reaches them. Per round:
//
//   1. reset the event and PUT it with capacity 0, queue_limit >= watchers,
//      admit_rate "manual" (nobody is admitted until process_queue);
//   2. reserve the watchers over -c connections (the setup engine), keeping
//      each one's position and user token;
//   3. open every stream (at most --open-window being opened at once) and
//      read each one's first event (`waiting`);
//   4. keep them idle for --hold seconds: heartbeats and events received,
//      the server's VmRSS (--server-pid) and Redis calls (--redis-port);
//   5. PUT capacity = reserved + K and POST process_queue?limit=... until K
//      are admitted; T0 is when the first POST's bytes are sent. Each stream
//      records when its first `admitted` event arrives (latency from T0);
//      the watchers behind the K record when their `waiting` event with the
//      position moved up by K arrives;
//   6. reset the event (every stream should end with `left`) and close what
//      is left with a reset (SO_LINGER 0: no TIME_WAIT for the next round).
//
// The streams are read by --threads epoll loops of their own (not the
// request engine's Worker: a stream is one reply that never ends); they share
// its socket and response-head code, and every figure goes into the bench's
// Histogram and report.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "bench.h"

namespace tqbench {

namespace {

using Json = nlohmann::ordered_json;

// How a stream ended.
enum class End : uint8_t {
  kNone,
  kConnect,      // the connect failed
  kStatus,       // a reply other than 200
  kBadResponse,  // unparseable head, chunk framing or line
  kClosed,       // the server closed the connection or ended the body
  kReset,        // ECONNRESET and the like
  kTimeout,      // no first event within --timeout
  kEvent,        // a final event (confirmed, expired, left, closed, reconnect)
  kQuit,         // closed by the bench at the end of the round
};

const char* end_name(End e) {
  switch (e) {
    case End::kNone:
      return "none";
    case End::kConnect:
      return "connect_error";
    case End::kStatus:
      return "http_status";
    case End::kBadResponse:
      return "bad_response";
    case End::kClosed:
      return "closed";
    case End::kReset:
      return "reset";
    case End::kTimeout:
      return "timeout";
    case End::kEvent:
      return "event";
    case End::kQuit:
      return "quit";
  }
  return "?";
}

struct Stream {
  int fd = -1;
  uint32_t user = 0;  // ordinal of the user id
  enum class St : uint8_t { kWait, kConnecting, kHead, kBody, kDone } st = St::kWait;
  End end = End::kNone;
  bool chunked = false;
  bool counted_moved = false;
  int status = 0;           // of the reply
  int64_t chunk_left = -1;  // chunked: -1 a size line is next, -2 the CRLF after data
  std::string in;           // received, not parsed yet
  std::string out;          // the request, until sent
  size_t out_off = 0;
  std::string line;  // an SSE line not ended yet
  std::string ev_name, ev_data;
  std::string end_event;    // the final event (and its reason) that ended the stream
  int64_t opened_ns = 0;    // connect started
  int64_t first_ns = 0;     // first event
  int64_t admitted_ns = 0;  // first `admitted` event
  int64_t moved_ns = 0;     // `waiting` with the position moved up by K
  int64_t end_ns = 0;
  int64_t pos0 = -1, pos = -1;
  uint32_t events = 0, heartbeats = 0;
};

bool is_final_event(std::string_view name) {
  return name == "confirmed" || name == "expired" || name == "left" || name == "closed" ||
         name == "reconnect";
}

// One epoll loop reading its share of the streams (every threads-th).
class StreamLoop {
 public:
  StreamLoop(const Target& t, std::vector<Stream*> mine, int window, int64_t open_timeout_ns)
      : target_(t), mine_(std::move(mine)), window_(window), open_timeout_ns_(open_timeout_ns) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~StreamLoop() {
    stop();
    close_all();
    if (ep_ >= 0) close(ep_);
  }
  StreamLoop(const StreamLoop&) = delete;
  StreamLoop& operator=(const StreamLoop&) = delete;

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    quit_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  // After stop(): closes every stream still open (a reset, no TIME_WAIT).
  void close_all() {
    int64_t now = now_ns();
    for (Stream* s : mine_) finish(*s, End::kQuit, now);
  }
  // Positions move up by k from now on: counts the watchers that should see
  // `admitted` (at the front k of the line) and the move (behind them).
  void expect(int64_t k) {
    shift_.store(k);
    while (!expected_ready_.load() && !quit_.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  size_t size() const { return mine_.size(); }
  const Histogram& open_latency() const { return open_lat_; }  // after stop()

  // Written by the loop, read by anyone (relaxed; release where main reads
  // stream fields after them).
  std::atomic<uint64_t> opened{0};       // got their first event
  std::atomic<uint64_t> failed_open{0};  // ended before it
  std::atomic<uint64_t> ended{0};        // ended after it
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> heartbeats{0};
  std::atomic<uint64_t> admitted{0};  // streams with an `admitted` event
  std::atomic<uint64_t> moved{0};     // streams whose position moved up by K
  std::atomic<uint64_t> expected_admitted{0}, expected_moved{0};
  // Oddities, read after stop().
  uint64_t unknown_events = 0, state_mismatch = 0, no_token = 0, first_not_waiting = 0,
           bad_content_type = 0;
  std::map<int, uint64_t> statuses;  // replies other than 200
  std::string status_sample;

 private:
  void run() {
    epoll_event evs[512];
    size_t next = 0;
    int64_t next_scan = 0;
    bool counted = false;
    std::vector<char> buf(1 << 16);
    while (!quit_.load(std::memory_order_relaxed)) {
      int64_t now = now_ns();
      // Open more, within the window.
      while (opening_ < window_ && next < mine_.size()) {
        Stream& s = *mine_[next++];
        connect(s, now);
      }
      if (!counted && shift_.load() >= 0) {
        int64_t k = shift_.load();
        uint64_t a = 0, m = 0;
        for (Stream* s : mine_) {
          if (s->st == Stream::St::kDone || s->first_ns == 0 || s->pos0 < 1) continue;
          if (s->pos0 <= k)
            ++a;
          else
            ++m;
        }
        expected_admitted.store(a);
        expected_moved.store(m);
        counted = true;
        expected_ready_.store(true);
      }
      int n = epoll_wait(ep_, evs, 512, 10);
      for (int i = 0; i < n; ++i) {
        auto* s = static_cast<Stream*>(evs[i].data.ptr);
        if (s->fd < 0) continue;
        on_ready(*s, evs[i].events, buf);
      }
      now = now_ns();
      if (opening_ > 0 && now >= next_scan) {
        for (size_t i = 0; i < next; ++i) {
          Stream& s = *mine_[i];
          if (s.st != Stream::St::kDone && s.first_ns == 0 && now - s.opened_ns > open_timeout_ns_)
            finish(s, End::kTimeout, now);
        }
        next_scan = now + 100'000'000;
      }
    }
  }

  void set_events(Stream& s, uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &s;
    epoll_ctl(ep_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s.fd, &ev);
  }

  void connect(Stream& s, int64_t now) {
    ++opening_;
    s.opened_ns = now;
    s.st = Stream::St::kConnecting;
    bool connected = false;
    s.fd = open_socket(target_, &connected);
    if (s.fd < 0) return finish(s, End::kConnect, now);
    set_events(s, EPOLLIN | EPOLLOUT, true);
  }

  void on_ready(Stream& s, uint32_t events, std::vector<char>& buf) {
    if (s.st == Stream::St::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return finish(s, End::kConnect, now_ns());
      s.st = Stream::St::kHead;
      s.out_off = 0;
      return send_request(s);
    }
    if (s.out_off < s.out.size() && (events & EPOLLOUT)) {
      send_request(s);
      if (s.fd < 0) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read(s, buf);
  }

  void send_request(Stream& s) {
    while (s.out_off < s.out.size()) {
      ssize_t n = send(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        s.out_off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_events(s, EPOLLIN | EPOLLOUT, false);
        return;
      } else {
        return finish(s, End::kReset, now_ns());
      }
    }
    std::string().swap(s.out);
    s.out_off = 0;
    set_events(s, EPOLLIN, false);
  }

  void read(Stream& s, std::vector<char>& buf) {
    bool eof = false;
    End err = End::kNone;
    for (;;) {
      ssize_t n = recv(s.fd, buf.data(), buf.size(), 0);
      if (n > 0) {
        s.in.append(buf.data(), static_cast<size_t>(n));
        if (static_cast<size_t>(n) < buf.size()) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n == 0)
        eof = true;
      else
        err = End::kReset;
      break;
    }
    int64_t now = now_ns();  // the arrival time of what was read
    parse(s, now);
    if (s.st == Stream::St::kDone) return;
    if (eof)
      finish(s, End::kClosed, now);
    else if (err != End::kNone)
      finish(s, err, now);
  }

  void parse(Stream& s, int64_t now) {
    if (s.st == Stream::St::kHead) {
      ResponseHead h;
      Parse p = parse_response_head(s.in.data(), s.in.size(), &h);
      if (p == Parse::kIncomplete) return;
      if (p == Parse::kBad) return finish(s, End::kBadResponse, now);
      s.status = h.status;
      if (h.status != 200) {
        ++statuses[h.status];
        if (status_sample.empty())
          status_sample = std::to_string(h.status) + " " +
                          s.in.substr(h.head_len, std::min<size_t>(200, s.in.size() - h.head_len));
        return finish(s, End::kStatus, now);
      }
      std::string head = s.in.substr(0, h.head_len);
      std::transform(head.begin(), head.end(), head.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (head.find("\r\ncontent-type: text/event-stream") == std::string::npos) ++bad_content_type;
      s.chunked = h.chunked;
      s.in.erase(0, h.head_len);
      s.st = Stream::St::kBody;
    }
    if (!s.chunked) {
      std::string data;
      data.swap(s.in);
      sse(s, data.data(), data.size(), now);
      return;
    }
    size_t p = 0;
    while (p < s.in.size()) {
      if (s.chunk_left == -1) {  // "<hex size>[;ext]\r\n"
        size_t eol = s.in.find("\r\n", p);
        if (eol == std::string::npos) {
          if (s.in.size() - p > 1024) return finish(s, End::kBadResponse, now);
          break;
        }
        int64_t size = 0;
        size_t i = p;
        for (; i < eol && std::isxdigit(static_cast<unsigned char>(s.in[i])); ++i)
          size = size * 16 + (std::isdigit(static_cast<unsigned char>(s.in[i]))
                                  ? s.in[i] - '0'
                                  : std::tolower(static_cast<unsigned char>(s.in[i])) - 'a' + 10);
        if (i == p || (i < eol && s.in[i] != ';') || size > (1 << 24))
          return finish(s, End::kBadResponse, now);
        p = eol + 2;
        if (size == 0) return finish(s, End::kClosed, now);  // the body ended without a final event
        s.chunk_left = size;
      } else if (s.chunk_left == -2) {
        if (s.in.size() - p < 2) break;
        if (s.in[p] != '\r' || s.in[p + 1] != '\n') return finish(s, End::kBadResponse, now);
        p += 2;
        s.chunk_left = -1;
      } else {
        size_t take = std::min<size_t>(static_cast<size_t>(s.chunk_left), s.in.size() - p);
        // sse() may end the stream, which empties s.in: hand it a copy.
        std::string piece = s.in.substr(p, take);
        p += take;
        s.chunk_left -= static_cast<int64_t>(take);
        if (s.chunk_left == 0) s.chunk_left = -2;
        sse(s, piece.data(), piece.size(), now);
        if (s.st == Stream::St::kDone) return;
      }
    }
    s.in.erase(0, p);
  }

  // Server-Sent Events: lines ended by \n (a \r before it dropped).
  void sse(Stream& s, const char* p, size_t n, int64_t now) {
    while (n > 0) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      if (nl == nullptr) {
        s.line.append(p, n);
        if (s.line.size() > 65536) finish(s, End::kBadResponse, now);
        return;
      }
      s.line.append(p, static_cast<size_t>(nl - p));
      n -= static_cast<size_t>(nl - p) + 1;
      p = nl + 1;
      std::string line;
      line.swap(s.line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      sse_line(s, line, now);
      if (s.st == Stream::St::kDone) return;
    }
  }

  void sse_line(Stream& s, std::string_view ln, int64_t now) {
    if (ln.empty()) {
      if (!s.ev_name.empty() || !s.ev_data.empty()) dispatch(s, now);
      s.ev_name.clear();
      s.ev_data.clear();
      return;
    }
    if (ln.front() == ':') {  // a comment: ": hb" is the heartbeat
      ln.remove_prefix(1);
      if (!ln.empty() && ln.front() == ' ') ln.remove_prefix(1);
      if (ln == "hb") {
        ++s.heartbeats;
        heartbeats.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    size_t colon = ln.find(':');
    std::string_view field = ln.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : ln.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      s.ev_name = value;
    } else if (field == "data") {
      if (!s.ev_data.empty()) s.ev_data += '\n';
      s.ev_data += value;
    }  // id, retry: not used
  }

  void dispatch(Stream& s, int64_t now) {
    ++s.events;
    events.fetch_add(1, std::memory_order_relaxed);
    const std::string& name = s.ev_name;
    const std::string& data = s.ev_data;
    if (json_str(data, "state") != name) ++state_mismatch;
    const bool first = s.first_ns == 0;
    if (name == "waiting") {
      int64_t p = json_int(data, "position");
      if (first) s.pos0 = p;
      s.pos = p;
      int64_t k = shift_.load(std::memory_order_relaxed);
      if (k >= 0 && !s.counted_moved && s.pos0 > k && p == s.pos0 - k) {
        s.counted_moved = true;
        s.moved_ns = now;
        moved.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (name == "admitted") {
      if (s.admitted_ns == 0) {
        s.admitted_ns = now;
        if (json_str(data, "admission_token").empty()) ++no_token;
        admitted.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (!is_final_event(name)) {
      ++unknown_events;
    }
    if (first) {
      s.first_ns = now;
      if (name != "waiting") ++first_not_waiting;
      open_lat_.record((now - s.opened_ns) / 1000);
      --opening_;
      opened.fetch_add(1, std::memory_order_release);
    }
    if (is_final_event(name)) {
      std::string_view reason = json_str(data, "reason");
      s.end_event = reason.empty() ? name : name + ":" + std::string(reason);
      finish(s, End::kEvent, now);
    }
  }

  void finish(Stream& s, End e, int64_t now) {
    if (s.st == Stream::St::kDone) return;
    const bool before_first = s.first_ns == 0 && s.st != Stream::St::kWait;
    if (s.fd >= 0) {
      linger l{1, 0};  // a reset: neither side keeps TIME_WAIT
      setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(s.fd);  // also leaves the epoll set
      s.fd = -1;
    }
    s.st = Stream::St::kDone;
    s.end = e;
    s.end_ns = now;
    std::string().swap(s.in);
    std::string().swap(s.out);
    std::string().swap(s.line);
    std::string().swap(s.ev_name);
    std::string().swap(s.ev_data);
    if (e == End::kQuit) return;
    if (before_first) {
      --opening_;
      failed_open.fetch_add(1, std::memory_order_release);
    } else if (s.first_ns != 0) {
      ended.fetch_add(1, std::memory_order_release);
    }
  }

  Target target_;
  std::vector<Stream*> mine_;
  int window_;
  int64_t open_timeout_ns_;
  int ep_ = -1;
  int opening_ = 0;  // connecting or waiting for the first event
  std::thread thread_;
  std::atomic<bool> quit_{false};
  std::atomic<int64_t> shift_{-1};
  std::atomic<bool> expected_ready_{false};
  Histogram open_lat_;
};

// ------------------------------------------------------------ measurements --

// VmRSS of a process in bytes; -1 when unreadable.
int64_t vm_rss(int64_t pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("VmRSS:")) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
  return -1;
}

// CPU time (user + system, all threads) of a process in seconds; -1 when unreadable.
double cpu_seconds(int64_t pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  size_t p = stat.rfind(')');  // the name may hold spaces
  if (p == std::string::npos) return -1;
  std::istringstream in(stat.substr(p + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Percent of one core a process used over a span (-1: unknown).
double cpu_percent(double cpu_a, double cpu_b, int64_t ns) {
  if (cpu_a < 0 || cpu_b < 0 || ns <= 0) return -1;
  return std::round((cpu_b - cpu_a) / (static_cast<double>(ns) / 1e9) * 1000) / 10;
}

// Calls by command from INFO commandstats, and when they were read.
struct CmdStats {
  bool ok = false;
  int64_t at_ns = 0;
  std::map<std::string, int64_t> calls;
  int64_t evalsha_usec = 0;  // Redis's time in EVALSHA (the scripts' own commands included)
  int64_t get(const std::string& cmd) const {
    auto it = calls.find(cmd);
    return it == calls.end() ? 0 : it->second;
  }
  // Every command but our own INFO, those scripts run included (Redis counts
  // them in commandstats too).
  int64_t total() const {
    int64_t n = 0;
    for (const auto& [k, v] : calls)
      if (k != "info") n += v;
    return n;
  }
};

CmdStats command_stats(Redis* r) {
  CmdStats cs;
  if (r == nullptr || r->c == nullptr) return cs;
  std::string info;
  if (!r->text({"INFO", "commandstats"}, &info)) return cs;
  cs.at_ns = now_ns();
  std::istringstream in(info);
  std::string line;
  while (std::getline(in, line)) {  // cmdstat_evalsha:calls=12,usec=...
    if (!line.starts_with("cmdstat_")) continue;
    size_t colon = line.find(':');
    size_t calls = line.find("calls=", colon);
    if (colon == std::string::npos || calls == std::string::npos) continue;
    std::string name = line.substr(8, colon - 8);
    cs.calls[name] = std::strtoll(line.c_str() + calls + 6, nullptr, 10);
    size_t usec = line.find("usec=", colon);
    if (name == "evalsha" && usec != std::string::npos)
      cs.evalsha_usec = std::strtoll(line.c_str() + usec + 5, nullptr, 10);
  }
  cs.ok = true;
  return cs;
}

// Redis calls between two readings, as JSON and text.
struct RedisRate {
  bool ok = false;
  double seconds = 0;
  int64_t evalsha = 0, all = 0, usec = 0;
  double evalsha_per_s() const { return seconds > 0 ? static_cast<double>(evalsha) / seconds : 0; }
  double all_per_s() const { return seconds > 0 ? static_cast<double>(all) / seconds : 0; }
  Json json() const {
    if (!ok) return nullptr;
    return Json{{"seconds", std::round(seconds * 1000) / 1000},
                {"evalsha_calls", evalsha},
                {"evalsha_per_s", std::round(evalsha_per_s() * 10) / 10},
                {"evalsha_usec", usec},
                {"commands", all},
                {"commands_per_s", std::round(all_per_s() * 10) / 10}};
  }
  std::string text() const {
    char b[200];
    std::snprintf(
        b, sizeof b,
        "%lld EVALSHA (%.1f/s, %.1f ms of Redis time), %lld commands counted (%.1f/s) in %.2f s",
        static_cast<long long>(evalsha), evalsha_per_s(), static_cast<double>(usec) / 1000,
        static_cast<long long>(all), all_per_s(), seconds);
    return b;
  }
};

RedisRate redis_rate(const CmdStats& a, const CmdStats& b) {
  RedisRate r;
  if (!a.ok || !b.ok) return r;
  r.ok = true;
  r.seconds = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  r.evalsha = b.get("evalsha") - a.get("evalsha");
  r.all = b.total() - a.total();
  r.usec = b.evalsha_usec - a.evalsha_usec;
  return r;
}

std::string mb(int64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MB", static_cast<double>(bytes) / 1048576.0);
  return b;
}

Json load_json(const LoadResult& r) {
  double secs = static_cast<double>(r.elapsed_ns) / 1e9;
  Histogram all;
  for (const auto& h : r.stats.latency) all.merge(h);
  uint64_t errors = 0;
  for (uint64_t e : r.stats.errors) errors += e;
  return Json{{"requests", r.stats.replies},
              {"throughput_rps",
               secs > 0 ? std::round(static_cast<double>(r.stats.replies) / secs * 10) / 10 : 0},
              {"answered", answered(r.stats)},
              {"errors", errors},
              {"unsent", r.stats.unsent},
              {"latency_us", latency_json(all)}};
}

std::string load_text(const LoadResult& r) {
  double secs = static_cast<double>(r.elapsed_ns) / 1e9;
  Histogram all;
  for (const auto& h : r.stats.latency) all.merge(h);
  char b[96];
  std::snprintf(b, sizeof b, "%llu status in %.2f s = %.0f req/s; ",
                static_cast<unsigned long long>(r.stats.replies), secs,
                secs > 0 ? static_cast<double>(r.stats.replies) / secs : 0);
  return b + latency_text(all);
}

// The whole run's state: the options, and how to stop.
struct Ctx {
  RunContext& run;
  const Options& o;
  int64_t hard_deadline;
  bool aborted = false;
  bool over() {
    if (g_stop.load() || now_ns() >= hard_deadline) aborted = true;
    return aborted;
  }
  // Sleeps up to `seconds`, in short steps, unless the run is over.
  void nap(double seconds) {
    int64_t until = now_ns() + static_cast<int64_t>(seconds * 1e9);
    while (!over() && now_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
};

// Step 1: the event empty, capacity 0, manual admission, room for everyone.
bool prepare_event(Ctx& x, std::string* why) {
  const Requests& req = x.run.req;
  EventInfo info;
  int st = admin_event(x.run.target, req, &info, why);
  if (st != 200 && st != 404) return false;
  if (st == 200 && info.reserved + info.waiting + info.promoted > 0) {
    OnceResult r = http_once(x.run.target, req.reset(), 10);
    if (r.status != 200) {
      *why = "reset: " + std::to_string(r.status) + " " + r.body + r.error;
      return false;
    }
  }
  int64_t queue_limit = std::max(x.o.watchers, x.o.queue_limit);
  OnceResult r =
      http_once(x.run.target,
                req.put_event(0, queue_limit, ",\"admit_rate\":\"manual\",\"state\":\"open\""), 10);
  if (r.status != 200 && r.status != 201) {
    *why = "PUT event: " + std::to_string(r.status) + " " + r.body + r.error;
    return false;
  }
  why->clear();
  st = admin_event(x.run.target, req, &info, why);
  if (st != 200 || info.reserved + info.waiting + info.promoted > 0 || info.capacity != 0) {
    *why = "event not empty after reset and PUT: " + std::to_string(st) + " " + *why;
    return false;
  }
  return true;
}

struct Round {
  Json json = Json::object();
  std::string text;
  bool ok = true;
  bool setup_failed = false;  // the event or the line could not be set up
  Histogram admitted, moved;  // latency from T0, µs
};

Round run_round(Ctx& x, int round, Stats* setup_total, int64_t* setup_ns) {
  const Options& o = x.o;
  const Target& target = x.run.target;
  const Requests& req = x.run.req;
  const auto n = static_cast<uint64_t>(o.watchers);
  const int64_t k = o.admit > 0 ? o.admit : o.watchers;
  Round out;
  std::ostringstream t;
  auto fail = [&](const std::string& why) {
    out.ok = false;
    out.setup_failed = true;
    out.json["error"] = why;
    t << "  round " << round << "    FAILED: " << why << "\n";
    out.text = t.str();
    return out;
  };

  std::string why;
  if (!prepare_event(x, &why)) return fail("event " + req.event_name() + ": " + why);

  // Step 2: the watchers join the line.
  SetupReplies replies(n);
  int64_t took = 0;
  Stats setup = run_setup(o, x.run.workers, req, x.run.ids, n, &replies, &took);
  setup_total->merge(setup);
  *setup_ns += took;
  std::vector<uint32_t> joined;
  uint64_t not_queued = 0, bad_position = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (replies.status[i] != 200 || replies.token[i].empty()) {
      ++not_queued;
      continue;
    }
    joined.push_back(i);
  }
  // Everyone joined in some order: positions are 1..joined, each once.
  {
    std::vector<int64_t> pos;
    for (uint32_t i : joined) pos.push_back(replies.position[i]);
    std::sort(pos.begin(), pos.end());
    for (size_t i = 0; i < pos.size(); ++i) bad_position += pos[i] != static_cast<int64_t>(i + 1);
  }
  out.json["reserve"] = Json{{"users", n},
                             {"queued_with_token", joined.size()},
                             {"other", not_queued},
                             {"positions_not_1_to_n", bad_position},
                             {"seconds", std::round(static_cast<double>(took) / 1e6) / 1000}};
  char tb[32];
  std::snprintf(tb, sizeof tb, "%.2f s", static_cast<double>(took) / 1e9);
  t << "  round " << round << "    reserve: " << joined.size() << " of " << n
    << " queued with a token in " << tb
    << (not_queued ? " (" + std::to_string(not_queued) + " not)" : "")
    << (bad_position ? ", positions not 1..n: " + std::to_string(bad_position) : "") << "\n";
  if (joined.empty()) return fail("no watcher joined the line");
  if (x.over()) {
    Round r = fail("stopped");
    r.setup_failed = false;
    return r;
  }

  // The server's memory before the streams (and before the --api-load runs,
  // whose freed buffers the streams would otherwise reuse unseen).
  const int64_t rss_before = vm_rss(o.server_pid);

  // --api-load, without streams.
  Options lo = o;
  lo.scenario = "status";
  lo.duration = o.api_load;
  lo.requests = 0;
  lo.warmup = 0;
  lo.left = 0;
  lo.users = static_cast<int64_t>(n);
  lo.max_time = 0;
  const IdPlan no_plan;
  LoadResult load_before, load_with;
  if (o.api_load > 0) load_before = run_load(lo, x.run.workers, req, x.run.ids, no_plan);

  // Redis with no stream open, for comparison.
  Redis redis;
  if (o.redis_given && !redis_connect(o.redis, &redis))
    std::fprintf(stderr, "ticketq-bench: warning: redis %s: %s (no Redis figures)\n",
                 o.redis.c_str(), redis.error.c_str());
  Redis* rp = redis.c != nullptr && redis.error.empty() ? &redis : nullptr;
  RedisRate r_none;
  double cpu_none = -1;
  if ((rp != nullptr || o.server_pid > 0) && o.hold > 0) {
    CmdStats a = command_stats(rp);
    double c0 = cpu_seconds(o.server_pid);
    int64_t t_a = now_ns();
    x.nap(o.hold);
    cpu_none = cpu_percent(c0, cpu_seconds(o.server_pid), now_ns() - t_a);
    r_none = redis_rate(a, command_stats(rp));
  }

  // Step 3: open the streams.
  std::vector<Stream> streams(joined.size());
  for (size_t i = 0; i < joined.size(); ++i) {
    streams[i].user = joined[i];
    streams[i].out = req.stream(replies.token[joined[i]]);
  }
  std::vector<std::unique_ptr<StreamLoop>> loops;
  const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(streams.size())));
  for (int l = 0; l < threads; ++l) {
    std::vector<Stream*> mine;
    for (size_t i = static_cast<size_t>(l); i < streams.size(); i += static_cast<size_t>(threads))
      mine.push_back(&streams[i]);
    int window = std::max(1, o.open_window / threads);
    loops.push_back(std::make_unique<StreamLoop>(target, std::move(mine), window,
                                                 static_cast<int64_t>(o.timeout * 1e9)));
  }
  auto sum = [&](std::atomic<uint64_t> StreamLoop::*m) {
    uint64_t v = 0;
    for (auto& l : loops) v += (l.get()->*m).load(std::memory_order_acquire);
    return v;
  };
  const int64_t t_open = now_ns();
  for (auto& l : loops) l->start();
  int tick = 0;
  while (!x.over() && sum(&StreamLoop::opened) + sum(&StreamLoop::failed_open) < streams.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int64_t now = now_ns();
    if (o.progress && now - t_open >= static_cast<int64_t>(tick + 1) * 1'000'000'000) {
      ++tick;
      std::fprintf(stderr, "[%6.1fs] watch: streams open %llu / %zu, %llu failed\n",
                   static_cast<double>(now - t_open) / 1e9,
                   static_cast<unsigned long long>(sum(&StreamLoop::opened)), streams.size(),
                   static_cast<unsigned long long>(sum(&StreamLoop::failed_open)));
    }
  }
  const int64_t open_took = now_ns() - t_open;
  const uint64_t open = sum(&StreamLoop::opened), failed_open = sum(&StreamLoop::failed_open);
  std::fprintf(stderr, "streams: %llu / %zu open in %.2f s, %llu failed\n",
               static_cast<unsigned long long>(open), streams.size(),
               static_cast<double>(open_took) / 1e9, static_cast<unsigned long long>(failed_open));
  const int64_t rss_open = vm_rss(o.server_pid);

  // Step 4: idle.
  const uint64_t hb0 = sum(&StreamLoop::heartbeats), ev0 = sum(&StreamLoop::events);
  CmdStats idle_a = command_stats(rp);
  const double idle_c0 = cpu_seconds(o.server_pid);
  const int64_t t_idle = now_ns();
  x.nap(o.hold);
  const int64_t idle_ns = now_ns() - t_idle;
  const double cpu_idle = cpu_percent(idle_c0, cpu_seconds(o.server_pid), idle_ns);
  CmdStats idle_b = command_stats(rp);
  const uint64_t idle_hb = sum(&StreamLoop::heartbeats) - hb0,
                 idle_ev = sum(&StreamLoop::events) - ev0;
  const int64_t rss_idle = vm_rss(o.server_pid);
  RedisRate r_idle = redis_rate(idle_a, idle_b);
  if (o.api_load > 0 && !x.over()) load_with = run_load(lo, x.run.workers, req, x.run.ids, no_plan);

  // Step 5: admit K, from T0 = the first process_queue's send.
  int64_t t0 = 0, promoted = 0, remaining = -1, calls = 0, reserved = 0;
  Histogram process_lat;
  std::string admit_error;
  uint64_t exp_admitted = 0, exp_moved = 0;
  CmdStats del_a, del_b;
  int64_t t_wait_end = 0;
  if (!x.over()) {
    EventInfo info;
    if (int st = admin_event(target, req, &info, &why); st == 200) reserved = info.reserved;
    OnceResult r = http_once(
        target, req.put_settings("{\"capacity\":" + std::to_string(reserved + k) + "}"), 10);
    if (r.status != 200)
      admit_error = "PUT capacity: " + std::to_string(r.status) + " " + r.body + r.error;
    for (auto& l : loops) l->expect(k);
    exp_admitted = sum(&StreamLoop::expected_admitted);
    exp_moved = sum(&StreamLoop::expected_moved);
    del_a = command_stats(rp);
    while (admit_error.empty() && promoted < k && !x.over()) {
      int64_t sent = 0;
      OnceResult p = http_once(
          target, req.process_queue(static_cast<int>(std::min<int64_t>(k - promoted, 1000))),
          o.timeout, &sent);
      if (t0 == 0) t0 = sent;
      ++calls;
      process_lat.record((now_ns() - sent) / 1000);
      if (p.status != 200) {
        admit_error = "process_queue: " + std::to_string(p.status) + " " + p.body + p.error;
        break;
      }
      int64_t c = json_int(p.body, "promoted_count", 0);
      promoted += c;
      remaining = json_int(p.body, "remaining");
      if (c == 0) break;
    }
    const int64_t wait_until =
        (t0 > 0 ? t0 : now_ns()) + static_cast<int64_t>(o.deliver_timeout * 1e9);
    while (!x.over() && now_ns() < wait_until &&
           (sum(&StreamLoop::admitted) < exp_admitted || sum(&StreamLoop::moved) < exp_moved))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    t_wait_end = now_ns();
    del_b = command_stats(rp);
  }
  // Step 6: reset; every stream should end with `left`.
  const uint64_t ended_before_reset = sum(&StreamLoop::ended);
  int reset_status = 0;
  int64_t reset_took = 0, t_reset = INT64_MAX;
  uint64_t ended_by_reset = 0;
  if (!x.over()) {
    t_reset = now_ns();
    reset_status = http_once(target, req.reset(), 10).status;
    while (!x.over() && now_ns() - t_reset < 5'000'000'000 &&
           sum(&StreamLoop::ended) < sum(&StreamLoop::opened))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    reset_took = now_ns() - t_reset;
    ended_by_reset = sum(&StreamLoop::ended) - ended_before_reset;
  }
  for (auto& l : loops) {
    l->stop();
    l->close_all();
  }

  // What the streams saw.
  Histogram open_lat;
  uint64_t unknown = 0, mismatch = 0, no_token = 0, first_not_waiting = 0, bad_ct = 0;
  std::map<int, uint64_t> statuses;
  std::string status_sample;
  for (auto& l : loops) {
    open_lat.merge(l->open_latency());
    unknown += l->unknown_events;
    mismatch += l->state_mismatch;
    no_token += l->no_token;
    first_not_waiting += l->first_not_waiting;
    bad_ct += l->bad_content_type;
    for (const auto& [c, v] : l->statuses) statuses[c] += v;
    if (status_sample.empty()) status_sample = l->status_sample;
  }
  std::map<std::string, uint64_t> open_failures, dropped, reset_ends;
  uint64_t delivered = 0, wrong = 0, early = 0, moved = 0, pos_mismatch = 0, hb_total = 0;
  int64_t last_arrival = 0;
  for (const Stream& s : streams) {
    hb_total += s.heartbeats;
    std::string how = s.end == End::kEvent    ? s.end_event
                      : s.end == End::kStatus ? "http_" + std::to_string(s.status)
                                              : end_name(s.end);
    if (s.first_ns == 0) {
      ++open_failures[s.end == End::kQuit ? "not_open_at_end" : how];
      continue;
    }
    if (s.pos0 != replies.position[s.user]) ++pos_mismatch;
    if (s.end == End::kQuit)
      ++reset_ends["still_open"];
    else if (s.end_ns < t_reset)
      ++dropped[how];
    else
      ++reset_ends[how];
    if (s.admitted_ns > 0) {
      ++delivered;
      if (s.pos0 > k) ++wrong;
      if (t0 == 0 || s.admitted_ns < t0)
        ++early;
      else
        out.admitted.record((s.admitted_ns - t0) / 1000);
      last_arrival = std::max(last_arrival, s.admitted_ns);
    }
    if (s.moved_ns > 0 && t0 > 0) {
      ++moved;
      out.moved.record((s.moved_ns - t0) / 1000);
      last_arrival = std::max(last_arrival, s.moved_ns);
    }
  }
  loops.clear();

  // ---- this round's figures
  Json status_json = Json::object();
  for (const auto& [c, v] : statuses) status_json[std::to_string(c)] = v;
  RedisRate r_del = redis_rate(del_a, del_b);
  Json j = out.json;
  j["round"] = round;
  j["streams"] = Json{{"watchers", streams.size()},
                      {"open", open},
                      {"failed", failed_open},
                      {"failures", open_failures},
                      {"open_seconds", std::round(static_cast<double>(open_took) / 1e6) / 1000},
                      {"open_latency_us", latency_json(open_lat)},
                      {"http_statuses", status_json},
                      {"status_sample", status_sample},
                      {"bad_content_type", bad_ct},
                      {"first_not_waiting", first_not_waiting},
                      {"position_not_reserve_position", pos_mismatch}};
  Json rss = nullptr;
  if (o.server_pid > 0) {
    rss = Json{{"pid", o.server_pid},
               {"before_bytes", rss_before},
               {"open_bytes", rss_open},
               {"after_idle_bytes", rss_idle}};
    if (rss_before >= 0 && rss_open >= 0 && open > 0)
      rss["bytes_per_stream"] = (rss_open - rss_before) / static_cast<int64_t>(open);
  }
  j["server_rss"] = rss;
  j["idle"] =
      Json{{"seconds", std::round(static_cast<double>(idle_ns) / 1e6) / 1000},
           {"heartbeats", idle_hb},
           {"events", idle_ev},
           {"redis", r_idle.json()},
           {"redis_no_streams", r_none.json()},
           {"server_cpu_percent", cpu_idle >= 0 ? Json(cpu_idle) : Json(nullptr)},
           {"server_cpu_percent_no_streams", cpu_none >= 0 ? Json(cpu_none) : Json(nullptr)}};
  Json admit = Json{
      {"k", k},
      {"capacity_put", reserved + k},
      {"process_calls", calls},
      {"process_latency_us", latency_json(process_lat)},
      {"promoted", promoted},
      {"remaining", remaining},
      {"expected", exp_admitted},
      {"delivered", delivered},
      {"wrong_watcher", wrong},
      {"before_t0", early},
      {"without_admission_token", no_token},
      {"latency_us", latency_json(out.admitted)},
      {"moved_expected", exp_moved},
      {"moved_delivered", moved},
      {"moved_latency_us", latency_json(out.moved)},
      {"last_arrival_ms", last_arrival > 0 && t0 > 0
                              ? std::round(static_cast<double>(last_arrival - t0) / 1e3) / 1000
                              : 0},
      {"waited_ms", t0 > 0 ? std::round(static_cast<double>(t_wait_end - t0) / 1e3) / 1000 : 0},
      {"redis", r_del.json()},
      {"dropped_streams", dropped}};
  if (!admit_error.empty()) admit["error"] = admit_error;
  j["admit"] = admit;
  j["reset"] = Json{{"status", reset_status},
                    {"ended_streams", ended_by_reset},
                    {"ends", reset_ends},
                    {"seconds", std::round(static_cast<double>(reset_took) / 1e6) / 1000}};
  j["events"] =
      Json{{"unknown", unknown}, {"state_not_event_name", mismatch}, {"heartbeats", hb_total}};
  if (o.api_load > 0)
    j["api_load"] =
        Json{{"without_streams", load_json(load_before)}, {"with_streams", load_json(load_with)}};
  out.json = j;

  // ---- and as text
  char b[256];
  std::snprintf(b, sizeof b,
                "             streams: %llu / %zu open in %.2f s, %llu failed; first event ",
                static_cast<unsigned long long>(open), streams.size(),
                static_cast<double>(open_took) / 1e9, static_cast<unsigned long long>(failed_open));
  t << b << latency_text(open_lat) << "\n";
  for (const auto& [how, c] : open_failures)
    t << "             not open: " << c << " " << how << "\n";
  if (!status_sample.empty()) t << "             e.g. " << status_sample << "\n";
  if (o.server_pid > 0) {
    t << "             server RSS: " << (rss_before >= 0 ? mb(rss_before) : "?") << " before, "
      << (rss_open >= 0 ? mb(rss_open) : "?") << " with the streams open, "
      << (rss_idle >= 0 ? mb(rss_idle) : "?") << " after the idle spell";
    if (rss.contains("bytes_per_stream"))
      t << ": " << rss["bytes_per_stream"].get<int64_t>() << " B per stream";
    t << "\n";
  }
  std::snprintf(b, sizeof b, "             idle %.2f s: %llu heartbeats, %llu events",
                static_cast<double>(idle_ns) / 1e9, static_cast<unsigned long long>(idle_hb),
                static_cast<unsigned long long>(idle_ev));
  t << b;
  if (cpu_idle >= 0) {
    std::snprintf(b, sizeof b, "; server CPU %.1f %% of a core (%.1f %% with no stream)", cpu_idle,
                  cpu_none);
    t << b;
  }
  t << "\n";
  if (r_idle.ok) t << "             redis while idle: " << r_idle.text() << "\n";
  if (r_none.ok) t << "             redis, no stream: " << r_none.text() << "\n";
  if (o.api_load > 0) {
    t << "             api load without streams: " << load_text(load_before) << "\n";
    t << "             api load with streams:    " << load_text(load_with) << "\n";
  }
  std::snprintf(b, sizeof b,
                "             admit %lld: PUT capacity %lld, %lld process_queue call%s (%lld "
                "promoted, %lld remaining), ",
                static_cast<long long>(k), static_cast<long long>(reserved + k),
                static_cast<long long>(calls), calls == 1 ? "" : "s",
                static_cast<long long>(promoted), static_cast<long long>(remaining));
  t << b << "reply p50 " << process_lat.percentile(50) / 1000.0 << " ms\n";
  if (!admit_error.empty()) t << "             ERROR " << admit_error << "\n";
  std::snprintf(b, sizeof b, "             delivered %llu / %llu admitted events (expected %llu)",
                static_cast<unsigned long long>(delivered),
                static_cast<unsigned long long>(promoted),
                static_cast<unsigned long long>(exp_admitted));
  t << b << (wrong ? ", " + std::to_string(wrong) + " to watchers not at the front" : "")
    << (early ? ", " + std::to_string(early) + " before T0" : "")
    << (no_token ? ", " + std::to_string(no_token) + " without admission_token" : "") << "\n";
  t << "  admitted   " << latency_text(out.admitted) << "\n";
  if (exp_moved > 0 || moved > 0) {
    std::snprintf(b, sizeof b, "  moved      %llu / %llu: ", static_cast<unsigned long long>(moved),
                  static_cast<unsigned long long>(exp_moved));
    t << b << latency_text(out.moved) << "\n";
  }
  if (r_del.ok) t << "             redis during delivery: " << r_del.text() << "\n";
  for (const auto& [how, c] : dropped)
    t << "             stream ended before the end: " << c << " " << how << "\n";
  std::snprintf(b, sizeof b, "             reset (%d): %llu streams ended in %.2f s:", reset_status,
                static_cast<unsigned long long>(ended_by_reset),
                static_cast<double>(reset_took) / 1e9);
  t << b;
  for (const auto& [how, c] : reset_ends) t << " " << c << " " << how;
  t << "\n";
  if (unknown || mismatch || first_not_waiting || bad_ct || pos_mismatch)
    t << "             oddities: " << unknown << " unknown events, " << mismatch
      << " with state != event name, " << first_not_waiting << " first events not waiting, "
      << bad_ct << " without text/event-stream, " << pos_mismatch
      << " first positions != reserve position\n";
  out.text = t.str();
  out.ok =
      admit_error.empty() && failed_open == 0 && open == streams.size() &&
      delivered == exp_admitted &&
      exp_admitted == static_cast<uint64_t>(std::min<int64_t>(k, static_cast<int64_t>(open))) &&
      moved == exp_moved && wrong == 0 && early == 0 && dropped.empty() && !x.aborted;
  return out;
}

// RLIMIT_NOFILE up to its hard limit; false when `need` does not fit.
bool raise_nofile(uint64_t need, uint64_t* limit) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  *limit = rl.rlim_cur;
  return rl.rlim_cur == RLIM_INFINITY || need <= rl.rlim_cur;
}

}  // namespace

int run_watch(RunContext& ctx) {
  const Options& o = ctx.opt;
  // One descriptor per stream, the setup connections, and a few for the rest.
  const uint64_t need =
      static_cast<uint64_t>(o.watchers) + static_cast<uint64_t>(o.connections) + 64;
  uint64_t limit = 0;
  if (!raise_nofile(need, &limit)) {
    std::fprintf(
        stderr,
        "ticketq-bench: --watchers %lld needs about %llu open files (one per stream, plus %d "
        "connections and a few); the limit is %llu (ulimit -Hn). Raise the hard limit or open "
        "fewer streams; the server needs one per stream too.\n",
        static_cast<long long>(o.watchers), static_cast<unsigned long long>(need), o.connections,
        static_cast<unsigned long long>(limit));
    return 2;
  }
  const int64_t k = o.admit > 0 ? o.admit : o.watchers;
  double max_time = o.max_time > 0
                        ? o.max_time
                        : 60 + o.rounds * (60 + 2 * o.hold + o.deliver_timeout + 2 * o.api_load +
                                           static_cast<double>(o.watchers) / 500);
  Ctx x{ctx, o, now_ns() + static_cast<int64_t>(max_time * 1e9)};
  if (!o.json)
    std::printf("watch: %lld watchers on event %s, admit %lld, %d round%s, hold %.1f s%s%s\n",
                static_cast<long long>(o.watchers), ctx.req.event_name().c_str(),
                static_cast<long long>(k), o.rounds, o.rounds == 1 ? "" : "s", o.hold,
                o.server_pid > 0 ? (", server pid " + std::to_string(o.server_pid)).c_str() : "",
                o.redis_given ? (", redis " + o.redis).c_str() : "");
  std::fflush(stdout);

  Stats setup;
  int64_t setup_ns = 0;
  Json rounds = Json::array();
  std::string text;
  Histogram admitted, moved;
  bool ok = true, setup_failed = false;
  for (int r = 1; r <= o.rounds && !x.over(); ++r) {
    Round rd = run_round(x, r, &setup, &setup_ns);
    rounds.push_back(rd.json);
    text += rd.text;
    admitted.merge(rd.admitted);
    moved.merge(rd.moved);
    ok = ok && rd.ok;
    if (rd.setup_failed) {  // the next round would fail the same way
      setup_failed = true;
      break;
    }
  }
  if (x.aborted) ok = false;

  Json w;
  w["watchers"] = o.watchers;
  w["admit"] = k;
  w["rounds"] = rounds;
  w["delivery_latency_us"] = latency_json(admitted);
  w["moved_latency_us"] = latency_json(moved);
  w["aborted"] = x.aborted;
  w["verdict"] = ok ? "PASS" : "FAIL";
  std::string all_text =
      "  (requests and latency above: the setup's reserves, every round)\n" + text;
  if (o.rounds > 1) {
    all_text += "  all rounds admitted  " + latency_text(admitted) + "\n";
    if (moved.count() > 0) all_text += "  all rounds moved     " + latency_text(moved) + "\n";
  }
  if (x.aborted) all_text += "  ABORTED    --max-time or a signal ended the run early\n";
  all_text += std::string("verdict: ") + (ok ? "PASS" : "FAIL") +
              " (every stream opened, every admission delivered to its watcher and nothing else)\n";
  print_report(o, setup, setup_ns, Json{{"watch", w}}, all_text);
  return setup_failed ? 2 : ok ? 0 : 1;
}

}  // namespace tqbench
