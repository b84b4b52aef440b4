// The rush scenario: --users users each reserve once, all at once over the
// connections; then the admin lane raises capacity (--grow) and processes
// the line with process_queue?limit=1000 until nothing is left or nothing
// moves (no free seats), while every queued user polls its status. At the end
// every user is in a final state (reserved, still in line at a known
// position, or sold out), and the bench checks the answers against each other
// and against Redis itself.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "bench.h"
#include "redis/redis_gateway.h"

namespace tqbench {

namespace {

using Json = nlohmann::ordered_json;

// What the reserve call answered.
enum Answer : uint8_t {
  kNoAnswer = 0,
  kReserved = 1,
  kQueued = 2,
  kAlreadyReserved = 3,
  kAlreadyInQueue = 4,
  kSoldOut = 5,
  kUnexpected = 8,  // a reply outside the API
  kGaveUp = 9,      // retries exhausted
};
// Where the user ended.
enum Final : uint8_t {
  kUnknown = 0,
  kFinReserved = 1,
  kFinInQueue = 2,
  kFinSoldOut = 5,
  kFinNotFound = 7,  // status said not_found for a user the server had queued
  kFinGaveUp = 9,
};

struct RushUser {
  uint8_t answer = kNoAnswer;
  uint8_t final_state = kUnknown;
  uint16_t tries = 0;
  int64_t reserve_pos = 0;
  int64_t final_pos = 0;
};

struct Shared {
  uint32_t users = 0;
  int threads = 1;
  int retries = 5;
  int64_t poll_ns = 20'000'000;
  int64_t grow_capacity = -1;  // PUT this capacity once all reserves are answered
  int64_t queue_limit = 0;
  std::vector<RushUser> u;
  std::atomic<int64_t> reserves_left{0};
  std::atomic<bool> processing_done{false};
  std::atomic<bool> abort{false};
  std::atomic<int64_t> t_reserves_done{0};
  // Written by thread 0 only (read after join).
  std::string abort_reason;
  std::vector<std::string> promoted;
  int64_t remaining = -1;
  int process_calls = 0;
  int64_t t_processing_done = 0;
};

struct Counters {
  uint64_t retries = 0;
  uint64_t polls = 0;
  uint64_t unexpected = 0;
  std::vector<std::string> samples;  // a few unexpected replies, for the report
};

class RushSource final : public Source {
 public:
  RushSource(Shared& sh, const Requests& req, const UserIds& ids, int thread)
      : sh_(sh), req_(req), ids_(ids), thread_(thread) {
    cursor_ = static_cast<uint32_t>(thread);
    for (uint32_t i = cursor_; i < sh.users; i += static_cast<uint32_t>(sh.threads)) ++mine_;
  }

  bool next(int64_t now, Job& job, std::string& out, int64_t* retry_at) override {
    if (sh_.abort.load(std::memory_order_relaxed)) return false;
    int64_t wake = INT64_MAX;
    if (thread_ == 0 && admin_ != kAdminDone && !admin_inflight_) {
      if (admin_ == kAdminWait && sh_.reserves_left.load() == 0)
        admin_ = sh_.grow_capacity >= 0 ? kAdminGrow : kAdminProcess;
      if (admin_ == kAdminWait) {
        wake = now + 2'000'000;
      } else if (now >= admin_not_before_) {
        out += admin_ == kAdminGrow ? req_.put_event(sh_.grow_capacity, sh_.queue_limit)
                                    : req_.process_queue(1000);
        job.op = Op::kAdmin;
        job.tag = admin_;
        admin_inflight_ = true;
        return true;
      } else {
        wake = admin_not_before_;
      }
    }
    char id[UserIds::kLen];
    if (!retry_q_.empty() && retry_q_.front().second <= now) {
      job.user = retry_q_.front().first;
      retry_q_.pop_front();
    } else if (cursor_ < sh_.users) {
      job.user = cursor_;
      cursor_ += static_cast<uint32_t>(sh_.threads);
    } else if (!poll_q_.empty() && poll_q_.front().second <= now) {
      job.user = poll_q_.front().first;
      poll_q_.pop_front();
      job.op = Op::kStatus;
      job.tag = sh_.processing_done.load() ? 1 : 0;  // a reply to this is final
      ids_.format(job.user, id);
      req_.status(out, std::string_view(id, sizeof id));
      ++c_.polls;
      return true;
    } else {
      if (!retry_q_.empty()) wake = std::min(wake, retry_q_.front().second);
      if (!poll_q_.empty()) wake = std::min(wake, poll_q_.front().second);
      *retry_at = wake == INT64_MAX ? 0 : wake;
      return false;
    }
    job.op = Op::kReserve;
    ids_.format(job.user, id);
    req_.reserve(out, std::string_view(id, sizeof id));
    return true;
  }

