// What a visitor of the waiting room is told about their place: the data of
// a stream's events and of the page's status call (docs/pages.md). Pure: a
// function of the visitor's status in Redis and of what they were told
// before; it knows neither HTTP nor streams.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ticketq/queue_core.h"
#include "ticketq/tokens.h"

namespace ticketq {

enum class VisitorState {
  kNone,       // no place (the page offers to join)
  kWaiting,    // in line
  kAdmitted,   // holds a seat, not sold yet
  kConfirmed,  // the seat is sold
  kExpired,    // the hold ran out, or the place was lost
  kLeft,       // left, cancelled, reset, or superseded by a later join
  kClosed,     // the event is closed (or gone) and the visitor not in it
  kSoldOut,    // a join found no seat and no place
  kReconnect,  // this instance is going away: connect again
};

// The state's name: the SSE event name and the data's "state".
const char* visitor_state_name(VisitorState s);
// After these a stream ends.
bool is_final(VisitorState s);

struct VisitorView {
  VisitorState state = VisitorState::kNone;
  nlohmann::ordered_json data;  // {"state": name, "user_id": ..., ...}
  int64_t hold_ends_ms = 0;     // for kAdmitted: when the hold ends (0: never)
};

// What the visitor of join `ticket` (their user token's) sees, given their
// status. `before` is what they were told last (kNone: nothing yet) and
// `before_hold_ends_ms` the hold end they were told with kAdmitted: a
// visitor no longer found was dropped for a reason only that history tells.
VisitorView visitor_view(const StatusResult& r, const std::string& user, int64_t ticket,
                         const std::string& event, const Tokens& tokens,
                         VisitorState before = VisitorState::kNone,
                         int64_t before_hold_ends_ms = 0);

// A view of `state` with nothing more to say than the reason ("" for none).
VisitorView simple_view(VisitorState state, const std::string& user, const char* reason = "");

// The admission token of the seat `r` shows, for the join `ticket`; nullopt
// when the seat is another join's, the hold has ended, or signing failed.
// It lives until the hold ends (or a day, for a hold that never ends).
std::optional<std::string> admission_token(const StatusResult& r, const std::string& user,
                                           const std::string& event, int64_t ticket,
                                           const Tokens& tokens);

// How long a user token proves who its holder is: longer than any rush.
constexpr int64_t kUserTokenTtlS = 24 * 3600;

}  // namespace ticketq
