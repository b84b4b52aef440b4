// Request building, the blocking admin client, the load scenarios and the
// phase runner of ticketq-bench.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <thread>

#include "bench.h"

namespace tqbench {

// ------------------------------------------------------------------ user ids --

UserIds::UserIds(std::string prefix) : prefix_(std::move(prefix)) {
  limit_ = 1;
  for (size_t i = prefix_.size(); i < kLen; ++i) limit_ *= 10;
}

void UserIds::format(uint64_t ordinal, char* out) const {
  std::memcpy(out, prefix_.data(), prefix_.size());
  for (size_t i = kLen; i-- > prefix_.size();) {
    out[i] = static_cast<char>('0' + ordinal % 10);
    ordinal /= 10;
  }
}

std::string UserIds::id(uint64_t ordinal) const {
  std::string s(kLen, '0');
  format(ordinal, s.data());
  return s;
}

// ------------------------------------------------------------------ requests --

Requests::Requests(const Target& t, const std::string& event, const std::string& token,
                   int64_t events)
    : host_(t.host_header), base_(t.base_path), token_(token) {
  spread_.reserve(static_cast<size_t>(std::max<int64_t>(events, 0)));
  for (int64_t i = 0; i < events; ++i) spread_.emplace_back(t, event + std::to_string(i), token);
  event_name_ = event.empty() ? "default" : event;
  event_path_ = event.empty() ? "" : "/v1/events/" + event;
  std::string body_start = "{\"user_id\":\"";
  size_t body_len = body_start.size() + UserIds::kLen + 2;
  reserve_head_ =
      "POST " + base_ + event_path_ + "/reserve HTTP/1.1\r\nHost: " + host_ +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body_len) +
      "\r\n\r\n" + body_start;
  status_head_ = "GET " + base_ + event_path_ + "/status/";
  status_tail_ = " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
  // An admin call with the same body as reserve; leave has no seed route, so
  // the default event is /v1/events/default. Built whole by admin() with a
  // placeholder id, then cut before the id.
  leave_head_ = admin("POST", "/v1/events/" + event_name_ + "/leave",
                      body_start + std::string(UserIds::kLen, '0') + "\"}");
  leave_head_.resize(leave_head_.size() - UserIds::kLen - 2);
}

void Requests::reserve(std::string& out, std::string_view user) const {
  out += reserve_head_;
  out += user;
  out += "\"}";
}

void Requests::status(std::string& out, std::string_view user) const {
  out += status_head_;
  out += user;
  out += status_tail_;
}

void Requests::leave(std::string& out, std::string_view user) const {
  out += leave_head_;
  out += user;
  out += "\"}";
}

