#include "redis/redis_sentinel.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "base/clock.h"

namespace ticketq {

SentinelBackend::SentinelBackend(event_base* base, const RedisTarget& target,
                                 const GatewayOptions& options)
    : name_(target.master_name),
      data_(target.endpoint),
      metrics_(options.metrics),
      resolver_(base) {
  GatewayOptions master = options;
  master.endpoint = data_;
  master.endpoint.host.clear();  // none until a Sentinel names it
  master.check_role = true;
  master.on_trouble = [this](const std::string& why) { discover(why); };
  master_ = std::make_unique<RedisGateway>(base, resolver_, std::move(master));

  LinkOptions sentinel;
  sentinel.backoff_min_ms = options.backoff_min_ms;
  sentinel.backoff_max_ms = options.backoff_max_ms;
  sentinel.connection.timeout_ms = std::min(options.timeout_ms, kQueryTimeoutMs);
  sentinel.connection.password_optional = true;
  for (const RedisEndpoint& ep : target.seeds) {
    sentinel.endpoint = ep;
    sentinel.endpoint.db = 0;
    Sentinel s;
    s.query = sentinel_link(base, resolver_, sentinel);
    s.watch = sentinel_link(base, resolver_, sentinel);
    s.watch->connection().subscribe(
        {"+switch-master", "+failover-state-send-slaveof-noone", "-failover-abort-slave-timeout"},
        [this](const std::string& channel, const std::string& text) { on_event(channel, text); });
    sentinels_.push_back(std::move(s));
  }
  timer_ = evtimer_new(base, &SentinelBackend::on_timer, this);
}

// A Sentinel's connection: said at debug level, and its backoff starts
// again as soon as it connects.
std::unique_ptr<RedisLink> SentinelBackend::sentinel_link(event_base* base, HostResolver& resolver,
                                                          const LinkOptions& options) {
  auto self = std::make_shared<RedisLink*>();  // the link, once made
  RedisLink::Hooks hooks;
  hooks.connected = [self] {
    (*self)->reset_backoff();
    spdlog::debug("redis: connected to {}", (*self)->endpoint().describe());
  };
  auto link = std::make_unique<RedisLink>(base, resolver, options, std::move(hooks));
  *self = link.get();
  return link;
}

SentinelBackend::~SentinelBackend() {
  stop();
  event_free(timer_);
}

void SentinelBackend::start() {
  for (Sentinel& s : sentinels_) {
    s.query->start();
    s.watch->start();
  }
  discover("starting");
}

void SentinelBackend::stop() {
  stopping_ = true;
  evtimer_del(timer_);
  master_->stop();
  for (Sentinel& s : sentinels_) {
    s.query->stop();
    s.watch->stop();
  }
}

std::vector<RedisNodeStatus> SentinelBackend::node_status() const {
  std::vector<RedisNodeStatus> out;
  if (have_master_) out.push_back(master_->status());
  for (const Sentinel& s : sentinels_) {
    const RedisConnection& c = s.query->connection();
    out.push_back({.address = s.query->endpoint().describe(),
                   .role = "sentinel",
                   .connected = c.connected(),
                   .ready = c.connected() && !c.overdue()});
  }
  return out;
}

// Asks every Sentinel at once and, once all have answered (or timed out),
// follows the master named with the highest config epoch, never one older
// than the master followed: after a failover a Sentinel that has not heard
// of it yet still names the old master, under the old epoch. One round at a
// time: trouble reported while one is in flight is answered by it.
void SentinelBackend::discover(const std::string& why) {
  if (stopping_ || waiting_answers_ > 0) return;
  // Trouble is said once per kind, not per call that met it.
  spdlog::log(why == last_why_ ? spdlog::level::debug : spdlog::level::info,
              "redis: asking the Sentinels for the master of {} ({})", name_, why);
  last_why_ = why;
  const uint64_t round = ++round_;
  waiting_answers_ = sentinels_.size();
  answers_.clear();
  timeval tv = timeval_of_ms(kRecheckMs);
  evtimer_add(timer_, &tv);
  for (Sentinel& s : sentinels_)
    s.query->connection().command({"SENTINEL", "MASTER", name_}, [this, round](ScriptReply&& r) {
      on_answer(round, std::move(r));
    });
}

std::optional<SentinelBackend::Answer> SentinelBackend::parse_answer(const ScriptReply& reply) {
  // A flat list of field, value: name, ip, port, runid, flags, ...
  const RedisValue& v = reply.value;
  if (reply.fault != Fault::kNone || v.type != RedisValue::Type::kArray) return std::nullopt;
  Answer a;
  bool have_epoch = false;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
    const std::string& field = v.elements[i].str;
    const std::string& value = v.elements[i + 1].str;
    if (field == "ip") a.host = value;
    // The Sentinel running a failover names the old master until it ends.
    if (field == "flags" && value.find("failover_in_progress") != std::string::npos)
      return std::nullopt;
    if (field == "port" && !parse_int_in(value, 1, 65535, &a.port)) return std::nullopt;
    if (field == "config-epoch") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), a.epoch);
      have_epoch = ec == std::errc() && end == value.data() + value.size() && a.epoch >= 0;
    }
  }
  if (a.host.empty() || a.port == 0 || !have_epoch) return std::nullopt;
  return a;
}

