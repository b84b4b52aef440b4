#include "support/stack.h"

#include <nlohmann/json.hpp>

namespace ticketq::test {

Headers admin() {
  return {{"X-Token", kAdminToken}};
}

std::string user_body(const std::string& user) {
  return nlohmann::json{{"user_id", user}}.dump();
}

nlohmann::json untokened(nlohmann::json j) {
  if (j.is_object()) j.erase("token");
  return j;
}

Stack::Stack(RedisOptions redis_options) : redis_(std::move(redis_options)) {}

std::string Stack::start(ServerOptions server) {
  if (std::string err = redis_.start(); !err.empty()) return err;
  return add_server(std::move(server));
}

RedisClient& Stack::db() {
  if (!db_)
    db_ =
        std::make_unique<RedisClient>(redis_.port(), "127.0.0.1", 10000, redis_.options().password);
  return *db_;
}

std::string Stack::add_server(ServerOptions server) {
  if (server.redis_port == 0 && server.redis_url.empty()) server.redis_port = redis_.port();
  servers_.push_back(std::make_unique<ServerProcess>(std::move(server)));
  return servers_.back()->start();
}

}  // namespace ticketq::test
