// ticketq-bench: options, request building, scenarios and the rush check.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.h"

struct redisContext;
struct redisReply;

namespace tqbench {

struct Options {
  std::string url = "http://127.0.0.1:8000";
  int connections = 32;
  int threads = 1;
  double duration = 0;    // seconds; 0 with requests == 0 means 10
  int64_t requests = 0;   // total; 0 = no limit
  double rate = 0;        // total requests/s; 0 = closed loop
  std::string scenario = "reserve";
  std::string event;      // empty: the seed routes (event "default")
  int64_t events = 0;     // > 0: user ordinal k goes to event <event>k mod N (--events)
  bool create_events = false;  // PUT the --events events before the load
  std::string token;
  bool json = false;
  int64_t users = 1000;
  uint64_t seed = 0;
  bool seed_given = false;
  std::string prefix;     // of user ids; default derived from the seed
  double warmup = 0;
  int mix = 20;           // mixed: percent of reserves
  int64_t left = 0;       // status/mixed: the first `left` ids of the leave order have left
  bool in_line = false;   // status/mixed: the ids are in line already (an earlier run set them up)
  double timeout = 5;     // per request, seconds
  double max_time = 0;    // hard limit for the whole run; 0 = derived
  bool progress = true;
  // rush
  std::string redis = "redis://127.0.0.1:6379";
  std::string key_prefix = "ticketq";
  std::string check_event;  // check Redis under another event (to prove the check bites)
  int64_t capacity = -1;
  int64_t queue_limit = -1;
  bool create_event = false;
  bool reset = false;
  int64_t grow = 0;
  int poll_interval_ms = 20;
  int retries = 5;
  bool redis_given = false;  // --redis or --redis-port on the command line
  // watch
  int64_t watchers = 1000;
  int64_t admit = -1;         // -1: every watcher
  int rounds = 1;
  double hold = 2;            // seconds all streams stay open idle before the admission
  int open_window = 1000;     // streams being opened at once
  double deliver_timeout = 10;
  int64_t server_pid = 0;     // read its VmRSS
  double api_load = 0;        // seconds of status load without and with the streams open
};

// 16-character user ids: prefix + zero-padded ordinal.
class UserIds {
 public:
  static constexpr size_t kLen = 16;
  explicit UserIds(std::string prefix);
  void format(uint64_t ordinal, char* out) const;  // writes kLen chars
  std::string id(uint64_t ordinal) const;
  uint64_t capacity() const { return limit_; }  // ordinals available
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  uint64_t limit_;
};

// The requests of one run, prebuilt so that only the user id changes.
// With `events` > 0 the run is spread over the events EVENT0..EVENT{events-1}
// (`event` is then the stem of their names): the requests about user ordinal
// k go to EVENT{k mod events} (of_user), which are prebuilt alike.
class Requests {
 public:
  Requests(const Target& t, const std::string& event, const std::string& token, int64_t events = 0);
  // The requests about user ordinal k: those of its event (this one
  // without --events).
  const Requests& of_user(uint64_t ordinal) const {
    return spread_.empty() ? *this : spread_[ordinal % spread_.size()];
  }
  size_t events() const { return spread_.size(); }  // 0 without --events
  const Requests& event_at(size_t i) const { return spread_[i]; }
  void reserve(std::string& out, std::string_view user) const;
  void status(std::string& out, std::string_view user) const;
  void leave(std::string& out, std::string_view user) const;  // admin, by user id
  std::string process_queue(int limit) const;
  std::string reset() const;
  std::string get_event() const;
  // `extra`: more members of the settings object, e.g. ",\"admit_rate\":\"manual\"".
  std::string put_event(int64_t capacity, int64_t queue_limit, const std::string& extra = "") const;
  // PUT /v1/events/E with this settings object.
  std::string put_settings(const std::string& json) const;
  // GET /v1/events/E/stream with the user token (Authorization: Bearer).
  std::string stream(std::string_view user_token) const;
  const std::string& event_name() const { return event_name_; }

