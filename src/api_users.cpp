// Handlers for the people in the rush: join the line, ask where they are,
// leave it.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "ticketq/api.h"
#include "ticketq/clock.h"
#include "ticketq/validate.h"

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

// How long a user token proves who its holder is: longer than any rush.
constexpr int64_t kUserTokenTtlS = 24 * 3600;

}  // namespace

void Api::reserve(const Request& req, Reply reply) {
  auto parsed = parse_reserve_body(req.body);
  if (!parsed.ok()) return reply.error(400, parsed.error);
  std::string user = parsed.value->empty() ? make_uuid_v4() : std::move(*parsed.value);
  coalescer_.reserve(
      req.route.event, user, [this, reply, user, event = req.route.event](ReserveResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        Json body{{"status", reserve_status_text(r.status)}, {"user_id", user}};
        if (r.status == ReserveStatus::kQueued || r.status == ReserveStatus::kAlreadyInQueue)
          body["position"] = r.position;
        // The token only with the first join: anyone may send anyone's id,
        // so a repeat learns the state and nothing that acts for the user.
        if (r.status == ReserveStatus::kReserved || r.status == ReserveStatus::kQueued) {
          // The place is stored already: should signing fail (OpenSSL out
          // of memory), the user keeps it and gets the answer without a token.
          auto token = tokens_.issue(TokenKind::kUser, user, event, unix_now_s(), kUserTokenTtlS);
          if (token)
            body["token"] = std::move(*token);
          else
            spdlog::error("request {}: could not sign a user token", reply.info().id);
        }
        if (r.status == ReserveStatus::kClosed) {
          body["error"] = "the event is closed: nobody new joins";
          return reply.json(403, std::move(body));
        }
        reply.json(r.status == ReserveStatus::kSoldOut ? 409 : 200, std::move(body));
      });
}

// A user nobody knows is 404 on /v1 and 200 {"status": "not_found"} on the
// seed route, as the original server answered (its clients count a 404 as
// a failed request).
void Api::status(const Request& req, Reply reply) {
  coalescer_.status(
      req.route.event, req.route.user_id,
      [this, reply, user = req.route.user_id, event = req.route.event](StatusResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        switch (r.status) {
          case UserStatus::kReserved:
            return reply.json(200, {{"status", "reserved"}, {"user_id", user}});
          case UserStatus::kInQueue:
            return reply.json(
                200, {{"status", "in_queue"}, {"user_id", user}, {"position", r.position}});
          case UserStatus::kNotFound:
            return reply.json(reply.info().seed ? 200 : 404,
                              {{"status", "not_found"}, {"user_id", user}});
        }
      });
}

// Leaving the line: everyone behind moves up by one. The user leaves with
// their user token (Authorization: Bearer); an operator names the user
// ({"user_id": ...}) with the admin token.
void Api::leave(const Request& req, Reply reply) {
  std::string user;
  if (!req.bearer.empty()) {
    TokenCheck t = tokens_.verify(req.bearer, TokenKind::kUser, req.route.event, unix_now_s());
    if (!t.ok()) return reply.error(401, std::string("user token refused: ") + t.reason());
    user = std::move(t.claims.sub);
  } else if (req.admin) {
    auto parsed = parse_reserve_body(req.body);
    if (!parsed.ok()) return reply.error(400, parsed.error);
    if (parsed.value->empty()) return reply.error(400, "user_id is required");
    user = std::move(*parsed.value);
  } else {
    return reply.error(401, "a user token (Authorization: Bearer) or the admin token is required");
  }
  core_.leave(
      req.route.event, user, [this, reply, user, event = req.route.event](LeaveResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        switch (r.status) {
          case LeaveStatus::kLeft:
            return reply.json(200,
                              {{"status", "left"}, {"user_id", user}, {"position", r.position}});
          case LeaveStatus::kHoldsSeat:
            return reply.json(409, {{"status", "reserved"},
                                    {"user_id", user},
                                    {"error", "the user holds a seat, not a place in line"}});
          case LeaveStatus::kNotInLine:
            return reply.json(404, {{"status", "not_found"}, {"user_id", user}});
        }
      });
}

}  // namespace ticketq
