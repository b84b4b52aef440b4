// The API's handlers, grouped by who calls them:
//   api_users.cpp      people in the rush: reserve, status, leave, cancel
//   api_operators.cpp  operators and their tools: process_queue, reset,
//                      events, health, readiness, metrics, the API document
//   api_booking.cpp    booking services: confirm, verify, the public keys
//                      of the tokens
//   api_pages.cpp      browsers: the waiting room and its calls (by the
//                      visitor's cookie), the dashboard, their assets
// A visitor's live stream is a user's call (api_users.cpp); its watchers
// are in watchers.h.
// A handler gets a small Request and answers through its Reply (reply.h),
// exactly once; it knows nothing of the transport, and the queue core it
// calls knows nothing of HTTP.
//
// Error policy: a client's mistake gets a 4xx with {"error": reason} and
// never reaches Redis; a Redis fault (down, slow, error) gets 503 with
// Retry-After; an unknown event gets 404. On the seed-compatible routes
// every error body also carries "detail", and a user who is not found is a
// 200 {"status": "not_found"}, as the original server answered.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>

#include "base/metrics.h"
#include "config/config.h"
#include "core/coalescer.h"
#include "core/queue_core.h"
#include "frontend/router.h"
#include "pages/watchers.h"
#include "tokens/tokens.h"
#include "transport/reply.h"

struct event_base;

namespace ticketq {

struct Request {
  Route route;
  std::string body;
  std::string query;  // raw query string, without '?'
  // Credentials, read by the transport: the admin token matched (X-Token),
  // and the bearer token, if any (Authorization: Bearer), unverified.
  bool admin = false;
  std::string bearer;
  // The user tokens in the event's cookies (tq_{event}): usually one; more
  // when a sibling subdomain tossed its own (Api::visitor picks).
  std::vector<std::string> cookies;
  std::string last_event_id;  // a stream's Last-Event-ID
  bool cross_site = false;    // the waiting room's calls: sent by another site's page
};

class Api {
 public:
  Api(event_base* base, const Config& cfg, QueueCore& core, ScriptRunner& redis,
      LoopMetrics& metrics, const Tokens& tokens, StreamSink& streams, KeyedCounts& user_streams);

  void handle(const Request& req, Reply reply);
  // Shutdown: open streams are told to reconnect elsewhere and ended.
  void end_streams() { watchers_.farewell(); }
  size_t streams() const { return watchers_.size(); }

 private:
  // users
  void reserve(const Request& req, Reply reply);
  void status(const Request& req, Reply reply);
  void leave(const Request& req, Reply reply);
  void cancel(const Request& req, Reply reply);
  void stream(const Request& req, Reply reply);
  // browsers
  void page(const Request& req, Reply reply);
  void asset(const Request& req, Reply reply);
  void wait_status(const Request& req, Reply reply);
  void wait_join(const Request& req, Reply reply);
  void wait_leave(const Request& req, Reply reply);
  // The visitor of the event's cookie, verified; nullopt without one.
  std::optional<TokenClaims> visitor(const Request& req) const;
  // Answers with the view of `user`'s join `ticket`, read now
  // (`ahead_at_join`: the people ahead at the join, -1 unknown).
  void reply_view(Reply reply, const std::string& event, const std::string& user, int64_t ticket,
                  int64_t ahead_at_join);
  // operators
  void promote(const Request& req, Reply reply);
  void reset(const Request& req, Reply reply);
  void put_event(const Request& req, Reply reply);
  void get_event(const Request& req, Reply reply);
  void event_history(const Request& req, Reply reply);
  void list_events(Reply reply);
  void health(Reply reply);
  void ready(const Request& req, Reply reply);
  void metrics(Reply reply);
  // booking services
  void confirm(const Request& req, Reply reply);
  void verify(const Request& req, Reply reply);
  void jwks(Reply reply);

  // Whom a call on one user acts for: the user of a bearer token of one of
  // `kinds` for this event, bound to the join the token was given for; or,
  // with the admin token, the user the body names ({"user_id": ...}), any
  // join (ticket nullopt). Answers 400/401 itself and returns nullopt then.
  struct Actor {
    std::string user;
    std::optional<int64_t> ticket;
  };
  std::optional<Actor> actor(const Request& req, Reply& reply,
                             std::initializer_list<TokenKind> kinds);
  // The first of `tokens` that is a valid user token of `event` (several
  // cookies of one name: Request::cookies); else the first one's refusal.
  TokenCheck first_user_token(const std::vector<std::string>& tokens,
                              const std::string& event) const;
  // Checks a token of one of `kinds` (the first whose kind matches).
  TokenCheck check_token(std::string_view token, const std::string& event,
                         std::initializer_list<TokenKind> kinds) const;
  // A seat holder's status, written as JSON (the hot path: no DOM).
  std::string seat_status(const StatusResult& r, const std::string& user, const std::string& event,
                          std::optional<int64_t> ticket);

  // Answers the outcomes every operation shares (fault: 503, no event:
  // 404). Returns true when it answered. Otherwise the event exists, and is
  // noted for the per-event metrics.
  bool reply_failure(Reply& reply, const Outcome& o, const std::string& event);
  // Remembers an event that exists in Redis for the metrics, at most
  // Metrics::kMaxTrackedEvents: names a client merely sends never grow it.
  void note_event(const std::string& event);

  const Config& cfg_;
  QueueCore& core_;
  ScriptRunner& redis_;
  LoopMetrics& metrics_;
  const Tokens& tokens_;  // one per process, read-only
  Coalescer coalescer_;
  Watchers watchers_;
  std::unordered_set<std::string> noted_events_;
  std::string page_headers_;  // the pages' security headers (api_pages.cpp)
  // The token of the hot reply being written, signed here first: it keeps
  // its room from one reply to the next, so signing allocates nothing.
  std::string token_;
  // Room reserved for a hot reply's body up front, so it is allocated once:
  // what it says besides a token (ids are at most 64 bytes), and a token.
  static constexpr size_t kHotReplyBytes = 256;
  static constexpr size_t kTokenBytes = 512;
};

// The pages' security headers; their forms may post to `booking_url`'s
// origin (the admission hand-over) and to this site alone otherwise.
std::string page_headers(const std::string& booking_url);

// What a client is told when Redis could not serve it; details go to the log.
const char* fault_text(Fault f);

}  // namespace ticketq
