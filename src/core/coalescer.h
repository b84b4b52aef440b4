// Request coalescing. Reserve and status requests that arrive in the same
// turn of an event loop are gathered per event and sent as one script call
// each (at most max_batch users per call), then answered one by one. Under
// light load a batch holds one request and nothing waits: the flush runs at
// the end of the turn that queued it. Under heavy load Redis runs one script
// for many users, which is what lets one Redis serve a rush.
//
// Semantics are those of single calls: within a batch, order of arrival is
// order in line; a user twice in one batch gets the answer of a repeat.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "core/queue_core.h"

struct event_base;
struct event;

namespace ticketq {

class Coalescer {
 public:
  // `metrics` (optional) records the size of every batch sent.
  Coalescer(event_base* base, QueueCore& core, size_t max_batch, LoopMetrics* metrics = nullptr);
  ~Coalescer();
  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  void reserve(const std::string& event, std::string user, std::function<void(ReserveResult)> cb);
  void status(const std::string& event, std::string user, std::function<void(StatusResult)> cb);

  // Sends everything gathered so far (normally done at the end of the turn).
  void flush();

 private:
  template <typename Result>
  struct Batch {
    std::vector<std::string> users;
    std::vector<std::function<void(Result)>> callbacks;
  };
  template <typename Result, typename Send>
  void send_batches(std::map<std::string, Batch<Result>>& pending, Send send);
  void schedule();
  static void on_flush(int fd, short what, void* arg);

  QueueCore& core_;
  size_t max_batch_;
  LoopMetrics* metrics_;
  event* flush_event_;
  bool scheduled_ = false;
  std::map<std::string, Batch<ReserveResult>> reserves_;  // by event
  std::map<std::string, Batch<StatusResult>> statuses_;
};

}  // namespace ticketq
