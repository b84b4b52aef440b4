// Handlers for the people in the rush: join the line, ask where they are,
// leave it, give a seat back.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json_writer.h"
#include "base/validate.h"
#include "core/pace.h"
#include "frontend/api.h"
#include "pages/visitor.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

const char* reserve_status_text(ReserveStatus s) {
  switch (s) {
    case ReserveStatus::kReserved:
      return "reserved";
    case ReserveStatus::kQueued:
      return "queued";
    case ReserveStatus::kAlreadyReserved:
      return "already_reserved";
    case ReserveStatus::kAlreadyInQueue:
      return "already_in_queue";
    case ReserveStatus::kClosed:
      return "closed";
    case ReserveStatus::kSoldOut:
      break;
  }
  return "sold_out";
}

// The refusal of a call made with a token of an earlier join of the user id.
void superseded(Reply& reply, const std::string& user) {
  reply.json(409, {{"status", "superseded"},
                   {"user_id", user},
                   {"error", "the token belongs to an earlier join of this user id"}});
}

}  // namespace

void Api::reserve(const Request& req, Reply reply) {
  auto parsed = parse_reserve_body(req.body);
  if (!parsed.ok()) return reply.error(400, parsed.error);
  std::string user = parsed.value->empty() ? make_uuid_v4() : std::move(*parsed.value);
  coalescer_.reserve(
      req.route.event, user, [this, reply, user, event = req.route.event](ReserveResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        if (r.status == ReserveStatus::kClosed)
          return reply.json(403, {{"status", reserve_status_text(r.status)},
                                  {"user_id", user},
                                  {"error", "the event is closed: nobody new joins"}});
        // The hot reply: written without a DOM (json_writer.h).
        std::string body;
        body.reserve(kHotReplyBytes + kTokenBytes);
        JsonWriter w(body);
        w.field("status", reserve_status_text(r.status)).field("user_id", user);
        if (r.status == ReserveStatus::kQueued || r.status == ReserveStatus::kAlreadyInQueue)
          w.field("position", r.position);
        // The token only with the first join: anyone may send anyone's id,
        // so a repeat learns the state and nothing that acts for the user.
        if (r.status == ReserveStatus::kReserved || r.status == ReserveStatus::kQueued) {
          // The place is stored already: should signing fail (OpenSSL out
          // of memory), the user keeps it and gets the answer without a token.
          token_.clear();
          if (tokens_.issue_to(token_, TokenKind::kUser, user, event, r.ticket, unix_now_s(),
                               kUserTokenTtlS))
            w.field("token", token_);
          else
            spdlog::error("request {}: could not sign a user token", reply.info().id);
        }
        w.close();
        reply.json_body(r.status == ReserveStatus::kSoldOut ? 409 : 200, std::move(body));
      });
}

// Anyone may read a status. A caller presenting the user's token (of the
// join that holds the seat) also gets the admission token. A user nobody
// knows is 404 on /v1 and 200 {"status": "not_found"} on the seed route, as
// the original server answered (its clients count a 404 as a failed
// request).
void Api::status(const Request& req, Reply reply) {
  std::optional<int64_t> ticket;
  if (!req.bearer.empty()) {
    TokenCheck t = check_token(req.bearer, req.route.event, {TokenKind::kUser});
    if (!t.ok()) return reply.error(401, std::string("token refused: ") + t.reason());
    if (t.claims.sub != req.route.user_id) return reply.error(403, "the token is another user's");
    ticket = t.claims.tkt;
  }
  coalescer_.status(req.route.event, req.route.user_id,
                    [this, reply, ticket, user = req.route.user_id,
                     event = req.route.event](StatusResult r) mutable {
                      if (reply_failure(reply, r, event)) return;
                      switch (r.status) {
                        case UserStatus::kInQueue: {
                          auto eta = estimate_wait_s(r.pace, r.position);
                          std::string body;
                          body.reserve(kHotReplyBytes);
                          JsonWriter w(body);
                          w.field("status", "in_queue")
                              .field("user_id", user)
                              .field("position", r.position)
                              .field("state", "waiting")
                              .field("eta_s", eta)
                              .field("poll_after_ms", poll_after_ms(r.pace, true, eta));
                          w.close();
                          return reply.json_body(200, std::move(body));
                        }
                        case UserStatus::kReserved:
                          return reply.json_body(200, seat_status(r, user, event, ticket));
                        case UserStatus::kNotFound:
                          return reply.json(reply.info().seed ? 200 : 404,
                                            {{"status", "not_found"}, {"user_id", user}});
                      }
                    });
}

