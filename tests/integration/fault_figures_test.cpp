// Fault injection with figures. Each test drives real redis-server and
// ticketq-server processes under load, injects one fault, checks what
// clients were told against what Redis holds, and prints one line
//   FIGURE <fault>: name=value ...
// with what it measured (docs/faults.md collects them). Loopback only;
// every loop is bounded in count and time.
//
// "Acknowledged" means the client got 200 (reserved, queued, already_*) or
// 409 (sold_out). "Sent" means the client tried to send the request (a
// superset of what reached the server). After each fault:
//   lost      acknowledged users Redis no longer holds,
//   wrong     acknowledged users Redis holds in another state (reserved vs
//             queued, another position, or present despite sold_out),
//   phantoms  users in Redis that were never sent,
//   unacked_in_redis  users sent without an acknowledgement (503 or no
//             reply) that Redis holds anyway: allowed, and worth knowing,
// and the queue invariants of the event (RedisClient::check_invariants).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "support/proc_stats.h"
#include "support/reserve_load.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

void figure(const std::string& line) {
  std::printf("FIGURE %s\n", line.c_str());
  std::fflush(stdout);
}

// How starved of CPU the machine is: a thread that sleeps 5 ms at a time
// and records how late it wakes. A server that answers late while this
// probe also wakes late was not scheduled, which is no fault of its own.
class SchedProbe {
 public:
  SchedProbe() {
    thread_ = std::thread([this] {
      int64_t end_us = now_us() + 60 * 1000 * 1000;
      for (int i = 0; i < 20000 && !stop_.load() && now_us() < end_us; ++i) {
        int64_t before = now_us();
        std::this_thread::sleep_for(Millis(5));
        int64_t late = now_us() - before - 5000;
        if (late > max_late_us_.load()) max_late_us_ = late;
      }
    });
  }
  ~SchedProbe() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t max_late_us() const { return max_late_us_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_late_us_{0};
  std::thread thread_;
};

double ms(int64_t us);

// The slowest requests that overlapped [t_stop, t_cont], with their send
// time relative to both, for a failure message.
std::string slowest(const std::vector<Outcome>& out, int64_t t_stop, int64_t t_cont) {
  std::vector<const Outcome*> v;
  for (const auto& r : out)
    if (r.sent_us < t_cont && r.done_us > t_stop) v.push_back(&r);
  std::sort(v.begin(), v.end(),
            [](const Outcome* a, const Outcome* b) { return a->latency_us() > b->latency_us(); });
  std::ostringstream os;
  for (size_t i = 0; i < v.size() && i < 8; ++i)
    os << "  " << v[i]->user << " status " << v[i]->status << " latency "
       << fmt_ms(v[i]->latency_us()) << " ms, sent at stop+" << fmt_ms(v[i]->sent_us - t_stop)
       << " ms = cont" << fmt_ms(v[i]->sent_us - t_cont) << " ms, done at cont"
       << (v[i]->done_us >= t_cont ? "+" : "") << fmt_ms(v[i]->done_us - t_cont) << " ms\n";
  return os.str();
}

// From the server's access log (--access-log 1): the longest duration_ms of
// requests answered with `status`, and how many there were.
std::pair<double, int64_t> server_max_duration_ms(const std::string& log, int status) {
  const std::string want = " status=" + std::to_string(status) + " duration_ms=";
  double max = 0;
  int64_t n = 0;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find(want);
    if (line.find("access id=") == std::string::npos || at == std::string::npos) continue;
    try {
      max = std::max(max, std::stod(line.substr(at + want.size())));
      ++n;
    } catch (...) {
    }
  }
  return {max, n};
}

double ms(int64_t us) {
  return static_cast<double>(us) / 1000.0;
}

