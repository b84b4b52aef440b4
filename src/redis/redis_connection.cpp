#include "redis/redis_connection.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "base/clock.h"

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

// ---------------------------------------------------------------- lifecycle --

RedisConnection::RedisConnection(event_base* base, ConnectionOptions options, Hooks hooks)
    : base_(base), options_(options), hooks_(std::move(hooks)) {
  deadline_timer_ = evtimer_new(base_, &RedisConnection::on_timer, this);
}

RedisConnection::~RedisConnection() {
  hooks_ = {};  // the owner is going too
  close();
  event_free(deadline_timer_);
}

bool RedisConnection::open(const RedisEndpoint& endpoint, const std::string& address,
                           std::string* error) {
  close();
  endpoint_ = endpoint;
  redisAsyncContext* c = endpoint.is_unix ? redisAsyncConnectUnix(endpoint.path.c_str())
                                          : redisAsyncConnect(address.c_str(), endpoint.port);
  if (c == nullptr || c->err) {
    *error = c ? c->errstr : "out of memory";
    if (c) redisAsyncFree(c);
    return false;
  }
  c->data = this;
  redisLibeventAttach(c, base_);
  redisAsyncSetConnectCallback(c, &RedisConnection::on_connect);
  redisAsyncSetDisconnectCallback(c, &RedisConnection::on_disconnect);
  ctx_ = c;
  ++generation_;
  noscript_seen_ = false;

  // Queued in hiredis until the socket connects, and ahead of any request.
  int64_t deadline = now_ms() + options_.timeout_ms;
  auto log_failure = [quiet = options_.password_optional](const char* what) {
    return [what, quiet](ScriptReply&& r) {
      if (r.fault != Fault::kError) return;
      if (quiet && r.detail.find("password") != std::string::npos)
        return spdlog::debug("redis: {} refused: {}", what, r.detail);
      spdlog::error("redis: {} failed: {}", what, r.detail);
    };
  };
  if (!endpoint.password.empty())
    command({"AUTH", endpoint.password}, log_failure("AUTH"), deadline, /*internal=*/true);
  if (endpoint.db != 0) {
    std::string db = std::to_string(endpoint.db);
    command({"SELECT", db}, log_failure("SELECT"), deadline, /*internal=*/true);
  }
  if (!channels_.empty()) send_subscribe();
  return true;
}

// Closes ctx_ at once, from anywhere including a hiredis callback: there
// redisAsyncFree only marks the context, and hiredis frees it as soon as the
// callback returns, answering every call still in flight with a NULL reply
// (kUnavailable) and calling on_disconnect. redisAsyncDisconnect would
// instead wait for every outstanding reply, which a stalled Redis may never
// send, and keep matching them meanwhile.
void RedisConnection::close() {
  redisAsyncContext* c = ctx_;
  if (c == nullptr) return;
  ctx_ = nullptr;
  connected_ = false;
  // on_disconnect runs only for a context that got connected.
  const bool was_connected = c->c.flags & REDIS_CONNECTED;
  const bool in_callback = c->c.flags & REDIS_IN_CALLBACK;
  redisAsyncFree(c);
  if (!in_callback) answer_left_calls();
  if (!was_connected && hooks_.ended) hooks_.ended(End::kDropped, "closed");
}

// hiredis answers every call it holds when its context is freed: a call
// left here would never be answered. Cannot happen, but answer it rather
// than leave a request hanging.
void RedisConnection::answer_left_calls() {
  if (pending_.empty()) return;
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

void RedisConnection::on_connect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisConnection*>(c->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns and fails its queued calls.
    if (self->ctx_ == c) self->ctx_ = nullptr;
    if (self->hooks_.ended) self->hooks_.ended(End::kConnectFailed, c->errstr);
    return;
  }
  if (c->c.flags & REDIS_CONNECTED && !self->endpoint_.is_unix)
    redisEnableKeepAlive(const_cast<redisContext*>(&c->c));
  self->connected_ = true;
  if (self->hooks_.connected) self->hooks_.connected();
}

void RedisConnection::on_disconnect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisConnection*>(c->data);
  // Calls in flight were already answered (NULL replies); the context is
  // freed by hiredis after this returns. One dropped while hiredis was
  // inside it goes only now, when a newer one may be in its place.
  if (self->ctx_ != nullptr && self->ctx_ != c) return;
  self->ctx_ = nullptr;
  self->connected_ = false;
  if (self->hooks_.ended) self->hooks_.ended(End::kLost, status == REDIS_OK ? "closed" : c->errstr);
}

// ------------------------------------------------------------------- calls --

void RedisConnection::command(std::vector<std::string_view> words, ReplyCallback cb,
                              int64_t deadline_ms, bool internal) {
  send(std::move(words), {std::move(cb), deadline_ms, nullptr, 0, {}, 0, internal});
}

void RedisConnection::command(std::vector<std::string_view> words, ReplyCallback cb) {
  command(std::move(words), std::move(cb), now_ms() + options_.timeout_ms);
}

