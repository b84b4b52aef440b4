// What a visitor of the waiting room is told about their place: the data of
// a stream's events and of the page's status call, and the page as first
// painted by the server, before (or without) its script (docs/pages.md).
// Pure: a function of the visitor's status in Redis, of the event, and of
// what they were told before; it knows neither HTTP nor streams.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/queue_core.h"
#include "tokens/tokens.h"

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

// hold_expires_at as status and verify show it: the hold's end in seconds
// since the epoch, or null (nullopt) when it never ends (hold_s 0, or
// confirmed).
std::optional<int64_t> hold_expires_s(int64_t hold_ends_ms);
nlohmann::ordered_json hold_expires_at(int64_t hold_ends_ms);

// The admission token of the seat `r` shows, for the join `ticket`; nullopt
// when the seat is another join's, the hold has ended, or signing failed.
// It lives until the hold ends (or a day, for a hold that never ends).
std::optional<std::string> admission_token(const StatusResult& r, const std::string& user,
                                           const std::string& event, int64_t ticket,
                                           const Tokens& tokens);
// The same appended to `out`; false (and nothing appended) for nullopt.
bool admission_token_to(std::string& out, const StatusResult& r, const std::string& user,
                        const std::string& event, int64_t ticket, const Tokens& tokens);

// A waiting visitor's way to the front: of the `of` people ahead of them
// when they joined, `passed` have gone (admitted, left or dropped). Both
// numbers are the server's, so every tab shows the same.
struct LineProgress {
  int64_t passed = 0;
  int64_t of = 0;
};
// nullopt when the people ahead at the join are not known (< 0), or when
// nobody was ahead: a visitor at the front from the start has come no way.
std::optional<LineProgress> line_progress(int64_t ahead_at_join, int64_t position);
// Adds "progress": {"passed", "of"} to a waiting view that has one.
void add_progress(VisitorView& v, int64_t ahead_at_join);

// What a visitor with no place is offered, from the event's settings and
// counts: {"state": "none"} (join), "closed" (nobody new joins) or
// "sold_out" (no seat and no place left), with "event_state".
nlohmann::ordered_json newcomer_view(const EventInfo& e);
// The waiting room of an event that does not exist: {"state": "unknown"}.
nlohmann::ordered_json unknown_event_view();

// The words a view is shown with: keys of `states` and `notices` in
// web/strings.js (notice "" for none). web/wait.js chooses the same.
struct Told {
  std::string state;    // the page's state: "none" for a state it does not know
  std::string heading;  // states.<heading>
  std::string notice;   // notices.<notice>
};
Told told(const nlohmann::ordered_json& view);

// A plain word of web/strings.js by its path ("states.waiting"); "" when
// there is none. Read once from the compiled-in file.
std::string_view page_word(std::string_view path);

std::string html_escaped(std::string_view s);

// web/wait.html (`tmpl`) filled in for the first paint of `view` (the data
// of the page's status call; nullptr: unknown, the page's script asks).
// Everything from the view, the event and the booking URL is escaped.
std::string wait_page_html(std::string_view tmpl, const std::string& event,
                           const std::string& booking_url, const nlohmann::ordered_json* view);

// How long a user token proves who its holder is: longer than any rush.
constexpr int64_t kUserTokenTtlS = 24 * 3600;

}  // namespace ticketq
