#include "ticketq/redis_gateway.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

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

ScriptReply fault(Fault f, std::string detail) {
  ScriptReply r;
  r.fault = f;
  r.detail = std::move(detail);
  return r;
}

bool parse_int(std::string_view s, int lo, int hi, int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty() && *out >= lo && *out <= hi;
}

}  // namespace

// ---------------------------------------------------------------- endpoint --

std::string RedisEndpoint::describe() const {
  std::string s = is_unix ? "unix://" + path : host + ":" + std::to_string(port);
  if (db != 0) s += " db " + std::to_string(db);
  return s;
}

Parsed<RedisEndpoint> parse_redis_url(std::string_view url) {
  using P = Parsed<RedisEndpoint>;
  RedisEndpoint ep;
  if (url.starts_with("unix://")) {
    std::string_view rest = url.substr(7);
    size_t q = rest.find("?db=");
    if (q != std::string_view::npos) {
      if (!parse_int(rest.substr(q + 4), 0, 1 << 20, &ep.db))
        return P::fail("bad db in " + std::string(url));
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest.front() != '/')
      return P::fail("unix:// needs an absolute socket path");
    ep.is_unix = true;
    ep.path = rest;
    return {ep, {}};
  }
  if (!url.starts_with("redis://")) return P::fail("redis URL must start with redis:// or unix://");
  std::string_view rest = url.substr(8);
  size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    size_t colon = auth.find(':');
    // ACL user names are not supported by hiredis 0.14's AUTH helper; the
    // password is what follows the colon (or the whole part without one).
    ep.password = colon == std::string_view::npos ? auth : auth.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, &ep.db))
      return P::fail("bad db number in redis URL");
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest, port;
  if (rest.starts_with("[")) {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return P::fail("unclosed '[' in redis URL");
    host = rest.substr(1, close - 1);
    if (rest.size() > close + 1) {
      if (rest[close + 1] != ':') return P::fail("bad port in redis URL");
      port = rest.substr(close + 2);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return P::fail("redis URL has no host");
  ep.host = host;
  if (!port.empty() && !parse_int(port, 1, 65535, &ep.port))
    return P::fail("bad port in redis URL");
  return {ep, {}};
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

// A name lookup on its own short-lived thread: getaddrinfo() blocks, and in
// the loop a slow DNS server would freeze every request, deadlines included.
// The answer comes back through an event of the loop; a lookup that outlives
// its gateway finds itself cancelled and touches nothing.
struct RedisGateway::Lookup {
  std::mutex mutex;
  bool cancelled = false;
  event* wake = nullptr;
  std::string ip;
  std::string error;
};

// ---------------------------------------------------------------- lifecycle --

RedisGateway::RedisGateway(event_base* base, GatewayOptions options)
    : base_(base), options_(std::move(options)) {
  deadline_timer_ = evtimer_new(base_, &RedisGateway::on_timer, this);
  reconnect_timer_ = evtimer_new(base_, &RedisGateway::on_reconnect_timer, this);
  script_retry_timer_ = evtimer_new(base_, &RedisGateway::on_script_retry, this);
  resolved_event_ = event_new(base_, -1, 0, &RedisGateway::on_resolved, this);
}

RedisGateway::~RedisGateway() {
  stop();
  event_free(deadline_timer_);
  event_free(reconnect_timer_);
  event_free(script_retry_timer_);
  event_free(resolved_event_);
}

void RedisGateway::start() {
  connect();
}

// Drops the connection for good. hiredis answers every call in flight with
// a NULL reply (we turn those into kUnavailable) before it returns.
void RedisGateway::stop() {
  stopping_ = true;
  evtimer_del(reconnect_timer_);
  if (lookup_ != nullptr) {
    std::lock_guard<std::mutex> lock(lookup_->mutex);
    lookup_->cancelled = true;
  }
  lookup_.reset();
  evtimer_del(script_retry_timer_);
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
    if (options_.metrics != nullptr) options_.metrics->set_inflight(0);
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
  // on_disconnect runs only for a context that got connected.
  if (!(c->c.flags & REDIS_CONNECTED)) schedule_reconnect();
  redisAsyncFree(c);
}

void RedisGateway::connect() {
  if (stopping_) return;
  const RedisEndpoint& ep = options_.endpoint;
  unsigned char scratch[sizeof(in6_addr)];
  if (ep.is_unix || inet_pton(AF_INET, ep.host.c_str(), scratch) == 1 ||
      inet_pton(AF_INET6, ep.host.c_str(), scratch) == 1)
    return open_connection(ep.host);
  auto lookup = std::make_shared<Lookup>();
  lookup->wake = resolved_event_;
  lookup_ = lookup;
  std::thread([lookup, host = ep.host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    char ip[INET6_ADDRSTRLEN] = "";
    if (rc == 0 && res != nullptr) {
      const void* addr =
          res->ai_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
      inet_ntop(res->ai_family, addr, ip, sizeof ip);
    }
    if (res != nullptr) freeaddrinfo(res);
    std::lock_guard<std::mutex> lock(lookup->mutex);
    lookup->ip = ip;
    lookup->error = rc == 0 ? "no address" : gai_strerror(rc);
    if (!lookup->cancelled) event_active(lookup->wake, 0, 0);
  }).detach();
}

void RedisGateway::on_resolved(int, short, void* arg) {
  auto* self = static_cast<RedisGateway*>(arg);
  std::shared_ptr<Lookup> lookup = std::move(self->lookup_);
  if (lookup == nullptr || self->stopping_) return;
  std::string ip, error;
  {
    std::lock_guard<std::mutex> lock(lookup->mutex);
    ip = lookup->ip;
    error = lookup->error;
  }
  if (ip.empty()) {
    if (self->attempts_ == 0 || self->attempts_ % 20 == 0)
      spdlog::warn("redis: cannot resolve {}: {}", self->options_.endpoint.host, error);
    return self->schedule_reconnect();
  }
  self->open_connection(ip);
}

void RedisGateway::open_connection(const std::string& address) {
  const RedisEndpoint& ep = options_.endpoint;
  redisAsyncContext* c = ep.is_unix ? redisAsyncConnectUnix(ep.path.c_str())
                                    : redisAsyncConnect(address.c_str(), ep.port);
  if (c == nullptr || c->err) {
    spdlog::warn("redis: cannot connect to {}: {}", ep.describe(), c ? c->errstr : "out of memory");
    if (c) redisAsyncFree(c);
    schedule_reconnect();
    return;
  }
  c->data = this;
  redisLibeventAttach(c, base_);
  redisAsyncSetConnectCallback(c, &RedisGateway::on_connect);
  redisAsyncSetDisconnectCallback(c, &RedisGateway::on_disconnect);
  ctx_ = c;
  loaded_mask_ = 0;

  // Queued in hiredis until the socket connects, and ahead of any request.
  int64_t deadline = now_ms() + options_.timeout_ms;
  auto log_failure = [](const char* what) {
    return [what](ScriptReply&& r) {
      if (r.fault == Fault::kError) spdlog::error("redis: {} failed: {}", what, r.detail);
    };
  };
  if (!ep.password.empty())
    send({"AUTH", ep.password}, {log_failure("AUTH"), deadline, nullptr, 0, {}, 0, true});
  if (ep.db != 0) {
    std::string db = std::to_string(ep.db);
    send({"SELECT", db}, {log_failure("SELECT"), deadline, nullptr, 0, {}, 0, true});
  }
  check_eviction_policy();
  load_scripts();
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
        loaded_mask_ |= 1u << i;
        if (ready()) spdlog::info("redis: ready on {}", options_.endpoint.describe());
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
    return;
  }
  if (c->c.flags & REDIS_CONNECTED && !self->options_.endpoint.is_unix)
    redisEnableKeepAlive(const_cast<redisContext*>(&c->c));
  self->connected_ = true;
  if (self->options_.metrics != nullptr) {
    self->options_.metrics->set_connected(true);
    if (self->ever_connected_) self->options_.metrics->reconnect();
  }
  self->ever_connected_ = true;
  self->attempts_ = 0;
  spdlog::info("redis: connected to {}", self->options_.endpoint.describe());
}

void RedisGateway::on_disconnect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisGateway*>(c->data);
  // Calls in flight were already answered (NULL replies); the context is
  // freed by hiredis after this returns.
  if (self->ctx_ == c) self->ctx_ = nullptr;
  self->connected_ = false;
  self->loaded_mask_ = 0;
  if (self->options_.metrics != nullptr) self->options_.metrics->set_connected(false);
  if (self->stopping_) return;
  spdlog::warn("redis: connection to {} lost: {}", self->options_.endpoint.describe(),
               status == REDIS_OK ? "closed" : c->errstr);
  self->schedule_reconnect();
}