std::string Requests::admin(const char* method, const std::string& path,
                            const std::string& body) const {
  std::string r = std::string(method) + " " + base_ + path + " HTTP/1.1\r\nHost: " + host_ +
                  "\r\nX-Token: " + token_ + "\r\n";
  if (!body.empty() || std::strcmp(method, "GET") != 0)
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

std::string Requests::process_queue(int limit) const {
  std::string path = event_path_.empty() ? "/process_queue" : event_path_ + "/process_queue";
  return admin("POST", path + "?limit=" + std::to_string(limit), "");
}

std::string Requests::reset() const {
  return admin("POST", event_path_.empty() ? "/admin/reset" : event_path_ + "/reset", "");
}

std::string Requests::get_event() const {
  return admin("GET", "/v1/events/" + event_name_, "");
}

std::string Requests::put_event(int64_t capacity, int64_t queue_limit,
                                const std::string& extra) const {
  return put_settings("{\"capacity\":" + std::to_string(capacity) +
                      ",\"queue_limit\":" + std::to_string(queue_limit) + extra + "}");
}

std::string Requests::put_settings(const std::string& json) const {
  return admin("PUT", "/v1/events/" + event_name_, json);
}

std::string Requests::stream(std::string_view user_token) const {
  std::string r = "GET " + base_ + "/v1/events/" + event_name_ +
                  "/stream HTTP/1.1\r\nHost: " + host_ +
                  "\r\nAccept: text/event-stream\r\nAuthorization: Bearer ";
  r += user_token;
  return r + "\r\n\r\n";
}

// --------------------------------------------------------------- json bits --

namespace {
// Position just after `"key"` and the colon (spaces allowed), or npos.
size_t after_key(std::string_view body, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\"";
  size_t p = body.find(pat);
  if (p == std::string_view::npos) return p;
  p += pat.size();
  while (p < body.size() && body[p] == ' ') ++p;
  if (p >= body.size() || body[p] != ':') return std::string_view::npos;
  ++p;
  while (p < body.size() && body[p] == ' ') ++p;
  return p;
}
}  // namespace

std::string_view json_str(std::string_view body, std::string_view key) {
  size_t p = after_key(body, key);
  if (p == std::string_view::npos || p >= body.size() || body[p] != '"') return {};
  size_t end = body.find('"', p + 1);
  if (end == std::string_view::npos) return {};
  return body.substr(p + 1, end - p - 1);
}

int64_t json_int(std::string_view body, std::string_view key, int64_t dflt) {
  size_t p = after_key(body, key);
  if (p == std::string_view::npos || p >= body.size()) return dflt;
  bool neg = body[p] == '-';
  if (neg) ++p;
  if (p >= body.size() || body[p] < '0' || body[p] > '9') return dflt;
  int64_t v = 0;
  while (p < body.size() && body[p] >= '0' && body[p] <= '9') v = v * 10 + (body[p++] - '0');
  return neg ? -v : v;
}

// ---------------------------------------------------------------- http_once --

OnceResult http_once(const Target& t, const std::string& request, double timeout_s,
                     int64_t* sent_ns) {
  OnceResult r;
  int64_t deadline = now_ns() + static_cast<int64_t>(timeout_s * 1e9);
  auto wait_for = [&](int fd, short what) {
    int64_t left = (deadline - now_ns()) / 1'000'000;
    if (left <= 0) return false;
    pollfd p{fd, what, 0};
    return poll(&p, 1, static_cast<int>(left)) == 1;
  };
  bool connected = false;
  int fd = open_socket(t, &connected);
  if (fd < 0) return {0, {}, std::string("connect: ") + std::strerror(errno)};
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (!connected) {
    if (!wait_for(fd, POLLOUT)) return {0, {}, "connect: timed out"};
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return {0, {}, std::string("connect: ") + std::strerror(err)};
  }
  size_t off = 0;
  if (sent_ns != nullptr) *sent_ns = now_ns();
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT)) return {0, {}, "send: timed out"};
    } else {
      return {0, {}, std::string("send: ") + std::strerror(errno)};
    }
  }
  std::string in;
  char buf[16384];
  for (;;) {
    ResponseHead h;
    Parse p = parse_response_head(in.data(), in.size(), &h);
    if (p == Parse::kBad || (p == Parse::kOk && h.chunked)) return {0, {}, "bad reply"};
    if (p == Parse::kOk && in.size() >= h.head_len + h.length) {
      r.status = h.status;
      r.body = in.substr(h.head_len, h.length);
      return r;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLIN)) return {0, {}, "reply: timed out"};
    } else {
      return {0,
              {},
              n == 0 ? "reply: connection closed" : std::string("recv: ") + std::strerror(errno)};
    }
  }
}

// ------------------------------------------------------------------ id plan --

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

std::vector<uint32_t> leave_order(uint64_t seed, uint64_t users, uint64_t count) {
  std::vector<uint32_t> a(users);
  std::iota(a.begin(), a.end(), uint32_t{0});
  count = std::min(count, users);
  uint64_t x = seed ^ 0x6C65617665ULL;    // "leave": apart from the status picks of the same seed
  for (uint64_t i = 0; i < count; ++i) {  // the first `count` steps of Fisher-Yates
    auto j = i + static_cast<uint64_t>(
                     (static_cast<unsigned __int128>(splitmix64(x)) * (users - i)) >> 64);
    std::swap(a[i], a[j]);
  }
  a.resize(count);
  return a;
}

IdPlan make_id_plan(const Options& o) {
  IdPlan plan;
  auto users = static_cast<uint64_t>(o.users);
  if (o.scenario == "leave") {
    plan.leave_order =
        leave_order(o.seed, users, o.requests > 0 ? static_cast<uint64_t>(o.requests) : users);
  } else if (o.left > 0) {
    std::vector<bool> gone(users);
    for (uint32_t u : leave_order(o.seed, users, static_cast<uint64_t>(o.left))) gone[u] = true;
    plan.waiting.reserve(users - static_cast<uint64_t>(o.left));
    for (uint64_t u = 0; u < users; ++u)
      if (!gone[u]) plan.waiting.push_back(static_cast<uint32_t>(u));
  }
  return plan;
}

