#include "redis/redis_gateway.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/clock.h"

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

LinkOptions link_options(const GatewayOptions& o) {
  LinkOptions l;
  l.endpoint = o.endpoint;
  l.backoff_min_ms = o.backoff_min_ms;
  l.backoff_max_ms = o.backoff_max_ms;
  l.connection.timeout_ms = o.timeout_ms;
  l.connection.max_inflight = o.max_inflight;
  l.connection.wait_replicas = o.wait_replicas;
  l.connection.wait_timeout_ms = o.wait_timeout_ms;
  l.connection.metrics = o.metrics;
  l.connection.inflight_gauge = o.loop_gauges;
  return l;
}

}  // namespace

RedisGateway::RedisGateway(event_base* base, HostResolver& resolver, GatewayOptions options)
    : options_(std::move(options)),
      link_(base, resolver, link_options(options_),
            {.opened = [this] { on_opened(); },
             .connected = [this] { on_connected(); },
             .ended = [this](bool was_connected) { on_ended(was_connected); },
             .trouble = options_.on_trouble}) {
  script_retry_timer_ = evtimer_new(base, &RedisGateway::on_script_retry, this);
  role_timer_ = evtimer_new(base, &RedisGateway::on_role_timer, this);
}

RedisGateway::~RedisGateway() {
  stop();
  event_free(script_retry_timer_);
  event_free(role_timer_);
}

void RedisGateway::start() {
  link_.start();
}

// Drops the connection for good. hiredis answers every call in flight with
// a NULL reply (kUnavailable) before stop() returns.
void RedisGateway::stop() {
  evtimer_del(script_retry_timer_);
  evtimer_del(role_timer_);
  link_.stop();
}

void RedisGateway::set_endpoint(const RedisEndpoint& endpoint, int64_t promotion_ms) {
  promotion_until_ms_ = promotion_ms > 0 ? now_ms() + promotion_ms : 0;
  const RedisEndpoint& now = link_.endpoint();
  if (endpoint.host == now.host && endpoint.port == now.port && endpoint.is_unix == now.is_unix &&
      endpoint.path == now.path)
    return;
  if (!now.host.empty()) {
    spdlog::info("redis: moving from {} to {}", now.describe(), endpoint.describe());
    if (options_.metrics != nullptr) {
      options_.metrics->node_master(now.describe(), false);
      options_.metrics->node_connected(now.describe(), false);
    }
  }
  link_.set_endpoint(endpoint);
}

// A new connection: ROLE (when asked for), the eviction policy and the
// scripts are queued behind AUTH and SELECT, ahead of any request.
void RedisGateway::on_opened() {
  loaded_mask_ = 0;
  is_master_ = false;
  if (options_.check_role) check_role();
  check_eviction_policy();
  load_scripts();
}

void RedisGateway::on_connected() {
  if (options_.metrics != nullptr) {
    if (options_.loop_gauges) options_.metrics->set_connected(true);
    options_.metrics->node_connected(link_.endpoint().describe(), true);
    if (ever_connected_) options_.metrics->reconnect();
  }
  ever_connected_ = true;
  spdlog::info("redis: connected to {}", link_.endpoint().describe());
}

void RedisGateway::on_ended(bool was_connected) {
  loaded_mask_ = 0;
  is_master_ = false;
  if (!was_connected || options_.metrics == nullptr) return;
  if (options_.loop_gauges) options_.metrics->set_connected(false);
  options_.metrics->node_connected(link_.endpoint().describe(), false);
}

bool RedisGateway::ready() const {
  const RedisConnection& conn = link_.connection();
  if (!conn.connected() || conn.overdue()) return false;
  return loaded_mask_ == (1u << options_.scripts.size()) - 1 && !eviction_refused_ &&
         (!options_.check_role || is_master_);
}

RedisNodeStatus RedisGateway::status() const {
  RedisNodeStatus s;
  s.address = link_.endpoint().describe();
  s.role = is_master_ ? "master" : "unknown";
  s.connected = link_.connection().connected();
  s.ready = ready();
  return s;
}