// ------------------------------------------------------------------- calls --

void RedisGateway::run(const Script& script, int numkeys, std::vector<std::string> argv,
                       ReplyCallback cb) {
  send_script(script, /*by_sha=*/true, numkeys, std::move(argv), std::move(cb),
              now_ms() + options_.timeout_ms);
}

void RedisGateway::ping(ReplyCallback cb) {
  send({"PING"}, {std::move(cb), now_ms() + options_.timeout_ms, nullptr, 0, {}});
}

void RedisGateway::send_script(const Script& script, bool by_sha, int numkeys,
                               std::vector<std::string> argv, ReplyCallback cb,
                               int64_t deadline_ms) {
  std::string nk = std::to_string(numkeys);
  std::vector<std::string_view> words;
  words.reserve(argv.size() + 3);
  words.push_back(by_sha ? "EVALSHA" : "EVAL");
  words.push_back(by_sha ? std::string_view(script.sha1) : std::string_view(script.body));
  words.push_back(nk);
  for (const auto& a : argv) words.push_back(a);
  // Only a call by sha can meet NOSCRIPT, so only it keeps its arguments.
  send(std::move(words), {std::move(cb), deadline_ms, by_sha ? &script : nullptr, numkeys,
                          by_sha ? std::move(argv) : std::vector<std::string>{}});
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
  if (options_.metrics != nullptr) options_.metrics->set_inflight(pending_.size());
  arm_timer();
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
  if (metrics != nullptr) metrics->set_inflight(self->pending_.size());
  if (self->expired_ > 0) {  // already answered with a timeout
    --self->expired_;
    return;
  }
  if (reply == nullptr) return self->fail(p.cb, Fault::kUnavailable, "redis connection lost");
  if (metrics != nullptr) metrics->redis_call(static_cast<double>(now_us() - p.sent_us) / 1e6);
  if (reply->type == REDIS_REPLY_ERROR && p.script != nullptr &&
      std::string_view(reply->str, reply->len).starts_with("NOSCRIPT")) {
    spdlog::warn("redis: script {} missing from the script cache, resending it", p.script->name);
    self->send_script(*p.script, /*by_sha=*/false, p.numkeys, std::move(p.argv), std::move(p.cb),
                      p.deadline_ms);
    return;
  }
  ScriptReply out;
  out.value = convert(reply);
  if (out.value.type == RedisValue::Type::kError) {
    out.fault = Fault::kError;
    out.detail = out.value.str;
    if (metrics != nullptr) metrics->redis_error(fault_kind(Fault::kError));
    if (p.script != nullptr)
      spdlog::error("redis: script {} failed: {}", p.script->name, out.detail);
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
