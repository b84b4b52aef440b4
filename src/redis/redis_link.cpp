#include "redis/redis_link.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "base/clock.h"

namespace ticketq {

RedisLink::RedisLink(event_base* base, HostResolver& resolver, LinkOptions options, Hooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      resolver_(resolver),
      conn_(base, options_.connection,
            {.connected =
                 [this] {
                   if (hooks_.connected) hooks_.connected();
                 },
             .ended = [this](RedisConnection::End end,
                             const std::string& error) { on_ended(end, error); },
             .trouble = hooks_.trouble ? std::function<void(const std::string&)>(
                                             [this](const std::string& why) { trouble(why); })
                                       : nullptr}) {
  reconnect_timer_ = evtimer_new(base, &RedisLink::on_reconnect_timer, this);
}

RedisLink::~RedisLink() {
  stop();
  event_free(reconnect_timer_);
}

void RedisLink::start() {
  connect();
}

// hiredis answers every call in flight with a NULL reply (kUnavailable)
// before close() returns.
void RedisLink::stop() {
  stopping_ = true;
  evtimer_del(reconnect_timer_);
  HostResolver::cancel(lookup_);
  lookup_ = nullptr;
  conn_.close();
}

void RedisLink::drop() {
  conn_.close();
}

void RedisLink::set_endpoint(const RedisEndpoint& endpoint) {
  HostResolver::cancel(lookup_);
  lookup_ = nullptr;
  switching_ = true;  // no reconnect to the old server, no trouble reported
  conn_.close();
  switching_ = false;
  options_.endpoint = endpoint;
  if (stopping_) return;
  evtimer_del(reconnect_timer_);
  attempts_ = 0;
  connect();
}

void RedisLink::connect() {
  if (stopping_ || conn_.is_open() || lookup_ != nullptr) return;
  const RedisEndpoint& ep = options_.endpoint;
  if (ep.is_unix || is_numeric_host(ep.host)) return open_connection(ep.host);
  // Answered at once for a name in /etc/hosts, else on a later turn. An
  // answer given at once has run on_resolved() before lookup() returns,
  // and that may have started another lookup (a move, a retry): then what
  // lookup() returns is no lookup in flight and must not replace it.
  const uint64_t answered = lookups_answered_;
  HostResolver::Lookup* pending =
      resolver_.lookup(ep.host, [this](const std::string& ip, const std::string& error) {
        lookup_ = nullptr;
        ++lookups_answered_;
        on_resolved(ip, error);
      });
  if (lookups_answered_ == answered) lookup_ = pending;
}

void RedisLink::on_resolved(const std::string& ip, const std::string& error) {
  if (stopping_) return;
  if (ip.empty()) {
    if (attempts_ == 0 || attempts_ % 20 == 0)
      spdlog::warn("redis: cannot resolve {}: {}", options_.endpoint.host, error);
    schedule_reconnect();
    return trouble("cannot resolve " + options_.endpoint.host);
  }
  open_connection(ip);
}

void RedisLink::open_connection(const std::string& address) {
  std::string error;
  if (!conn_.open(options_.endpoint, address, &error)) {
    if (attempts_ == 0 || attempts_ % 20 == 0)
      spdlog::warn("redis: cannot connect to {}: {}", options_.endpoint.describe(), error);
    schedule_reconnect();
    return trouble("cannot connect");
  }
  if (hooks_.opened) hooks_.opened();
}

void RedisLink::on_ended(RedisConnection::End end, const std::string& error) {
  if (hooks_.ended) hooks_.ended(end == RedisConnection::End::kLost);
  switch (end) {
    case RedisConnection::End::kDropped:  // by drop(), before it connected
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
  if (stopping_ || switching_) return;
  spdlog::warn("redis: connection to {} lost: {}", options_.endpoint.describe(), error);
  schedule_reconnect();
  trouble("connection lost");
}

void RedisLink::trouble(const std::string& why) {
  if (hooks_.trouble && !stopping_) hooks_.trouble(why);
}

void RedisLink::schedule_reconnect() {
  if (stopping_) return;
  int64_t delay = options_.backoff_min_ms << std::min(attempts_, 16);
  delay = std::min(delay, options_.backoff_max_ms);
  thread_local std::minstd_rand rng{std::random_device{}()};
  delay = delay / 2 + std::uniform_int_distribution<int64_t>(0, delay / 2)(rng);  // jitter
  ++attempts_;
  timeval tv = timeval_of_ms(delay);
  evtimer_add(reconnect_timer_, &tv);
}

void RedisLink::on_reconnect_timer(int, short, void* arg) {
  static_cast<RedisLink*>(arg)->connect();
}

}  // namespace ticketq