  void on_response(const Job& job, int status, std::string_view body, int64_t now) override {
    if (job.op == Op::kAdmin) return admin_reply(job, status, body, now);
    RushUser& u = sh_.u[job.user];
    std::string_view st = json_str(body, "status");
    if (job.op == Op::kReserve) {
      if (status == 200 && (st == "reserved" || st == "already_reserved")) {
        u.answer = st == "reserved" ? kReserved : kAlreadyReserved;
        finish(u, kFinReserved);
        reserve_answered(now);
      } else if (status == 200 && (st == "queued" || st == "already_in_queue")) {
        u.answer = st == "queued" ? kQueued : kAlreadyInQueue;
        u.reserve_pos = json_int(body, "position");
        poll_q_.emplace_back(job.user, now + sh_.poll_ns);
        reserve_answered(now);
      } else if (status == 409 && st == "sold_out") {
        u.answer = kSoldOut;
        finish(u, kFinSoldOut);
        reserve_answered(now);
      } else if (status == 503) {
        retry_reserve(job.user, now);
      } else {
        unexpected(job, status, body);
        u.answer = kUnexpected;
        finish(u, kFinGaveUp);
        reserve_answered(now);
      }
      return;
    }
    // status poll
    if (status == 200 && st == "reserved") {
      finish(u, kFinReserved);
    } else if (status == 200 && st == "in_queue") {
      if (job.tag == 1) {
        u.final_pos = json_int(body, "position");
        finish(u, kFinInQueue);
      } else {
        poll_q_.emplace_back(job.user, now + sh_.poll_ns);
      }
    } else if ((status == 404 || status == 200) && st == "not_found") {  // v1 / seed route
      finish(u, kFinNotFound);
    } else if (status == 503 && ++u.tries <= sh_.retries * 4) {
      ++c_.retries;
      poll_q_.emplace_back(job.user, now + sh_.poll_ns);
    } else {
      unexpected(job, status, body);
      finish(u, kFinGaveUp);
    }
  }

  void on_error(const Job& job, Err e, int64_t now) override {
    if (job.op == Op::kAdmin) {
      admin_inflight_ = false;
      if (++admin_tries_ > sh_.retries) return abort(std::string("admin call failed: ") + err_name(e));
      admin_not_before_ = now + 100'000'000LL * admin_tries_;
      return;
    }
    RushUser& u = sh_.u[job.user];
    if (job.op == Op::kReserve) return retry_reserve(job.user, now);
    if (++u.tries <= sh_.retries * 4) {
      ++c_.retries;
      poll_q_.emplace_back(job.user, now + sh_.poll_ns);
    } else {
      finish(u, kFinGaveUp);
    }
  }

  bool exhausted() const override {
    return sh_.abort.load() || (resolved_ == mine_ && (thread_ != 0 || admin_ == kAdminDone));
  }

  const Counters& counters() const { return c_; }

 private:
  enum : uint8_t { kAdminWait, kAdminGrow, kAdminProcess, kAdminDone };

  void finish(RushUser& u, uint8_t f) {
    u.final_state = f;
    ++resolved_;
  }

  void reserve_answered(int64_t now) {
    if (sh_.reserves_left.fetch_sub(1) == 1) sh_.t_reserves_done.store(now);
  }

