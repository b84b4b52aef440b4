#include "config/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "redis/redis_url.h"
#include "tokens/auth.h"
#include "tokens/tokens.h"
#include "transport/client_address.h"

namespace ticketq {

namespace {

constexpr int64_t kMaxInt = INT64_C(1) << 40;

// The settings table. Keep config/ticketq.toml in step (a unit test checks it).
const Setting kSettings[] = {
    {"bind", "TICKETQ_BIND", SettingKind::kString, nullptr, &Config::bind, 0, 0,
     "address to listen on (IPv4 or IPv6 literal)", false},
    {"port", "TICKETQ_PORT", SettingKind::kInt, &Config::port, nullptr, 0, 65535,
     "TCP port to listen on (0 = any free port, logged at start)", false},
    {"redis", "REDIS_URL", SettingKind::kString, nullptr, &Config::redis_url, 0, 0,
     "redis://[:password@]host:port[/db], unix:///path/to/redis.sock, "
     "sentinel://[:password@]host:port,.../master-name or cluster://[:password@]host:port,...",
     false},
    {"threads", "TICKETQ_THREADS", SettingKind::kInt, &Config::threads, nullptr, 0, 256,
     "event loops, each with its own Redis connection (0 = one per core)", false},
    {"capacity", "TICKETQ_CAPACITY", SettingKind::kInt, &Config::capacity, nullptr, 0, kMaxInt,
     "seats of the default event, stored in Redis by the first instance to use it", false},
    {"queue_limit", "TICKETQ_QUEUE_LIMIT", SettingKind::kInt, &Config::queue_limit, nullptr, 0,
     kMaxInt, "places in line of the default event, stored likewise", false},
    {"admin_token", "TICKETQ_ADMIN_TOKEN", SettingKind::kString, nullptr, &Config::admin_token, 0,
     0, "token for admin calls (X-Token header); empty = random, logged once at start", true},
    {"metrics_token", "TICKETQ_METRICS_TOKEN", SettingKind::kString, nullptr,
     &Config::metrics_token, 0, 0,
     "token GET /metrics asks for (Authorization: Bearer; the admin token also does); empty = "
     "/metrics answers anyone who reaches the port",
     true},
    {"log_level", "TICKETQ_LOG_LEVEL", SettingKind::kString, nullptr, &Config::log_level, 0, 0,
     "trace, debug, info, warn, error or off", false},
    {"key_prefix", "TICKETQ_KEY_PREFIX", SettingKind::kString, nullptr, &Config::key_prefix, 0, 0,
     "prefix of every Redis key (keys are PREFIX:{event}:...)", false},
    {"request_timeout_ms", "TICKETQ_REQUEST_TIMEOUT_MS", SettingKind::kInt,
     &Config::request_timeout_ms, nullptr, 1, 600000,
     "deadline for Redis to answer a request before it gets 503", false},
    {"max_body_bytes", "TICKETQ_MAX_BODY_BYTES", SettingKind::kInt, &Config::max_body_bytes,
     nullptr, 64, 1 << 20, "largest request body accepted (larger: 413)", false},
    {"max_header_bytes", "TICKETQ_MAX_HEADER_BYTES", SettingKind::kInt, &Config::max_header_bytes,
     nullptr, 1024, 1 << 20, "largest request line plus headers accepted", false},
    {"idle_timeout_s", "TICKETQ_IDLE_TIMEOUT_S", SettingKind::kInt, &Config::idle_timeout_s,
     nullptr, 1, 3600, "close client connections idle this long", false},
    {"max_inflight", "TICKETQ_MAX_INFLIGHT", SettingKind::kInt, &Config::max_inflight, nullptr, 1,
     1000000,
     "Redis commands in flight per event loop and Redis master (the loop's one connection to "
     "it) before new requests get 503",
     false},
    {"max_connections", "TICKETQ_MAX_CONNECTIONS", SettingKind::kInt, &Config::max_connections,
     nullptr, 0, 10000000,
     "open client connections per process; past it a new one is answered 503 and closed (0 = "
     "90% of the open-file limit less 64, so that descriptors remain for Redis and for those "
     "503s)",
     false},
    {"max_connections_per_client", "TICKETQ_MAX_CONNECTIONS_PER_CLIENT", SettingKind::kInt,
     &Config::max_connections_per_client, nullptr, 0, 10000000,
     "open connections per client address (an IPv6 client: its /64) per process; past it a new "
     "one is answered 429 and closed (0 = no cap; trusted_proxies are not counted)",
     false},
    {"max_streams_per_user", "TICKETQ_MAX_STREAMS_PER_USER", SettingKind::kInt,
     &Config::max_streams_per_user, nullptr, 0, 1000000,
     "open event streams per user token (its event and user) per process; past it 429 (0 = no "
     "cap)",
     false},
    {"trusted_proxies", "TICKETQ_TRUSTED_PROXIES", SettingKind::kString, nullptr,
     &Config::trusted_proxies, 0, 0,
     "proxies in front of ticketq (addresses or blocks, comma-separated: 10.0.0.0/8, ::1): their "
     "connections are not counted per client, and a request's client is read from their "
     "X-Forwarded-For (empty = none: the peer is the client)",
     false},
    {"request_read_timeout_ms", "TICKETQ_REQUEST_READ_TIMEOUT_MS", SettingKind::kInt,
     &Config::request_read_timeout_ms, nullptr, 100, 600000,
     "a request must arrive in full this soon after its first byte (slow clients are cut)", false},
    {"max_requests_per_connection", "TICKETQ_MAX_REQUESTS_PER_CONNECTION", SettingKind::kInt,
     &Config::max_requests_per_connection, nullptr, 1, 1000000000,
     "requests served on one keep-alive connection before it is closed", false},
    {"access_log", "TICKETQ_ACCESS_LOG", SettingKind::kInt, &Config::access_log, nullptr, 0, 1,
     "1 = log one line per request (method, path, status, duration, request id)", false},
    {"batch_max", "TICKETQ_BATCH_MAX", SettingKind::kInt, &Config::batch_max, nullptr, 1, 1000,
     "most users per coalesced reserve/status script call (1 = no coalescing)", false},
    {"shutdown_timeout_ms", "TICKETQ_SHUTDOWN_TIMEOUT_MS", SettingKind::kInt,
     &Config::shutdown_timeout_ms, nullptr, 0, 600000,
     "on SIGTERM, how long in-flight requests may take to finish", false},
    {"redis_allow_eviction", "TICKETQ_REDIS_ALLOW_EVICTION", SettingKind::kInt,
     &Config::redis_allow_eviction, nullptr, 0, 1,
     "1 = accept a Redis maxmemory-policy other than noeviction (else /ready answers 503)", false},
    {"redis_wait_replicas", "TICKETQ_REDIS_WAIT_REPLICAS", SettingKind::kInt,
     &Config::redis_wait_replicas, nullptr, 0, 16,
     "durability: a reservation, admission or other change is acknowledged only once this many "
     "replicas have it (Redis WAIT); 0 = as soon as the master has it (docs/scaling.md)",
     false},
    {"redis_wait_timeout_ms", "TICKETQ_REDIS_WAIT_TIMEOUT_MS", SettingKind::kInt,
     &Config::redis_wait_timeout_ms, nullptr, 1, 60000,
     "how long a change waits for its replicas (redis_wait_replicas) before it is answered 503",
     false},
    {"token_keys", "TICKETQ_TOKEN_KEYS", SettingKind::kString, nullptr, &Config::token_keys, 0, 0,
     "Ed25519 private key PEM files, comma-separated: the first signs tokens, all verify them",
     false},
    {"token_issuer", "TICKETQ_TOKEN_ISSUER", SettingKind::kString, nullptr, &Config::token_issuer,
     0, 0, "the iss claim of tokens, and what a token must carry to verify", false},
    {"token_audience", "TICKETQ_TOKEN_AUDIENCE", SettingKind::kString, nullptr,
     &Config::token_audience, 0, 0, "the aud claim of tokens: the booking service", false},
    {"admission_tick_ms", "TICKETQ_ADMISSION_TICK_MS", SettingKind::kInt,
     &Config::admission_tick_ms, nullptr, 0, 10000,
     "how often this instance runs each event's admission step (admit at the rate, sweep "
     "ended holds and silent waiters); 0 = never (other instances must)",
     false},
    {"admission_discover_ms", "TICKETQ_ADMISSION_DISCOVER_MS", SettingKind::kInt,
     &Config::admission_discover_ms, nullptr, 100, 600000,
     "how often this instance looks for new events in Redis (a SCAN of their settings keys)",
     false},
    {"stream_tick_ms", "TICKETQ_STREAM_TICK_MS", SettingKind::kInt, &Config::stream_tick_ms,
     nullptr, 50, 1000,
     "how often each event loop reads the watched events for their streams (one call per event); "
     "keep it under a quarter of the shortest waiter_ttl_s",
     false},
    {"stream_heartbeat_s", "TICKETQ_STREAM_HEARTBEAT_S", SettingKind::kInt,
     &Config::stream_heartbeat_s, nullptr, 1, 3600,
     "a comment on every quiet stream this often, so proxies keep it open (kept under half of "
     "idle_timeout_s)",
     false},
    {"cors_origins", "TICKETQ_CORS_ORIGINS", SettingKind::kString, nullptr, &Config::cors_origins,
     0, 0,
     "origins whose pages may call the API (https://shop.example, comma-separated; * = any; "
     "empty = none)",
     false},
    {"booking_url", "TICKETQ_BOOKING_URL", SettingKind::kString, nullptr, &Config::booking_url, 0,
     0,
     "where the waiting room sends an admitted visitor, with ?event=E&token=T added (empty: the "
     "page shows the token)",
     false},
    {"cookie_secure", "TICKETQ_COOKIE_SECURE", SettingKind::kInt, &Config::cookie_secure, nullptr,
     0, 1, "1: the waiting room's cookie is Secure (set it when clients reach ticketq over TLS)",
     false},
};

const char* const kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

std::string flag_of(const Setting& s) {
  std::string f = std::string("--") + s.name;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::optional<std::string> system_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

const Setting* find_setting(std::string_view name) {
  for (const Setting& s : kSettings)
    if (name == s.name) return &s;
  return nullptr;
}

// Reads the TOML file into the configuration; returns an error or empty.
std::string apply_file(Config& cfg, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ": " << e.description() << " (line " << e.source().begin.line << ")";
    return os.str();
  }
  for (auto&& [key, node] : tbl) {
    const Setting* s = find_setting(key.str());
    if (s == nullptr) return path + ": unknown setting '" + std::string(key.str()) + "'";
    std::string text;
    if (s->kind == SettingKind::kInt) {
      auto v = node.value<int64_t>();
      if (!node.is_integer() || !v) return path + ": '" + s->name + "' must be an integer";
      text = std::to_string(*v);
    } else {
      if (!node.is_string()) return path + ": '" + s->name + "' must be a string";
      text = *node.value<std::string>();
    }
    std::string err = apply_setting(cfg, *s, text);
    if (!err.empty()) return path + ": " + err;
  }
  return {};
}

}  // namespace

std::vector<std::string> split_origins(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    // Browsers send an origin in lower case.
    std::string origin(item);
    for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back(std::move(origin));
  }
  return out;
}

