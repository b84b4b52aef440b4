#include "pages/watchers.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "base/clock.h"
#include "base/metrics.h"

namespace ticketq {

namespace {

// What a user's streams are counted by: event and user (neither holds a
// newline).
std::string user_key(std::string_view event, std::string_view user) {
  std::string key;
  key.reserve(event.size() + 1 + user.size());
  key.append(event).append(1, '\n').append(user);
  return key;
}

// FNV-1a, 64 bits: a digest to compare states by, not a defence.
uint64_t fnv1a(std::string_view s, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t mix(uint64_t h, int64_t v) {
  return fnv1a(std::string_view(reinterpret_cast<const char*>(&v), sizeof v), h);
}

// What moves the watchers of an event: every way a place ends or changes
// (an admission, a leave, an expiry, a cancel, a sale) and what the ETA is
// made of (the state, the rate, the admissions of the last minute). Joins at
// the back of the line move nobody, so the count of waiters is not in it;
// a reset, which zeroes the counters, shows as fewer waiters (on_counters).
uint64_t counters_digest(const EventInfo& e) {
  int64_t rate = -1;  // manual
  if (e.admission.admit_rate) std::memcpy(&rate, &*e.admission.admit_rate, sizeof rate);
  uint64_t h = 14695981039346656037ull;
  for (int64_t v : {static_cast<int64_t>(e.state), e.promoted, e.left, e.cancelled, e.expired_holds,
                    e.expired_waiters, e.confirmed, e.holding, e.reserved, e.admitted_last_minute,
                    e.admission.hold_s, e.admission.waiter_ttl_s, rate})
    h = mix(h, v);
  return h;
}

std::optional<uint64_t> parse_digest(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string stream_preamble(int64_t retry_ms) {
  return "retry: " + std::to_string(retry_ms) + "\n: ticketq\n\n";
}

std::string view_json(const VisitorView& v) {
  return v.data.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

uint64_t view_digest(const VisitorView& v, std::string_view json) {
  if (v.state == VisitorState::kAdmitted)
    return mix(fnv1a("admitted"), v.hold_ends_ms) | 1;  // never 0: 0 is "nothing told"
  return fnv1a(json) | 1;
}

std::string stream_event(const VisitorView& v, uint64_t digest, std::string_view json) {
  char id[24];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(digest));
  std::string out = "id: ";
  out += id;
  out += "\nevent: ";
  out += visitor_state_name(v.state);
  out += "\ndata: ";
  out += json;
  out += "\n\n";
  return out;
}

Watchers::Watchers(event_base* base, QueueCore& core, StreamSink& sink, const Tokens& tokens,
                   WatchOptions options, LoopMetrics* metrics)
    : base_(base),
      core_(core),
      sink_(sink),
      tokens_(tokens),
      options_(options),
      metrics_(metrics),
      timer_(event_new(base, -1, EV_PERSIST, &Watchers::on_tick, this)),
      beat_timer_(event_new(base, -1, EV_PERSIST, &Watchers::on_beat, this)) {
  timeval every = timeval_of_ms(options_.tick_ms);
  event_add(timer_, &every);
  timeval beat = timeval_of_ms(options_.heartbeat_ms);
  event_add(beat_timer_, &beat);
}

// The transport closes the streams still open, without calling back.
Watchers::~Watchers() {
  *alive_ = false;
  event_free(timer_);
  event_free(beat_timer_);
  if (metrics_ != nullptr)
    for (size_t i = 0; i < watchers_.size(); ++i) metrics_->stream_closed();
}

void Watchers::open(Reply reply, Response head, const std::string& event, std::string user,
                    int64_t ticket, int64_t ahead_at_join, std::string_view last_id) {
  bool counted = options_.per_user != nullptr && options_.max_per_user > 0;
  if (counted && !options_.per_user->acquire(user_key(event, user), options_.max_per_user))
    return reply.error(429, "this user has " + std::to_string(options_.max_per_user) +
                                " streams of this event open (max_streams_per_user); close one");
  const uint64_t id = next_id_++;
  StreamHandle s = reply.stream(std::move(head), [this, id] { remove(id); });
  if (s == nullptr) {
    if (counted) options_.per_user->release(user_key(event, user));
    return;
  }
  if (metrics_ != nullptr) metrics_->stream_opened();
  Watcher& w = watchers_[id];
  w.stream = s;
  w.counted = counted;
  w.event = event;
  w.user = std::move(user);
  w.ticket = ticket;
  w.ahead_at_join = ahead_at_join;
  w.told = parse_digest(last_id).value_or(0);
  sink_.push(s, stream_preamble(options_.retry_ms));
  if (closing_) return end(id, w), void();
  Watched& e = events_[event];
  e.ids.insert(id);
  e.fresh.push_back(id);
}

void Watchers::farewell() {
  closing_ = true;
  event_del(timer_);
  event_del(beat_timer_);
  std::vector<uint64_t> ids;
  ids.reserve(watchers_.size());
  for (auto& [id, w] : watchers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = watchers_.find(id);
    if (it != watchers_.end()) end(id, it->second);
  }
}

// Tells the client to reconnect (shutdown) or sends its final state, then
// ends the stream.
void Watchers::end(uint64_t id, Watcher& w) {
  if (closing_ && !is_final(w.state)) {
    VisitorView v = simple_view(VisitorState::kReconnect, w.user);
    v.data["retry_ms"] = options_.retry_ms;
    const std::string json = view_json(v);
    sink_.push(w.stream, stream_event(v, view_digest(v, json), json));
    if (metrics_ != nullptr) metrics_->stream_event(visitor_state_name(v.state));
  }
  sink_.end_stream(w.stream);  // no on_close after this
  remove(id);
}

void Watchers::remove(uint64_t id) {
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  auto e = events_.find(it->second.event);
  if (e != events_.end()) {
    e->second.ids.erase(id);
    if (e->second.ids.empty() && e->second.calls == 0) events_.erase(e);
  }
  if (it->second.counted) options_.per_user->release(user_key(it->second.event, it->second.user));
  watchers_.erase(it);
  if (metrics_ != nullptr) metrics_->stream_closed();
}

void Watchers::on_tick(int, short, void* arg) {
  static_cast<Watchers*>(arg)->tick();
}

// A comment on every stream. One too slow to take it is closed; its
// on_close removes it later.
void Watchers::on_beat(int, short, void* arg) {
  auto* self = static_cast<Watchers*>(arg);
  for (auto& [id, w] : self->watchers_) self->sink_.push(w.stream, ": hb\n\n");
}

void Watchers::tick() {
  // Callbacks may run at once (Redis down): pick the events first.
  std::vector<std::string> due;
  for (auto it = events_.begin(); it != events_.end();) {
    if (it->second.ids.empty() && it->second.calls == 0) {
      it = events_.erase(it);
      continue;
    }
    if (it->second.calls == 0) due.push_back(it->first);
    ++it;
  }
  for (const std::string& name : due) {
    auto it = events_.find(name);
    if (it == events_.end()) continue;
    ++it->second.calls;
    if (metrics_ != nullptr) metrics_->stream_read(false);
    core_.get_event(name, [this, alive = alive_, name](EventInfo info) {
      if (*alive) on_counters(name, info);
    });
  }
}

// Every call in flight counts in `calls`, which keeps the event's entry
// (and references to it) alive until the call's callback has finished.
void Watchers::settle(std::map<std::string, Watched>::iterator it) {
  --it->second.calls;
  if (it->second.ids.empty() && it->second.calls == 0) events_.erase(it);
}

void Watchers::on_counters(const std::string& event, const EventInfo& info) {
  auto it = events_.find(event);
  if (it == events_.end()) return;
  Watched& e = it->second;
  if (info.fault != Fault::kNone) return settle(it);  // read again next tick
  if (info.no_event) {
    // The event is gone (or never was): nobody is in it.
    std::vector<uint64_t> ids(e.ids.begin(), e.ids.end());
    for (uint64_t id : ids) {
      auto w = watchers_.find(id);
      if (w != watchers_.end())
        tell(id, w->second, simple_view(VisitorState::kClosed, w->second.user));
    }
    return settle(it);
  }
  const int64_t now = now_ms();
  const uint64_t counters = counters_digest(info);
  // Reading a waiter's state refreshes their heartbeat once it is a quarter
  // of waiter_ttl_s old: read at least that often, so watching is waiting.
  const int64_t ttl_ms = info.admission.waiter_ttl_s * 1000;
  const int64_t read_all_every = ttl_ms > 0 ? std::max(options_.tick_ms, ttl_ms / 4) : 30000;
  std::vector<uint64_t> ids;
  if (!e.read || counters != e.counters || info.waiting < e.waiting ||
      now - e.read_all_ms >= read_all_every) {
    ids.assign(e.ids.begin(), e.ids.end());
    e.read_all_ms = now;
    e.fresh.clear();
  } else {
    ids.swap(e.fresh);
  }
  e.read = true;
  e.counters = counters;
  e.waiting = info.waiting;
  read_users(it, ids);
  settle(it);
}

void Watchers::read_users(std::map<std::string, Watched>::iterator it,
                          const std::vector<uint64_t>& ids) {
  const std::string& event = it->first;
  for (size_t from = 0; from < ids.size(); from += options_.batch) {
    std::vector<uint64_t> chunk;
    std::vector<std::string> users;
    for (size_t i = from; i < ids.size() && i < from + options_.batch; ++i) {
      auto w = watchers_.find(ids[i]);
      if (w == watchers_.end()) continue;
      chunk.push_back(ids[i]);
      users.push_back(w->second.user);
    }
    if (users.empty()) continue;
    ++it->second.calls;
    if (metrics_ != nullptr) metrics_->stream_read(true);
    core_.status_many(
        event, std::move(users),
        [this, alive = alive_, event, chunk = std::move(chunk)](std::vector<StatusResult> results) {
          if (*alive) on_users(event, chunk, results);
        });
  }
}

void Watchers::on_users(const std::string& event, const std::vector<uint64_t>& ids,
                        const std::vector<StatusResult>& results) {
  auto it = events_.find(event);
  if (it == events_.end()) return;
  Watched& e = it->second;
  for (size_t i = 0; i < ids.size() && i < results.size(); ++i) {
    auto found = watchers_.find(ids[i]);
    if (found == watchers_.end()) continue;
    Watcher& w = found->second;
    const StatusResult& r = results[i];
    if (r.fault != Fault::kNone) {
      e.read_all_ms = 0;  // read them all again next tick: a heartbeat may be due
      continue;
    }
    if (r.no_event) {
      tell(ids[i], w, simple_view(VisitorState::kClosed, w.user));
      continue;
    }
    // An admission already told is not signed again.
    if (w.state == VisitorState::kAdmitted && r.status == UserStatus::kReserved &&
        (r.ticket == w.ticket || r.ticket == 0) && !r.confirmed &&
        r.hold_ends_ms == w.hold_ends_ms && (r.hold_ends_ms == 0 || r.hold_ends_ms > r.pace.now_ms))
      continue;
    VisitorView v = visitor_view(r, w.user, w.ticket, event, tokens_, w.state, w.hold_ends_ms);
    add_progress(v, w.ahead_at_join);
    tell(ids[i], w, v);
  }
  settle(it);
}

void Watchers::tell(uint64_t id, Watcher& w, const VisitorView& v) {
  const std::string json = view_json(v);
  const uint64_t digest = view_digest(v, json);
  w.state = v.state;
  if (v.state == VisitorState::kAdmitted) w.hold_ends_ms = v.hold_ends_ms;
  if (digest != w.told) {
    w.told = digest;
    sink_.push(w.stream, stream_event(v, digest, json));
    if (metrics_ != nullptr) metrics_->stream_event(visitor_state_name(v.state));
  }
  if (is_final(v.state)) end(id, w);
}

}  // namespace ticketq
