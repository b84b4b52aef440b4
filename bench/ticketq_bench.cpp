// ticketq-bench: a load generator for ticketq in the spirit of
// redis-benchmark and wrk2. See bench/README.md.
//
//   ticketq-bench --scenario reserve -c 64 -t 2 -d 10
//   ticketq-bench --scenario status --users 1000 --rate 20000 -d 10
//   ticketq-bench -s reserve --events 300 --create-events --capacity 1000000 --queue-limit 0
//   ticketq-bench --scenario leave --event E --users 1000000 -n 100000 --token T
//   ticketq-bench --scenario rush --users 5000 --token T --reset
//   ticketq-bench --scenario watch --watchers 10000 --token T --server-pid P --redis-port R
//
// Exit code: 0 success; 1 the rush verdict failed, watch missed admissions or
// streams, every request failed, --create-events failed, or the run hit
// --max-time; 2 bad flags or setup.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench.h"

namespace tqbench {

using Json = nlohmann::ordered_json;

namespace {

std::string fmt_ms(uint64_t us) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f ms", static_cast<double>(us) / 1000.0);
  return b;
}

bool valid_chars(const std::string& s, const char* extra, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr(extra, c) == nullptr) return false;
  return true;
}

void on_sigint(int) { g_stop.store(true); }

}  // namespace

Json latency_json(const Histogram& h) {
  return Json{{"count", h.count()},         {"p50", h.percentile(50)},
              {"p90", h.percentile(90)},    {"p99", h.percentile(99)},
              {"p99_9", h.percentile(99.9)}, {"max", h.max()},
              {"mean", std::round(h.mean() * 10) / 10}};
}

std::string latency_text(const Histogram& h) {
  return "p50 " + fmt_ms(h.percentile(50)) + "  p90 " + fmt_ms(h.percentile(90)) + "  p99 " +
         fmt_ms(h.percentile(99)) + "  p99.9 " + fmt_ms(h.percentile(99.9)) + "  max " +
         fmt_ms(h.max()) + "  (mean " + fmt_ms(static_cast<uint64_t>(h.mean())) + ")";
}

uint64_t answered(const Stats& s) {
  uint64_t n = 0;
  for (size_t i = 0; i < 500; ++i) n += s.by_status[i];
  return n;
}