std::string check_origins(std::string_view list) {
  for (const std::string& o : split_origins(list)) {
    if (o == "*") continue;
    size_t scheme = o.find("://");
    std::string_view s = std::string_view(o).substr(0, scheme);
    if (scheme == std::string::npos || (s != "http" && s != "https") || o.size() == scheme + 3 ||
        o.find_first_of("/?# ", scheme + 3) != std::string::npos)
      return "'" + o + "' is not an origin (scheme://host[:port], no path)";
  }
  return {};
}

int Config::worker_count() const {
  if (threads > 0) return static_cast<int>(threads);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// The default keeps a tenth of the descriptors, and 64 more, for what is
// not a client: the listeners, Redis connections, each loop's own, and the
// one a loop gives up to answer a client 503 when none is left.
int64_t Config::connection_cap(int64_t open_files) const {
  if (max_connections > 0) return max_connections;
  return std::max<int64_t>({1, open_files / 2, open_files * 9 / 10 - 64});
}

std::span<const Setting> settings_table() {
  return kSettings;
}

std::string apply_setting(Config& cfg, const Setting& s, const std::string& value) {
  if (s.kind == SettingKind::kInt) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty())
      return std::string(s.name) + ": '" + value + "' is not an integer";
    if (v < s.min || v > s.max)
      return std::string(s.name) + ": " + value + " is out of range [" + std::to_string(s.min) +
             ", " + std::to_string(s.max) + "]";
    cfg.*s.int_field = v;
    return {};
  }
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f) return std::string(s.name) + ": control characters are not allowed";
  if (std::string_view(s.name) == "log_level" &&
      std::find(std::begin(kLogLevels), std::end(kLogLevels), value) == std::end(kLogLevels))
    return "log_level: '" + value + "' is not one of trace, debug, info, warn, error, off";
  if (std::string_view(s.name) == "key_prefix" &&
      (value.empty() || value.find_first_of("{} \t\r\n") != std::string::npos))
    return "key_prefix: must be non-empty without braces or spaces";
  if (std::string_view(s.name) == "bind" && value.empty()) return "bind: must not be empty";
  std::string_view name = s.name;
  if ((name == "token_issuer" || name == "token_audience") && value.empty())
    return std::string(s.name) + ": must not be empty";
  if (name == "cors_origins") {
    std::string err = check_origins(value);
    if (!err.empty()) return "cors_origins: " + err;
  }
  if (name == "trusted_proxies") {
    Parsed<std::vector<IpRange>> ranges = parse_ip_ranges(value);
    if (!ranges.ok()) return "trusted_proxies: " + ranges.error;
  }
  if (name == "booking_url" && !value.empty() && value.rfind("https://", 0) != 0 &&
      value.rfind("http://", 0) != 0 && (value.front() != '/' || value.rfind("//", 0) == 0))
    return "booking_url: must be an http(s):// URL or a path starting with one /";
  if (name == "booking_url" && !value.empty() && value.front() != '/') {
    // An http(s) URL: its origin goes into the pages' Content-Security-Policy
    // (form-action; api_pages.cpp). A path adds nothing there.
    size_t host = value.find("://") + 3;
    std::string_view origin =
        std::string_view(value).substr(host, value.find_first_of("/?#", host) - host);
    if (origin.empty() || origin.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                                   "VWXYZ0123456789.-:[]") != std::string::npos)
      return "booking_url: the host must be a name, an address or [an IPv6 address], with an "
             "optional :port";
  }
  if (std::string_view(s.name) == "redis") {
    auto ep = parse_redis_target(value);
    if (!ep.ok()) return "redis: " + ep.error;
  }
  cfg.*s.str_field = value;
  return {};
}