  void retry_reserve(uint32_t user, int64_t now) {
    RushUser& u = sh_.u[user];
    if (++u.tries <= sh_.retries) {
      ++c_.retries;
      retry_q_.emplace_back(user, now + 50'000'000LL * u.tries);
    } else {
      u.answer = kGaveUp;
      finish(u, kFinGaveUp);
      reserve_answered(now);
    }
  }

  void unexpected(const Job& job, int status, std::string_view body) {
    ++c_.unexpected;
    if (c_.samples.size() < 5)
      c_.samples.push_back(std::string(op_name(job.op)) + " -> " + std::to_string(status) + " " +
                           std::string(body.substr(0, 200)));
  }

  void abort(std::string why) {
    sh_.abort_reason = std::move(why);
    sh_.abort.store(true);
  }

  void admin_reply(const Job& job, int status, std::string_view body, int64_t now) {
    admin_inflight_ = false;
    if (status == 503) {
      if (++admin_tries_ > sh_.retries) return abort("admin call kept failing with 503");
      admin_not_before_ = now + 100'000'000LL * admin_tries_;
      return;
    }
    admin_tries_ = 0;
    if (job.tag == kAdminGrow) {
      if (status != 200 && status != 201)
        return abort("PUT event to grow capacity: " + std::to_string(status) + " " + std::string(body));
      admin_ = kAdminProcess;
      return;
    }
    if (status != 200)
      return abort("process_queue: " + std::to_string(status) + " " + std::string(body));
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.contains("promoted_users") || !j.contains("remaining"))
      return abort("process_queue: unexpected body " + std::string(body));
    size_t count = 0;
    for (const auto& p : j["promoted_users"]) {
      sh_.promoted.push_back(p.get<std::string>());
      ++count;
    }
    ++sh_.process_calls;
    sh_.remaining = j["remaining"].get<int64_t>();
    if (j.value("promoted_count", int64_t{-1}) != static_cast<int64_t>(count))
      unexpected(job, status, body);
    if (sh_.remaining == 0 || count == 0) {
      sh_.t_processing_done = now;
      sh_.processing_done.store(true);
      admin_ = kAdminDone;
    }
  }

  Shared& sh_;
  const Requests& req_;
  const UserIds& ids_;
  int thread_;
  uint32_t cursor_;
  uint32_t mine_ = 0, resolved_ = 0;
  std::deque<std::pair<uint32_t, int64_t>> retry_q_, poll_q_;
  uint8_t admin_ = kAdminWait;
  bool admin_inflight_ = false;
  int admin_tries_ = 0;
  int64_t admin_not_before_ = 0;
  Counters c_;
};

// ------------------------------------------------------------------ checks --

struct Checks {
  std::vector<std::tuple<std::string, bool, std::string>> rows;
  void add(std::string name, bool ok, std::string detail) {
    rows.emplace_back(std::move(name), ok, std::move(detail));
  }
  template <typename A, typename B>
  void eq(std::string name, A got, B want) {
    add(std::move(name), static_cast<int64_t>(got) == static_cast<int64_t>(want),
        std::to_string(got) + (static_cast<int64_t>(got) == static_cast<int64_t>(want) ? " == " : " != ") +
            std::to_string(want));
  }
  bool ok() const {
    return std::all_of(rows.begin(), rows.end(), [](const auto& r) { return std::get<1>(r); });
  }
};

// Positions must be exactly 1..n, each once.
std::string positions_problem(std::vector<int64_t> pos) {
  std::sort(pos.begin(), pos.end());
  for (size_t i = 0; i < pos.size(); ++i)
    if (pos[i] != static_cast<int64_t>(i + 1))
      return "expected position " + std::to_string(i + 1) + ", found " + std::to_string(pos[i]);
  return {};
}

}  // namespace

// ------------------------------------------------------------------- redis --

Redis::~Redis() {
  if (c) redisFree(c);
}

