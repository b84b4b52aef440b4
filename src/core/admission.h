// The admission timer. Every instance runs one (on its first event loop):
// no instance is special, and none needs to know of the others. It walks
// the events stored in Redis every discover_ms, and every tick_ms runs each
// event's admission step (scripts.h: tick) — one script that sweeps ended
// holds and silent waiters and admits from the head of the line at the
// event's admit_rate. The rate's bucket lives in Redis on Redis's clock, so
// the total over all instances is the rate, however many run.
//
// An event whose step says it is idle (manual admission, no waiter expiry,
// no hold that ends) is stepped only every idle_recheck_ms, so that a PUT
// that turns admission on (on any instance) takes effect within about that
// long. New events are found by the next walk. One step per event is in flight
// at a time. A step admits and sweeps at most sweep_max users each; one cut
// short is followed by the next at once (the rate's allowance carries over),
// so any rate works in calls of a bounded size. Nothing runs while Redis is
// not ready.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/metrics.h"
#include "core/queue_core.h"

struct event_base;
struct event;

namespace ticketq {

struct AdmissionOptions {
  int64_t tick_ms = 200;
  int64_t discover_ms = 2000;
  int64_t idle_recheck_ms = 1000;
  int64_t sweep_max = 1000;  // holds, waiters dropped and users admitted per step at most
  // No step for longer than this is an outage: waiters then get one
  // waiter_ttl_s of grace (scripts.cpp: tick). Steps note their time at
  // most once a second, hence the 1.5 s; taking a stall for an outage only
  // delays expiry by one TTL.
  int64_t gap_ms() const { return 1500 + 2 * tick_ms; }
  size_t max_events = 10000;
  int64_t page = 1000;  // SCAN COUNT per page of the walk
};

class Admission {
 public:
  Admission(event_base* base, QueueCore& core, const ScriptRunner& redis, LoopMetrics* metrics,
            AdmissionOptions options);
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  void start();
  void stop();

  // How many events the last complete walk found (for tests and logs).
  size_t known_events() const { return events_.size(); }

 private:
  struct Entry {
    int64_t idle_until_ms = 0;  // skipped until then
    bool in_flight = false;
  };

  void discover();
  void next_page(std::string cursor);
  void tick();
  void step(const std::string& name, Entry& entry);

  static void on_tick(int, short, void* arg);

  event_base* base_;
  QueueCore& core_;
  const ScriptRunner& redis_;
  LoopMetrics* metrics_;
  AdmissionOptions options_;
  event* timer_ = nullptr;
  int64_t next_discovery_ms_ = 0;
  bool walking_ = false;
  std::map<std::string, Entry> walk_;  // the walk in progress
  std::map<std::string, Entry> events_;
  // Answers that arrive after stop() change nothing. The owner keeps the
  // Admission until the script runner has answered every call (server.cpp
  // stops the gateway first).
  bool stopped_ = false;
};

}  // namespace ticketq
