// The Lua scripts that make every queue decision atomically inside Redis.
// Each reads every key it will write (a wrong-typed or corrupt key fails the
// script there) and makes all its checks before its first write, because
// Redis never rolls a script back.
#pragma once

#include <array>
#include <string>

namespace ticketq {

struct Script {
  const char* name;
  std::string body;
  std::string sha1;  // hex, as EVALSHA wants it
};

// The keys of one event E, in the order every script takes them as KEYS.
// The names are defined here once; the scripts see them as Lua locals
// (K_CFG, K_RESERVED, ...) and the queue core builds PREFIX:{E}:<name>.
//   cfg       Hash    capacity, queue_limit, state; the event exists once
//                     it does
//   reserved  Set     user ids holding a seat (never more than capacity)
//   queued    Sorted set  the line: waiting user id -> ticket number. It
//                     dedups, keeps join order (tickets only grow), gives a
//                     position as ZRANK + 1 in O(log n), exact after any
//                     number of leaves, and pops its head with ZPOPMIN.
//   stats     Hash    counters since the last reset: promoted, left
inline constexpr std::array<const char*, 4> kEventKeys = {"cfg", "reserved", "queued", "stats"};
constexpr int kScriptKeyCount = static_cast<int>(kEventKeys.size());

// ARGV[1], ARGV[2] of every script are the default event's capacity and
// queue_limit ("" for any other event). The default event is created in
// Redis with them by the first script that finds it missing; from then on
// every instance reads the stored settings, whatever its own flags say.

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
}  // namespace code

struct Scripts {
  Script reserve;  // ARGV[3..]: users in order of arrival -> {0, code, pos, code, pos, ...}
  Script status;   // ARGV[3..]: users -> {0, code, pos, ...}
  Script promote;  // ARGV[3]: limit -> {0, remaining, user...} | {-3, state}
  Script reset;    // -> {0}
  // ARGV[3..5]: capacity, queue_limit, state, each "" to keep it ->
  // {0, created, capacity, queue_limit, state} | {-2, reserved} | {-4}
  Script put;
  Script get;    // -> {0, capacity, queue_limit, reserved, waiting, promoted, left, state}
  Script leave;  // ARGV[3]: user -> {0, code, position it had}

  std::array<const Script*, 7> all() const {
    return {&reserve, &status, &promote, &reset, &put, &get, &leave};
  }
};

const Scripts& scripts();

}  // namespace ticketq
