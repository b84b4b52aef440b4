#include "server/server.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "core/admission.h"
#include "core/queue_core.h"
#include "core/scripts.h"
#include "frontend/http_frontend.h"
#include "frontend/router.h"
#include "redis/redis_gateway.h"
#include "tokens/tokens.h"
#include "transport/listener.h"

namespace ticketq {

namespace {

// One event loop and everything it owns.
class Worker {
 public:
  Worker(const Config& cfg, const Tokens& tokens, const RedisTarget& target, GatewayOptions gw_opts,
         const QueueOptions& q_opts, Metrics& metrics, SharedCounts& counts, int index, int fd)
      : cfg_(cfg), base_(event_base_new()), metrics_(metrics, index) {
    gw_opts.metrics = &metrics_;
    gateway_ = make_redis_backend(base_, target, gw_opts);
    core_ = std::make_unique<QueueCore>(*gateway_, q_opts);
    http_ = std::make_unique<HttpFrontend>(base_, cfg, *core_, *gateway_, metrics_, tokens, counts);
    http_->accept_on(fd);
    stop_event_ = event_new(base_, -1, 0, &Worker::on_stop, this);
    drain_timer_ = event_new(base_, -1, EV_PERSIST, &Worker::on_drain_tick, this);
    if (index == 0 && cfg.admission_tick_ms > 0) {
      // One admission timer per instance (admission.h).
      admission_ =
          std::make_unique<Admission>(base_, *core_, *gateway_, &metrics_,
                                      AdmissionOptions{.tick_ms = cfg.admission_tick_ms,
                                                       .discover_ms = cfg.admission_discover_ms});
    }
    if (index == 0) {
      default_check_ = event_new(base_, -1, EV_PERSIST, &Worker::on_default_check, this);
      timeval every{0, 100 * 1000};
      event_add(default_check_, &every);
    }
  }

  ~Worker() {
    http_.reset();  // closes client connections; every request was answered
    // The gateway answers whatever is still waiting (the admission's steps
    // too) before the admission and the core go.
    gateway_.reset();
    admission_.reset();
    core_.reset();
    event_free(stop_event_);
    event_free(drain_timer_);
    if (default_check_ != nullptr) event_free(default_check_);
    event_base_free(base_);
  }

  void start() {
    thread_ = std::thread([this] {
      gateway_->start();
      if (admission_) admission_->start();
      event_base_dispatch(base_);
    });
  }

  // Thread-safe (libevent is set up for threads in run_server).
  void request_stop() { event_active(stop_event_, 0, 0); }
  void join() { thread_.join(); }

 private:
  // Stop accepting, then let requests waiting for Redis finish until the
  // shutdown deadline. Every reply now closes its connection; keep-alive
  // clients get up to kDrainGraceMs to send one more request and be told
  // so, then idle connections are closed with the loop.
  static constexpr int64_t kDrainGraceMs = 1000;

  static void on_stop(int, short, void* arg) {
    auto* self = static_cast<Worker*>(arg);
    self->http_->stop_accepting();
    self->http_->start_draining();
    self->http_->end_streams();
    if (self->admission_) self->admission_->stop();
    self->drain_started_ = now_ms();
    self->drain_deadline_ = self->drain_started_ + self->cfg_.shutdown_timeout_ms;
    timeval tick{0, 10 * 1000};
    event_add(self->drain_timer_, &tick);
    on_drain_tick(-1, 0, self);
  }

  static void on_drain_tick(int, short, void* arg) {
    auto* self = static_cast<Worker*>(arg);
    int64_t now = now_ms();
    bool connections_left =
        self->http_->connections() > 0 &&
        now < self->drain_started_ + std::min(kDrainGraceMs, self->cfg_.shutdown_timeout_ms);
    if ((self->http_->inflight() > 0 || connections_left) && now < self->drain_deadline_) return;
    if (self->http_->inflight() > 0)
      spdlog::warn("shutdown: {} requests still waiting for redis get 503",
                   self->http_->inflight());
    event_del(self->drain_timer_);
    self->gateway_->stop();        // answers whatever is still waiting
    timeval flush{0, 100 * 1000};  // let the last replies reach their sockets
    event_base_loopexit(self->base_, &flush);
  }

  // Loop 0, once Redis is ready: reads the default event, which stores this
  // instance's capacity and queue_limit if no instance did before
  // (scripts.h), and warns when the stored ones differ: then the flags do
  // not apply, and PUT /v1/events/default is how to change them.
  static void on_default_check(int, short, void* arg) {
    auto* self = static_cast<Worker*>(arg);
    if (!self->gateway_->ready()) return;
    event_del(self->default_check_);
    const EventSettings flags{self->cfg_.capacity, self->cfg_.queue_limit};
    self->core_->get_event(kDefaultEvent, [flags](EventInfo r) {
      if (!r.ok()) return spdlog::warn("default event: could not read its settings: {}", r.detail);
      if (r.settings.capacity == flags.capacity && r.settings.queue_limit == flags.queue_limit)
        return spdlog::info("default event: capacity {}, queue_limit {} (kept in redis)",
                            r.settings.capacity, r.settings.queue_limit);
      spdlog::warn(
          "default event: redis holds capacity {}, queue_limit {}, which every instance uses; "
          "this instance's capacity {}, queue_limit {} do not apply (change the event with "
          "PUT /v1/events/{})",
          r.settings.capacity, r.settings.queue_limit, flags.capacity, flags.queue_limit,
          kDefaultEvent);
    });
  }