// ---------------------------------------------------------------------------
// 1. ticketq killed with SIGKILL under load, restarted on the same port and
//    Redis. Redis holds the truth, so nothing acknowledged may be lost and
//    nothing unsent may appear.
TEST(FaultFigures, TicketqKill9UnderLoadThenRestart) {
  constexpr int64_t kCapacity = 200;
  Stack stack;
  ASSERT_EQ(stack.redis().start(), "");
  ServerOptions o;
  // 5,200 places in all and about 6,000 users acknowledged by the end, so
  // every kind of answer (reserved, queued, sold_out) is checked. Redis is
  // up all along: a deadline that no busy machine can miss.
  o.extra_args = {"--capacity", std::to_string(kCapacity), "--queue-limit",
                  "5000",       "--request-timeout-ms",    "10000"};
  ASSERT_EQ(stack.add_server(o), "");
  // The restart reuses the port the first server was given (a port picked
  // free beforehand could be taken before the server binds it).
  o.port = stack.server(0).port();

  ReserveLoad load(o.port, 8, "k9");
  load.start();
  wait_until([&] { return load.acked() >= 3000; }, Millis(10000), Millis(5));
  int64_t acked_before_kill = load.acked();
  int64_t t_kill = now_us();
  ExitStatus st = stack.server(0).kill9();
  EXPECT_EQ(st.signal, SIGKILL) << st.describe();
  std::this_thread::sleep_for(Millis(200));  // clients meet a closed port
  int64_t t_restart = now_us();
  ASSERT_EQ(stack.add_server(o), "");  // same port, same Redis
  int64_t t_ready = now_us();
  int64_t first_200 = load.wait_first(200, t_restart, Millis(20000));
  wait_until([&] { return load.acked() >= acked_before_kill + 3000; }, Millis(10000), Millis(5));
  load.stop();

  const auto& out = load.outcomes();
  StatusCounts counts(out);
  AckCheck c = check_acks(stack.db(), out);
  figure("ticketq_kill9: acked=" + std::to_string(c.acked) + " lost=" + std::to_string(c.lost) +
         " wrong=" + std::to_string(c.wrong) + " phantoms=" + std::to_string(c.phantoms) +
         " unacked_in_redis=" + std::to_string(c.unacked_in_redis) + " sent=" +
         std::to_string(c.sent) + " acked_before_kill=" + std::to_string(acked_before_kill) +
         " ok200=" + std::to_string(counts.n(200)) + " sold_out=" + std::to_string(counts.n(409)) +
         " no_reply=" + std::to_string(counts.transport_errors) +
         " restart_ms=" + fmt_ms(t_ready - t_restart) +
         " downtime_ms=" + (first_200 < 0 ? std::string("none") : fmt_ms(first_200 - t_kill)));

  EXPECT_GE(acked_before_kill, 100) << "too little load before the kill";
  EXPECT_GE(first_200, 0) << "no 200 after the restart";
  EXPECT_GT(c.acked, acked_before_kill) << "nothing acknowledged after the restart";
  EXPECT_GT(counts.transport_errors, 0) << "no client noticed the kill";
  EXPECT_EQ(counts.n(503), 0) << "Redis was up all along";
  EXPECT_EQ(counts.other_5xx, 0);
  for (const auto& [status, n] : counts.by_status)
    EXPECT_TRUE(status == 0 || status == 200 || status == 409) << status << " x" << n;
  expect_clean(c);
  EXPECT_TRUE(stack.server(1).running());
  expect_invariants(stack.db(), kCapacity);
}

