#include "redis/redis_cluster.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/clock.h"

namespace ticketq {

namespace {

std::string address(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

ScriptReply unavailable(std::string detail) {
  ScriptReply r;
  r.fault = Fault::kUnavailable;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

std::vector<SlotRange> parse_cluster_slots(const RedisValue& reply, const std::string& asked_host) {
  std::vector<SlotRange> out;
  if (reply.type != RedisValue::Type::kArray) return out;
  for (const RedisValue& e : reply.elements) {
    if (e.type != RedisValue::Type::kArray || e.elements.size() < 3) continue;
    const RedisValue& master = e.elements[2];
    if (e.elements[0].type != RedisValue::Type::kInteger ||
        e.elements[1].type != RedisValue::Type::kInteger ||
        master.type != RedisValue::Type::kArray || master.elements.size() < 2 ||
        master.elements[1].type != RedisValue::Type::kInteger)
      continue;
    SlotRange r;
    r.first = static_cast<int>(e.elements[0].integer);
    r.last = static_cast<int>(e.elements[1].integer);
    r.host = master.elements[0].str.empty() ? asked_host : master.elements[0].str;
    r.port = static_cast<int>(master.elements[1].integer);
    if (r.first < 0 || r.last >= kClusterSlots || r.first > r.last || r.port < 1 ||
        r.port > 65535 || r.host.empty() || r.host == "?")
      continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Redirect> parse_redirect(std::string_view error) {
  Redirect r;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = error.find(' ');
  if (space == std::string_view::npos ||
      !parse_int_in(error.substr(0, space), 0, kClusterSlots - 1, &r.slot))
    return std::nullopt;
  std::string_view where = error.substr(space + 1);
  size_t colon = where.rfind(':');
  if (colon == std::string_view::npos || !parse_int_in(where.substr(colon + 1), 1, 65535, &r.port))
    return std::nullopt;
  std::string_view host = where.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  r.host = host;
  return r;
}

// ---------------------------------------------------------------- lifecycle --

ClusterBackend::ClusterBackend(event_base* base, const RedisTarget& target,
                               const GatewayOptions& options)
    : base_(base),
      options_(options),
      metrics_(options.metrics),
      seeds_(target.seeds),
      resolver_(base) {
  options_.loop_gauges = false;  // set here, for all masters (update_gauges)
  options_.check_role = false;   // the slot map says who is master
  options_.on_trouble = [this](const std::string& why) { refresh(why); };
  timer_ = evtimer_new(base_, &ClusterBackend::on_timer, this);
  refresh_timer_ = evtimer_new(base_, &ClusterBackend::on_refresh_timer, this);
  retry_timer_ = evtimer_new(base_, &ClusterBackend::on_retry_timer, this);
}

ClusterBackend::~ClusterBackend() {
  stop();
  event_free(timer_);
  event_free(refresh_timer_);
  event_free(retry_timer_);
}

void ClusterBackend::start() {
  for (const RedisEndpoint& seed : seeds_) node_at(seed.host, seed.port);
  refresh("starting");
  timeval tv = timeval_of_ms(kRefreshMs);
  evtimer_add(timer_, &tv);
}

void ClusterBackend::stop() {
  if (stopping_) return;
  stopping_ = true;
  evtimer_del(timer_);
  evtimer_del(refresh_timer_);
  evtimer_del(retry_timer_);
  std::multimap<int64_t, CallPtr> waiting;
  waiting.swap(retries_);
  for (auto& [due, call] : waiting) call->cb(unavailable("redis cluster backend stopped"));
  for (auto& [name, node] : nodes_) node->stop();
}

// ------------------------------------------------------------------- calls --

RedisGateway* ClusterBackend::owner(const Call& call) const {
  if (call.numkeys <= 0 || call.argv.empty()) return masters_.empty() ? nullptr : masters_[0];
  return slots_[key_slot(call.argv[0])];
}

void ClusterBackend::run(const Script& script, int numkeys, std::vector<std::string> argv,
                         ReplyCallback cb) {
  auto call = std::make_shared<Call>(
      Call{&script, numkeys, std::move(argv), std::move(cb), now_ms() + options_.timeout_ms});
  send(call, owner(*call), /*asking=*/false);
}

void ClusterBackend::run_on(size_t node, const Script& script, std::vector<std::string> argv,
                            ReplyCallback cb) {
  if (node >= masters_.size()) return cb(unavailable("no such redis cluster master"));
  masters_[node]->call(script, 0, std::move(argv), std::move(cb), now_ms() + options_.timeout_ms,
                       /*asking=*/false);
}

void ClusterBackend::send(CallPtr call, RedisGateway* node, bool asking) {
  if (node == nullptr) {
    refresh("a slot without a master");
    return retry_later(std::move(call), "no master for the slot");
  }
  node->call(
      *call->script, call->numkeys, call->argv,
      [this, call, node](ScriptReply&& r) { on_reply(call, node, std::move(r)); },
      call->deadline_ms, asking);
}

void ClusterBackend::on_reply(CallPtr call, RedisGateway* node, ScriptReply&& reply) {
  if (reply.fault != Fault::kError || stopping_) return call->cb(std::move(reply));
  std::string_view error = reply.detail;
  if (auto redirect = parse_redirect(error)) {
    if (metrics_ != nullptr) metrics_->redirect(redirect->ask ? "ask" : "moved");
    if (++call->redirects > kMaxRedirects) {
      spdlog::warn("redis: {} redirections in a row for a call on slot {}; giving up",
                   call->redirects - 1, redirect->slot);
      return call->cb(unavailable("too many redis cluster redirections"));
    }
    const std::string& host = redirect->host.empty() ? node->endpoint().host : redirect->host;
    RedisGateway* target = node_at(host, redirect->port);
    if (!redirect->ask) {
      slots_[redirect->slot] = target;  // at once for this slot; the rest by a refresh
      refresh("MOVED");
    }
    return send(std::move(call), target, redirect->ask);
  }
  if (error.starts_with("TRYAGAIN")) {
    if (metrics_ != nullptr) metrics_->redirect("tryagain");
    return retry_later(std::move(call), "TRYAGAIN");
  }
  if (error.starts_with("CLUSTERDOWN")) {
    if (metrics_ != nullptr) metrics_->redirect("clusterdown");
    down_until_ms_ = now_ms() + kDownMs;
    refresh("CLUSTERDOWN");
    return retry_later(std::move(call), "CLUSTERDOWN");
  }
  call->cb(std::move(reply));
}

// Sends the call again after kRetryMs, to the slot's master then, if its
// deadline leaves room; otherwise it gets kUnavailable now.
void ClusterBackend::retry_later(CallPtr call, const char* why) {
  int64_t due = now_ms() + kRetryMs;
  if (stopping_ || due >= call->deadline_ms)
    return call->cb(unavailable(std::string("redis cluster: ") + why + " until the deadline"));
  // Waiting out a migration is bounded by the deadline, not the count: an
  // event's call meets ASK then TRYAGAIN for as long as its slot moves.
  call->redirects = 0;
  bool earliest = retries_.empty() || due < retries_.begin()->first;
  retries_.emplace(due, std::move(call));
  if (earliest) {
    timeval tv = timeval_of_ms(kRetryMs);
    evtimer_add(retry_timer_, &tv);
  }
}

void ClusterBackend::on_retry_timer(int, short, void* arg) {
  auto* self = static_cast<ClusterBackend*>(arg);
  int64_t now = now_ms();
  while (!self->retries_.empty() && self->retries_.begin()->first <= now) {
    CallPtr call = std::move(self->retries_.begin()->second);
    self->retries_.erase(self->retries_.begin());
    self->send(call, self->owner(*call), /*asking=*/false);
  }
  if (!self->retries_.empty()) {
    timeval tv = timeval_of_ms(std::max<int64_t>(1, self->retries_.begin()->first - now));
    evtimer_add(self->retry_timer_, &tv);
  }
}

// Every master answers PING, or the first fault is the answer.
void ClusterBackend::ping(ReplyCallback cb) {
  if (masters_.empty()) return cb(unavailable("the redis cluster slot map is not known yet"));
  struct Round {
    size_t left;
    ScriptReply first_fault;
    ReplyCallback cb;
  };
  auto round = std::make_shared<Round>(Round{masters_.size(), {}, std::move(cb)});
  for (RedisGateway* m : masters_)
    m->ping([round](ScriptReply&& r) {
      if (r.fault != Fault::kNone && round->first_fault.fault == Fault::kNone)
        round->first_fault = std::move(r);
      if (--round->left > 0) return;
      if (round->first_fault.fault != Fault::kNone) return round->cb(std::move(round->first_fault));
      ScriptReply ok;
      ok.value.type = RedisValue::Type::kStatus;
      ok.value.str = "PONG";
      round->cb(std::move(ok));
    });
}

bool ClusterBackend::ready() const {
  if (!have_map_ || masters_.empty() || now_ms() < down_until_ms_) return false;
  for (RedisGateway* s : slots_)
    if (s == nullptr) return false;
  for (RedisGateway* m : masters_)
    if (!m->ready()) return false;
  return true;
}

std::vector<RedisNodeStatus> ClusterBackend::node_status() const {
  std::vector<RedisNodeStatus> out;
  for (RedisGateway* m : masters_) {
    out.push_back(m->status());
    out.back().role = "master";
  }
  return out;
}

// ----------------------------------------------------------------- the map --

RedisGateway* ClusterBackend::node_at(const std::string& host, int port) {
  std::string key = address(host, port);
  auto it = nodes_.find(key);
  if (it != nodes_.end()) return it->second.get();
  GatewayOptions o = options_;
  o.endpoint.is_unix = false;
  o.endpoint.host = host;
  o.endpoint.port = port;
  o.endpoint.db = 0;
  auto node = std::make_unique<RedisGateway>(base_, resolver_, std::move(o));
  RedisGateway* raw = node.get();
  nodes_.emplace(std::move(key), std::move(node));
  if (!stopping_) raw->start();
  return raw;
}

// Asks for CLUSTER SLOTS: one refresh at a time, at most one per
// kRefreshGapMs (later asks are folded into one at the end of the gap).
void ClusterBackend::refresh(const std::string& why) {
  if (stopping_) return;
  if (refreshing_) {
    // The map in flight may have been read before what prompted this.
    refresh_again_ = true;
    return;
  }
  int64_t now = now_ms();
  if (now < last_refresh_ms_ + kRefreshGapMs) {
    if (!evtimer_pending(refresh_timer_, nullptr)) {
      timeval tv = timeval_of_ms(last_refresh_ms_ + kRefreshGapMs - now);
      evtimer_add(refresh_timer_, &tv);
    }
    return;
  }
  // Ask a master that is connected, else any node, in turn.
  std::vector<RedisGateway*> candidates;
  for (RedisGateway* m : masters_)
    if (m->connected()) candidates.push_back(m);
  if (candidates.empty())
    for (auto& [name, node] : nodes_) candidates.push_back(node.get());
  if (candidates.empty()) return;
  RedisGateway* asked = candidates[ask_next_++ % candidates.size()];
  refreshing_ = true;
  last_refresh_ms_ = now;
  spdlog::debug("redis: reading the cluster slot map from {} ({})", asked->endpoint().describe(),
                why);
  asked->command({"CLUSTER", "SLOTS"}, [this, asked](ScriptReply&& r) {
    refreshing_ = false;
    if (stopping_) return;
    if (refresh_again_) {
      refresh_again_ = false;
      refresh("asked for while reading the map");  // after the gap
    }
    std::vector<SlotRange> ranges;
    if (r.fault == Fault::kNone) ranges = parse_cluster_slots(r.value, asked->endpoint().host);
    if (ranges.empty()) {
      spdlog::debug("redis: no slot map from {}: {}", asked->endpoint().describe(),
                    r.fault != Fault::kNone ? r.detail : "no slots");
      return refresh("retry");  // another node, after the gap
    }
    apply(ranges, asked);
  });
}

void ClusterBackend::apply(const std::vector<SlotRange>& ranges, const RedisGateway* asked) {
  std::array<RedisGateway*, kClusterSlots> slots{};
  std::map<int, RedisGateway*> first_slot;  // master by its first slot
  for (const SlotRange& r : ranges) {
    RedisGateway* node = node_at(r.host, r.port);
    for (int s = r.first; s <= r.last; ++s) slots[s] = node;
    auto it = std::find_if(first_slot.begin(), first_slot.end(),
                           [node](const auto& e) { return e.second == node; });
    if (it == first_slot.end())
      first_slot.emplace(r.first, node);
    else if (r.first < it->first) {
      first_slot.erase(it);
      first_slot.emplace(r.first, node);
    }
  }
  std::vector<RedisGateway*> masters;
  for (auto& [slot, node] : first_slot) masters.push_back(node);

  size_t moved = 0, uncovered = 0;
  for (int s = 0; s < kClusterSlots; ++s) {
    if (slots[s] != slots_[s]) ++moved;
    if (slots[s] == nullptr) ++uncovered;
  }
  for (RedisGateway* old : masters_)
    if (std::find(masters.begin(), masters.end(), old) == masters.end()) {
      spdlog::warn("redis: {} is no longer a cluster master", old->endpoint().describe());
      if (metrics_ != nullptr) metrics_->failover();
    }
  if (moved > 0 || masters != masters_)
    spdlog::info("redis: cluster slot map from {}: {} masters, {} slots changed owner{}",
                 asked->endpoint().describe(), masters.size(), moved,
                 uncovered ? ", " + std::to_string(uncovered) + " slots without a master" : "");
  slots_ = slots;
  if (masters != masters_) ++generation_;
  masters_ = std::move(masters);
  have_map_ = true;
  update_gauges();
}

void ClusterBackend::update_gauges() {
  if (metrics_ == nullptr) return;
  bool all_up = !masters_.empty();
  size_t inflight = 0;
  for (auto& [name, node] : nodes_) {
    bool master = std::find(masters_.begin(), masters_.end(), node.get()) != masters_.end();
    metrics_->node_master(node->endpoint().describe(), master);
    if (master) all_up = all_up && node->connected();
    inflight += node->inflight();
  }
  metrics_->set_connected(all_up);
  metrics_->set_inflight(inflight);
}

// Every kRefreshMs: the map is read again, and the gateways of nodes that
// are no longer masters and have nothing in flight are closed.
void ClusterBackend::on_timer(int, short, void* arg) {
  auto* self = static_cast<ClusterBackend*>(arg);
  for (auto it = self->nodes_.begin(); it != self->nodes_.end();) {
    RedisGateway* node = it->second.get();
    bool master =
        std::find(self->masters_.begin(), self->masters_.end(), node) != self->masters_.end();
    bool seed = std::any_of(self->seeds_.begin(), self->seeds_.end(), [&](const RedisEndpoint& s) {
      return address(s.host, s.port) == it->first;
    });
    if (!master && !seed && node->inflight() == 0 &&
        std::find(self->slots_.begin(), self->slots_.end(), node) == self->slots_.end()) {
      node->stop();
      it = self->nodes_.erase(it);
    } else {
      ++it;
    }
  }
  self->update_gauges();
  self->refresh("periodic");
  timeval tv = timeval_of_ms(kRefreshMs);
  evtimer_add(self->timer_, &tv);
}

void ClusterBackend::on_refresh_timer(int, short, void* arg) {
  static_cast<ClusterBackend*>(arg)->refresh("after the gap");
}

}  // namespace ticketq