redisReply* Redis::cmd(const std::vector<std::string>& argv) {
  std::vector<const char*> a;
  std::vector<size_t> l;
  for (const auto& s : argv) {
    a.push_back(s.data());
    l.push_back(s.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(a.size()), a.data(), l.data()));
  if (r == nullptr) error = c->errstr;
  else if (r->type == REDIS_REPLY_ERROR) error = std::string(r->str, r->len);
  return r;
}

bool Redis::strings(const std::vector<std::string>& argv, std::vector<std::string>* out) {
  redisReply* r = cmd(argv);
  if (r == nullptr) return false;
  bool ok = r->type == REDIS_REPLY_ARRAY;
  if (ok)
    for (size_t i = 0; i < r->elements; ++i) out->emplace_back(r->element[i]->str, r->element[i]->len);
  else if (error.empty())
    error = "unexpected reply to " + argv[0];
  freeReplyObject(r);
  return ok;
}

bool Redis::integer(const std::vector<std::string>& argv, int64_t* out, int64_t if_nil) {
  redisReply* r = cmd(argv);
  if (r == nullptr) return false;
  bool ok = true;
  if (r->type == REDIS_REPLY_INTEGER) *out = r->integer;
  else if (r->type == REDIS_REPLY_STRING) *out = std::strtoll(r->str, nullptr, 10);
  else if (r->type == REDIS_REPLY_NIL) *out = if_nil;
  else ok = false;
  freeReplyObject(r);
  return ok;
}

bool Redis::text(const std::vector<std::string>& argv, std::string* out) {
  redisReply* r = cmd(argv);
  if (r == nullptr) return false;
  bool ok = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
  if (ok) out->assign(r->str, r->len);
  else if (error.empty()) error = "unexpected reply to " + argv[0];
  freeReplyObject(r);
  return ok;
}

bool redis_connect(const std::string& url, Redis* r) {
  auto ep = ticketq::parse_redis_url(url);
  if (!ep.ok()) {
    r->error = ep.error;
    return false;
  }
  timeval tv{5, 0};
  r->c = ep.value->is_unix ? redisConnectUnixWithTimeout(ep.value->path.c_str(), tv)
                           : redisConnectWithTimeout(ep.value->host.c_str(), ep.value->port, tv);
  if (r->c == nullptr || r->c->err) {
    r->error = r->c ? r->c->errstr : "out of memory";
    return false;
  }
  redisSetTimeout(r->c, tv);
  if (!ep.value->password.empty()) {
    redisReply* x = r->cmd({"AUTH", ep.value->password});
    if (x) freeReplyObject(x);
    if (!r->error.empty()) return false;
  }
  if (ep.value->db != 0) {
    redisReply* x = r->cmd({"SELECT", std::to_string(ep.value->db)});
    if (x) freeReplyObject(x);
    if (!r->error.empty()) return false;
  }
  redisReply* x = r->cmd({"PING"});
  if (x) freeReplyObject(x);
  return r->error.empty();
}

int admin_event(const Target& t, const Requests& req, EventInfo* info, std::string* why) {
  OnceResult r = http_once(t, req.get_event(), 10);
  if (r.status == 0) {
    *why = r.error;
    return 0;
  }
  if (r.status == 200) {
    info->capacity = json_int(r.body, "capacity");
    info->queue_limit = json_int(r.body, "queue_limit");
    info->reserved = json_int(r.body, "reserved", 0);
    info->waiting = json_int(r.body, "waiting", 0);
    info->promoted = json_int(r.body, "promoted", 0);
  } else {
    *why = r.body;
  }
  return r.status;
}

