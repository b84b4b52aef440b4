#include "support/stack.h"

#include <algorithm>
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

nlohmann::json in_queue(const std::string& user, int64_t position) {
  return {{"status", "in_queue"}, {"user_id", user},  {"position", position},
          {"state", "waiting"},   {"eta_s", nullptr}, {"poll_after_ms", 5000}};
}

nlohmann::json holds_seat(const std::string& user) {
  return {{"status", "reserved"},
          {"user_id", user},
          {"state", "admitted"},
          {"hold_expires_at", nullptr},
          {"poll_after_ms", 10000}};
}

::testing::AssertionResult waits_at_pace(const nlohmann::json& body, const std::string& user,
                                         int64_t position, int64_t admitted, int64_t since_ms) {
  if (!body.is_object() || !body.contains("eta_s") || !body["eta_s"].is_number_integer())
    return ::testing::AssertionFailure() << "no whole eta_s in " << body.dump();
  const int64_t eta = body["eta_s"].get<int64_t>();
  auto wait_s = [&](int64_t span_ms) {  // position / (admitted / span), rounded up
    return (position * span_ms + admitted * 1000 - 1) / (admitted * 1000);
  };
  const int64_t lo = wait_s(5000), hi = wait_s(5000 + std::max<int64_t>(since_ms, 0) + 1);
  if (eta < lo || eta > hi)
    return ::testing::AssertionFailure()
           << "eta_s " << eta << " is not in [" << lo << ", " << hi << "] (" << admitted
           << " admitted at most " << since_ms << " ms ago): " << body.dump();
  nlohmann::json want = in_queue(user, position);
  want["eta_s"] = eta;
  want["poll_after_ms"] = std::clamp<int64_t>(eta * 100, 1000, 30000);
  if (body != want)
    return ::testing::AssertionFailure() << body.dump() << "\n  want " << want.dump();
  return ::testing::AssertionSuccess();
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

double metric(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace ticketq::test