void RedisConnection::script(const Script& script, int numkeys, std::vector<std::string> argv,
                             ReplyCallback cb, int64_t deadline_ms, bool asking) {
  send_script(script, /*by_sha=*/true, numkeys, std::move(argv), std::move(cb), deadline_ms,
              asking);
}

void RedisConnection::subscribe(std::vector<std::string> channels, MessageCallback on_message) {
  channels_ = std::move(channels);
  on_message_ = std::move(on_message);
  if (ctx_ != nullptr) send_subscribe();
}

// Replies to SUBSCRIBE go to on_message, not to the FIFO of calls.
void RedisConnection::send_subscribe() {
  std::vector<const char*> argv{"SUBSCRIBE"};
  std::vector<size_t> lens{9};
  for (const std::string& c : channels_) {
    argv.push_back(c.data());
    lens.push_back(c.size());
  }
  redisAsyncCommandArgv(ctx_, &RedisConnection::on_message, this, static_cast<int>(argv.size()),
                        argv.data(), lens.data());
}

void RedisConnection::on_message(redisAsyncContext* c, void* r, void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (reply == nullptr || c != self->ctx_ || !self->on_message_) return;
  RedisValue v = convert(reply);
  // ["message", channel, payload]; the "subscribe" confirmations are skipped.
  if (v.type == RedisValue::Type::kArray && v.elements.size() == 3 &&
      v.elements[0].str == "message")
    self->on_message_(v.elements[1].str, v.elements[2].str);
}

void RedisConnection::send_script(const Script& script, bool by_sha, int numkeys,
                                  std::vector<std::string> argv, ReplyCallback cb,
                                  int64_t deadline_ms, bool asking) {
  if (asking)
    command(
        {"ASKING"}, [](ScriptReply&&) {}, deadline_ms, /*internal=*/true);
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
void RedisConnection::hold_for_replicas(ScriptReply&& reply, ReplyCallback cb,
                                        int64_t deadline_ms) {
  held_.push_back({std::move(reply), std::move(cb), deadline_ms, ctx_});
  if (!waiting_) send_wait();
}

void RedisConnection::send_wait() {
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
  command({"WAIT", std::to_string(options_.wait_replicas), std::to_string(wait_ms)},
          std::move(done), deadline, /*internal=*/true);
}

// Hands one command to hiredis, or answers at once when that cannot be done.
// The callback may run before send() returns; nothing here touches state
// after it.
void RedisConnection::send(std::vector<std::string_view> words, Pending p) {
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
  if (redisAsyncCommandArgv(ctx_, &RedisConnection::on_reply, this, static_cast<int>(argv.size()),
                            argv.data(), lens.data()) != REDIS_OK) {
    // The context is disconnecting: hiredis did not take the command.
    ReplyCallback cb = std::move(pending_.back().cb);
    pending_.pop_back();
    return fail(cb, Fault::kUnavailable, "redis connection is closing");
  }
  set_inflight_gauge();
  arm_timer();
}

void RedisConnection::set_inflight_gauge() {
  if (options_.metrics != nullptr && options_.inflight_gauge)
    options_.metrics->set_inflight(pending_.size());
}

void RedisConnection::on_reply(redisAsyncContext* c, void* r, void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (self->pending_.empty()) {
    // hiredis holds a call we do not: from here on any reply could answer
    // the wrong request. (NULL replies of a context being dropped are fine.)
    if (reply != nullptr || c == self->ctx_)
      spdlog::error(
          "redis: internal error: a reply from {} with no call waiting for it; "
          "dropping the connection",
          self->endpoint_.describe());
    if (c == self->ctx_) self->close();
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
                   self->endpoint_.describe(), p.script->name);
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
      if (p.script != nullptr && !(trouble && self->hooks_.trouble))
        spdlog::error("redis: script {} failed on {}: {}", p.script->name,
                      self->endpoint_.describe(), out.detail);
    }
    if (trouble) {
      std::string why = self->endpoint_.describe() + " answered " + out.detail;
      p.cb(std::move(out));
      if (self->hooks_.trouble) self->hooks_.trouble(why);
      return;
    }
  } else if (p.script != nullptr && p.script->writes && self->options_.wait_replicas > 0) {
    return self->hold_for_replicas(std::move(out), std::move(p.cb), p.deadline_ms);
  }
  p.cb(std::move(out));
}

void RedisConnection::fail(ReplyCallback& cb, Fault f, const char* detail) {
  if (options_.metrics != nullptr) options_.metrics->redis_error(fault_kind(f));
  cb(fault(f, detail));
}

// ---------------------------------------------------------------- deadlines --

void RedisConnection::arm_timer() {
  if (timer_armed_ || expired_ >= pending_.size()) return;
  int64_t wait = std::max<int64_t>(0, pending_[expired_].deadline_ms - now_ms());
  timeval tv = timeval_of_ms(wait);
  evtimer_add(deadline_timer_, &tv);
  timer_armed_ = true;
}

// Answers every call whose deadline passed. The call stays in the FIFO so its
// late reply, if any, is matched and dropped.
void RedisConnection::on_timer(int, short, void* arg) {
  auto* self = static_cast<RedisConnection*>(arg);
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