void SentinelBackend::on_answer(uint64_t round, ScriptReply&& reply) {
  if (stopping_ || round != round_ || waiting_answers_ == 0) return;  // given up already
  if (auto a = parse_answer(reply)) {
    answers_.push_back(std::move(*a));
  } else if (reply.fault != Fault::kNone || reply.value.type == RedisValue::Type::kError) {
    last_refusal_ = reply.fault != Fault::kNone ? reply.detail : reply.value.str;
  }
  if (--waiting_answers_ > 0) return;
  // While a failover announced by a Sentinel is under way, only the master
  // it named counts: the Sentinel running the failover names the old
  // master under the new epoch until the end, the others under the old one.
  const bool fenced = fence_until_ms_ != 0 && now_ms() < fence_until_ms_;
  const Answer* best = nullptr;
  for (const Answer& a : answers_)
    if ((!fenced || (a.host == fence_.host && a.port == fence_.port)) &&
        (best == nullptr || a.epoch > best->epoch))
      best = &a;
  // An equal epoch moves ticketq only off a master that is not ready (a
  // failover announced, then given up): two Sentinels may disagree under
  // one epoch while one of them catches up.
  if (best != nullptr &&
      (!have_master_ || best->epoch > epoch_ || (best->epoch == epoch_ && !master_->ready()))) {
    quiet_rounds_ = 0;
    epoch_ = best->epoch;
    fence_until_ms_ = 0;
    return move_to(best->host, best->port, "a Sentinel");
  }
  if (!answers_.empty()) {
    spdlog::debug("redis: the Sentinels name no master to follow yet ({} answers)",
                  answers_.size());
  } else if (quiet_rounds_++ % 20 == 0) {
    // Nobody knew: Sentinels down, or not monitoring this name.
    spdlog::warn("redis: no Sentinel named a master for {} ({}); asking again", name_,
                 last_refusal_.empty() ? "no answer" : last_refusal_);
  }
  timeval tv = timeval_of_ms(kRetryMs);
  evtimer_add(timer_, &tv);
}

// What the Sentinels publish on a failover (one line each):
//   +failover-state-send-slaveof-noone  slave <ip:port> <ip> <port> @ <name> <ip> <port>
//       the replica chosen is being made master: ticketq moves to it now,
//       so the old master, which takes writes until the Sentinels turn it
//       into a replica, gets none that the new one would not have
//   +switch-master  <name> <old ip> <old port> <new ip> <new port>
//       the failover is over
//   -failover-abort-slave-timeout  master <name> <ip> <port>
//       the replica was not promoted in time: ask the Sentinels again
// After either of the first two, until a Sentinel's answer names the same
// master (or kPromotionMs passes), answers naming another are not followed.
void SentinelBackend::on_event(const std::string& channel, const std::string& message) {
  std::vector<std::string_view> words;
  std::string_view text = message;
  while (!text.empty() && words.size() < 9) {
    size_t space = text.find(' ');
    words.push_back(text.substr(0, space));
    text = space == std::string_view::npos ? "" : text.substr(space + 1);
  }
  int port = 0;
  std::string host;
  int64_t promotion_ms = 0;
  if (channel == "+switch-master") {
    if (words.size() != 5 || words[0] != name_ || !parse_int_in(words[4], 1, 65535, &port)) return;
    host = words[3];
  } else if (channel == "+failover-state-send-slaveof-noone") {
    if (words.size() != 8 || words[0] != "slave" || words[4] != "@" || words[5] != name_ ||
        !parse_int_in(words[3], 1, 65535, &port))
      return;
    host = words[2];
    promotion_ms = kPromotionMs;
  } else {
    if (words.size() < 2 || words[0] != "master" || words[1] != name_ || fence_until_ms_ == 0)
      return;
    spdlog::warn("redis: the Sentinels gave up the failover of {} ({})", name_, channel);
    fence_until_ms_ = 0;
    waiting_answers_ = 0;
    return discover(channel);
  }
  fence_ = {host, port, epoch_};
  fence_until_ms_ = now_ms() + kPromotionMs;
  move_to(host, port, channel.c_str(), promotion_ms);
}

void SentinelBackend::move_to(const std::string& host, int port, const char* how,
                              int64_t promotion_ms) {
  const RedisEndpoint& now = master_->endpoint();
  if (have_master_ && now.host == host && now.port == port) return;
  if (have_master_) {
    spdlog::warn("redis: {} says the master of {} is now {}:{} (was {})", how, name_, host, port,
                 now.describe());
    if (metrics_ != nullptr) metrics_->failover();
  } else {
    spdlog::info("redis: {} says the master of {} is {}:{}", how, name_, host, port);
  }
  have_master_ = true;
  RedisEndpoint ep = data_;
  ep.host = host;
  ep.port = port;
  master_->set_endpoint(ep, promotion_ms);
}

void SentinelBackend::on_timer(int, short, void* arg) {
  auto* self = static_cast<SentinelBackend*>(arg);
  self->waiting_answers_ = 0;  // a round not finished by now is given up
  self->discover("periodic check");
}

}  // namespace ticketq
