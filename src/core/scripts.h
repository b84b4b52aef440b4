// The Lua scripts that make every queue decision atomically inside Redis.
// Each reads every key it will write (a wrong-typed or corrupt key fails the
// script there) and makes all its checks before its first write, because
// Redis never rolls a script back.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "redis/script_runner.h"

namespace ticketq {

// The keys of one event E, in the order every script takes them as KEYS.
// The names are defined here once; the scripts see them as Lua locals
// (K_CFG, K_RESERVED, ...) and the queue core builds PREFIX:{E}:<name>.
//   cfg       Hash    capacity, queue_limit, state, admit_rate, hold_s,
//                     waiter_ttl_s, and tickets (the last ticket given; it
//                     survives a reset, so a ticket names one join for
//                     good). The event exists once capacity is stored.
//   reserved  Set     user ids holding a seat, admitted or confirmed (never
//                     more than capacity)
//   queued    Sorted set  the line: waiting user id -> ticket number. It
//                     dedups, keeps join order (tickets only grow), gives a
//                     position as ZRANK + 1 in O(log n), exact after any
//                     number of leaves, and pops its head with ZPOPMIN.
//   stats     Hash    since the last reset: counters (promoted, left,
//                     cancelled, expired_holds, expired_waiters), the
//                     admission bucket (bucket in thousandths of a user,
//                     bucket_ms), the admissions of the last minute in
//                     twelve 5-second slots (r0..r11, rt = the newest slot),
//                     with waiter expiry on, when a step last ran
//                     (stepped_ms) and the end of the grace after an outage
//                     (grace_until), and the history ring of the dashboard's
//                     chart (h0..h59, see kHistorySlots)
//   seats     Hash    seat holder -> the ticket of the join that got it,
//                     with a "u" appended once a verify consumed it
//   holds     Sorted set  admitted, not yet confirmed -> when the hold ends
//                     (ms since the epoch, Redis's clock; inf: never)
//   seen      Sorted set  the ticket of a waiting user's join -> last
//                     heartbeat (ms), kept only while the event has a
//                     waiter_ttl_s (a ticket is shorter than a user id)
inline constexpr std::array<const char*, 7> kEventKeys = {"cfg",   "reserved", "queued", "stats",
                                                          "seats", "holds",    "seen"};
constexpr int kScriptKeyCount = static_cast<int>(kEventKeys.size());

// ARGV[1], ARGV[2] of every event script are the default event's capacity
// and queue_limit ("" for any other event). The default event is created in
// Redis with them by the first script that finds it missing; from then on
// every instance reads the stored settings, whatever its own flags say.

// The status script answers {0, the line's pace in kStatusHeader figures
// (now, admitted in the last minute, their span, paused, waiter_ttl_s, the
// event's state: 0 open, 1 paused, 2 closed), then five figures per user}.
constexpr size_t kStatusHeader = 6;

// The most values a script passes to one Redis command: longer lists go in
// pieces (Lua's unpack fails at 8,000 values), so no call's size grows with
// its input. Even, so that pairs stay whole.
constexpr int kScriptChunk = 1000;
static_assert(kScriptChunk % 2 == 0);

// Admissions of the last minute are kept in kRateSlots slots of
// kRateSlotMs each.
constexpr int64_t kRateSlotMs = 5000;
constexpr int kRateSlots = 12;

// The history of the dashboard's chart: the event's waiting and admitted
// (holding, not confirmed) counts over the last ten minutes, a ring of
// kHistorySlots fields of the stats hash, h0..h59, one per kHistorySlotMs
// of Redis's clock: field h<t / kHistorySlotMs % kHistorySlots> holds
// "t:waiting:admitted", the counts after the last change in that slot (t in
// ms). Every script that changes either count writes it with its other
// writes, so an event where nothing changes writes nothing, and a field
// names its own time, so one left from an earlier turn of the ring is told
// apart. A reset empties it with the stats.
constexpr int64_t kHistorySlotMs = 10000;
constexpr int kHistorySlots = 60;

// Result codes shared by the scripts (as Lua locals of the same names) and
// the queue core.
namespace code {
constexpr int kNoEvent = -1;
constexpr int kBelowReserved = -2;
constexpr int kNotOpen = -3;    // promote: the event is paused or closed
constexpr int kNeedsSize = -4;  // put: a new event needs capacity and queue_limit
constexpr int kOk = 0;
// reserve outcomes
constexpr int kReserved = 1;
constexpr int kQueued = 2;
constexpr int kAlreadyReserved = 3;
constexpr int kAlreadyInQueue = 4;
constexpr int kSoldOut = 5;
constexpr int kClosed = 6;  // the event is closed to newcomers
// status outcomes
constexpr int kNotFound = 0;
constexpr int kIsReserved = 1;
constexpr int kInQueue = 2;
// leave outcomes
constexpr int kNotInLine = 0;
constexpr int kLeft = 1;
constexpr int kHoldsSeat = 2;
// outcomes of the calls on a seat (cancel, confirm, verify); leave and
// these answer kOtherJoin when a token names an earlier join of the user
constexpr int kNoSeat = 0;       // holds no seat (see the waiting flag)
constexpr int kDone = 1;         // cancelled, confirmed, valid
constexpr int kUnchanged = 2;    // confirm: was confirmed already
constexpr int kIsConfirmed = 3;  // cancel: a sold seat; only an operator cancels it
constexpr int kHoldEnded = 4;    // the hold's time is up (the sweep frees it)
constexpr int kUsed = 5;         // verify with consume: consumed before
constexpr int kOtherJoin = 9;
}  // namespace code

struct Scripts {
  Script reserve;  // ARGV[3..]: users in order of arrival -> {0, code, pos, ticket, ...}
  // ARGV[3..]: users -> {0, now_ms, admitted_last_minute, span_ms, paused,
  //   waiter_ttl_s, then per user: code, pos, ticket, hold_end, used}
  //   hold_end: ms, -1 never ends, -2 confirmed. Refreshes stale heartbeats.
  Script status;
  Script promote;  // ARGV[3]: limit -> {0, remaining, user...} | {-3, state}
  Script reset;    // -> {0}
  // ARGV[3..8]: capacity, queue_limit, state, admit_rate, hold_s,
  // waiter_ttl_s, each "" to keep it -> {0, created, capacity, queue_limit,
  // hold_s, waiter_ttl_s, state, admit_rate} | {-2, reserved} | {-4}
  Script put;
  // -> {0, capacity, queue_limit, reserved, waiting, promoted, left,
  //     holding, confirmed, admitted_last_minute, expired_holds,
  //     expired_waiters, cancelled, hold_s, waiter_ttl_s, state, admit_rate}
  Script get;
  Script leave;  // ARGV[3]: user, ARGV[4]: ticket or "" -> {0, code, position it had}
  // The calls on a seat answer {0, code [, waiting [, confirmed, hold_end
  // [, used]]]}: waiting 1 when the user is in line instead; hold_end as for
  // status; used 1 once a verify consumed the admission.
  // ARGV[3]: user, ARGV[4]: ticket or "", ARGV[5]: "1" for an operator
  Script cancel;
  Script confirm;  // ARGV[3]: user, ARGV[4]: ticket or ""
  Script verify;   // ARGV[3]: user, ARGV[4]: ticket, ARGV[5]: "1" to consume
  // The admission timer: sweeps ended holds and silent waiters and admits at
  // the event's rate while seats are free, at most ARGV[3] of each; more = 1
  // when a bound cut the step short (what the rate still allows is kept for
  // the next step). ARGV[4]: the longest gap between two steps that is not
  // an outage (ms)
  //   -> {0, admitted, expired_holds, expired_waiters, more, idle}
  Script tick;
  // No keys. ARGV[1]: match pattern of cfg keys, ARGV[2]: cursor,
  // ARGV[3]: count -> {0, next cursor, cfg key...}
  Script events;
  // The history ring -> {0, now_ms, then t_ms, waiting, admitted per
  // stored slot, in ring order}
  Script history;

  std::array<const Script*, 13> all() const {
    return {&reserve, &status,  &promote, &reset, &put,    &get,    &leave,
            &cancel,  &confirm, &verify,  &tick,  &events, &history};
  }
};

const Scripts& scripts();

}  // namespace ticketq
