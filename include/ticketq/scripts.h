// The Lua scripts that make every queue decision atomically inside Redis.
// Each does all of its reads and checks before its first write, because
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

// Every script takes the same KEYS, in this order, for one event E:
//   PREFIX:{E}:cfg       Hash  capacity, queue_limit
//   PREFIX:{E}:reserved  Set   reserved user ids
//   PREFIX:{E}:queued    Set   waiting user ids
//   PREFIX:{E}:waiting   List  the line, head first
//   PREFIX:{E}:ticket    Hash  waiting user id -> ticket number
//   PREFIX:{E}:head      String  users promoted so far (tickets below are gone)
//   PREFIX:{E}:tail      String  tickets issued so far
// A user's position is ticket - head: O(1), exact since nobody leaves the
// line except from its head.
// ARGV[1], ARGV[2] are the fallback capacity and queue_limit used when the
// cfg hash is absent ("" for events that must have been created).
constexpr int kScriptKeyCount = 7;

// Result codes shared by the scripts and the queue core.
namespace code {
constexpr int kNoEvent = -1;
constexpr int kBelowReserved = -2;
constexpr int kOk = 0;
// reserve outcomes
constexpr int kReserved = 1;
constexpr int kQueued = 2;
constexpr int kAlreadyReserved = 3;
constexpr int kAlreadyInQueue = 4;
constexpr int kSoldOut = 5;
// status outcomes
constexpr int kNotFound = 0;
constexpr int kIsReserved = 1;
constexpr int kInQueue = 2;
}  // namespace code

struct Scripts {
  Script reserve;  // ARGV[3..]: users in order of arrival -> {0, code, pos, code, pos, ...}
  Script status;   // ARGV[3..]: users -> {0, code, pos, ...}
  Script promote;  // ARGV[3]: limit -> {0, remaining, user...}
  Script reset;    // -> {0}
  Script put;      // ARGV[3], ARGV[4]: capacity, queue_limit -> {0, created} | {-2, reserved}
  Script get;      // -> {0, capacity, queue_limit, reserved, waiting, promoted}

  std::array<const Script*, 6> all() const {
    return {&reserve, &status, &promote, &reset, &put, &get};
  }
};

const Scripts& scripts();

}  // namespace ticketq
