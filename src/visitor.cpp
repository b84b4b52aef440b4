#include "ticketq/visitor.h"

#include <algorithm>

#include "ticketq/api.h"
#include "ticketq/clock.h"
#include "ticketq/pace.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

const char* visitor_state_name(VisitorState s) {
  switch (s) {
    case VisitorState::kNone:
      return "none";
    case VisitorState::kWaiting:
      return "waiting";
    case VisitorState::kAdmitted:
      return "admitted";
    case VisitorState::kConfirmed:
      return "confirmed";
    case VisitorState::kExpired:
      return "expired";
    case VisitorState::kLeft:
      return "left";
    case VisitorState::kClosed:
      return "closed";
    case VisitorState::kSoldOut:
      return "sold_out";
    case VisitorState::kReconnect:
      return "reconnect";
  }
  return "none";
}

bool is_final(VisitorState s) {
  return s != VisitorState::kWaiting && s != VisitorState::kAdmitted && s != VisitorState::kNone;
}

VisitorView simple_view(VisitorState state, const std::string& user, const char* reason) {
  VisitorView v;
  v.state = state;
  v.data = Json{{"state", visitor_state_name(state)}, {"user_id", user}};
  if (*reason != '\0') v.data["reason"] = reason;
  return v;
}

std::optional<std::string> admission_token(const StatusResult& r, const std::string& user,
                                           const std::string& event, int64_t ticket,
                                           const Tokens& tokens) {
  if (r.status != UserStatus::kReserved || ticket != r.ticket) return std::nullopt;
  if (r.hold_ends_ms > 0 && r.hold_ends_ms <= r.pace.now_ms) return std::nullopt;
  const int64_t now = unix_now_s();
  const int64_t ttl = r.hold_ends_ms > 0 ? epoch_s_up(r.hold_ends_ms) - now : kUserTokenTtlS;
  return tokens.issue(TokenKind::kAdmission, user, event, r.ticket, now, std::max<int64_t>(ttl, 1));
}

VisitorView visitor_view(const StatusResult& r, const std::string& user, int64_t ticket,
                         const std::string& event, const Tokens& tokens, VisitorState before,
                         int64_t before_hold_ends_ms) {
  const int64_t now = r.pace.now_ms;
  // Another ticket is a later join of the same user id (a ticket of 0: a
  // seat from before tickets, the visitor's).
  if (r.status != UserStatus::kNotFound && r.ticket != 0 && r.ticket != ticket)
    return simple_view(VisitorState::kLeft, user, "superseded");
  switch (r.status) {
    case UserStatus::kInQueue: {
      VisitorView v = simple_view(VisitorState::kWaiting, user);
      auto eta = estimate_wait_s(r.pace, r.position);
      v.data["position"] = r.position;
      v.data["eta_s"] = eta ? Json(*eta) : Json();
      v.data["event_state"] = event_state_name(r.pace.state);
      return v;
    }
    case UserStatus::kReserved: {
      if (r.confirmed) return simple_view(VisitorState::kConfirmed, user);
      if (r.hold_ends_ms > 0 && r.hold_ends_ms <= now)
        return simple_view(VisitorState::kExpired, user, "hold_ended");
      VisitorView v = simple_view(VisitorState::kAdmitted, user);
      auto token = admission_token(r, user, event, ticket, tokens);
      v.data["admission_token"] = token ? Json(std::move(*token)) : Json();
      v.data["hold_expires_at"] = hold_expires_at(r.hold_ends_ms);
      v.hold_ends_ms = r.hold_ends_ms;
      return v;
    }
    case UserStatus::kNotFound:
      break;
  }
  if (before == VisitorState::kAdmitted)
    return before_hold_ends_ms > 0 && before_hold_ends_ms <= now
               ? simple_view(VisitorState::kExpired, user, "hold_ended")
               : simple_view(VisitorState::kLeft, user, "left");
  if (r.pace.state == EventState::kClosed) return simple_view(VisitorState::kClosed, user);
  if (before == VisitorState::kWaiting) return simple_view(VisitorState::kLeft, user, "left");
  return simple_view(VisitorState::kExpired, user, "not_in_line");
}

}  // namespace ticketq
