// One Redis and the ticketq servers in front of it, as most tests need them,
// with shorthands for the API's requests.
#pragma once

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