void print_report(const Options& o, const Stats& s, int64_t elapsed_ns, const Json& extra,
                  const std::string& extra_text) {
  Histogram all;
  int ops_used = 0;
  for (const auto& h : s.latency) {
    all.merge(h);
    ops_used += h.count() > 0;
  }
  double secs = static_cast<double>(elapsed_ns) / 1e9;
  double rps = secs > 0 ? static_cast<double>(s.replies) / secs : 0;
  uint64_t errors = 0;
  for (uint64_t e : s.errors) errors += e;
  if (o.json) {
    Json j;
    j["scenario"] = o.scenario;
    j["url"] = o.url;
    j["event"] = o.event.empty() ? "default" : o.event;
    j["threads"] = o.threads;
    j["connections"] = o.connections;
    j["mode"] = o.rate > 0 ? "open" : "closed";
    j["rate"] = o.rate;
    j["seconds"] = std::round(secs * 1000) / 1000;
    j["requests"] = s.replies;
    j["sent"] = s.sent;
    j["throughput_rps"] = std::round(rps * 10) / 10;
    j["latency_us"] = latency_json(all);
    Json ops = Json::object();
    for (size_t i = 0; i < kOpCount; ++i)
      if (s.latency[i].count() > 0) ops[op_name(static_cast<Op>(i))] = latency_json(s.latency[i]);
    j["ops"] = ops;
    Json codes = Json::object();
    for (size_t i = 0; i < s.by_status.size(); ++i)
      if (s.by_status[i] > 0) codes[std::to_string(i)] = s.by_status[i];
    j["status_codes"] = codes;
    Json errs = Json::object();
    for (size_t i = 0; i < kErrCount; ++i) errs[err_name(static_cast<Err>(i))] = s.errors[i];
    j["errors"] = errs;
    j["errors_total"] = errors;
    if (o.rate > 0) j["send_lag_us"] = latency_json(s.send_lag);
    j["unsent"] = s.unsent;
    j["aborted"] = s.aborted;
    j["hard_deadline_hit"] = s.hard_deadline_hit;
    for (const auto& [k, v] : extra.items()) j[k] = v;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("  requests   %llu in %.2f s = %.1f req/s (sent %llu)\n",
              static_cast<unsigned long long>(s.replies), secs, rps,
              static_cast<unsigned long long>(s.sent));
  std::printf("  latency    %s\n", latency_text(all).c_str());
  if (ops_used > 1)
    for (size_t i = 0; i < kOpCount; ++i)
      if (s.latency[i].count() > 0)
        std::printf("  %-10s %llu: %s\n", op_name(static_cast<Op>(i)),
                    static_cast<unsigned long long>(s.latency[i].count()),
                    latency_text(s.latency[i]).c_str());
  if (o.rate > 0)
    std::printf("  send lag   %s  (intended -> sent, part of the latency above)\n",
                latency_text(s.send_lag).c_str());
  std::string codes;
  for (size_t i = 0; i < s.by_status.size(); ++i)
    if (s.by_status[i] > 0) codes += "  " + std::to_string(i) + ": " + std::to_string(s.by_status[i]);
  std::printf("  statuses  %s\n", codes.empty() ? "  none" : codes.c_str());
  std::string errs;
  for (size_t i = 0; i < kErrCount; ++i)
    if (s.errors[i] > 0) errs += "  " + std::string(err_name(static_cast<Err>(i))) + ": " + std::to_string(s.errors[i]);
  std::printf("  errors    %s\n", errs.empty() ? "  none" : errs.c_str());
  if (s.unsent > 0)
    std::printf("  unsent     %llu requests the schedule intended were never sent: the target fell behind --rate\n",
                static_cast<unsigned long long>(s.unsent));
  if (s.hard_deadline_hit)
    std::printf("  ABORTED    hard time limit (--max-time) hit with %llu requests in flight\n",
                static_cast<unsigned long long>(s.aborted));
  std::fputs(extra_text.c_str(), stdout);
}

}  // namespace tqbench