int run_rush(RunContext& ctx) {
  const Options& o = ctx.opt;
  auto say = [&](const std::string& s) {
    if (!o.json) std::fprintf(stdout, "%s\n", s.c_str());
  };
  if (o.token.empty()) {
    std::fprintf(stderr, "ticketq-bench: rush needs the admin token (--token or TICKETQ_ADMIN_TOKEN)\n");
    return 2;
  }
  // Redis must be reachable for the check: find out before the rush.
  Redis redis;
  if (!redis_connect(o.redis, &redis)) {
    std::fprintf(stderr, "ticketq-bench: cannot reach redis at %s for the rush check: %s\n",
                 o.redis.c_str(), redis.error.c_str());
    return 2;
  }
  const std::string& event = ctx.req.event_name();
  // The rush starts on an empty event: GET it, reset it (--reset) when it is
  // not empty, create or update it (--create-event), and GET it again.
  EventInfo info;
  std::string why;
  int st = admin_event(ctx.target, ctx.req, &info, &why);
  if (st != 200 && !(st == 404 && o.create_event)) {
    std::fprintf(stderr, "ticketq-bench: GET event %s: %d %s%s\n", event.c_str(), st, why.c_str(),
                 st == 404 ? " (create it with --create-event --capacity N --queue-limit M)" : "");
    return 2;
  }
  if (st == 200 && info.reserved + info.waiting + info.promoted > 0) {
    if (!o.reset) {
      std::fprintf(stderr,
                   "ticketq-bench: event %s is not empty (%lld reserved, %lld waiting, %lld promoted);"
                   " pass --reset to empty it first\n",
                   event.c_str(), static_cast<long long>(info.reserved),
                   static_cast<long long>(info.waiting), static_cast<long long>(info.promoted));
      return 2;
    }
    OnceResult r = http_once(ctx.target, ctx.req.reset(), 10);
    if (r.status != 200) {
      std::fprintf(stderr, "ticketq-bench: reset %s: %d %s%s\n", event.c_str(), r.status,
                   r.body.c_str(), r.error.c_str());
      return 2;
    }
  }
  if (o.create_event) {
    OnceResult r = http_once(ctx.target, ctx.req.put_event(o.capacity, o.queue_limit), 10);
    if (r.status != 200 && r.status != 201) {
      std::fprintf(stderr, "ticketq-bench: PUT event %s: %d %s%s\n", event.c_str(), r.status,
                   r.body.c_str(), r.error.c_str());
      return 2;
    }
  }
  st = admin_event(ctx.target, ctx.req, &info, &why);
  if (st != 200 || info.reserved + info.waiting + info.promoted > 0) {
    std::fprintf(stderr, "ticketq-bench: event %s is not ready and empty: %d %s\n", event.c_str(), st,
                 why.c_str());
    return 2;
  }
  int64_t capacity = info.capacity, queue_limit = info.queue_limit;
  if (!o.create_event && o.capacity >= 0 && o.capacity != capacity) {
    std::fprintf(stderr, "ticketq-bench: warning: server says capacity %lld, checking against --capacity %lld\n",
                 static_cast<long long>(capacity), static_cast<long long>(o.capacity));
    capacity = o.capacity;
  }
  if (!o.create_event && o.queue_limit >= 0 && o.queue_limit != queue_limit) {
    std::fprintf(stderr, "ticketq-bench: warning: server says queue_limit %lld, checking against --queue-limit %lld\n",
                 static_cast<long long>(queue_limit), static_cast<long long>(o.queue_limit));
    queue_limit = o.queue_limit;
  }

  const auto users = static_cast<uint32_t>(o.users);
  const int threads = static_cast<int>(ctx.workers.size());
  Shared sh;
  sh.users = users;
  sh.threads = threads;
  sh.retries = o.retries;
  sh.poll_ns = int64_t{o.poll_interval_ms} * 1'000'000;
  sh.grow_capacity = o.grow > 0 ? capacity + o.grow : -1;
  sh.queue_limit = queue_limit;
  sh.u.resize(users);
  sh.reserves_left.store(users);

  say("rush: " + std::to_string(users) + " users on event " + event + " (capacity " +
      std::to_string(capacity) + ", queue_limit " + std::to_string(queue_limit) +
      (o.grow > 0 ? ", then capacity +" + std::to_string(o.grow) : "") + "), ids " +
      ctx.ids.id(0) + ".." + ctx.ids.id(users - 1));

  std::vector<std::unique_ptr<Source>> sources;
  std::vector<RunLimits> limits;
  int64_t t0 = now_ns();
  double max_time = o.max_time > 0 ? o.max_time : 300;
  for (int i = 0; i < threads; ++i) {
    sources.push_back(std::make_unique<RushSource>(sh, ctx.req, ctx.ids, i));
    RunLimits l;
    l.start_ns = l.measure_from_ns = t0;
    l.request_timeout_ns = static_cast<int64_t>(o.timeout * 1e9);
    l.hard_deadline_ns = t0 + static_cast<int64_t>(max_time * 1e9);
    limits.push_back(l);
  }
  int64_t elapsed = run_phase(ctx.workers, sources, limits, o.progress ? "rush" : nullptr, false);
  Stats total;
  for (auto& w : ctx.workers) total.merge(w->stats());
  Counters cnt;
  for (auto& s : sources) {
    const Counters& c = static_cast<RushSource*>(s.get())->counters();
    cnt.retries += c.retries;
    cnt.polls += c.polls;
    cnt.unexpected += c.unexpected;
    for (const auto& x : c.samples)
      if (cnt.samples.size() < 5) cnt.samples.push_back(x);
  }

  // ---- what the HTTP answers say
  Checks ck;
  if (sh.abort.load()) ck.add("admin lane", false, sh.abort_reason);
  if (total.hard_deadline_hit) ck.add("finished before --max-time", false, "hard deadline hit");
  int64_t n_res = 0, n_queued = 0, n_sold = 0, n_unexp = 0, n_gave_up = 0;
  int64_t f_res = 0, f_inq = 0, f_notfound = 0, f_unknown = 0;
  std::vector<int64_t> qpos, fpos;
  std::vector<uint32_t> queued_users;
  for (uint32_t i = 0; i < users; ++i) {
    const RushUser& u = sh.u[i];
    switch (u.answer) {
      case kReserved: case kAlreadyReserved: ++n_res; break;
      case kQueued: case kAlreadyInQueue: ++n_queued; qpos.push_back(u.reserve_pos); queued_users.push_back(i); break;
      case kSoldOut: ++n_sold; break;
      case kUnexpected: ++n_unexp; break;
      default: ++n_gave_up; break;
    }
    switch (u.final_state) {
      case kFinReserved: ++f_res; break;
      case kFinInQueue: ++f_inq; fpos.push_back(u.final_pos); break;
      case kFinNotFound: ++f_notfound; break;
      case kFinSoldOut: break;
      default: ++f_unknown; break;
    }
  }
  int64_t U = users, C = capacity, Q = queue_limit;
  int64_t want_res = std::min(U, C);
  int64_t want_queued = std::min(U - want_res, Q);
  int64_t want_promoted = o.grow > 0 ? std::min(want_queued, o.grow) : 0;
  int64_t cap_after = C + std::max<int64_t>(o.grow, 0);
  ck.eq("every reserve answered (no gave-up, no unexpected reply)", n_unexp + n_gave_up, 0);
  ck.eq("reserved at once == min(users, capacity)", n_res, want_res);
  ck.eq("queued == min(users - capacity, queue_limit)", n_queued, want_queued);
  ck.eq("sold_out answers == max(0, users - capacity - queue_limit)", n_sold,
        std::max<int64_t>(0, U - C - Q));
  std::string p = positions_problem(qpos);
  ck.add("queue positions at reserve are 1..queued, each once", p.empty(),
         p.empty() ? std::to_string(qpos.size()) + " positions" : p);
  ck.eq("promoted by process_queue == min(queued, grow)", sh.promoted.size(), want_promoted);
  // Promotion order must be the line order: queued users sorted by position.
  std::sort(queued_users.begin(), queued_users.end(),
            [&](uint32_t a, uint32_t b) { return sh.u[a].reserve_pos < sh.u[b].reserve_pos; });
  size_t order_bad = 0;
  for (size_t i = 0; i < sh.promoted.size(); ++i)
    if (i >= queued_users.size() || sh.promoted[i] != ctx.ids.id(queued_users[i])) ++order_bad;
  ck.eq("promotion order == line order (first come, first served)", order_bad, 0);
  ck.eq("users whose status polling never ended", f_unknown, 0);
  ck.eq("queued users that status reports not_found (lost)", f_notfound, 0);
  ck.eq("final reserved (answers + polls) == reserved at once + promoted", f_res,
        n_res + static_cast<int64_t>(sh.promoted.size()));
  p = positions_problem(fpos);
  ck.add("final positions of those still waiting are 1..n, each once", p.empty(),
         p.empty() ? std::to_string(fpos.size()) + " waiting" : p);

  // ---- what Redis holds
  const std::string check_event = o.check_event.empty() ? event : o.check_event;
  const std::string base = o.key_prefix + ":{" + check_event + "}:";
  std::vector<std::string> r_reserved, r_line;  // r_line: user, ticket, user, ticket, ...
  int64_t r_promoted = 0, r_cap = -1;
  bool rok = redis.strings({"SMEMBERS", base + "reserved"}, &r_reserved) &&
             redis.strings({"ZRANGE", base + "queued", "0", "-1", "WITHSCORES"}, &r_line) &&
             redis.integer({"HGET", base + "stats", "promoted"}, &r_promoted) &&
             redis.integer({"HGET", base + "cfg", "capacity"}, &r_cap, -1);
  // The line, head first, and each waiting user's position (src/core/scripts.h).
  std::vector<std::string> r_waiting;
  std::unordered_map<std::string, int64_t> position;
  for (size_t i = 0; i + 1 < r_line.size(); i += 2) {
    r_waiting.push_back(r_line[i]);
    position[r_line[i]] = static_cast<int64_t>(r_waiting.size());
  }
  int64_t lost = -1, phantom = -1;
  if (!rok) {
    ck.add("redis readable", false, redis.error);
  } else {
    if (r_cap < 0) r_cap = cap_after;  // no cfg hash: the server's fallback settings
    std::unordered_set<std::string> s_res(r_reserved.begin(), r_reserved.end());
    std::unordered_set<std::string> s_wait(r_waiting.begin(), r_waiting.end());
    ck.eq("SCARD " + base + "reserved == min(users, capacity) + promoted",
          r_reserved.size(), want_res + want_promoted);
    ck.add("not overbooked (reserved <= capacity " + std::to_string(r_cap) + ")",
           static_cast<int64_t>(r_reserved.size()) <= r_cap, std::to_string(r_reserved.size()));
    lost = 0;
    phantom = 0;
    int64_t sold_in_redis = 0, bad_pos = 0;
    std::unordered_set<std::string> ours_res, ours_wait;
    for (uint32_t i = 0; i < users; ++i) {
      const RushUser& u = sh.u[i];
      std::string id = ctx.ids.id(i);
      if (u.final_state == kFinReserved) {
        ours_res.insert(id);
        if (!s_res.count(id)) ++lost;
      } else if (u.answer == kQueued || u.answer == kAlreadyInQueue) {
        ours_wait.insert(id);
        if (!s_wait.count(id)) ++lost;
        auto t = position.find(id);
        if (u.final_state == kFinInQueue && (t == position.end() || t->second != u.final_pos))
          ++bad_pos;
      } else if (u.answer == kSoldOut) {
        if (s_res.count(id) || s_wait.count(id)) ++sold_in_redis;
      }
    }
    for (const auto& m : r_reserved)
      if (!ours_res.count(m)) ++phantom;
    for (const auto& m : s_wait)
      if (!ours_wait.count(m)) ++phantom;
    ck.eq("lost: users answered reserved/queued missing from redis", lost, 0);
    ck.eq("phantoms: redis members nobody was told about", phantom, 0);
    ck.eq("duplicates in the line", r_waiting.size() - s_wait.size(), 0);
    int64_t both = 0;
    for (const auto& m : s_wait) both += s_res.count(m);
    ck.eq("reserved and waiting overlap", both, 0);
    ck.eq("sold-out users present in redis", sold_in_redis, 0);
    ck.eq("positions polled == 1 + users ahead in redis", bad_pos, 0);
    ck.eq("stats promoted == promoted", r_promoted, sh.promoted.size());
    ck.eq("waiting in redis == queued - promoted", r_waiting.size(),
          n_queued - static_cast<int64_t>(sh.promoted.size()));
  }

  // ---- report
  auto secs = [&](int64_t t) { return t > 0 ? static_cast<double>(t - t0) / 1e9 : -1.0; };
  Json rj;
  rj["event"] = event;
  rj["checked_event"] = check_event;
  rj["users"] = U;
  rj["capacity"] = C;
  rj["queue_limit"] = Q;
  rj["grow"] = o.grow;
  rj["answers"] = {{"reserved", n_res}, {"queued", n_queued}, {"sold_out", n_sold},
                   {"unexpected", n_unexp}, {"gave_up", n_gave_up}};
  rj["promoted"] = sh.promoted.size();
  rj["process_calls"] = sh.process_calls;
  rj["remaining"] = sh.remaining;
  rj["final"] = {{"reserved", f_res}, {"in_queue", f_inq}, {"not_found", f_notfound},
                 {"unresolved", f_unknown}};
  rj["polls"] = cnt.polls;
  rj["retries"] = cnt.retries;
  rj["redis"] = {{"reserved", r_reserved.size()}, {"queued", r_waiting.size()},
                 {"waiting", r_waiting.size()}, {"promoted", r_promoted},
                 {"lost", lost}, {"phantom", phantom}};
  rj["seconds"] = {{"reserves_answered", secs(sh.t_reserves_done.load())},
                   {"processing_done", secs(sh.t_processing_done)},
                   {"total", static_cast<double>(elapsed) / 1e9}};
  Json checks = Json::array();
  std::string failed;
  for (const auto& [name, ok, detail] : ck.rows) {
    checks.push_back({{"check", name}, {"ok", ok}, {"detail", detail}});
    if (!ok) failed += (failed.empty() ? "" : "; ") + name + " (" + detail + ")";
  }
  rj["checks"] = checks;
  rj["unexpected_samples"] = cnt.samples;
  rj["verdict"] = ck.ok() ? "PASS" : "FAIL";

  std::ostringstream text;
  text << "  rush       answers: " << n_res << " reserved, " << n_queued << " queued, " << n_sold
       << " sold_out, " << n_unexp << " unexpected, " << n_gave_up << " gave up\n"
       << "             process_queue: " << sh.process_calls << " calls, " << sh.promoted.size()
       << " promoted, remaining " << sh.remaining << (sh.remaining > 0 && o.grow == 0 ? " (no free seat: the line stays)" : "")
       << "; " << cnt.polls << " status polls, " << cnt.retries << " retries\n";
  char tl[200];
  std::snprintf(tl, sizeof tl, "             all reserves answered at %.3f s, line processed at %.3f s, done at %.3f s\n",
                secs(sh.t_reserves_done.load()), secs(sh.t_processing_done),
                static_cast<double>(elapsed) / 1e9);
  text << tl << "  redis      " << base << "*: reserved " << r_reserved.size() << ", waiting "
       << r_waiting.size() << ", promoted " << r_promoted << "\n";
  for (const auto& [name, ok, detail] : ck.rows)
    text << "  " << (ok ? "ok   " : "FAIL ") << "     " << name << ": " << detail << "\n";
  for (const auto& s : cnt.samples) text << "  unexpected " << s << "\n";
  text << "verdict: " << (ck.ok() ? "PASS" : "FAIL") << " (" << ck.rows.size() << " checks"
       << (ck.ok() ? "" : ", failed: " + failed) << ")\n";
  print_report(o, total, elapsed, Json{{"rush", rj}}, text.str());
  return ck.ok() ? 0 : 1;
}

}  // namespace tqbench
