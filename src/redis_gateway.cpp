#include "ticketq/redis_gateway.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "ticketq/clock.h"

namespace ticketq {

namespace {

const char* fault_kind(Fault f) {
  switch (f) {
    case Fault::kTimeout:
      return "timeout";
    case Fault::kUnavailable:
      return "unavailable";
    case Fault::kOverloaded:
      return "overloaded";
    case Fault::kError:
      return "error";
    case Fault::kNone:
      break;
  }
  return "none";
}

RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = RedisValue::Type::kString;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::kStatus;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::Type::kError;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return v;
}

bool is_redirect(std::string_view error) {
  return error.starts_with("MOVED ") || error.starts_with("ASK ") ||
         error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN");
}

ScriptReply fault(Fault f, std::string detail) {
  ScriptReply r;
  r.fault = f;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

bool is_trouble_error(std::string_view error) {
  return error.starts_with("READONLY") || error.starts_with("NOREPLICAS") ||
         error.starts_with("LOADING") || error.starts_with("MASTERDOWN");
}

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

RedisGateway::RedisGateway(event_base* base, GatewayOptions options)
    : base_(base), options_(std::move(options)), resolver_(base) {
  deadline_timer_ = evtimer_new(base_, &RedisGateway::on_timer, this);
  reconnect_timer_ = evtimer_new(base_, &RedisGateway::on_reconnect_timer, this);
  script_retry_timer_ = evtimer_new(base_, &RedisGateway::on_script_retry, this);
  role_timer_ = evtimer_new(base_, &RedisGateway::on_role_timer, this);
}

RedisGateway::~RedisGateway() {
  stop();
  event_free(deadline_timer_);
  event_free(reconnect_timer_);
  event_free(script_retry_timer_);
  event_free(role_timer_);
}

void RedisGateway::start() {
  connect();
}

// Drops the connection for good. hiredis answers every call in flight with
// a NULL reply (we turn those into kUnavailable) before it returns.
void RedisGateway::stop() {
  stopping_ = true;
  evtimer_del(reconnect_timer_);
  HostResolver::cancel(lookup_);
  lookup_ = nullptr;
  evtimer_del(script_retry_timer_);
  evtimer_del(role_timer_);
  if (ctx_ != nullptr) {
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;
    connected_ = false;
    redisAsyncFree(c);
  }
  if (!pending_.empty()) {
    // Cannot happen (hiredis answers all it holds), but a call left here
    // would never be answered: answer it rather than leave a request hanging.
    spdlog::error(
        "redis: internal error: {} calls left after the connection was freed; "
        "answering them as unavailable",
        pending_.size() - expired_);
    std::deque<Pending> left;
    left.swap(pending_);
    size_t answered = expired_;  // the leading entries were answered by the timer
    expired_ = 0;
    set_inflight_gauge();
    for (size_t i = answered; i < left.size(); ++i)
      fail(left[i].cb, Fault::kUnavailable, "redis connection closed");
  }
}

// Closes ctx_ at once, from anywhere including a hiredis callback: there
// redisAsyncFree only marks the context, and hiredis frees it as soon as the
// callback returns, answering every call still in flight with a NULL reply
// (kUnavailable) and calling on_disconnect, which schedules the reconnect.
// redisAsyncDisconnect would instead wait for every outstanding reply, which
// a stalled Redis may never send, and keep matching them meanwhile.
void RedisGateway::drop_connection() {
  redisAsyncContext* c = ctx_;
  if (c == nullptr) return;
  ctx_ = nullptr;
  connected_ = false;
  loaded_mask_ = 0;
  is_master_ = false;
  // on_disconnect runs only for a context that got connected.
  if (!(c->c.flags & REDIS_CONNECTED) && !switching_) schedule_reconnect();
  redisAsyncFree(c);
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
  if (stopping_ || ctx_ != nullptr || lookup_ != nullptr) return;
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
  const RedisEndpoint& ep = options_.endpoint;
  redisAsyncContext* c = ep.is_unix ? redisAsyncConnectUnix(ep.path.c_str())
                                    : redisAsyncConnect(address.c_str(), ep.port);
  if (c == nullptr || c->err) {
    if (attempts_ == 0 || attempts_ % 20 == 0)
      spdlog::warn("redis: cannot connect to {}: {}", ep.describe(),
                   c ? c->errstr : "out of memory");
    if (c) redisAsyncFree(c);
    schedule_reconnect();
    return trouble("cannot connect");
  }
  c->data = this;
  redisLibeventAttach(c, base_);
  redisAsyncSetConnectCallback(c, &RedisGateway::on_connect);
  redisAsyncSetDisconnectCallback(c, &RedisGateway::on_disconnect);
  ctx_ = c;
  loaded_mask_ = 0;
  is_master_ = false;
  noscript_seen_ = false;

  // Queued in hiredis until the socket connects, and ahead of any request.
  int64_t deadline = now_ms() + options_.timeout_ms;
  auto log_failure = [data_node = options_.data_node](const char* what) {
    return [what, data_node](ScriptReply&& r) {
      if (r.fault != Fault::kError) return;
      // A Sentinel without a password of its own refuses the data nodes'.
      if (!data_node && r.detail.find("password") != std::string::npos)
        return spdlog::debug("redis: {} refused: {}", what, r.detail);
      spdlog::error("redis: {} failed: {}", what, r.detail);
    };
  };
  if (!ep.password.empty())
    send({"AUTH", ep.password}, {log_failure("AUTH"), deadline, nullptr, 0, {}, 0, true});
  if (ep.db != 0) {
    std::string db = std::to_string(ep.db);
    send({"SELECT", db}, {log_failure("SELECT"), deadline, nullptr, 0, {}, 0, true});
  }
  if (!channels_.empty()) return send_subscribe();
  if (!options_.data_node) return;
  if (options_.check_role) check_role();
  check_eviction_policy();
  load_scripts();
}

bool RedisGateway::ready() const {
  if (!connected_ || expired_ != 0) return false;
  if (!options_.data_node) return true;
  return loaded_mask_ == (1u << scripts().all().size()) - 1 && !eviction_refused_ &&
         (!options_.check_role || is_master_);
}

RedisNodeStatus RedisGateway::status() const {
  RedisNodeStatus s;
  s.address = options_.endpoint.describe();
  s.role = !options_.data_node ? "sentinel" : is_master_ ? "master" : "unknown";
  s.connected = connected_;
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
  redisAsyncContext* gen = ctx_;
  auto done = [this, gen](ScriptReply&& r) {
    if (ctx_ != gen || stopping_ || r.fault == Fault::kUnavailable) return;
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
  send({"ROLE"}, {std::move(done), now_ms() + options_.timeout_ms, nullptr, 0, {}, 0, true});
  timeval tv = timeval_of_ms(options_.role_check_ms);
  evtimer_add(role_timer_, &tv);
}

void RedisGateway::on_role_timer(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  if (self->ctx_ != nullptr) self->check_role();
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
  redisAsyncContext* gen = ctx_;
  auto done = [this, gen](ScriptReply&& r) {
    if (ctx_ != gen || stopping_) return;        // an older connection's answer
    if (r.fault == Fault::kUnavailable) return;  // lost; the next connection checks again
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
  send({"INFO", "memory"},
       {std::move(done), now_ms() + options_.timeout_ms, nullptr, 0, {}, 0, true});
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
    redisAsyncContext* gen = ctx_;
    auto done = [this, s, i, gen](ScriptReply&& r) {
      if (ctx_ != gen || stopping_) return;  // an older connection's answer
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
    send({"SCRIPT", "LOAD", s->body}, {std::move(done), deadline, nullptr, 0, {}, 0, true});
  }
}

void RedisGateway::on_script_retry(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  self->script_retry_armed_ = false;
  if (self->ctx_ != nullptr) self->load_scripts();
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

void RedisGateway::on_connect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisGateway*>(c->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns and fails its queued calls.
    if (self->attempts_ == 0 || self->attempts_ % 20 == 0)
      spdlog::warn("redis: connect to {} failed: {}", self->options_.endpoint.describe(),
                   c->errstr);
    self->ctx_ = nullptr;
    self->schedule_reconnect();
    return self->trouble("cannot connect");
  }
  if (c->c.flags & REDIS_CONNECTED && !self->options_.endpoint.is_unix)
    redisEnableKeepAlive(const_cast<redisContext*>(&c->c));
  self->connected_ = true;
  if (self->options_.metrics != nullptr) {
    if (self->options_.loop_gauges) self->options_.metrics->set_connected(true);
    self->options_.metrics->node_connected(self->options_.endpoint.describe(), true);
    if (self->ever_connected_) self->options_.metrics->reconnect();
  }
  self->ever_connected_ = true;
  // A data node's backoff starts again once it is ready: one that takes
  // connections and then turns out unusable (a replica) is retried slowly.
  if (!self->options_.data_node) self->attempts_ = 0;
  spdlog::log(self->options_.data_node ? spdlog::level::info : spdlog::level::debug,
              "redis: connected to {}", self->options_.endpoint.describe());
}

void RedisGateway::on_disconnect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisGateway*>(c->data);
  // Calls in flight were already answered (NULL replies); the context is
  // freed by hiredis after this returns. One dropped while hiredis was
  // inside it goes only now, when a newer one may be in its place.
  if (self->ctx_ != nullptr && self->ctx_ != c) return;
  self->ctx_ = nullptr;
  self->connected_ = false;
  self->loaded_mask_ = 0;
  self->is_master_ = false;
  if (self->options_.metrics != nullptr) {
    if (self->options_.loop_gauges) self->options_.metrics->set_connected(false);
    self->options_.metrics->node_connected(self->options_.endpoint.describe(), false);
  }
  if (self->stopping_ || self->switching_) return;
  spdlog::warn("redis: connection to {} lost: {}", self->options_.endpoint.describe(),
               status == REDIS_OK ? "closed" : c->errstr);
  self->schedule_reconnect();
  self->trouble("connection lost");
}

// ------------------------------------------------------------------- calls --

void RedisGateway::run(const Script& script, int numkeys, std::vector<std::string> argv,
                       ReplyCallback cb) {
  send_script(script, /*by_sha=*/true, numkeys, std::move(argv), std::move(cb),
              now_ms() + options_.timeout_ms, /*asking=*/false);
}

void RedisGateway::call(const Script& script, int numkeys, std::vector<std::string> argv,
                        ReplyCallback cb, int64_t deadline_ms, bool asking) {
  send_script(script, /*by_sha=*/true, numkeys, std::move(argv), std::move(cb), deadline_ms,
              asking);
}

void RedisGateway::ping(ReplyCallback cb) {
  send({"PING"}, {std::move(cb), now_ms() + options_.timeout_ms, nullptr, 0, {}});
}

void RedisGateway::command(std::vector<std::string> words, ReplyCallback cb) {
  std::vector<std::string_view> views(words.begin(), words.end());
  send(std::move(views), {std::move(cb), now_ms() + options_.timeout_ms, nullptr, 0, {}});
}

void RedisGateway::subscribe(std::vector<std::string> channels, MessageCallback on_message) {
  channels_ = std::move(channels);
  on_message_ = std::move(on_message);
  if (ctx_ != nullptr) send_subscribe();
}

// Replies to SUBSCRIBE go to on_message, not to the FIFO of calls.
void RedisGateway::send_subscribe() {
  std::vector<const char*> argv{"SUBSCRIBE"};
  std::vector<size_t> lens{9};
  for (const std::string& c : channels_) {
    argv.push_back(c.data());
    lens.push_back(c.size());
  }
  redisAsyncCommandArgv(ctx_, &RedisGateway::on_message, this, static_cast<int>(argv.size()),
                        argv.data(), lens.data());
}

void RedisGateway::on_message(redisAsyncContext* c, void* r, void* privdata) {
  auto* self = static_cast<RedisGateway*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || c != self->ctx_ || self->stopping_) return;
  RedisValue v = convert(reply);
  // ["message", channel, payload]; the "subscribe" confirmations are skipped.
  if (v.type == RedisValue::Type::kArray && v.elements.size() == 3 &&
      v.elements[0].str == "message")
    self->on_message_(v.elements[1].str, v.elements[2].str);
}

void RedisGateway::send_script(const Script& script, bool by_sha, int numkeys,
                               std::vector<std::string> argv, ReplyCallback cb, int64_t deadline_ms,
                               bool asking) {
  if (asking) send({"ASKING"}, {[](ScriptReply&&) {}, deadline_ms, nullptr, 0, {}, 0, true});
  std::string nk = std::to_string(numkeys);
  std::vector<std::string_view> words;
  words.reserve(argv.size() + 3);
  words.push_back(by_sha ? "EVALSHA" : "EVAL");
  words.push_back(by_sha ? std::string_view(script.sha1) : std::string_view(script.body));
  words.push_back(nk);
  for (const auto& a : argv) words.push_back(a);
  // Only a call by sha can meet NOSCRIPT, so only it keeps its arguments.
  send(std::move(words),
       {std::move(cb), deadline_ms, &script, numkeys,
        by_sha ? std::move(argv) : std::vector<std::string>{}, 0, false, by_sha, asking});
}

// Holds a write's reply until WAIT says enough replicas have it. WAIT
// covers every write its connection made before it, and Redis serves
// nothing else on a connection while its WAIT waits: so one WAIT at a time,
// and the writes whose replies come meanwhile wait for the next one.
void RedisGateway::hold_for_replicas(ScriptReply&& reply, ReplyCallback cb, int64_t deadline_ms) {
  held_.push_back({std::move(reply), std::move(cb), deadline_ms, ctx_});
  if (!waiting_) send_wait();
}

void RedisGateway::send_wait() {
  auto batch = std::make_shared<std::vector<HeldWrite>>();
  std::vector<HeldWrite> held;
  held.swap(held_);  // the callbacks below may hold more writes
  int64_t deadline = INT64_MAX;
  for (HeldWrite& w : held) {
    if (w.conn != ctx_ || ctx_ == nullptr) {  // a WAIT here would not cover it
      fail(w.cb, Fault::kUnavailable, "redis connection lost before a replica had the write");
      continue;
    }
    deadline = std::min(deadline, w.deadline_ms);
    batch->push_back(std::move(w));
  }
  if (batch->empty()) return;
  // The reply must come before the deadline timer answers the call.
  int64_t left = deadline - now_ms();
  int64_t wait_ms = std::min(options_.wait_timeout_ms, left - std::max<int64_t>(5, left / 10));
  auto done = [this, batch, wait_ms](ScriptReply&& r) {
    waiting_ = false;
    const bool copied = r.fault == Fault::kNone && r.value.type == RedisValue::Type::kInteger &&
                        r.value.integer >= options_.wait_replicas;
    for (HeldWrite& w : *batch) {
      if (copied) {
        w.cb(std::move(w.reply));
      } else if (r.fault != Fault::kNone) {
        w.cb(fault(r.fault, r.detail));
      } else {
        fail(w.cb, Fault::kUnavailable,
             wait_ms < options_.wait_timeout_ms
                 ? "no replica copied the write before the deadline"
                 : "no replica copied the write within redis_wait_timeout_ms");
      }
    }
    if (!held_.empty()) send_wait();
  };
  if (wait_ms <= 0) return done(fault(Fault::kTimeout, "no time left to wait for a replica"));
  waiting_ = true;
  send({"WAIT", std::to_string(options_.wait_replicas), std::to_string(wait_ms)},
       {std::move(done), deadline, nullptr, 0, {}, 0, true});
}

// Hands one command to hiredis, or answers at once when that cannot be done.
// The callback may run before send() returns; nothing here touches state
// after it.
void RedisGateway::send(std::vector<std::string_view> words, Pending p) {
  if (ctx_ == nullptr) return fail(p.cb, Fault::kUnavailable, "redis is not connected");
  if (!p.internal && pending_.size() >= options_.max_inflight)
    return fail(p.cb, Fault::kOverloaded, "too many redis calls in flight");
  p.sent_us = now_us();
  std::vector<const char*> argv(words.size());
  std::vector<size_t> lens(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    argv[i] = words[i].data();
    lens[i] = words[i].size();
  }
  pending_.push_back(std::move(p));
  if (redisAsyncCommandArgv(ctx_, &RedisGateway::on_reply, this, static_cast<int>(argv.size()),
                            argv.data(), lens.data()) != REDIS_OK) {
    // The context is disconnecting: hiredis did not take the command.
    ReplyCallback cb = std::move(pending_.back().cb);
    pending_.pop_back();
    return fail(cb, Fault::kUnavailable, "redis connection is closing");
  }
  set_inflight_gauge();
  arm_timer();
}

void RedisGateway::set_inflight_gauge() {
  if (options_.metrics != nullptr && options_.loop_gauges)
    options_.metrics->set_inflight(pending_.size());
}

void RedisGateway::on_reply(redisAsyncContext* c, void* r, void* privdata) {
  auto* self = static_cast<RedisGateway*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (self->pending_.empty()) {
    // hiredis holds a call we do not: from here on any reply could answer
    // the wrong request. (NULL replies of a context being dropped are fine.)
    if (reply != nullptr || c == self->ctx_)
      spdlog::error(
          "redis: internal error: a reply from {} with no call waiting for it; "
          "dropping the connection",
          self->options_.endpoint.describe());
    if (c == self->ctx_) self->drop_connection();
    return;
  }
  Pending p = std::move(self->pending_.front());
  self->pending_.pop_front();
  LoopMetrics* metrics = self->options_.metrics;
  self->set_inflight_gauge();
  if (self->expired_ > 0) {  // already answered with a timeout
    --self->expired_;
    return;
  }
  if (reply == nullptr) return self->fail(p.cb, Fault::kUnavailable, "redis connection lost");
  if (metrics != nullptr) metrics->redis_call(static_cast<double>(now_us() - p.sent_us) / 1e6);
  if (reply->type == REDIS_REPLY_ERROR && p.by_sha &&
      std::string_view(reply->str, reply->len).starts_with("NOSCRIPT")) {
    // A failover (replicas have no script cache) or SCRIPT FLUSH. Said once
    // per connection: every call in flight meets it.
    if (!self->noscript_seen_)
      spdlog::warn("redis: scripts missing from the script cache of {} ({} first); resending them",
                   self->options_.endpoint.describe(), p.script->name);
    self->noscript_seen_ = true;
    self->send_script(*p.script, /*by_sha=*/false, p.numkeys, std::move(p.argv), std::move(p.cb),
                      p.deadline_ms, p.asking);
    return;
  }
  ScriptReply out;
  out.value = convert(reply);
  if (out.value.type == RedisValue::Type::kError) {
    out.fault = Fault::kError;
    out.detail = out.value.str;
    // Cluster redirections are the Cluster backend's to follow and count;
    // the owner told of trouble logs it once.
    bool trouble = is_trouble_error(out.detail);
    if (!is_redirect(out.detail)) {
      if (metrics != nullptr) metrics->redis_error(fault_kind(Fault::kError));
      if (p.script != nullptr && !(trouble && self->options_.on_trouble))
        spdlog::error("redis: script {} failed on {}: {}", p.script->name,
                      self->options_.endpoint.describe(), out.detail);
    }
    if (trouble) {
      std::string why = self->options_.endpoint.describe() + " answered " + out.detail;
      p.cb(std::move(out));
      return self->trouble(why);
    }
  } else if (p.script != nullptr && p.script->writes && self->options_.wait_replicas > 0) {
    return self->hold_for_replicas(std::move(out), std::move(p.cb), p.deadline_ms);
  }
  p.cb(std::move(out));
}

void RedisGateway::fail(ReplyCallback& cb, Fault f, const char* detail) {
  if (options_.metrics != nullptr) options_.metrics->redis_error(fault_kind(f));
  cb(fault(f, detail));
}

// ---------------------------------------------------------------- deadlines --

void RedisGateway::arm_timer() {
  if (timer_armed_ || expired_ >= pending_.size()) return;
  int64_t wait = std::max<int64_t>(0, pending_[expired_].deadline_ms - now_ms());
  timeval tv = timeval_of_ms(wait);
  evtimer_add(deadline_timer_, &tv);
  timer_armed_ = true;
}

// Answers every call whose deadline passed. The call stays in the FIFO so its
// late reply, if any, is matched and dropped.
void RedisGateway::on_timer(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  self->timer_armed_ = false;
  int64_t now = now_ms();
  while (self->expired_ < self->pending_.size() &&
         self->pending_[self->expired_].deadline_ms <= now) {
    Pending& p = self->pending_[self->expired_++];
    ReplyCallback cb = std::move(p.cb);
    p.argv.clear();
    self->fail(cb, Fault::kTimeout, "redis did not answer within the deadline");
  }
  self->arm_timer();
}

}  // namespace ticketq
