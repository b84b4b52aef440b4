// Handlers for booking services: confirm a seat, check an admission token
// against the state in Redis, and the public keys that check tokens offline
// (tokens.h).
#include <nlohmann/json.hpp>

#include "base/validate.h"
#include "frontend/api.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

// Why a seat call did not do what was asked, as a 409 says it: a reason
// for clients to branch on and a sentence for people.
struct Refusal {
  const char* reason;
  const char* error;
};

Refusal refusal_of(SeatStatus s) {
  switch (s) {
    case SeatStatus::kHoldEnded:
      return {"hold_ended", "the hold's time is up: the seat is going back"};
    case SeatStatus::kUsed:
      return {"already_used", "this admission was consumed already"};
    case SeatStatus::kOtherJoin:
      return {"superseded", "the token belongs to an earlier join of this user id"};
    default:
      break;
  }
  return {"not_admitted", "the user holds no seat (never admitted, cancelled, expired or reset)"};
}

}  // namespace

// The seat is sold: its hold no longer ends. The booking service presents
// the admission token; an operator names the user. Idempotent.
void Api::confirm(const Request& req, Reply reply) {
  auto who = actor(req, reply, {TokenKind::kAdmission});
  if (!who) return;
  core_.confirm(req.route.event, who->user, who->ticket,
                [this, reply, user = who->user, event = req.route.event](SeatResult r) mutable {
                  if (reply_failure(reply, r, event)) return;
                  if (r.status == SeatStatus::kDone || r.status == SeatStatus::kUnchanged)
                    return reply.json(200, {{"status", "confirmed"},
                                            {"user_id", user},
                                            {"already", r.status == SeatStatus::kUnchanged}});
                  Refusal no = refusal_of(r.status);
                  reply.json(409, {{"status", no.reason}, {"user_id", user}, {"error", no.error}});
                });
}

// Is this admission token good now: signature, expiry, and its seat still
// held in Redis (not cancelled, expired or reset)? ?consume=1 accepts an
// admission once: every later verify with consume of it is refused.
void Api::verify(const Request& req, Reply reply) {
  std::string error;
  auto consume_text = query_param(req.query, "consume", &error);
  if (!error.empty()) return reply.error(400, error);
  if (consume_text && *consume_text != "0" && *consume_text != "1")
    return reply.error(400, "consume must be 0 or 1");
  bool consume = consume_text && *consume_text == "1";
  auto body = parse_json_object(req.body);
  if (!body.ok()) return reply.error(400, body.error);
  auto it = body.value->find("token");
  if (it == body.value->end() || !it->is_string() || body.value->size() != 1)
    return reply.error(400, "the body must be {\"token\": \"<admission token>\"}");
  TokenCheck t =
      check_token(it->get_ref<const std::string&>(), req.route.event, {TokenKind::kAdmission});
  if (!t.ok())
    return reply.json(401, {{"valid", false},
                            {"reason", t.reason()},
                            {"error", std::string("token refused: ") + t.reason()}});
  std::string user = t.claims.sub;
  const int64_t ticket = t.claims.tkt;
  core_.verify(
      req.route.event, std::move(user), ticket, consume,
      [this, reply, consume, claims = std::move(t.claims),
       event = req.route.event](SeatResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        if (r.status != SeatStatus::kDone) {
          Refusal no = refusal_of(r.status);
          return reply.json(409, {{"valid", false}, {"reason", no.reason}, {"error", no.error}});
        }
        reply.json(200, {{"valid", true},
                         {"user_id", claims.sub},
                         {"event", event},
                         {"confirmed", r.confirmed},
                         {"hold_expires_at", hold_expires_at(r.hold_ends_ms)},
                         {"consumed", consume},
                         {"used", r.used},
                         {"claims", claims_json(claims)}});
      });
}

// The public keys as a JWKS; anyone may read them. Verifiers may cache them
// for max-age: the README's rotation lists a new key (second) that long
// before it signs, and a verifier that fetches again on an unknown kid never
// refuses a good token.
void Api::jwks(Reply reply) {
  Response r{200, tokens_.jwks() + "\n", "application/json"};
  r.cache_control = "max-age=300";
  reply.send(std::move(r));
}

}  // namespace ticketq
