#include "core/admission.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

#include "base/clock.h"

namespace ticketq {

Admission::Admission(event_base* base, QueueCore& core, const ScriptRunner& redis,
                     LoopMetrics* metrics, AdmissionOptions options)
    : base_(base), core_(core), redis_(redis), metrics_(metrics), options_(options) {
  timer_ = event_new(base_, -1, EV_PERSIST, &Admission::on_tick, this);
}

Admission::~Admission() {
  stop();
  event_free(timer_);
}

void Admission::start() {
  timeval every = timeval_of_ms(options_.tick_ms);
  event_add(timer_, &every);
}

void Admission::stop() {
  event_del(timer_);
  stopped_ = true;
}

void Admission::on_tick(int, short, void* arg) {
  auto* self = static_cast<Admission*>(arg);
  if (!self->redis_.ready()) return;
  if (now_ms() >= self->next_discovery_ms_ && !self->walking_) self->discover();
  self->tick();
}

void Admission::discover() {
  walking_ = true;
  walk_.clear();
  next_page("0");
}

// One page of the walk; the next is asked for when it comes back. The walk
// ends at cursor "0", at max_events, or on a fault (retried next period).
void Admission::next_page(std::string cursor) {
  core_.list_events(cursor, options_.page, [this](EventsPage page) {
    if (stopped_) return;
    if (!page.ok()) {
      spdlog::warn("admission: could not list events: {}", page.detail);
      walking_ = false;
      next_discovery_ms_ = now_ms() + options_.discover_ms;
      return;
    }
    for (std::string& e : page.events)
      if (walk_.size() < options_.max_events) walk_.emplace(std::move(e), Entry{});
    if (page.cursor != "0" && walk_.size() < options_.max_events) return next_page(page.cursor);
    if (walk_.size() >= options_.max_events && events_.size() < options_.max_events)
      spdlog::warn("admission: more than {} events in redis; the rest are not ticked",
                   options_.max_events);
    // Known events keep their state: a step in flight stays counted, so
    // that no event ever has two.
    for (auto& [name, entry] : walk_) {
      auto it = events_.find(name);
      if (it != events_.end()) entry = it->second;
    }
    events_.swap(walk_);
    walk_.clear();
    walking_ = false;
    next_discovery_ms_ = now_ms() + options_.discover_ms;
  });
}

void Admission::tick() {
  const int64_t now = now_ms();
  for (auto& [name, entry] : events_)
    if (entry.idle_until_ms <= now && !entry.in_flight) step(name, entry);
}

// A step cut short by its bounds (`more`: a sweep or an admission of
// sweep_max users) is followed by the next at once, so that an event admits
// at its rate however high, in calls of a bounded size.
void Admission::step(const std::string& name, Entry& entry) {
  entry.in_flight = true;
  core_.tick(name, options_.sweep_max, options_.gap_ms(), [this, name](TickResult r) {
    if (stopped_) return;
    auto it = events_.find(name);
    if (it != events_.end()) {
      it->second.in_flight = false;
      it->second.idle_until_ms = r.ok() && r.idle ? now_ms() + options_.idle_recheck_ms : 0;
    }
    if (r.no_event) return;  // its settings were deleted: the next walk drops it
    if (!r.ok()) return spdlog::debug("admission: {}: {}", name, r.detail);
    if (r.admitted > 0 && metrics_ != nullptr)
      metrics_->promoted(name, static_cast<size_t>(r.admitted));
    if (r.expired_holds > 0 || r.expired_waiters > 0)
      spdlog::debug("admission: {}: {} holds ended, {} waiters expired", name, r.expired_holds,
                    r.expired_waiters);
    if (r.more && it != events_.end() && redis_.ready()) step(it->first, it->second);
  });
}

}  // namespace ticketq