 private:
  std::string admin(const char* method, const std::string& path, const std::string& body) const;
  std::string host_, base_, event_path_, event_name_, token_;
  std::string reserve_head_;  // up to the opening quote of the id
  std::string status_head_, status_tail_;
  std::string leave_head_;  // up to the opening quote of the id
  std::vector<Requests> spread_;  // --events: one per event, in order
};

// A blocking request on a fresh connection, for setup and admin calls.
struct OnceResult {
  int status = 0;  // 0: transport failure
  std::string body;
  std::string error;
};
// *sent_ns (when given): CLOCK_MONOTONIC just before the request's first
// byte is sent, once connected.
OnceResult http_once(const Target& t, const std::string& request, double timeout_s,
                     int64_t* sent_ns = nullptr);

// Pulls "key":"value" or "key":number out of a flat JSON reply; enough for
// ticketq's replies, which never escape the fields read here.
std::string_view json_str(std::string_view body, std::string_view key);
int64_t json_int(std::string_view body, std::string_view key, int64_t dflt = -1);

// Which ids of the set 0..users-1 a run uses, computed once and shared by
// the threads. The leave order is a random permutation seeded by --seed
// (Fisher-Yates, the same for the same seed and users on any machine); only
// as much of it as a run needs is drawn, and a longer draw starts with the
// shorter one.
struct IdPlan {
  std::vector<uint32_t> leave_order;  // leave: ids in the order they leave
  std::vector<uint32_t> waiting;      // status/mixed with --left: the ids still in line
};
std::vector<uint32_t> leave_order(uint64_t seed, uint64_t users, uint64_t count);
IdPlan make_id_plan(const Options& o);

// reserve / status / mixed / leave: jobs until the worker's limits end them
// (leave: or until the thread's share of the leave order is used up).
std::unique_ptr<Source> make_load_source(const Options& o, const Requests& req, const UserIds& ids,
                                         const IdPlan& plan, int thread, int threads);
// What each setup reserve answered, by ordinal (threads write apart).
struct SetupReplies {
  std::vector<int> status;              // 0: no answer (transport failure)
  std::vector<int64_t> position;        // -1: none
  std::vector<std::string> token;       // the user token of a first join
  explicit SetupReplies(size_t users) : status(users), position(users, -1), token(users) {}
};
// Reserves ordinals thread, thread + threads, ... below users, once each;
// with `replies`, keeps what each answered.
std::unique_ptr<Source> make_setup_source(const Requests& req, const UserIds& ids, int thread,
                                          int threads, uint64_t users,
                                          SetupReplies* replies = nullptr);

// Untimed setup: reserves ordinals 0..users-1 over the workers' connections
// (one request outstanding on each), with a progress line when it lasts, and
// one line on stderr with the counts by status. Returns what the phase saw
// (the workers' stats are cleared) and, in *took_ns, how long it took.
Stats run_setup(const Options& o, std::vector<std::unique_ptr<Worker>>& workers, const Requests& req,
                const UserIds& ids, uint64_t users, SetupReplies* replies,
                int64_t* took_ns = nullptr);

// --create-events: PUTs every event of req (--events) with --capacity and
// --queue-limit over the workers' connections (one request outstanding on
// each), untimed, with one line on stderr with the counts by status (201
// created, 200 updated). Returns what the phase saw (the workers' stats are
// cleared) and, in *took_ns, how long it took.
Stats run_create_events(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                        const Requests& req, int64_t* took_ns = nullptr);

// The measured load of reserve / status / mixed / leave (make_load_source)
// over the workers, as the options say (duration, requests, rate, warm-up).
// The workers' stats are moved into the result.
struct LoadResult {
  Stats stats;
  int64_t elapsed_ns = 0;  // the measured window: from its start to its end or last reply
};
LoadResult run_load(const Options& o, std::vector<std::unique_ptr<Worker>>& workers,
                    const Requests& req, const UserIds& ids, const IdPlan& plan);

// The rush: returns the process exit code.
struct RunContext {
  const Options& opt;
  const Target& target;
  const Requests& req;
  const UserIds& ids;
  std::vector<std::unique_ptr<Worker>>& workers;
};
int run_rush(RunContext& ctx);
// The watch scenario (watch.cpp): returns the process exit code.
int run_watch(RunContext& ctx);

// A blocking Redis connection for checks and INFO (rush.cpp).
struct Redis {
  redisContext* c = nullptr;
  std::string error;
  Redis() = default;
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;
  ~Redis();
  redisReply* cmd(const std::vector<std::string>& argv);  // null: error set
  // Strings of an array reply (SMEMBERS, LRANGE, HGETALL).
  bool strings(const std::vector<std::string>& argv, std::vector<std::string>* out);
  bool integer(const std::vector<std::string>& argv, int64_t* out, int64_t if_nil = 0);
  bool text(const std::vector<std::string>& argv, std::string* out);  // a string reply (INFO)
};
// redis://[:password@]host:port[/db] or unix:///path; false with r->error.
bool redis_connect(const std::string& url, Redis* r);

// An event's settings and counts, from the admin GET /v1/events/E.
struct EventInfo {
  int64_t capacity = -1, queue_limit = -1, reserved = 0, waiting = 0, promoted = 0;
};
// The HTTP status (0: transport failure, *why the reason; non-200: *why the body).
int admin_event(const Target& t, const Requests& req, EventInfo* info, std::string* why);

// Prints the figures of a measured phase, as text or as one JSON object
// (with `extra` merged in). `extra_text` is printed after the text figures.
void print_report(const Options& o, const Stats& s, int64_t elapsed_ns,
                  const nlohmann::ordered_json& extra, const std::string& extra_text);
// Replies that were answers (status below 500).
uint64_t answered(const Stats& s);
// A latency histogram (µs) as the report shows it: JSON, or one line of text.
nlohmann::ordered_json latency_json(const Histogram& h);
std::string latency_text(const Histogram& h);

// Runs one phase on every worker (one thread each), with a progress line on
// stderr once a second when `progress_label` is not null. Returns elapsed ns.
int64_t run_phase(std::vector<std::unique_ptr<Worker>>& workers,
                  const std::vector<std::unique_ptr<Source>>& sources,
                  const std::vector<RunLimits>& limits, const char* progress_label,
                  bool progress_always);

}  // namespace tqbench