  const Config& cfg_;
  event_base* base_;
  LoopMetrics metrics_;
  std::unique_ptr<RedisBackend> gateway_;
  std::unique_ptr<QueueCore> core_;
  std::unique_ptr<HttpFrontend> http_;
  std::unique_ptr<Admission> admission_;  // loop 0 only
  event* stop_event_ = nullptr;
  event* drain_timer_ = nullptr;
  event* default_check_ = nullptr;
  int64_t drain_started_ = 0;
  int64_t drain_deadline_ = 0;
  std::thread thread_;
};

// The token keys of this process, shared read-only by every loop. Without
// token_keys a key is made now: fine for one instance, but its tokens fail
// on any other instance and after a restart, hence the warning. The kid is
// public and logged; the key never is.
std::optional<Tokens> load_tokens(const Config& cfg) {
  TokenSettings settings{cfg.token_issuer, cfg.token_audience};
  Parsed<Tokens> tokens = cfg.token_keys.empty() ? Tokens::ephemeral(settings)
                                                 : Tokens::load_list(cfg.token_keys, settings);
  if (!tokens.ok()) {
    spdlog::critical("token_keys: {}", tokens.error);
    return std::nullopt;
  }
  std::vector<std::string> kids = tokens.value->kids();
  if (cfg.token_keys.empty())
    spdlog::warn(
        "tokens: no token_keys set; signing with a key made for this run (kid {}): its tokens "
        "verify on this instance only and not after a restart (set token_keys for more than one "
        "instance)",
        kids[0]);
  else
    spdlog::info("tokens: signing with kid {}; {} key(s) verify", kids[0], kids.size());
  return std::move(tokens.value);
}

void log_libevent(int severity, const char* msg) {
  switch (severity) {
    case EVENT_LOG_DEBUG:
      spdlog::debug("libevent: {}", msg);
      break;
    case EVENT_LOG_MSG:
      spdlog::info("libevent: {}", msg);
      break;
    case EVENT_LOG_WARN:
      spdlog::warn("libevent: {}", msg);
      break;
    default:
      spdlog::error("libevent: {}", msg);
      break;
  }
}

}  // namespace

int run_server(const Config& given) {
  Config cfg = given;  // with max_connections resolved below
  auto target = parse_redis_target(cfg.redis_url);
  if (!target.ok()) {
    spdlog::critical("bad redis_url: {}", target.error);
    return 2;
  }
  std::optional<Tokens> tokens = load_tokens(cfg);
  if (!tokens) return 2;
  evthread_use_pthreads();
  event_set_log_callback(log_libevent);

  // Signals are taken by the main thread alone (sigwait below); the workers
  // never see them. A peer closing its socket must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // A rush means many sockets: use all the descriptors we are allowed, and
  // keep some of them from clients (Config::connection_cap).
  rlimit files{};
  int64_t open_files = 1024;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      setrlimit(RLIMIT_NOFILE, &files);
      getrlimit(RLIMIT_NOFILE, &files);
    }
    // No limit at all (RLIM_INFINITY) is taken as Linux's usual ceiling.
    open_files = files.rlim_cur == RLIM_INFINITY
                     ? INT64_C(1) << 20
                     : static_cast<int64_t>(std::min<rlim_t>(files.rlim_cur, INT64_C(1) << 40));
  }
  cfg.max_connections = given.connection_cap(open_files);
  if (given.max_connections == 0)
    spdlog::info("connections: at most {} open (max_connections, from the open-file limit {})",
                 cfg.max_connections, open_files);
  else if (cfg.max_connections > open_files * 9 / 10)
    spdlog::warn(
        "max_connections {} leaves few of the {} file descriptors allowed for the rest: past "
        "them, new clients are answered 503",
        cfg.max_connections, open_files);

  int n = cfg.worker_count();
  Listeners listeners = open_listeners(cfg.bind, static_cast<int>(cfg.port), n);
  if (!listeners.error.empty()) {
    spdlog::critical("{}", listeners.error);
    return 1;
  }

  GatewayOptions gw_opts;
  gw_opts.timeout_ms = cfg.request_timeout_ms;
  gw_opts.max_inflight = static_cast<size_t>(cfg.max_inflight);
  gw_opts.allow_eviction = cfg.redis_allow_eviction != 0;
  gw_opts.wait_replicas = static_cast<int>(cfg.redis_wait_replicas);
  gw_opts.wait_timeout_ms = cfg.redis_wait_timeout_ms;
  const auto all_scripts = scripts().all();
  gw_opts.scripts.assign(all_scripts.begin(), all_scripts.end());
  QueueOptions q_opts;
  q_opts.key_prefix = cfg.key_prefix;
  q_opts.default_settings = {cfg.capacity, cfg.queue_limit};

  Metrics metrics;
  SharedCounts counts;
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t i = 0; i < listeners.fds.size(); ++i)
    workers.push_back(std::make_unique<Worker>(cfg, *tokens, *target.value, gw_opts, q_opts,
                                               metrics, counts, static_cast<int>(i),
                                               listeners.fds[i]));
  for (auto& w : workers) w->start();

  std::string host = cfg.bind.find(':') != std::string::npos && cfg.bind.front() != '['
                         ? "[" + cfg.bind + "]"
                         : cfg.bind;
  spdlog::info("ticketq-server {} listening on http://{}:{} ({} threads, redis {})",
               TICKETQ_VERSION, host, listeners.port, n, target.value->describe());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  for (auto& w : workers) w->request_stop();
  for (auto& w : workers) w->join();
  workers.clear();
  spdlog::info("stopped");
  return 0;
}

}  // namespace ticketq
