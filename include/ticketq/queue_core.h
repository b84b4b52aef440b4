// The queue core: reserve, status, promote, leave, reset and event settings, each
// one atomic script call through a ScriptRunner. It knows nothing of HTTP;
// callers get plain results through callbacks, called exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ticketq/script_runner.h"
#include "ticketq/validate.h"

namespace ticketq {

// What every result carries besides its own fields.
struct Outcome {
  Fault fault = Fault::kNone;  // not kNone: Redis did not answer usefully (503)
  std::string detail;
  bool no_event = false;  // the event was never created (404)
  bool ok() const { return fault == Fault::kNone && !no_event; }
};

enum class ReserveStatus {
  kReserved = 1,
  kQueued,
  kAlreadyReserved,
  kAlreadyInQueue,
  kSoldOut,
  kClosed,  // the event takes nobody new
};
struct ReserveResult : Outcome {
  ReserveStatus status = ReserveStatus::kSoldOut;
  int64_t position = 0;  // 1-based, for kQueued and kAlreadyInQueue
};

enum class UserStatus { kNotFound = 0, kReserved = 1, kInQueue = 2 };
struct StatusResult : Outcome {
  UserStatus status = UserStatus::kNotFound;
  int64_t position = 0;
};

enum class LeaveStatus { kNotInLine = 0, kLeft = 1, kHoldsSeat = 2 };
struct LeaveResult : Outcome {
  LeaveStatus status = LeaveStatus::kNotInLine;
  int64_t position = 0;  // the place the user had, for kLeft
};

struct PromoteResult : Outcome {
  std::vector<std::string> promoted;  // in line order
  int64_t remaining = 0;
  bool not_open = false;  // refused: the event is paused or closed (state)
  EventState state = EventState::kOpen;
};

struct ResetResult : Outcome {};

struct PutEventResult : Outcome {
  bool created = false;
  bool below_reserved = false;  // refused: capacity < seats already reserved
  int64_t reserved = 0;
  bool needs_size = false;  // refused: a new event needs capacity and queue_limit
  // The event's settings after the call.
  EventSettings settings;
  EventState state = EventState::kOpen;
};

struct EventInfo : Outcome {
  EventSettings settings;
  EventState state = EventState::kOpen;
  int64_t reserved = 0;
  int64_t waiting = 0;
  int64_t promoted = 0;  // since the last reset
  int64_t left = 0;      // users who left the line since the last reset
};

struct QueueOptions {
  std::string key_prefix = "ticketq";
  // The default event exists without being created. The first script that
  // finds no settings for it in Redis stores these; from then on Redis's
  // settings count for every instance (scripts.h).
  std::string default_event = "default";
  EventSettings default_settings{500, 500};
};

class QueueCore {
 public:
  QueueCore(ScriptRunner& runner, QueueOptions options);

  void reserve(const std::string& event, std::string user, std::function<void(ReserveResult)> cb);
  void status(const std::string& event, std::string user, std::function<void(StatusResult)> cb);
  // The same for many users in one script call; results in the order of
  // `users` (which, for reserve, is their order in line).
  void reserve_many(const std::string& event, std::vector<std::string> users,
                    std::function<void(std::vector<ReserveResult>)> cb);
  void status_many(const std::string& event, std::vector<std::string> users,
                   std::function<void(std::vector<StatusResult>)> cb);
  void promote(const std::string& event, int64_t limit, std::function<void(PromoteResult)> cb);
  // A waiting user leaves the line; everyone behind moves up by one.
  void leave(const std::string& event, std::string user, std::function<void(LeaveResult)> cb);
  void reset(const std::string& event, std::function<void(ResetResult)> cb);
  void put_event(const std::string& event, const EventPatch& patch,
                 std::function<void(PutEventResult)> cb);
  void get_event(const std::string& event, std::function<void(EventInfo)> cb);

  // The Redis keys of an event, in the order the scripts expect (scripts.h).
  std::vector<std::string> keys(const std::string& event) const;

 private:
  // KEYS, the two fallback-settings arguments every script starts with, then
  // the script's own arguments.
  std::vector<std::string> script_argv(const std::string& event,
                                       std::vector<std::string> extra = {}) const;

  ScriptRunner& runner_;
  QueueOptions options_;
};

}  // namespace ticketq