// ------------------------------------------------------------ load sources --

namespace {

class LoadSource final : public Source {
 public:
  LoadSource(const Options& o, const Requests& req, const UserIds& ids, const IdPlan& plan,
             int thread, int threads)
      : req_(req), ids_(ids), plan_(plan), thread_(thread), threads_(threads), mix_(o.mix) {
    kind_ = o.scenario == "reserve"  ? 0
            : o.scenario == "status" ? 1
            : o.scenario == "mixed"  ? 2
                                     : 3;
    users_ = static_cast<uint64_t>(o.users);
    fresh_base_ = kind_ == 0 ? 0 : users_;  // status ids are 0..users-1
    rng_ = (o.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(thread + 1)) | 1;
  }

  bool next(int64_t, Job& job, std::string& out, int64_t* retry_at) override {
    char id[UserIds::kLen];
    if (kind_ == 3) {  // leave: this thread's share of the leave order, each id once
      size_t at = static_cast<size_t>(thread_) + leaves_ * static_cast<size_t>(threads_);
      if (at >= plan_.leave_order.size()) {
        exhausted_ = true;
        *retry_at = 0;
        return false;
      }
      ++leaves_;
      const uint32_t user = plan_.leave_order[at];
      ids_.format(user, id);
      req_.of_user(user).leave(out, std::string_view(id, sizeof id));
      job.op = Op::kLeave;
      return true;
    }
    bool reserve = kind_ == 0 || (kind_ == 2 && rand() % 100 < static_cast<uint64_t>(mix_));
    if (reserve) {
      uint64_t ord =
          fresh_base_ + static_cast<uint64_t>(thread_) + fresh_ * static_cast<uint64_t>(threads_);
      if (ord >= ids_.capacity()) {  // out of distinct ids for this prefix
        exhausted_ = true;
        *retry_at = 0;
        return false;
      }
      ++fresh_;
      ids_.format(ord, id);
      req_.of_user(ord).reserve(out, std::string_view(id, sizeof id));
      job.op = Op::kReserve;
    } else {
      const std::vector<uint32_t>& in_line = plan_.waiting;  // empty: all of 0..users-1
      const uint64_t user = in_line.empty() ? rand() % users_ : in_line[rand() % in_line.size()];
      ids_.format(user, id);
      req_.of_user(user).status(out, std::string_view(id, sizeof id));
      job.op = Op::kStatus;
    }
    return true;
  }
  bool exhausted() const override { return exhausted_; }

 private:
  uint64_t rand() {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }
  const Requests& req_;
  const UserIds& ids_;
  const IdPlan& plan_;
  int thread_, threads_, mix_;
  int kind_;  // 0 reserve, 1 status, 2 mixed, 3 leave
  uint64_t users_, fresh_base_, fresh_ = 0, rng_;
  size_t leaves_ = 0;
  bool exhausted_ = false;
};

class SetupSource final : public Source {
 public:
  SetupSource(const Requests& req, const UserIds& ids, int thread, int threads, uint64_t users,
              SetupReplies* replies)
      : req_(req),
        ids_(ids),
        next_(static_cast<uint64_t>(thread)),
        step_(static_cast<uint64_t>(threads)),
        users_(users),
        replies_(replies) {}
  bool next(int64_t, Job& job, std::string& out, int64_t* retry_at) override {
    if (next_ >= users_) {
      *retry_at = 0;
      return false;
    }
    char id[UserIds::kLen];
    ids_.format(next_, id);
    job.user = static_cast<uint32_t>(next_);
    req_.of_user(next_).reserve(out, std::string_view(id, sizeof id));
    next_ += step_;
    job.op = Op::kReserve;
    return true;
  }
  void on_response(const Job& job, int status, std::string_view body, int64_t) override {
    if (replies_ == nullptr) return;
    replies_->status[job.user] = status;
    replies_->position[job.user] = json_int(body, "position");
    replies_->token[job.user] = std::string(json_str(body, "token"));
  }
  bool exhausted() const override { return next_ >= users_; }