int main(int argc, char** argv) {
  using namespace tqbench;
  Options o;
  CLI::App app{"ticketq-bench: load generator and rush checker for ticketq (targets loopback in tests)"};
  app.add_option("--url", o.url, "base URL of the server")->capture_default_str();
  app.add_option("-c,--connections", o.connections, "keep-alive connections in all")
      ->check(CLI::Range(1, 50000))->capture_default_str();
  app.add_option("-t,--threads", o.threads, "event loops (one thread each)")
      ->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("-d,--duration", o.duration, "seconds to run (default 10 without --requests)")
      ->check(CLI::PositiveNumber);
  app.add_option("-n,--requests", o.requests, "requests to send in all")->check(CLI::PositiveNumber);
  app.add_option("-R,--rate", o.rate,
                 "requests/s in all, open loop, latency from the intended send time (0: closed loop)")
      ->check(CLI::NonNegativeNumber);
  app.add_option(
         "-s,--scenario", o.scenario,
         "reserve | status | mixed | leave (admin: ids of the --users set in a random order "
         "seeded by --seed, each at most once; 200 left, 404 not in line) | rush | watch "
         "(SSE streams: how fast admissions reach --watchers open streams)")
      ->check(CLI::IsMember({"reserve", "status", "mixed", "leave", "rush", "watch"}))
      ->capture_default_str();
  app.add_option("--event", o.event,
                 "event name: use /v1/events/NAME/... (default: seed routes; watch: \"watch\"); "
                 "with --events the stem of the events' names");
  app.add_option("--events", o.events,
                 "reserve/status/mixed/leave: spread the requests over N events, NAME0..NAME{N-1} "
                 "(NAME: --event, default \"e\"; /v1/events/NAMEi/...): everything about user "
                 "ordinal k goes to NAME{k mod N}, so fresh reserves visit the events in turn; "
                 "the events must exist (see --create-events)")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000}));
  app.add_flag("--create-events", o.create_events,
               "with --events: PUT every event with --capacity and --queue-limit before the load "
               "(admin token; untimed, over the -c connections; 201 created or 200 updated, "
               "anything else fails the run)");
  app.add_option("--token", o.token, "admin token (default: env TICKETQ_ADMIN_TOKEN)");
  app.add_flag("--json", o.json, "print one JSON object");
  app.add_option("--users", o.users, "users of the status/mixed/leave id set, or of the rush")
      ->check(CLI::Range(int64_t{1}, int64_t{20'000'000}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the user id prefix and of random picks");
  app.add_option("--prefix", o.prefix, "user id prefix, 1-10 chars of [A-Za-z0-9._-] (default from the seed)");
  app.add_option("--warmup", o.warmup, "seconds of load before measuring")->check(CLI::NonNegativeNumber);
  app.add_option("--mix", o.mix, "mixed: percent of requests that are reserves")
      ->check(CLI::Range(0, 100))->capture_default_str();
  app.add_option("--left", o.left,
                 "status/mixed: the ids are in line already and the first N of the leave order "
                 "(same --seed, --users) left: no setup, ask only about the others")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--in-line", o.in_line,
               "status/mixed: the ids are in line already (an earlier run with the same --users, "
               "--prefix set them up): no setup, so Redis counts only the measured run's calls");
  app.add_option("--timeout", o.timeout, "seconds per request before it counts as a timeout")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-time", o.max_time, "hard limit in seconds for the whole run (default: derived)")
      ->check(CLI::PositiveNumber);
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "no progress line on stderr");
  auto* rush = app.add_option_group("rush");
  rush->add_option("--redis", o.redis,
                   "Redis to check after the rush (watch: to read INFO commandstats from, when given): "
                   "redis://host:port[/db] or unix:///path")
      ->capture_default_str();
  int redis_port = 0;
  rush->add_option("--redis-port", redis_port, "shorthand for --redis redis://127.0.0.1:PORT")
      ->check(CLI::Range(1, 65535));
  rush->add_option("--key-prefix", o.key_prefix, "the server's key_prefix")->capture_default_str();
  rush->add_option("--check-event", o.check_event, "check Redis under this event instead (to see the check fail)");
  rush->add_option("--capacity", o.capacity,
                   "capacity to expect (default: GET the event), or to set with --create-event(s)")
      ->check(CLI::NonNegativeNumber);
  rush->add_option("--queue-limit", o.queue_limit, "queue_limit, likewise")->check(CLI::NonNegativeNumber);
  rush->add_flag("--create-event", o.create_event, "PUT the event with --capacity and --queue-limit first");
  rush->add_flag("--reset", o.reset, "empty the event first when it is not empty");
  rush->add_option("--grow", o.grow, "after the reserves, raise capacity by this many seats so process_queue promotes")
      ->check(CLI::NonNegativeNumber);
  rush->add_option("--poll-interval-ms", o.poll_interval_ms, "least time between two polls of one user")
      ->check(CLI::Range(0, 60000))->capture_default_str();
  rush->add_option("--retries", o.retries, "retries of a call answered 503 or failed in transport")
      ->check(CLI::Range(0, 100))->capture_default_str();
  auto* watch = app.add_option_group("watch");
  watch->add_option("--watchers", o.watchers, "SSE streams to open, one connection and one user each")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}))->capture_default_str();
  watch->add_option("--admit", o.admit, "users to admit in the measured step (default: every watcher)")
      ->check(CLI::PositiveNumber);
  watch->add_option("--rounds", o.rounds, "times to run the whole cycle (setup, streams, idle, admission)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  watch->add_option("--hold", o.hold, "seconds all streams stay open idle before the admission")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  watch->add_option("--open-window", o.open_window, "streams being opened at once (connect to first event)")
      ->check(CLI::Range(1, 1'000'000))->capture_default_str();
  watch->add_option("--deliver-timeout", o.deliver_timeout, "seconds to wait for the admitted events")
      ->check(CLI::PositiveNumber)->capture_default_str();
  watch->add_option("--server-pid", o.server_pid, "the server's pid: report its VmRSS without and with the streams")
      ->check(CLI::PositiveNumber);
  watch->add_option("--api-load", o.api_load,
                    "seconds of status load (-c connections, --rate if given) on the watchers' ids, "
                    "before the streams open and again with them open")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  o.seed_given = app.count("--seed") > 0;
  if (redis_port > 0) o.redis = "redis://127.0.0.1:" + std::to_string(redis_port);
  o.redis_given = app.count("--redis") > 0 || redis_port > 0;
  o.progress = !no_progress;
  auto bad = [](const std::string& why) {
    std::fprintf(stderr, "ticketq-bench: %s\n", why.c_str());
    return 2;
  };
  if (o.token.empty())
    if (const char* t = std::getenv("TICKETQ_ADMIN_TOKEN")) o.token = t;
  for (char c : o.token)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return bad("--token has control characters or spaces");
  if (!o.event.empty() && !valid_chars(o.event, "._-", 64)) return bad("--event must be 1-64 chars of [A-Za-z0-9._-]");
  if (!o.check_event.empty() && !valid_chars(o.check_event, "._-", 64)) return bad("bad --check-event");
  if (o.events > 0) {
    if (o.scenario == "rush" || o.scenario == "watch")
      return bad("--events is for reserve, status, mixed and leave");
    if (o.event.empty()) o.event = "e";
    if (!valid_chars(o.event + std::to_string(o.events - 1), "._-", 64))
      return bad(
          "--event too long for --events: the names NAME0..NAME{N-1} must have at most 64 chars");
  }
  if (o.create_events) {
    if (o.events == 0) return bad("--create-events needs --events");
    if (o.capacity < 0 || o.queue_limit < 0)
      return bad("--create-events needs --capacity and --queue-limit");
    if (o.token.empty())
      return bad("--create-events needs the admin token (--token or TICKETQ_ADMIN_TOKEN)");
  }
  if (o.threads > o.connections) return bad("--threads must not exceed --connections");
  if (o.warmup > 0 && o.duration == 0) return bad("--warmup needs --duration");
  if (o.scenario == "watch") {
    if (o.duration > 0 || o.requests > 0 || o.warmup > 0)
      return bad("watch runs its own steps: --duration, --requests and --warmup do not apply (see --hold, --api-load)");
    if (o.rate > 0 && o.api_load == 0) return bad("--rate applies to watch's --api-load only");
    if (o.token.empty()) return bad("watch needs the admin token (--token or TICKETQ_ADMIN_TOKEN)");
    if (o.admit > o.watchers) return bad("--admit must not exceed --watchers");
    if (o.event.empty()) o.event = "watch";
    o.users = o.watchers;
  } else if (o.scenario == "rush") {
    if (o.duration > 0 || o.requests > 0 || o.rate > 0 || o.warmup > 0)
      return bad("rush runs to its end: --duration, --requests, --rate and --warmup do not apply");
    if (o.create_event && (o.capacity < 0 || o.queue_limit < 0))
      return bad("--create-event needs --capacity and --queue-limit");
  } else if (o.duration == 0 && o.requests == 0) {
    o.duration = 10;
  }
  if (o.scenario == "leave" && o.token.empty())
    return bad("leave needs the admin token (--token or TICKETQ_ADMIN_TOKEN)");
  if ((o.left > 0 || o.in_line) && o.scenario != "status" && o.scenario != "mixed")
    return bad("--left and --in-line are for status and mixed");
  if (o.left >= o.users) return bad("--left must be below --users: someone must still be in line");
  if (!o.seed_given) o.seed = std::random_device{}() ^ (static_cast<uint64_t>(now_ns()) << 20);
  if (o.prefix.empty()) {
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    o.prefix = "b";
    uint64_t s = o.seed;
    for (int i = 0; i < 5; ++i, s /= 36) o.prefix += digits[s % 36];
  }
  if (!valid_chars(o.prefix, "._-", 10)) return bad("--prefix must be 1-10 chars of [A-Za-z0-9._-]");
  UserIds ids(o.prefix);
  if (static_cast<uint64_t>(o.users) > ids.capacity()) return bad("--prefix too long for --users distinct ids");

  Target target;
  if (std::string err = parse_target(o.url, &target); !err.empty()) return bad("--url: " + err);
  Requests req(target, o.event, o.token, o.events);
  const std::string event_label =
      o.events > 0 ? o.event + "0.." + o.event + std::to_string(o.events - 1) : req.event_name();

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<int> conns;
  for (int i = 0; i < o.threads; ++i) {
    conns.push_back(o.connections / o.threads + (i < o.connections % o.threads ? 1 : 0));
    workers.push_back(std::make_unique<Worker>(target, conns.back()));
  }
  for (auto& w : workers) w->preconnect(now_ns() + 5'000'000'000);

  if (!o.json) {
    std::string mode = o.rate > 0 ? "open loop at " + std::to_string(static_cast<int64_t>(o.rate)) + " req/s"
                                  : "closed loop";
    std::string length = o.scenario == "rush" || o.scenario == "watch" ? "to the end"
                         : o.duration > 0     ? std::to_string(o.duration).substr(0, 5) + " s"
                                              : "";
    if (o.requests > 0) length += (length.empty() ? "" : ", at most ") + std::to_string(o.requests) + " requests";
    std::printf(
        "ticketq-bench %s -> %s (event%s %s), %d thread%s, %d connections, %s, %s, user ids %s*\n",
        o.scenario.c_str(), o.url.c_str(), o.events > 0 ? "s" : "", event_label.c_str(), o.threads,
        o.threads == 1 ? "" : "s", o.connections, mode.c_str(), length.c_str(), o.prefix.c_str());
    std::fflush(stdout);
  }

  if (o.scenario == "rush" || o.scenario == "watch") {
    RunContext ctx{o, target, req, ids, workers};
    return o.scenario == "rush" ? run_rush(ctx) : run_watch(ctx);
  }

  Json extra = Json::object();
  if (o.events > 0) {
    extra["event"] = event_label;
    extra["events"] = o.events;
  }
  if (o.create_events) {
    int64_t took = 0;
    Stats made = run_create_events(o, workers, req, &took);
    extra["create_events"] = Json{{"created", made.by_status[201]},
                                  {"updated", made.by_status[200]},
                                  {"seconds", std::round(static_cast<double>(took) / 1e6) / 1e3}};
    if (made.by_status[200] + made.by_status[201] != static_cast<uint64_t>(o.events)) {
      std::fprintf(stderr, "ticketq-bench: --create-events: %lld events, %llu created or updated\n",
                   static_cast<long long>(o.events),
                   static_cast<unsigned long long>(made.by_status[200] + made.by_status[201]));
      return 1;
    }
  }

  // Untimed setup: reserve the ids that status asks about. leave finds its
  // users in line already (404 otherwise), and so does status with --left
  // or --in-line.
  if ((o.scenario == "status" || o.scenario == "mixed") && o.left == 0 && !o.in_line) {
    Stats setup = run_setup(o, workers, req, ids, static_cast<uint64_t>(o.users), nullptr);
    if (answered(setup) == 0) {
      std::fprintf(stderr, "ticketq-bench: setup failed: no reserve was answered\n");
      return 1;
    }
  }

  const IdPlan plan = make_id_plan(o);
  LoadResult run = run_load(o, workers, req, ids, plan);
  const Stats& total = run.stats;
  std::string extra_text;
  if (o.scenario == "leave") {
    extra["left"] = total.by_status[200];
    extra["not_in_line"] = total.by_status[404];
    extra_text = "  leave      " + std::to_string(total.by_status[200]) + " left (200), " +
                 std::to_string(total.by_status[404]) + " not in line (404), of " +
                 std::to_string(plan.leave_order.size()) + " ids in the leave order\n";
  }
  print_report(o, total, run.elapsed_ns, extra, extra_text);
  if (total.hard_deadline_hit) return 1;
  if (answered(total) == 0) {
    std::fprintf(stderr, "ticketq-bench: every request failed\n");
    return 1;
  }
  return 0;
}
