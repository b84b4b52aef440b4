// The load engine of ticketq-bench: one epoll loop per thread, each driving
// its own keep-alive HTTP/1.1 connections with one request outstanding per
// connection, and a hand-rolled response parser (status line and
// Content-Length; chunked replies are refused as bad responses).
//
// What to send comes from a Source (one per thread, called only from that
// thread). When to send is either
//   closed loop: every idle connection sends its next request at once, and
//                latency runs from the moment it was sent;
//   open loop (rate > 0): request k of a thread is *intended* at
//                start + k / rate on a fixed schedule, whether or not a
//                connection is free then; latency runs from the intended
//                time, so a server that stalls cannot hide its tail behind a
//                stalled client (coordinated omission, as in wrk2).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"

namespace tqbench {

int64_t now_ns();  // CLOCK_MONOTONIC

// Transport failures, each counted apart.
enum class Err : uint8_t {
  kConnectRefused,  // ECONNREFUSED while connecting
  kConnectError,    // any other connect failure
  kReset,           // ECONNRESET / EPIPE on a request in flight
  kClosed,          // the server closed the connection before the whole reply
  kTimeout,         // no complete reply within the request timeout
  kBadResponse,     // unparseable reply, chunked, or bytes nobody asked for
  kCount
};
const char* err_name(Err e);
constexpr size_t kErrCount = static_cast<size_t>(Err::kCount);

// Kinds of request, each with its own latency histogram.
enum class Op : uint8_t { kReserve, kStatus, kAdmin, kLeave, kCount };
const char* op_name(Op op);
constexpr size_t kOpCount = static_cast<size_t>(Op::kCount);

struct Target {
  sockaddr_storage addr{};
  socklen_t addrlen = 0;
  std::string host_header;  // host[:port] for the Host header
  std::string base_path;    // "" or "/prefix", never a trailing slash
  std::string display;      // the URL as given
};

// Parses http://host[:port][/base]; resolves host. Empty string on success,
// else the reason.
std::string parse_target(const std::string& url, Target* out);

// A non-blocking TCP socket to the target (TCP_NODELAY), connect started:
// the fd, with *connected telling whether the connect already completed; -1
// (errno set) when it failed at once.
int open_socket(const Target& t, bool* connected);

// One HTTP/1.x response head. What a missing length or a chunked body means
// is the caller's to decide.
struct ResponseHead {
  int status = 0;
  size_t head_len = 0;       // bytes up to and including the blank line
  bool has_length = false;   // Content-Length given
  size_t length = 0;         // its value
  bool chunked = false;      // Transfer-Encoding: chunked
  bool close_after = false;  // HTTP/1.0 without keep-alive, or Connection: close
};
enum class Parse { kIncomplete, kOk, kBad };
Parse parse_response_head(const char* buf, size_t len, ResponseHead* h);

struct Job {
  Op op = Op::kReserve;
  uint32_t user = 0;  // meaning is the source's
  uint32_t tag = 0;   // meaning is the source's
  int64_t intended_ns = 0;  // set by the worker
};

class Source {
 public:
  virtual ~Source() = default;
  // Fills `job` and appends the whole request to `out`. Returns false when
  // there is nothing to send right now; *retry_at_ns then says when to ask
  // again (0: after the next completion).
  virtual bool next(int64_t now, Job& job, std::string& out, int64_t* retry_at_ns) = 0;
  virtual void on_response(const Job& job, int status, std::string_view body, int64_t now) {}
  virtual void on_error(const Job& job, Err e, int64_t now) {}
  // Never another job: the worker stops once nothing is in flight.
  virtual bool exhausted() const { return false; }
};

struct Stats {
  // Latency of the replies to requests intended inside the measured window.
  std::array<Histogram, kOpCount> latency;
  Histogram send_lag;  // open loop: how late the client itself sent (intended -> sent)
  // Counts of what happened inside the measured window (from its start until
  // the last reply): throughput is replies over that time.
  std::array<uint64_t, 600> by_status{};  // replies by HTTP status code
  std::array<uint64_t, kErrCount> errors{};
  uint64_t sent = 0;
  uint64_t replies = 0;  // any status
  uint64_t unsent = 0;      // open loop: intended before the end, never sent
  uint64_t aborted = 0;     // in flight when the hard deadline hit
  int64_t last_reply_ns = 0;
  bool hard_deadline_hit = false;

  void merge(const Stats& o);
};

struct RunLimits {
  int64_t start_ns = 0;         // schedule origin (open loop)
  int64_t measure_from_ns = 0;  // requests intended before this are not counted
  int64_t end_ns = INT64_MAX;   // nothing intended at or after this is sent
  int64_t quota = -1;           // at most this many requests (-1: no limit)
  double rate = 0;              // requests/s for this worker; 0 = closed loop
  int64_t request_timeout_ns = 5'000'000'000;
  int64_t hard_deadline_ns = INT64_MAX;
};

// Set from a signal handler: stop sending, finish what is in flight.
extern std::atomic<bool> g_stop;

class Worker {
 public:
  Worker(const Target& target, int connections);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens every connection (untimed); failures are left for the run to meet.
  void preconnect(int64_t deadline_ns);
  // Runs one phase until limits or the source end it, and nothing is in flight.
  void run(Source& src, const RunLimits& lim);

  Stats& stats() { return stats_; }
  // For the progress line (relaxed, from any thread).
  std::atomic<uint64_t> progress_done{0};
  std::atomic<uint64_t> progress_errors{0};

 private:
  struct Conn;
  void dispatch(Source& src, const RunLimits& lim, int64_t now);
  void begin(Conn& c, int64_t now, Source& src, const RunLimits& lim);
  bool start_connect(Conn& c);
  void on_event(Conn& c, uint32_t events, Source& src, const RunLimits& lim);
  void flush(Conn& c, Source& src, const RunLimits& lim);
  void read_ready(Conn& c, Source& src, const RunLimits& lim);
  void complete(Conn& c, int status, std::string_view body, bool close_after, Source& src,
                const RunLimits& lim);
  void fail(Conn& c, Err e, Source& src, const RunLimits& lim);
  void close_conn(Conn& c);
  void set_events(Conn& c, uint32_t events);
  void arm_timer(int64_t at_ns);
  bool more_allowed(const RunLimits& lim, int64_t now) const;

  Target target_;
  int ep_ = -1;
  int timer_fd_ = -1;
  int64_t timer_at_ = 0;
  std::vector<Conn*> conns_;
  std::vector<Conn*> free_;  // may take a job now
  int inflight_ = 0;
  int64_t issued_ = 0;  // jobs started in this run (the open-loop schedule index)
  int64_t src_retry_ = 0;  // when the source asked to be asked again
  int64_t cool_wake_ = 0;  // when the first backed-off connection may be used again
  double interval_ns_ = 0;
  Stats stats_;
};

}  // namespace tqbench
