// One Redis and the ticketq servers in front of it, as most tests need them,
// with shorthands for the API's requests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/redis_client.h"
#include "support/redis_process.h"
#include "support/server_process.h"

namespace ticketq::test {

// Admin header with the right token.
Headers admin();
// {"user_id": user}
std::string user_body(const std::string& user);
// A JSON answer without its "token" member: a first join's user token is
// new every time (iat, jti), so tests compare the rest and check the token
// on its own.
nlohmann::json untokened(nlohmann::json j);

// What GET status answers (src/core/pace.h), for the cases whose every field is
// known in advance:
// a user waiting at `position` while the line's pace is unknown (nobody
// admitted from the line in the last minute, or the event admits nobody)
// and the event keeps no heartbeats (waiter_ttl_s 0): no estimate, ask
// again in 5 s;
nlohmann::json in_queue(const std::string& user, int64_t position);
// a seat holder, asked without a token, whose seat is held (not confirmed)
// and whose hold never ends (hold_s 0): ask again in 10 s.
nlohmann::json holds_seat(const std::string& user);
// Checks the status of `user`, waiting at `position`, when `admitted` users
// were admitted from the line at once, at most `since_ms` ago, and nobody
// else in the last minute; no heartbeats kept. The pace is then `admitted`
// over a span of 5 s (one slot) to 5 s + since_ms (the admission may have
// come at the end of its slot): eta_s lies between the waits at those two
// paces, rounded up, and poll_after_ms is a tenth of it, within 1 s..30 s.
::testing::AssertionResult waits_at_pace(const nlohmann::json& body, const std::string& user,
                                         int64_t position, int64_t admitted, int64_t since_ms);

// The value of one series line of GET /metrics, e.g.
// `ticketq_event_waiting{event="default"}`; -1 when it is absent.
double metric(const std::string& text, const std::string& series);

class Stack {
 public:
  explicit Stack(RedisOptions redis_options = {});

  // Starts Redis, then one server with `server` (its redis_port is filled
  // in). Returns "" or why it failed.
  std::string start(ServerOptions server = {});
  // Another server on the same Redis.
  std::string add_server(ServerOptions server = {});

  RedisProcess& redis() { return redis_; }
  ServerProcess& server(size_t i = 0) { return *servers_.at(i); }
  // A connection to the Redis of this stack (opened on first use).
  RedisClient& db();
  HttpClient client(size_t server_index = 0, Millis timeout = Millis(5000)) {
    return HttpClient(server(server_index).port(), timeout);
  }

 private:
  RedisProcess redis_;
  std::unique_ptr<RedisClient> db_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

}  // namespace ticketq::test