LoadResult load_config(int argc, const char* const* argv, EnvLookup env) {
  if (env == nullptr) env = system_env;
  LoadResult out;

  CLI::App app{
      "ticketq-server: a fair first-come-first-served queue for ticket rushes, over Redis"};
  app.set_version_flag("--version", std::string("ticketq-server ") + TICKETQ_VERSION);
  std::string config_path;
  app.add_option("--config", config_path, "TOML config file (env TICKETQ_CONFIG)");
  bool check_only = false;
  app.add_flag("--check-config", check_only, "validate the configuration, print it and exit");
  std::map<std::string, std::string> flags;
  for (const Setting& s : kSettings) {
    std::ostringstream help;
    help << s.help << " (env " << s.env << ", default ";
    Config defaults;
    if (s.kind == SettingKind::kInt)
      help << defaults.*s.int_field;
    else
      help << '"' << defaults.*s.str_field << '"';
    help << ")";
    app.add_option(flag_of(s), flags[s.name], help.str())
        ->type_name(s.kind == SettingKind::kInt ? "N" : "TEXT");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream os;
    int code = app.exit(e, os, os);
    out.action = LoadResult::Action::kExit;
    out.exit_code = code == 0 ? 0 : 2;
    out.message = os.str();
    return out;
  }

  Config cfg;
  if (config_path.empty()) config_path = env("TICKETQ_CONFIG").value_or("");
  auto fail = [&](std::string msg) {
    out.action = LoadResult::Action::kExit;
    out.exit_code = 2;
    out.message = "ticketq-server: " + msg + "\n";
    return out;
  };
  if (!config_path.empty()) {
    std::string err = apply_file(cfg, config_path);
    if (!err.empty()) return fail(err);
    cfg.config_file = config_path;
  }
  for (const Setting& s : kSettings) {
    if (auto v = env(s.env)) {
      std::string err = apply_setting(cfg, s, *v);
      if (!err.empty()) return fail(err + " (from " + s.env + ")");
    }
  }
  for (const Setting& s : kSettings) {
    if (app.count(flag_of(s)) == 0) continue;
    std::string err = apply_setting(cfg, s, flags[s.name]);
    if (!err.empty()) return fail(err + " (from " + flag_of(s) + ")");
  }
  // Refused here, so that --check-config catches it and the server never
  // starts with a key it cannot use (the server loads the keys again).
  if (!cfg.token_keys.empty()) {
    Parsed<Tokens> keys = Tokens::load_list(cfg.token_keys, {});
    if (!keys.ok()) return fail("token_keys: " + keys.error);
  }
  if (cfg.admin_token.empty()) {
    cfg.admin_token = generate_token();
    cfg.admin_token_generated = true;
  }
  out.config = cfg;
  if (check_only) {
    out.action = LoadResult::Action::kExit;
    out.message = "configuration OK\n" + describe(cfg);
  }
  return out;
}

std::string describe(const Config& cfg) {
  std::ostringstream os;
  for (const Setting& s : kSettings) {
    os << s.name << " = ";
    if (s.secret && !(cfg.*s.str_field).empty()) {
      os << "\"(redacted)\"";
    } else if (std::string_view(s.name) == "redis") {
      // Show where, never the password: redis://:***@host:port.
      std::string url = cfg.redis_url;
      size_t scheme = url.find("://"), at = url.rfind('@');
      if (scheme != std::string::npos && at != std::string::npos && at > scheme)
        url.replace(scheme + 3, at - scheme - 3, ":***");
      os << '"' << url << '"';
    } else if (s.kind == SettingKind::kInt)
      os << cfg.*s.int_field;
    else
      os << '"' << cfg.*s.str_field << '"';
    os << '\n';
  }
  return os.str();
}

}  // namespace ticketq