// ---------------------------------------------------------------------------
// 2. redis-server killed with SIGKILL under load (appendonly yes +
//    appendfsync always), restarted on the same port and directory after
//    `outage_ms`. The reconnect backoff (50 ms doubling up to 2 s, with
//    jitter) grows with the outage, so a long one is measured too.
void redis_kill9_under_load(const std::string& name, int64_t outage_ms) {
  constexpr int64_t kCapacity = 200;
  RedisOptions ro;
  ro.persistent = true;
  Stack stack(ro);
  ServerOptions o;
  o.extra_args = {"--capacity", std::to_string(kCapacity), "--queue-limit", "100000"};
  ASSERT_EQ(stack.start(o), "");

  constexpr int kConns = 8;
  ReserveLoad load(stack.server().port(), kConns, "rk");
  load.start();
  wait_until([&] { return load.acked() >= 1000; }, Millis(10000), Millis(5));
  int64_t acked_before_kill = load.acked();
  int64_t t_kill = now_us();
  stack.redis().kill9();
  int64_t first_503 = load.wait_first(503, t_kill, Millis(20000));
  // Down for outage_ms in all, then back on the same port with its AOF.
  std::this_thread::sleep_for(Millis(std::max<int64_t>(0, outage_ms - (now_us() - t_kill) / 1000)));
  int64_t t_restart = now_us();
  ASSERT_EQ(stack.redis().restart(), "");  // returns once it answers and has loaded its data
  int64_t t_ready = now_us();
  int64_t first_200 = load.wait_first(200, t_restart, Millis(20000));
  // Every connection (both event loops) serves again.
  std::vector<int64_t> per_conn(kConns, -1);
  wait_until(
      [&] {
        per_conn = load.first_done_per_worker(200, t_restart);
        return std::find(per_conn.begin(), per_conn.end(), -1) == per_conn.end();
      },
      Millis(20000), Millis(10));
  std::this_thread::sleep_for(Millis(300));
  load.stop();

  const auto& out = load.outcomes();
  StatusCounts counts(out);
  AckCheck c = check_acks(stack.db(), out);
  int64_t last_conn = *std::max_element(per_conn.begin(), per_conn.end());
  bool all_conns = std::find(per_conn.begin(), per_conn.end(), -1) == per_conn.end();
  int64_t recover_us = first_200 < 0 ? -1 : std::max<int64_t>(0, first_200 - t_ready);
  int64_t all_recover_us = all_conns ? std::max<int64_t>(0, last_conn - t_ready) : -1;
  figure(name + ": outage_ms=" + std::to_string(outage_ms) +
         " time_to_503_ms=" + (first_503 < 0 ? "none" : fmt_ms(first_503 - t_kill)) +
         " redis_restart_ms=" + fmt_ms(t_ready - t_restart) +
         " time_to_recover_ms=" + (recover_us < 0 ? "none" : fmt_ms(recover_us)) +
         " all_conns_recover_ms=" + (all_recover_us < 0 ? "none" : fmt_ms(all_recover_us)) +
         " acked=" + std::to_string(c.acked) + " lost=" + std::to_string(c.lost) +
         " wrong=" + std::to_string(c.wrong) + " phantoms=" + std::to_string(c.phantoms) +
         " unacked_in_redis=" + std::to_string(c.unacked_in_redis) + " n503=" +
         std::to_string(counts.n(503)) + " other5xx=" + std::to_string(counts.other_5xx) +
         " no_reply=" + std::to_string(counts.transport_errors));

  EXPECT_GE(acked_before_kill, 100) << "too little load before the kill";
  ASSERT_GE(first_503, 0) << "no 503 while Redis was down";
  EXPECT_GE(counts.n(503), 1);
  EXPECT_EQ(counts.other_5xx, 0);
  EXPECT_EQ(counts.missing_retry_after, 0) << "503 without Retry-After: 1";
  EXPECT_EQ(counts.transport_errors, 0) << counts.first_error;
  for (const auto& [status, n] : counts.by_status)
    EXPECT_TRUE(status == 200 || status == 503) << status << " x" << n;
  ASSERT_GE(recover_us, 0) << "no 200 within 20 s of Redis being back";
  // An event loop sleeps at most backoff_max_ms (2 s) between connection
  // attempts, so after a long outage one loop may take up to that, plus a
  // connect and the script loads (typical: 0.5-1.7 s in all after a 3 s
  // outage, as printed). The bounds add 3 s for those on an ASan build on a
  // busy machine; a loop that stopped retrying would never come back.
  constexpr int64_t kRecoverBoundMs = 2000 + 3000;
  EXPECT_LE(recover_us, kRecoverBoundMs * 1000)
      << "first 200 came " << ms(recover_us) << " ms after Redis";
  EXPECT_TRUE(all_conns) << "some connection never got a 200 again";
  EXPECT_LE(all_recover_us, kRecoverBoundMs * 1000);
  expect_clean(c);
  EXPECT_TRUE(stack.server().running());
  expect_invariants(stack.db(), kCapacity);
}

TEST(FaultFigures, RedisKill9UnderLoadThenRestart) {
  redis_kill9_under_load("redis_kill9", 300);
}

TEST(FaultFigures, RedisKill9LongOutageThenRestart) {
  redis_kill9_under_load("redis_kill9_long_outage", 3000);
}

