#include "redis/redis_url.h"

#include <charconv>

namespace ticketq {

bool parse_int_in(std::string_view s, int lo, int hi, int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty() && *out >= lo && *out <= hi;
}

namespace {

// Takes "[user:]password@" off the front of `rest`, if there.
void take_password(std::string_view& rest, std::string* password) {
  size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return;
  std::string_view auth = rest.substr(0, at);
  size_t colon = auth.find(':');
  // ACL user names are not supported by hiredis 0.14's AUTH helper; the
  // password is what follows the colon (or the whole part without one).
  *password = colon == std::string_view::npos ? auth : auth.substr(colon + 1);
  rest = rest.substr(at + 1);
}

// host, host:port, [v6] or [v6]:port. Returns "" or what is wrong.
std::string parse_host_port(std::string_view text, int default_port, RedisEndpoint* ep) {
  std::string_view host = text, port;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return "unclosed '[' in redis URL";
    host = text.substr(1, close - 1);
    if (text.size() > close + 1) {
      if (text[close + 1] != ':') return "bad port in redis URL";
      port = text.substr(close + 2);
    }
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return "redis URL has no host";
  ep->host = host;
  ep->port = default_port;
  if (!port.empty() && !parse_int_in(port, 1, 65535, &ep->port)) return "bad port in redis URL";
  return {};
}

// A Sentinel master name: what Redis accepts in `sentinel monitor`, without
// the bytes that would break a log line or a URL.
bool valid_master_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (unsigned char c : name)
    if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '@') return false;
  return true;
}

}  // namespace

std::string RedisEndpoint::describe() const {
  std::string s = is_unix ? "unix://" + path : host + ":" + std::to_string(port);
  if (db != 0) s += " db " + std::to_string(db);
  return s;
}

Parsed<RedisEndpoint> parse_redis_url(std::string_view url) {
  using P = Parsed<RedisEndpoint>;
  RedisEndpoint ep;
  if (url.starts_with("unix://")) {
    std::string_view rest = url.substr(7);
    size_t q = rest.find("?db=");
    if (q != std::string_view::npos) {
      if (!parse_int_in(rest.substr(q + 4), 0, 1 << 20, &ep.db))
        return P::fail("bad db in " + std::string(url));
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest.front() != '/')
      return P::fail("unix:// needs an absolute socket path");
    ep.is_unix = true;
    ep.path = rest;
    return {ep, {}};
  }
  if (!url.starts_with("redis://"))
    return P::fail("redis URL must start with redis://, unix://, sentinel:// or cluster://");
  std::string_view rest = url.substr(8);
  take_password(rest, &ep.password);
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int_in(db, 0, 1 << 20, &ep.db))
      return P::fail("bad db number in redis URL");
    rest = rest.substr(0, slash);
  }
  if (std::string err = parse_host_port(rest, 6379, &ep); !err.empty()) return P::fail(err);
  return {ep, {}};
}

std::string RedisTarget::describe() const {
  if (mode == RedisMode::kSingle) return endpoint.describe();
  std::string s = mode == RedisMode::kSentinel ? "sentinel " : "cluster ";
  for (size_t i = 0; i < seeds.size(); ++i) s += (i ? "," : "") + seeds[i].describe();
  if (mode == RedisMode::kSentinel) s += " master " + master_name;
  return s;
}

Parsed<RedisTarget> parse_redis_target(std::string_view url) {
  using P = Parsed<RedisTarget>;
  RedisTarget t;
  int default_port = 0;
  if (url.starts_with("sentinel://")) {
    t.mode = RedisMode::kSentinel;
    default_port = 26379;
  } else if (url.starts_with("cluster://")) {
    t.mode = RedisMode::kCluster;
    default_port = 6379;
  } else {
    auto ep = parse_redis_url(url);
    if (!ep.ok()) return P::fail(ep.error);
    t.endpoint = std::move(*ep.value);
    return {std::move(t), {}};
  }
  const std::string scheme(url.substr(0, url.find("://")));
  std::string_view rest = url.substr(scheme.size() + 3);
  size_t slash = rest.find('/');
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  std::string_view hosts = rest.substr(0, slash);
  take_password(hosts, &t.endpoint.password);
  if (t.mode == RedisMode::kSentinel) {
    if (!valid_master_name(path))
      return P::fail(
          "sentinel:// needs /master-name after the hosts (printable, no '/', ',', '@')");
    t.master_name = path;
  } else if (!path.empty()) {
    return P::fail("cluster:// takes no path (a Redis Cluster has only db 0)");
  }
  if (hosts.empty()) return P::fail(scheme + ":// needs at least one host");
  while (true) {
    size_t comma = hosts.find(',');
    if (t.seeds.size() == kMaxRedisSeeds)
      return P::fail(scheme + ":// takes at most " + std::to_string(kMaxRedisSeeds) + " hosts");
    RedisEndpoint ep;
    ep.password = t.endpoint.password;
    if (std::string err = parse_host_port(hosts.substr(0, comma), default_port, &ep); !err.empty())
      return P::fail(err);
    t.seeds.push_back(std::move(ep));
    if (comma == std::string_view::npos) break;
    hosts = hosts.substr(comma + 1);
  }
  return {std::move(t), {}};
}

}  // namespace ticketq
