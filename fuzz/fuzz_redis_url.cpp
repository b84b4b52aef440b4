// parse_redis_url and parse_redis_target on arbitrary text (--redis,
// REDIS_URL, the config file).
// Invariants: never crashes; an accepted endpoint is usable (absolute socket
// path, or a host and a port in 1..65535; db in 0..2^20); describe() and
// the redacted configuration dump never depend on the password, so they never
// show it.
#include <string>

#include "config/config.h"
#include "fuzz_check.h"
#include "redis/redis_gateway.h"

namespace {

// What --check-config prints for a configuration with this URL.
std::string dump(const std::string& url) {
  ticketq::Config cfg;
  cfg.redis_url = url;
  return ticketq::describe(cfg);
}

}  // namespace

// parse_redis_target: a single server is exactly parse_redis_url's; a
// Sentinel or Cluster URL has 1..kMaxRedisSeeds usable hosts, a master name
// for Sentinel, and a description that never depends on the password.
void check_target(const std::string& url) {
  using namespace ticketq;
  auto t = parse_redis_target(url);
  FUZZ_CHECK(t.ok() != !t.error.empty(), url);
  auto single = parse_redis_url(url);
  if (!t.ok()) {
    FUZZ_CHECK(!single.ok(), url);
    return;
  }
  if (t.value->mode == RedisMode::kSingle) {
    FUZZ_CHECK(single.ok() && single.value->describe() == t.value->describe(), url);
    return;
  }
  FUZZ_CHECK(!t.value->seeds.empty() && t.value->seeds.size() <= kMaxRedisSeeds, url);
  for (const RedisEndpoint& ep : t.value->seeds) {
    FUZZ_CHECK(!ep.host.empty() && ep.port >= 1 && ep.port <= 65535 && ep.db == 0, url);
    FUZZ_CHECK(ep.password == t.value->endpoint.password, url);
  }
  FUZZ_CHECK((t.value->mode == RedisMode::kSentinel) == !t.value->master_name.empty(), url);
  RedisTarget other = *t.value;
  other.endpoint.password = "a-different-secret";
  for (RedisEndpoint& ep : other.seeds) ep.password = other.endpoint.password;
  FUZZ_CHECK(other.describe() == t.value->describe(), url);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ticketq;
  std::string url(reinterpret_cast<const char*>(data), size);
  check_target(url);
  auto r = parse_redis_url(url);
  FUZZ_CHECK(r.ok() != !r.error.empty(), url);
  if (!r.ok()) return 0;
  const RedisEndpoint& ep = *r.value;
  FUZZ_CHECK(ep.db >= 0 && ep.db <= (1 << 20), url);
  if (ep.is_unix) {
    FUZZ_CHECK(!ep.path.empty() && ep.path.front() == '/', url);
    FUZZ_CHECK(ep.password.empty(), url);
  } else {
    FUZZ_CHECK(!ep.host.empty(), url);
    FUZZ_CHECK(ep.port >= 1 && ep.port <= 65535, url);
  }

  std::string shown = ep.describe();
  RedisEndpoint other = ep;
  other.password = "a-different-secret";
  FUZZ_CHECK(other.describe() == shown, url);
  if (!ep.password.empty()) {
    RedisEndpoint none = ep;
    none.password.clear();
    FUZZ_CHECK(none.describe() == shown, url);
  }

  // --check-config: the same URL with another password is shown the same.
  if (!ep.is_unix && !ep.password.empty()) {
    size_t at = url.rfind('@');
    FUZZ_CHECK(at != std::string::npos && at >= 8, url);
    std::string swapped = url.substr(0, 8) + ":zz" + url.substr(at);
    auto again = parse_redis_url(swapped);
    FUZZ_CHECK(again.ok() && again.value->password == "zz", swapped);
    FUZZ_CHECK(dump(url) == dump(swapped), url);
  }
  return 0;
}