// ---------------------------------------------------------------------------
// 3. Redis stalled (SIGSTOP) for 5 s under 50 hammering connections, with
//    the default 1 s deadline: every request ends by its deadline with a 503,
//    memory stays bounded, and service comes back after SIGCONT.
TEST(FaultFigures, RedisStalledFiveSecondsUnderLoad) {
  constexpr int64_t kCapacity = 100;
  constexpr int64_t kDeadlineMs = 1000;
  // The bound: the deadline plus 100 ms, for the server's own time of every
  // 503 (access log: from the parsed request to the reply handed to
  // libevent) and for the client's (send to whole response, printed as
  // max_ms). In 35 of 37 runs: server 1002-1078 ms, client 1004-1080 ms
  // (the 1080 ms run had the probe below wake 74 ms late).
  //
  // Noise: this machine is shared (2 cores, load average up to 12, CPU
  // pressure "some" near 90 % at times). In the 2 other runs the whole
  // stall was late: client max 1141 ms, and once client 1484 ms with
  // server 1198 ms and p50 1066 ms, i.e. the processes were not running.
  // So both bounds also allow the worst scheduling delay a probe thread
  // saw during the stall (sched_delay_max_ms), and the client side another
  // 150 ms for 50 client threads waking at once. The real maxima are
  // always printed.
  //
  // Those are figures. What is asserted must also hold for an ASan build on
  // a busy machine, so the bound adds 1 s, not 100 ms: still far below the
  // 5 s stall that a request without a deadline would wait out.
  constexpr int64_t kTypicalBoundMs = kDeadlineMs + 100;  // printed: over_1100ms
  constexpr int64_t kLatencyBoundMs = kDeadlineMs + 1000;
  constexpr int64_t kClientSlackMs = 150;
  constexpr int64_t kRssBoundKb = 50 * 1024;
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--capacity",           std::to_string(kCapacity),   "--queue-limit", "1000000",
                  "--request-timeout-ms", std::to_string(kDeadlineMs), "--access-log",  "1"};
  ASSERT_EQ(stack.start(o), "");
  pid_t pid = stack.server().pid();

  ReserveLoad load(stack.server().port(), 50, "st");
  load.start();
  wait_until([&] { return load.acked() >= 1000; }, Millis(10000), Millis(5));
  int64_t acked_before = load.acked();
  int64_t rss_before = vm_rss_kb(pid);
  int64_t rss_peak = rss_before;
  SchedProbe probe;
  int64_t t_stop = now_us();
  stack.redis().pause();
  for (int i = 0; i < 100 && now_us() - t_stop < 5000 * 1000; ++i) {
    std::this_thread::sleep_for(Millis(50));
    rss_peak = std::max(rss_peak, vm_rss_kb(pid));
  }
  int64_t rss_end = vm_rss_kb(pid);
  rss_peak = std::max(rss_peak, rss_end);
  int64_t t_cont = now_us();
  stack.redis().resume();
  int64_t first_200 = load.wait_first(200, t_cont, Millis(20000));
  std::this_thread::sleep_for(Millis(500));
  load.stop();
  probe.stop();

  const auto& out = load.outcomes();
  StatusCounts counts(out);
  // Requests that were waiting at some point of the stall.
  int64_t n_stall = 0, n_stall_503 = 0, n_stall_200 = 0, max_lat = 0, n_over = 0;
  int64_t must_503 = 0, must_503_ok = 0, min_503 = -1;
  std::vector<int64_t> lats;
  for (const auto& r : out) {
    if (!(r.sent_us < t_cont && r.done_us > t_stop)) continue;
    ++n_stall;
    n_stall_503 += r.status == 503;
    if (r.status == 503 && (min_503 < 0 || r.latency_us() < min_503)) min_503 = r.latency_us();
    n_stall_200 += r.status == 200;
    lats.push_back(r.latency_us());
    max_lat = std::max(max_lat, r.latency_us());
    n_over += r.latency_us() > kTypicalBoundMs * 1000;
    // Sent into the stall with its whole deadline inside it: must be 503.
    if (r.sent_us >= t_stop && r.sent_us + kLatencyBoundMs * 1000 <= t_cont) {
      ++must_503;
      must_503_ok += r.status == 503 && r.retry_after;
    }
  }
  std::sort(lats.begin(), lats.end());
  auto pct = [&](double p) {
    return lats.empty() ? 0 : lats[std::min(lats.size() - 1, static_cast<size_t>(p * lats.size()))];
  };
  int64_t recover_us = first_200 < 0 ? -1 : first_200 - t_cont;
  // A 503 after a deadline is not a rollback, so 503'd users may be in
  // Redis; acknowledged ones must all be, and nothing unsent.
  AckCheck c = check_acks(stack.db(), out);
  // Every 503 of this test belongs to the stall.
  auto [server_max_503, server_n503] = server_max_duration_ms(stack.server().log(), 503);
  char server_max[32];
  std::snprintf(server_max, sizeof server_max, "%.1f", server_max_503);
  figure("redis_stall_5s: requests_in_stall=" + std::to_string(n_stall) +
         " got_503=" + std::to_string(n_stall_503) + " got_200=" + std::to_string(n_stall_200) +
         " latency_p50_ms=" + fmt_ms(pct(0.5)) + " p99_ms=" + fmt_ms(pct(0.99)) +
         " max_ms=" + fmt_ms(max_lat) + " server_max_503_ms=" + server_max +
         " sched_delay_max_ms=" + fmt_ms(probe.max_late_us()) + " min_503_ms=" +
         fmt_ms(std::max<int64_t>(0, min_503)) + " over_" + std::to_string(kTypicalBoundMs) +
         "ms=" + std::to_string(n_over) + " rss_before_kb=" + std::to_string(rss_before) +
         " rss_end_kb=" + std::to_string(rss_end) + " rss_peak_kb=" + std::to_string(rss_peak) +
         " rss_growth_kb=" + std::to_string(rss_end - rss_before) + " time_to_recover_ms=" +
         (recover_us < 0 ? "none" : fmt_ms(recover_us)) + " stall_ms=" + fmt_ms(t_cont - t_stop) +
         " acked=" + std::to_string(c.acked) + " lost=" + std::to_string(c.lost) +
         " wrong=" + std::to_string(c.wrong) + " phantoms=" + std::to_string(c.phantoms) +
         " unacked_in_redis=" + std::to_string(c.unacked_in_redis));

  EXPECT_GE(acked_before, 100) << "too little load before the stall";
  EXPECT_GE(must_503, 50) << "too few requests fell wholly inside the stall";
  EXPECT_EQ(must_503_ok, must_503) << "requests inside the stall not answered 503 + Retry-After";
  EXPECT_EQ(server_n503, counts.n(503)) << "access log and clients disagree on the 503s";
  const int64_t sched_ms = probe.max_late_us() / 1000;
  EXPECT_LE(server_max_503, static_cast<double>(kLatencyBoundMs + sched_ms))
      << "the server took " << server_max_503 << " ms to answer a 503";
  EXPECT_LE(max_lat, (kLatencyBoundMs + sched_ms + kClientSlackMs) * 1000)
      << "slowest request in the stall took " << ms(max_lat) << " ms; " << n_over
      << " over; the slowest:\n"
      << slowest(out, t_stop, t_cont);
  // A stalled Redis keeps its connection open: nothing may be refused
  // before its deadline.
  EXPECT_GE(min_503, (kDeadlineMs - 20) * 1000) << "a 503 came before the deadline";
  EXPECT_EQ(counts.other_5xx, 0);
  EXPECT_EQ(counts.missing_retry_after, 0);
  EXPECT_EQ(counts.transport_errors, 0) << counts.first_error;
  ASSERT_GT(rss_before, 0);
  EXPECT_LT(rss_end - rss_before, kRssBoundKb);
  EXPECT_LT(rss_peak - rss_before, kRssBoundKb);
  ASSERT_GE(recover_us, 0) << "no 200 within 20 s of SIGCONT";
  EXPECT_LE(recover_us, 5000 * 1000);  // the connection stayed up: a few ms when quiet
  expect_clean(c);
  EXPECT_TRUE(stack.server().running());
  expect_invariants(stack.db(), kCapacity);
}