// A seat holder's status; the admission token only for the token of the
// join that got the seat, and only while the hold lasts.
std::string Api::seat_status(const StatusResult& r, const std::string& user,
                             const std::string& event, std::optional<int64_t> ticket) {
  std::string body;
  body.reserve(kHotReplyBytes + (ticket ? kTokenBytes : 0));
  JsonWriter w(body);
  w.field("status", "reserved")
      .field("user_id", user)
      .field("state", r.confirmed ? "confirmed" : "admitted");
  w.field("hold_expires_at", hold_expires_s(r.hold_ends_ms));
  w.field("poll_after_ms", poll_after_ms(r.pace, false, std::nullopt));
  if (ticket) {
    token_.clear();
    if (admission_token_to(token_, r, user, event, *ticket, tokens_))
      w.field("admission_token", token_);
  }
  w.close();
  return body;
}

// Leaving the line: everyone behind moves up by one. The user leaves with
// their user token (Authorization: Bearer); an operator names the user
// ({"user_id": ...}) with the admin token.
void Api::leave(const Request& req, Reply reply) {
  auto who = actor(req, reply, {TokenKind::kUser});
  if (!who) return;
  core_.leave(req.route.event, who->user, who->ticket,
              [this, reply, user = who->user, event = req.route.event](LeaveResult r) mutable {
                if (reply_failure(reply, r, event)) return;
                switch (r.status) {
                  case LeaveStatus::kLeft:
                    return reply.json(
                        200, {{"status", "left"}, {"user_id", user}, {"position", r.position}});
                  case LeaveStatus::kHoldsSeat:
                    return reply.json(409,
                                      {{"status", "reserved"},
                                       {"user_id", user},
                                       {"error", "the user holds a seat: cancel gives it back"}});
                  case LeaveStatus::kOtherJoin:
                    return superseded(reply, user);
                  case LeaveStatus::kNotInLine:
                    return reply.json(404, {{"status", "not_found"}, {"user_id", user}});
                }
              });
}

// Giving a seat back: the user (user or admission token) while it is only
// held; an operator any seat, a confirmed one too. With automatic admission
// on, the next step admits the head of the line to it.
void Api::cancel(const Request& req, Reply reply) {
  auto who = actor(req, reply, {TokenKind::kUser, TokenKind::kAdmission});
  if (!who) return;
  core_.cancel(req.route.event, who->user, who->ticket,
               [this, reply, user = who->user, event = req.route.event](SeatResult r) mutable {
                 if (reply_failure(reply, r, event)) return;
                 switch (r.status) {
                   case SeatStatus::kDone:
                     return reply.json(200, {{"status", "cancelled"}, {"user_id", user}});
                   case SeatStatus::kIsConfirmed:
                     return reply.json(
                         409, {{"status", "confirmed"},
                               {"user_id", user},
                               {"error", "the seat is sold: only an operator cancels it"}});
                   case SeatStatus::kOtherJoin:
                     return superseded(reply, user);
                   default:
                     if (r.waiting)
                       return reply.json(409, {{"status", "in_queue"},
                                               {"user_id", user},
                                               {"error", "the user waits in line: leave instead"}});
                     return reply.json(404, {{"status", "not_found"}, {"user_id", user}});
                 }
               });
}

// A visitor's live state (docs/pages.md), by their user token from the
// Authorization header, the waiting room's cookie (sent to
// /wait/{event}/stream) or ?token= (EventSource can set no header; from
// another origin it sends no cookie).
void Api::stream(const Request& req, Reply reply) {
  std::vector<std::string> tokens = req.bearer.empty() ? req.cookies : std::vector{req.bearer};
  if (tokens.empty()) {
    std::string error;
    auto given = query_param(req.query, "token", &error);
    if (!error.empty()) return reply.error(400, error);
    if (given) tokens.push_back(std::move(*given));
  }
  if (tokens.empty())
    return reply.error(401,
                       "a user token is required (Authorization: Bearer, ?token=, or the "
                       "waiting room's cookie)");
  TokenCheck t = first_user_token(tokens, req.route.event);
  if (!t.ok()) return reply.error(401, std::string("token refused: ") + t.reason());
  Response head{200, {}, "text/event-stream", nullptr, "no-store"};
  if (reply.info().method == "HEAD") return reply.send(std::move(head));  // no watcher
  head.headers = "X-Accel-Buffering: no\r\n";  // nginx: pass it on unbuffered
  watchers_.open(std::move(reply), std::move(head), req.route.event, std::move(t.claims.sub),
                 t.claims.tkt, t.claims.ahd, req.last_event_id);
}

}  // namespace ticketq