void RedisGateway::became_ready() {
  // The backoff starts again only now: a server that takes connections and
  // then turns out unusable (a replica) is retried slowly.
  link_.reset_backoff();
  spdlog::info("redis: ready on {}", link_.endpoint().describe());
}

void RedisGateway::trouble(const std::string& why) {
  if (options_.on_trouble) options_.on_trouble(why);
}

// ROLE must say master, on connecting and every role_check_ms after: a
// Sentinel may name an old master before it has been told of a failover,
// and a master may be turned into a replica under our feet.
void RedisGateway::check_role() {
  const uint64_t gen = link_.connection().generation();
  auto done = [this, gen](ScriptReply&& r) {
    if (!link_.connection().is_current(gen) || r.fault == Fault::kUnavailable) return;
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
        options_.metrics->node_master(link_.endpoint().describe(), true);
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
    spdlog::warn("redis: {} is not a master (ROLE: {}); dropping it", link_.endpoint().describe(),
                 role);
    if (options_.metrics != nullptr)
      options_.metrics->node_master(link_.endpoint().describe(), false);
    loaded_mask_ = 0;
    is_master_ = false;
    link_.drop();
    trouble("not a master");
  };
  link_.connection().command({"ROLE"}, std::move(done), now_ms() + options_.timeout_ms,
                             /*internal=*/true);
  timeval tv = timeval_of_ms(options_.role_check_ms);
  evtimer_add(role_timer_, &tv);
}

void RedisGateway::on_role_timer(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  if (self->link_.connection().is_open()) self->check_role();
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
  const uint64_t gen = link_.connection().generation();
  auto done = [this, gen](ScriptReply&& r) {
    if (!link_.connection().is_current(gen)) return;  // an older connection's answer
    if (r.fault == Fault::kUnavailable) return;       // lost; the next connection checks again
    const std::string where = link_.endpoint().describe();
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
  link_.connection().command({"INFO", "memory"}, std::move(done), now_ms() + options_.timeout_ms,
                             /*internal=*/true);
}

// Sends SCRIPT LOAD for every script not loaded yet on this connection. A
// failure (Redis still loading its data set, a timeout) is retried shortly,
// for as long as the connection lasts.
void RedisGateway::load_scripts() {
  const auto& all = options_.scripts;
  int64_t deadline = now_ms() + options_.timeout_ms;
  for (size_t i = 0; i < all.size(); ++i) {
    if (loaded_mask_ & (1u << i)) continue;
    const Script* s = all[i];
    const uint64_t gen = link_.connection().generation();
    auto done = [this, s, i, gen](ScriptReply&& r) {
      if (!link_.connection().is_current(gen)) return;  // an older connection's answer
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
    link_.connection().command({"SCRIPT", "LOAD", s->body}, std::move(done), deadline,
                               /*internal=*/true);
  }
}

void RedisGateway::on_script_retry(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  self->script_retry_armed_ = false;
  if (self->link_.connection().is_open()) self->load_scripts();
}

// ------------------------------------------------------------------- calls --

void RedisGateway::run(const Script& script, int numkeys, std::vector<std::string> argv,
                       ReplyCallback cb) {
  link_.connection().script(script, numkeys, std::move(argv), std::move(cb),
                            now_ms() + options_.timeout_ms);
}

void RedisGateway::call(const Script& script, int numkeys, std::vector<std::string> argv,
                        ReplyCallback cb, int64_t deadline_ms, bool asking) {
  link_.connection().script(script, numkeys, std::move(argv), std::move(cb), deadline_ms, asking);
}

void RedisGateway::ping(ReplyCallback cb) {
  link_.connection().command({"PING"}, std::move(cb));
}

void RedisGateway::command(std::vector<std::string> words, ReplyCallback cb) {
  std::vector<std::string_view> views(words.begin(), words.end());
  link_.connection().command(std::move(views), std::move(cb));
}

}  // namespace ticketq