// ---------------------------------------------------------------------------
// 4. Clients hang up mid-request while Redis is stalled: 200 connections each
//    send a reserve and close (FIN, shutdown + close, or RST) before any
//    reply. The server must stay up and give every descriptor back.

int connect_and_send(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// 0: close (FIN); 1: shutdown(SHUT_RDWR) then close; 2: SO_LINGER 0 (RST).
void hang_up(int fd, int how) {
  if (how == 1) shutdown(fd, SHUT_RDWR);
  if (how == 2) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close(fd);
}

TEST(FaultFigures, ClientsHangUpMidRequestWhileRedisStalls) {
  constexpr int64_t kCapacity = 50;
  constexpr int kConns = 200;
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--capacity", std::to_string(kCapacity), "--queue-limit",
                  "100000",     "--request-timeout-ms",    "1000"};
  ASSERT_EQ(stack.start(o), "");
  const int port = stack.server().port();
  const pid_t pid = stack.server().pid();
  std::set<std::string> sent;
  {
    HttpClient c(port);
    sent.insert("warm");
    ASSERT_EQ(c.post("/reserve", user_body("warm")).status, 200);
  }
  // Baseline with no client connection: two equal readings in a row, far
  // enough apart that connections closed meanwhile (a lingering close ends
  // at the client's EOF) are gone.
  int baseline = -1;
  ASSERT_TRUE(wait_until(
      [&] {
        int a = open_fd_count(pid);
        std::this_thread::sleep_for(Millis(300));
        int b = open_fd_count(pid);
        baseline = b;
        return a == b && a > 0;
      },
      Millis(20000), Millis(10)));

  // Round "before": Redis resumes while the calls are still within their
  // deadline, so Redis's answers go to connections already gone. Round
  // "after": Redis resumes after the deadline, so the 503s go there.
  struct Round {
    const char* name;
    int resume_after_ms;
  };
  for (const Round& round :
       {Round{"resume_before_deadline", 300}, Round{"resume_after_deadline", 1400}}) {
    SCOPED_TRACE(round.name);
    stack.redis().pause();
    int64_t t0 = now_us();
    std::vector<int> fds;
    for (int i = 0; i < kConns; ++i) {
      std::string u = std::string("dc-") + round.name + "-" + std::to_string(i);
      sent.insert(u);
      int fd = connect_and_send(port, build_request("POST", "/reserve", user_body(u), {}, port));
      EXPECT_GE(fd, 0) << "connection " << i;
      if (fd >= 0) fds.push_back(fd);
    }
    // Every connection accepted by the server before the hang-ups.
    int peak = 0;
    wait_until(
        [&] {
          peak = std::max(peak, open_fd_count(pid));
          return peak >= baseline + static_cast<int>(fds.size());
        },
        Millis(20000), Millis(5));
    for (size_t i = 0; i < fds.size(); ++i) hang_up(fds[i], static_cast<int>(i % 3));
    int64_t t_closed = now_us();
    std::this_thread::sleep_for(
        Millis(std::max<int64_t>(0, round.resume_after_ms - (now_us() - t0) / 1000)));
    int stalled_after_close = open_fd_count(pid);  // before Redis answers anything
    int64_t t_resume = now_us();
    stack.redis().resume();
    int after = -1;
    bool back = wait_until(
        [&] {
          after = open_fd_count(pid);
          return after <= baseline;
        },
        Millis(20000), Millis(5));
    int64_t t_back = now_us();
    // The reserves of the clients that hung up still ran once Redis woke
    // up (nothing cancels a call whose client left): count them.
    const std::string mine = std::string("dc-") + round.name + "-";
    int64_t in_redis = 0;
    wait_until(
        [&] {
          in_redis = 0;
          for (const auto& u : stack.db().smembers(RedisClient::key("default", "reserved")))
            in_redis += u.rfind(mine, 0) == 0;
          for (const auto& u : stack.db().line("default")) in_redis += u.rfind(mine, 0) == 0;
          return in_redis >= static_cast<int64_t>(fds.size());
        },
        Millis(2000), Millis(20));
    figure(std::string("client_hangup_") + round.name + ": conns=" + std::to_string(fds.size()) +
           " fds_before=" + std::to_string(baseline) + " fds_peak=" + std::to_string(peak) +
           " fds_after_hangup_while_stalled=" + std::to_string(stalled_after_close) +
           " fds_after=" + std::to_string(after) +
           " hangup_to_resume_ms=" + fmt_ms(t_resume - t_closed) +
           " resume_to_baseline_ms=" + (back ? fmt_ms(t_back - t_resume) : std::string("never")) +
           " hung_up_users_in_redis=" + std::to_string(in_redis));
    // At least: a descriptor the sanitizer runtime or libevent opens for a
    // moment may add to a reading, never take from it.
    EXPECT_GE(peak, baseline + static_cast<int>(fds.size())) << "not every connection accepted";
    EXPECT_TRUE(back) << "fds stayed at " << after << ", baseline " << baseline;
    EXPECT_LE(after, baseline);
    ASSERT_TRUE(stack.server().running());
    {
      HttpClient c(port);
      auto h = c.get("/health");
      EXPECT_EQ(h.status, 200) << h.describe();
      std::string u = std::string("after-") + round.name;
      sent.insert(u);
      auto r = c.post("/reserve", user_body(u));
      EXPECT_EQ(r.status, 200) << r.describe();
    }
    // The check's own connection is closed again.
    EXPECT_TRUE(wait_until([&] { return open_fd_count(pid) <= baseline; }, Millis(20000)));
  }
  AckCheck c = check_acks(stack.db(), {}, sent);
  EXPECT_EQ(c.phantoms, 0) << ::testing::PrintToString(c.examples);
  EXPECT_TRUE(stack.server().running());
  expect_invariants(stack.db(), kCapacity);
}

}  // namespace
}  // namespace ticketq::test