 private:
  const Requests& req_;
  const UserIds& ids_;
  uint64_t next_, step_, users_;
  SetupReplies* replies_;
};

// --create-events: PUT /v1/events/E{i} for i = thread, thread + threads, ...
class CreateEventsSource final : public Source {
 public:
  CreateEventsSource(const Requests& req, const std::string& settings, int thread, int threads)
      : req_(req),
        settings_(settings),
        next_(static_cast<size_t>(thread)),
        step_(static_cast<size_t>(threads)) {}
  bool next(int64_t, Job& job, std::string& out, int64_t* retry_at) override {
    if (next_ >= req_.events()) {
      *retry_at = 0;
      return false;
    }
    out += req_.event_at(next_).put_settings(settings_);
    job.user = static_cast<uint32_t>(next_);
    job.op = Op::kAdmin;
    next_ += step_;
    return true;
  }
  bool exhausted() const override { return next_ >= req_.events(); }

 private:
  const Requests& req_;
  const std::string& settings_;
  size_t next_, step_;
};

}  // namespace

std::unique_ptr<Source> make_load_source(const Options& o, const Requests& req, const UserIds& ids,
                                         const IdPlan& plan, int thread, int threads) {
  return std::make_unique<LoadSource>(o, req, ids, plan, thread, threads);
}

std::unique_ptr<Source> make_setup_source(const Requests& req, const UserIds& ids, int thread,
                                          int threads, uint64_t users, SetupReplies* replies) {
  return std::make_unique<SetupSource>(req, ids, thread, threads, users, replies);
}

// --------------------------------------------------------------- the setup --

namespace {

// A phase before the measured load (the setup, --create-events): each
// worker runs the source `make(i, threads)` gives it, with at most 120 s in
// all; returns the stats, which the workers forget, and how long it took.
Stats run_unmeasured(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                     const std::function<std::unique_ptr<Source>(int, int)>& make, const char* name,
                     int64_t* took) {
  std::vector<std::unique_ptr<Source>> sources;
  std::vector<RunLimits> limits(workers.size());
  int64_t t0 = now_ns();
  const int threads = static_cast<int>(workers.size());
  for (int i = 0; i < threads; ++i) {
    sources.push_back(make(i, threads));
    limits[i].start_ns = limits[i].measure_from_ns = t0;
    limits[i].request_timeout_ns = static_cast<int64_t>(o.timeout * 1e9);
    limits[i].hard_deadline_ns = t0 + 120'000'000'000LL;
  }
  *took = run_phase(workers, sources, limits, o.progress ? name : nullptr, false);
  Stats st;
  for (auto& w : workers) {
    st.merge(w->stats());
    w->stats() = Stats{};
  }
  return st;
}

}  // namespace

Stats run_setup(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                const Requests& req, const UserIds& ids, uint64_t users, SetupReplies* replies,
                int64_t* took_ns) {
  int64_t took = 0;
  Stats setup = run_unmeasured(
      o, workers,
      [&](int i, int threads) { return make_setup_source(req, ids, i, threads, users, replies); },
      "setup", &took);
  if (took_ns != nullptr) *took_ns = took;
  std::string codes;
  for (size_t i = 0; i < setup.by_status.size(); ++i)
    if (setup.by_status[i] > 0)
      codes += " " + std::to_string(i) + ": " + std::to_string(setup.by_status[i]);
  uint64_t errs = 0;
  for (uint64_t e : setup.errors) errs += e;
  std::fprintf(stderr, "setup: reserved %llu user ids in %.2f s (%s; transport errors %llu)\n",
               static_cast<unsigned long long>(users), static_cast<double>(took) / 1e9,
               codes.empty() ? "no replies" : codes.substr(1).c_str(),
               static_cast<unsigned long long>(errs));
  return setup;
}

// ------------------------------------------------------- --create-events --

Stats run_create_events(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                        const Requests& req, int64_t* took_ns) {
  const std::string settings = "{\"capacity\":" + std::to_string(o.capacity) +
                               ",\"queue_limit\":" + std::to_string(o.queue_limit) + "}";
  int64_t took = 0;
  Stats st = run_unmeasured(
      o, workers,
      [&](int i, int threads) -> std::unique_ptr<Source> {
        return std::make_unique<CreateEventsSource>(req, settings, i, threads);
      },
      "create events", &took);
  if (took_ns != nullptr) *took_ns = took;
  uint64_t errs = 0;
  for (uint64_t e : st.errors) errs += e;
  uint64_t other = answered(st) - st.by_status[200] - st.by_status[201];
  for (size_t i = 500; i < st.by_status.size(); ++i) other += st.by_status[i];
  std::fprintf(
      stderr,
      "create events: %zu events %s0..%s%zu (%s) in %.2f s: %llu created (201), %llu updated "
      "(200), %llu other replies, %llu transport errors\n",
      req.events(), o.event.c_str(), o.event.c_str(), req.events() - 1, settings.c_str(),
      static_cast<double>(took) / 1e9, static_cast<unsigned long long>(st.by_status[201]),
      static_cast<unsigned long long>(st.by_status[200]), static_cast<unsigned long long>(other),
      static_cast<unsigned long long>(errs));
  return st;
}

