#include "core/coalescer.h"

#include <event2/event.h>
#include <spdlog/spdlog.h>

namespace ticketq {

Coalescer::Coalescer(event_base* base, QueueCore& core, size_t max_batch, LoopMetrics* metrics)
    : core_(core),
      max_batch_(max_batch),
      metrics_(metrics),
      flush_event_(event_new(base, -1, 0, &on_flush, this)) {}

// The owner drains the loop before destroying us, so nothing is pending.
Coalescer::~Coalescer() {
  event_free(flush_event_);
}

void Coalescer::reserve(const std::string& event, std::string user,
                        std::function<void(ReserveResult)> cb) {
  Batch<ReserveResult>& b = reserves_[event];
  b.users.push_back(std::move(user));
  b.callbacks.push_back(std::move(cb));
  schedule();
}

void Coalescer::status(const std::string& event, std::string user,
                       std::function<void(StatusResult)> cb) {
  Batch<StatusResult>& b = statuses_[event];
  b.users.push_back(std::move(user));
  b.callbacks.push_back(std::move(cb));
  schedule();
}

// Activating the event puts it behind every callback already due in this
// turn (the reads of other connections), so it runs once they have all
// queued their requests.
void Coalescer::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  event_active(flush_event_, 0, 0);
}

void Coalescer::on_flush(int, short, void* arg) {
  static_cast<Coalescer*>(arg)->flush();
}

template <typename Result, typename Send>
void Coalescer::send_batches(std::map<std::string, Batch<Result>>& pending, Send send) {
  // Take the map first: callbacks may run synchronously and queue anew.
  std::map<std::string, Batch<Result>> batches;
  batches.swap(pending);
  for (auto& [event, batch] : batches) {
    for (size_t start = 0; start < batch.users.size(); start += max_batch_) {
      size_t end = std::min(batch.users.size(), start + max_batch_);
      std::vector<std::string> users(std::make_move_iterator(batch.users.begin() + start),
                                     std::make_move_iterator(batch.users.begin() + end));
      std::vector<std::function<void(Result)>> cbs(
          std::make_move_iterator(batch.callbacks.begin() + start),
          std::make_move_iterator(batch.callbacks.begin() + end));
      if (metrics_ != nullptr) metrics_->batch(users.size());
      send(event, std::move(users), [cbs = std::move(cbs)](std::vector<Result> results) {
        // The queue core gives one result per user. Should it ever not, the
        // i-th result may not be the i-th user's: answer nobody's request
        // with someone else's result.
        if (results.size() != cbs.size()) {
          spdlog::error("coalescer: internal error: {} results for a batch of {} users",
                        results.size(), cbs.size());
          Result failed;
          failed.fault = Fault::kError;
          failed.detail = "internal error: batch reply size";
          for (auto& cb : cbs) cb(failed);
          return;
        }
        for (size_t i = 0; i < cbs.size(); ++i) cbs[i](std::move(results[i]));
      });
    }
  }
}

void Coalescer::flush() {
  scheduled_ = false;
  send_batches(reserves_, [this](const std::string& e, std::vector<std::string> users, auto cb) {
    core_.reserve_many(e, std::move(users), std::move(cb));
  });
  send_batches(statuses_, [this](const std::string& e, std::vector<std::string> users, auto cb) {
    core_.status_many(e, std::move(users), std::move(cb));
  });
}

}  // namespace ticketq
