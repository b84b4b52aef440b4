#include "ticketq/redis_gateway.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "ticketq/clock.h"

namespace ticketq {

std::optional<std::string> parse_maxmemory_policy(std::string_view info) {
  constexpr std::string_view kField = "maxmemory_policy:";
  for (size_t at = 0; at < info.size();) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with(kField)) return std::string(line.substr(kField.size()));
    at = end + 1;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- lifecycle --

namespace {

ConnectionOptions connection_options(const GatewayOptions& o) {
  ConnectionOptions c;
  c.timeout_ms = o.timeout_ms;
  c.max_inflight = o.max_inflight;
  c.wait_replicas = o.wait_replicas;
  c.wait_timeout_ms = o.wait_timeout_ms;
  c.metrics = o.metrics;
  c.inflight_gauge = o.loop_gauges;
  c.password_optional = !o.data_node;
  return c;
}

}  // namespace

RedisGateway::RedisGateway(event_base* base, GatewayOptions options)
    : base_(base),
      options_(std::move(options)),
      resolver_(base),
      conn_(base, connection_options(options_),
            {.connected = [this] { on_connected(); },
             .ended = [this](RedisConnection::End end,
                             const std::string& error) { on_ended(end, error); },
             .trouble = options_.on_trouble ? std::function<void(const std::string&)>(
                                                  [this](const std::string& why) { trouble(why); })
                                            : nullptr}) {
  reconnect_timer_ = evtimer_new(base_, &RedisGateway::on_reconnect_timer, this);
  script_retry_timer_ = evtimer_new(base_, &RedisGateway::on_script_retry, this);
  role_timer_ = evtimer_new(base_, &RedisGateway::on_role_timer, this);
}

RedisGateway::~RedisGateway() {
  stop();
  event_free(reconnect_timer_);
  event_free(script_retry_timer_);
  event_free(role_timer_);
}

void RedisGateway::start() {
  connect();
}

// Drops the connection for good. hiredis answers every call in flight with
// a NULL reply (kUnavailable) before close() returns.
void RedisGateway::stop() {
  stopping_ = true;
  evtimer_del(reconnect_timer_);
  HostResolver::cancel(lookup_);
  lookup_ = nullptr;
  evtimer_del(script_retry_timer_);
  evtimer_del(role_timer_);
  conn_.close();
}

// Closes the connection at once, from anywhere including a reply's callback
// (see RedisConnection::close); on_ended schedules the reconnect.
void RedisGateway::drop_connection() {
  loaded_mask_ = 0;
  is_master_ = false;
  conn_.close();
}

void RedisGateway::set_endpoint(const RedisEndpoint& endpoint, int64_t promotion_ms) {
  promotion_until_ms_ = promotion_ms > 0 ? now_ms() + promotion_ms : 0;
  if (endpoint.host == options_.endpoint.host && endpoint.port == options_.endpoint.port &&
      endpoint.is_unix == options_.endpoint.is_unix && endpoint.path == options_.endpoint.path)
    return;
  if (!options_.endpoint.host.empty())
    spdlog::info("redis: moving from {} to {}", options_.endpoint.describe(), endpoint.describe());
  HostResolver::cancel(lookup_);
  lookup_ = nullptr;
  if (options_.metrics != nullptr && !options_.endpoint.host.empty()) {
    options_.metrics->node_master(options_.endpoint.describe(), false);
    options_.metrics->node_connected(options_.endpoint.describe(), false);
  }
  switching_ = true;  // no reconnect to the old server, no trouble reported
  drop_connection();
  switching_ = false;
  options_.endpoint = endpoint;
  if (stopping_) return;
  evtimer_del(reconnect_timer_);
  attempts_ = 0;
  connect();
}

void RedisGateway::connect() {
  if (stopping_ || conn_.is_open() || lookup_ != nullptr) return;
  const RedisEndpoint& ep = options_.endpoint;
  if (ep.is_unix || is_numeric_host(ep.host)) return open_connection(ep.host);
  // Answered at once for a name in /etc/hosts, else on a later turn.
  lookup_ = resolver_.lookup(ep.host, [this](const std::string& ip, const std::string& error) {
    lookup_ = nullptr;
    on_resolved(ip, error);
  });
}

void RedisGateway::on_resolved(const std::string& ip, const std::string& error) {
  if (stopping_) return;
  if (ip.empty()) {
    if (attempts_ == 0 || attempts_ % 20 == 0)
      spdlog::warn("redis: cannot resolve {}: {}", options_.endpoint.host, error);
    schedule_reconnect();
    return trouble("cannot resolve " + options_.endpoint.host);
  }
  open_connection(ip);
}

void RedisGateway::open_connection(const std::string& address) {
  std::string error;
  if (!conn_.open(options_.endpoint, address, &error)) {
    if (attempts_ == 0 || attempts_ % 20 == 0)
      spdlog::warn("redis: cannot connect to {}: {}", options_.endpoint.describe(), error);
    schedule_reconnect();
    return trouble("cannot connect");
  }
  loaded_mask_ = 0;
  is_master_ = false;
  // Queued behind AUTH and SELECT until the socket connects, and ahead of
  // any request.
  if (!options_.data_node) return;
  if (options_.check_role) check_role();
  check_eviction_policy();
  load_scripts();
}

void RedisGateway::on_connected() {
  if (options_.metrics != nullptr) {
    if (options_.loop_gauges) options_.metrics->set_connected(true);
    options_.metrics->node_connected(options_.endpoint.describe(), true);
    if (ever_connected_) options_.metrics->reconnect();
  }
  ever_connected_ = true;
  // A data node's backoff starts again once it is ready: one that takes
  // connections and then turns out unusable (a replica) is retried slowly.
  if (!options_.data_node) attempts_ = 0;
  spdlog::log(options_.data_node ? spdlog::level::info : spdlog::level::debug,
              "redis: connected to {}", options_.endpoint.describe());
}

void RedisGateway::on_ended(RedisConnection::End end, const std::string& error) {
  loaded_mask_ = 0;
  is_master_ = false;
  switch (end) {
    case RedisConnection::End::kDropped:  // by us, before it connected
      if (!switching_) schedule_reconnect();
      return;
    case RedisConnection::End::kConnectFailed:
      if (attempts_ == 0 || attempts_ % 20 == 0)
        spdlog::warn("redis: connect to {} failed: {}", options_.endpoint.describe(), error);
      schedule_reconnect();
      return trouble("cannot connect");
    case RedisConnection::End::kLost:
      break;
  }
  if (options_.metrics != nullptr) {
    if (options_.loop_gauges) options_.metrics->set_connected(false);
    options_.metrics->node_connected(options_.endpoint.describe(), false);
  }
  if (stopping_ || switching_) return;
  spdlog::warn("redis: connection to {} lost: {}", options_.endpoint.describe(), error);
  schedule_reconnect();
  trouble("connection lost");
}

bool RedisGateway::ready() const {
  if (!conn_.connected() || conn_.overdue()) return false;
  if (!options_.data_node) return true;
  return loaded_mask_ == (1u << scripts().all().size()) - 1 && !eviction_refused_ &&
         (!options_.check_role || is_master_);
}

RedisNodeStatus RedisGateway::status() const {
  RedisNodeStatus s;
  s.address = options_.endpoint.describe();
  s.role = !options_.data_node ? "sentinel" : is_master_ ? "master" : "unknown";
  s.connected = conn_.connected();
  s.ready = ready();
  return s;
}

void RedisGateway::became_ready() {
  attempts_ = 0;
  spdlog::info("redis: ready on {}", options_.endpoint.describe());
}

void RedisGateway::trouble(const std::string& why) {
  if (options_.on_trouble && !stopping_) options_.on_trouble(why);
}

// ROLE must say master, on connecting and every role_check_ms after: a
// Sentinel may name an old master before it has been told of a failover,
// and a master may be turned into a replica under our feet.
void RedisGateway::check_role() {
  const uint64_t gen = conn_.generation();
  auto done = [this, gen](ScriptReply&& r) {
    if (!conn_.is_current(gen) || stopping_ || r.fault == Fault::kUnavailable) return;
    const RedisValue& v = r.value;
    std::string role =
        r.fault == Fault::kNone && v.type == RedisValue::Type::kArray && !v.elements.empty()
            ? v.elements[0].str
            : "(" + (r.detail.empty() ? std::string("no answer") : r.detail) + ")";
    if (role == "master") {
      bool was = is_master_;
      is_master_ = true;
      promotion_until_ms_ = 0;
      if (!was && options_.metrics != nullptr)
        options_.metrics->node_master(options_.endpoint.describe(), true);
      if (!was && ready()) became_ready();
      return;
    }
    if (r.fault == Fault::kTimeout) return;  // a stalled server is not ready anyway
    if (now_ms() < promotion_until_ms_) {
      // Being promoted: asked again shortly, the connection kept.
      timeval soon = timeval_of_ms(kPromotionCheckMs);
      evtimer_add(role_timer_, &soon);
      return;
    }
    spdlog::warn("redis: {} is not a master (ROLE: {}); dropping it", options_.endpoint.describe(),
                 role);
    if (options_.metrics != nullptr)
      options_.metrics->node_master(options_.endpoint.describe(), false);
    drop_connection();
    trouble("not a master");
  };
  conn_.command({"ROLE"}, std::move(done), now_ms() + options_.timeout_ms, /*internal=*/true);
  timeval tv = timeval_of_ms(options_.role_check_ms);
  evtimer_add(role_timer_, &tv);
}

void RedisGateway::on_role_timer(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  if (self->conn_.is_open()) self->check_role();
}

// Reads the server's maxmemory-policy with INFO (CONFIG may be renamed or
// disabled on managed Redis). Under any policy but noeviction a full Redis
// deletes keys to make room, and an evicted key of ours is a lost
// reservation or a line that forgets people: overbooking. Such a connection
// stays not ready unless allow_eviction accepts it; requests are served
// either way. The reply comes before the scripts' (one pipeline), so the
// policy is known by the time the connection could be ready. A server that
// does not answer INFO (some proxies) is let through with a warning.
void RedisGateway::check_eviction_policy() {
  eviction_refused_ = false;
  const uint64_t gen = conn_.generation();
  auto done = [this, gen](ScriptReply&& r) {
    if (!conn_.is_current(gen) || stopping_) return;  // an older connection's answer
    if (r.fault == Fault::kUnavailable) return;       // lost; the next connection checks again
    const std::string where = options_.endpoint.describe();
    std::optional<std::string> policy;
    if (r.fault == Fault::kNone && r.value.type == RedisValue::Type::kString)
      policy = parse_maxmemory_policy(r.value.str);
    if (!policy) {
      spdlog::warn(
          "redis: cannot read the maxmemory-policy of {} ({}); make sure it is noeviction, "
          "or Redis may evict ticketq's keys (lost reservations, overbooking)",
          where, r.fault == Fault::kNone ? "no maxmemory_policy in INFO memory" : r.detail);
      return;
    }
    if (*policy == "noeviction") return;
    if (options_.allow_eviction) {
      spdlog::warn(
          "redis: {} runs with maxmemory-policy {}: when full it may evict ticketq's keys "
          "(lost reservations, overbooking); accepted because redis_allow_eviction is 1",
          where, *policy);
      return;
    }
    eviction_refused_ = true;
    spdlog::error(
        "redis: {} runs with maxmemory-policy {}: when full it may evict ticketq's keys, and an "
        "evicted key is a lost reservation or a line that forgets people (overbooking). Set "
        "'maxmemory-policy noeviction' in Redis (a full Redis then refuses writes, answered "
        "503), or redis_allow_eviction = 1 to accept the risk. /ready answers 503 until then",
        where, *policy);
  };
  conn_.command({"INFO", "memory"}, std::move(done), now_ms() + options_.timeout_ms,
                /*internal=*/true);
}

// Sends SCRIPT LOAD for every script not loaded yet on this connection. A
// failure (Redis still loading its data set, a timeout) is retried shortly,
// for as long as the connection lasts.
void RedisGateway::load_scripts() {
  const auto all = scripts().all();
  int64_t deadline = now_ms() + options_.timeout_ms;
  for (size_t i = 0; i < all.size(); ++i) {
    if (loaded_mask_ & (1u << i)) continue;
    const Script* s = all[i];
    const uint64_t gen = conn_.generation();
    auto done = [this, s, i, gen](ScriptReply&& r) {
      if (!conn_.is_current(gen) || stopping_) return;  // an older connection's answer
      if (r.fault == Fault::kNone && r.value.str == s->sha1) {
        bool was = ready();
        loaded_mask_ |= 1u << i;
        if (!was && ready()) became_ready();
        return;
      }
      if (r.fault == Fault::kNone)
        spdlog::error("redis: SCRIPT LOAD {} returned sha {}, expected {}", s->name, r.value.str,
                      s->sha1);
      else if (!script_retry_armed_)
        spdlog::warn("redis: SCRIPT LOAD {} failed ({}); retrying", s->name, r.detail);
      if (!script_retry_armed_) {
        script_retry_armed_ = true;
        timeval tv{0, 200 * 1000};
        evtimer_add(script_retry_timer_, &tv);
      }
    };
    conn_.command({"SCRIPT", "LOAD", s->body}, std::move(done), deadline, /*internal=*/true);
  }
}

void RedisGateway::on_script_retry(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  self->script_retry_armed_ = false;
  if (self->conn_.is_open()) self->load_scripts();
}

void RedisGateway::schedule_reconnect() {
  if (stopping_) return;
  int64_t delay = options_.backoff_min_ms << std::min(attempts_, 16);
  delay = std::min(delay, options_.backoff_max_ms);
  thread_local std::minstd_rand rng{std::random_device{}()};
  delay = delay / 2 + std::uniform_int_distribution<int64_t>(0, delay / 2)(rng);  // jitter
  ++attempts_;
  timeval tv = timeval_of_ms(delay);
  evtimer_add(reconnect_timer_, &tv);
}

void RedisGateway::on_reconnect_timer(int, short, void* arg) {
  static_cast<RedisGateway*>(arg)->connect();
}

// ------------------------------------------------------------------- calls --

void RedisGateway::run(const Script& script, int numkeys, std::vector<std::string> argv,
                       ReplyCallback cb) {
  conn_.script(script, numkeys, std::move(argv), std::move(cb), now_ms() + options_.timeout_ms);
}

void RedisGateway::call(const Script& script, int numkeys, std::vector<std::string> argv,
                        ReplyCallback cb, int64_t deadline_ms, bool asking) {
  conn_.script(script, numkeys, std::move(argv), std::move(cb), deadline_ms, asking);
}

void RedisGateway::ping(ReplyCallback cb) {
  conn_.command({"PING"}, std::move(cb), now_ms() + options_.timeout_ms);
}

void RedisGateway::command(std::vector<std::string> words, ReplyCallback cb) {
  std::vector<std::string_view> views(words.begin(), words.end());
  conn_.command(std::move(views), std::move(cb), now_ms() + options_.timeout_ms);
}

void RedisGateway::subscribe(std::vector<std::string> channels,
                             RedisConnection::MessageCallback on_message) {
  conn_.subscribe(std::move(channels), std::move(on_message));
}

}  // namespace ticketq
