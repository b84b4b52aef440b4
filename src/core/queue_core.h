// The queue core: reserve, status, promote, leave, cancel, confirm, verify,
// the admission tick, reset, event settings and the chart's history, each
// one atomic script call through a ScriptRunner.
// It knows nothing of HTTP; callers get plain results through callbacks, called exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/validate.h"
#include "core/history.h"
#include "redis/script_runner.h"

namespace ticketq {

struct QueueScript;  // scripts.h

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
  int64_t ticket = 0;    // the join's ticket, for kReserved and kQueued
};

// How fast the line moves, measured in Redis, the same for every instance
// (scripts.h): what an estimate of the wait is made from.
struct Pace {
  int64_t now_ms = 0;                // Redis's clock
  int64_t admitted_last_minute = 0;  // from the line
  int64_t span_ms = 0;               // the time those admissions took (>= 5 s when any)
  bool paused = false;               // paused or closed event, or admit_rate 0
  int64_t waiter_ttl_s = 0;
  EventState state = EventState::kOpen;
};

enum class UserStatus { kNotFound = 0, kReserved = 1, kInQueue = 2 };
struct StatusResult : Outcome {
  UserStatus status = UserStatus::kNotFound;
  int64_t position = 0;
  // The ticket of the join that waits (kInQueue) or got the seat
  // (kReserved; 0 for a seat from before tickets); for kReserved, whether it
  // is confirmed, when its hold ends (ms since the epoch; 0: never) and
  // whether a verify consumed it.
  int64_t ticket = 0;
  bool confirmed = false;
  int64_t hold_ends_ms = 0;
  bool used = false;
  Pace pace;
};

enum class LeaveStatus { kNotInLine = 0, kLeft = 1, kHoldsSeat = 2, kOtherJoin = 9 };
struct LeaveResult : Outcome {
  LeaveStatus status = LeaveStatus::kNotInLine;
  int64_t position = 0;  // the place the user had, for kLeft
};

// The outcome of cancel, confirm and verify: calls on a user's seat.
enum class SeatStatus {
  kNoSeat = 0,       // holds no seat (`waiting` says whether the user is in line)
  kDone = 1,         // cancelled, confirmed, valid
  kUnchanged = 2,    // confirm: confirmed already
  kIsConfirmed = 3,  // cancel: a sold seat, which only an operator cancels
  kHoldEnded = 4,    // the hold's time is up
  kUsed = 5,         // verify with consume: consumed already
  kOtherJoin = 9,    // the token is of an earlier join of this user id
};
struct SeatResult : Outcome {
  SeatStatus status = SeatStatus::kNoSeat;
  bool waiting = false;      // cancel: the user is in line instead
  bool confirmed = false;    // verify
  int64_t hold_ends_ms = 0;  // verify: 0 never; for kHoldEnded when it ended
  bool used = false;         // verify: the admission is consumed (now or before)
};

struct PromoteResult : Outcome {
  std::vector<std::string> promoted;  // in line order
  int64_t remaining = 0;
  bool not_open = false;  // refused: the event is paused or closed (state)
  EventState state = EventState::kOpen;
};

struct TickResult : Outcome {
  int64_t admitted = 0;
  int64_t expired_holds = 0;
  int64_t expired_waiters = 0;
  bool more = false;  // a sweep was cut at its bound: tick again soon
  bool idle = false;  // nothing changes by itself (manual, no expiry pending)
};

struct EventsPage : Outcome {
  std::string cursor;  // "0": the walk is complete
  std::vector<std::string> events;
};

struct ResetResult : Outcome {};

struct PutEventResult : Outcome {
  bool created = false;
  bool below_reserved = false;  // refused: capacity < seats already reserved
  int64_t reserved = 0;
  bool needs_size = false;  // refused: a new event needs capacity and queue_limit
  // The event's settings after the call.
  EventSettings settings;
  AdmissionSettings admission;
  EventState state = EventState::kOpen;
};

struct EventInfo : Outcome {
  EventSettings settings;
  AdmissionSettings admission;
  EventState state = EventState::kOpen;
  int64_t reserved = 0;  // seats taken: holding + confirmed
  int64_t waiting = 0;
  int64_t holding = 0;    // admitted, not confirmed
  int64_t confirmed = 0;  // sold
  int64_t admitted_last_minute = 0;
  // Since the last reset:
  int64_t promoted = 0;  // admitted from the line
  int64_t left = 0;
  int64_t expired_holds = 0;
  int64_t expired_waiters = 0;
  int64_t cancelled = 0;
};

// The history ring of an event (scripts.h): its samples as stored, in no
// order (history.h makes the chart's points of them).
struct HistoryResult : Outcome {
  int64_t now_ms = 0;  // Redis's clock
  std::vector<HistoryPoint> samples;
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
  // The calls on one user. `ticket` is the join a token names (nullopt: an
  // operator, who may act for any join).
  // A waiting user leaves the line; everyone behind moves up by one.
  void leave(const std::string& event, std::string user, std::optional<int64_t> ticket,
             std::function<void(LeaveResult)> cb);
  // The seat goes back; only an operator cancels a confirmed one.
  void cancel(const std::string& event, std::string user, std::optional<int64_t> ticket,
              std::function<void(SeatResult)> cb);
  // The hold no longer ends. Idempotent.
  void confirm(const std::string& event, std::string user, std::optional<int64_t> ticket,
               std::function<void(SeatResult)> cb);
  // Whether the seat of join `ticket` is held now; `consume` accepts it once.
  void verify(const std::string& event, std::string user, int64_t ticket, bool consume,
              std::function<void(SeatResult)> cb);
  // The admission timer's step for one event (scripts.h: tick). `gap_ms`:
  // a longer time since the last step means an outage, after which waiters
  // get one waiter_ttl_s of grace.
  void tick(const std::string& event, int64_t sweep_max, int64_t gap_ms,
            std::function<void(TickResult)> cb);
  // One page of the events stored in Redis, from `cursor` ("0" to start).
  void list_events(const std::string& cursor, int64_t count, std::function<void(EventsPage)> cb);
  void reset(const std::string& event, std::function<void(ResetResult)> cb);
  void put_event(const std::string& event, const EventPatch& patch,
                 std::function<void(PutEventResult)> cb);
  void get_event(const std::string& event, std::function<void(EventInfo)> cb);
  void history(const std::string& event, std::function<void(HistoryResult)> cb);

  // The Redis keys of an event, in the order the scripts expect (scripts.h).
  std::vector<std::string> keys(const std::string& event) const;

 private:
  // KEYS, the two fallback-settings arguments every script starts with, then
  // the script's own arguments.
  std::vector<std::string> script_argv(const std::string& event,
                                       std::vector<std::string> extra = {}) const;
  void seat_call(const QueueScript& script, const std::string& event,
                 std::vector<std::string> extra, std::function<void(SeatResult)> cb);

  ScriptRunner& runner_;
  QueueOptions options_;
};

}  // namespace ticketq