// ---------------------------------------------------------------- the load --

LoadResult run_load(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                    const Requests& req, const UserIds& ids, const IdPlan& plan) {
  const int threads = static_cast<int>(workers.size());
  std::vector<std::unique_ptr<Source>> sources;
  std::vector<RunLimits> limits(workers.size());
  int64_t t_start = now_ns() + 20'000'000;
  int64_t measure_from = t_start + static_cast<int64_t>(o.warmup * 1e9);
  int64_t end = o.duration > 0 ? measure_from + static_cast<int64_t>(o.duration * 1e9) : INT64_MAX;
  double max_time = o.max_time > 0   ? o.max_time
                    : o.duration > 0 ? o.warmup + o.duration + o.timeout + 5
                                     : 600;
  for (int i = 0; i < threads; ++i) {
    sources.push_back(make_load_source(o, req, ids, plan, i, threads));
    int conns = o.connections / threads + (i < o.connections % threads ? 1 : 0);
    RunLimits& l = limits[i];
    l.rate = o.rate * conns / o.connections;
    // Stagger the threads' schedules so their sends interleave.
    l.start_ns = t_start + (l.rate > 0 ? static_cast<int64_t>(1e9 / l.rate * i / threads) : 0);
    l.measure_from_ns = measure_from;
    l.end_ns = end;
    if (o.requests > 0) l.quota = o.requests / threads + (i < o.requests % threads ? 1 : 0);
    l.request_timeout_ns = static_cast<int64_t>(o.timeout * 1e9);
    l.hard_deadline_ns = t_start + static_cast<int64_t>(max_time * 1e9);
  }
  run_phase(workers, sources, limits, o.progress ? o.scenario.c_str() : nullptr,
            o.warmup + o.duration > 2);
  int64_t finished = now_ns();
  LoadResult r;
  for (auto& w : workers) {
    r.stats.merge(w->stats());
    w->stats() = Stats{};
  }
  // A run that ran out of ids before --duration (leave) ends at its last reply.
  int64_t until = g_stop.load() ? finished
                  : o.duration > 0 && finished >= end
                      ? std::max(end, std::min(finished, r.stats.last_reply_ns))
                      : (r.stats.last_reply_ns > 0 ? r.stats.last_reply_ns : finished);
  r.elapsed_ns = until - measure_from;
  return r;
}

// --------------------------------------------------------------- the phase --

int64_t run_phase(std::vector<std::unique_ptr<Worker>>& workers,
                  const std::vector<std::unique_ptr<Source>>& sources,
                  const std::vector<RunLimits>& limits, const char* progress_label,
                  bool progress_always) {
  std::atomic<int> running{static_cast<int>(workers.size())};
  for (auto& w : workers) {
    w->progress_done.store(0);
    w->progress_errors.store(0);
  }
  int64_t t0 = now_ns();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] {
      workers[i]->run(*sources[i], limits[i]);
      running.fetch_sub(1);
    });
  }
  uint64_t last_done = 0;
  int64_t last_t = t0;
  int tick = 0;
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int64_t now = now_ns();
    if (now - t0 < static_cast<int64_t>(tick + 1) * 1'000'000'000) continue;
    ++tick;
    if (progress_label == nullptr || running.load() == 0) continue;
    if (!progress_always && tick < 3) continue;  // not yet known to be longer than 2 s
    uint64_t done = 0, errors = 0;
    for (auto& w : workers) {
      done += w->progress_done.load(std::memory_order_relaxed);
      errors += w->progress_errors.load(std::memory_order_relaxed);
    }
    double rate = static_cast<double>(done - last_done) * 1e9 / static_cast<double>(now - last_t);
    std::fprintf(stderr, "[%6.1fs] %s: %llu requests, %.0f req/s now, %llu errors\n",
                 static_cast<double>(now - t0) / 1e9, progress_label,
                 static_cast<unsigned long long>(done), rate,
                 static_cast<unsigned long long>(errors));
    last_done = done;
    last_t = now;
  }
  for (auto& t : threads) t.join();
  return now_ns() - t0;
}

}  // namespace tqbench
