// Configuration: every setting lives in one table (kSettings in config.cpp).
// The table drives --help, the config file, the environment, and the check
// that config/ticketq.toml documents every setting with its default.
// Precedence: built-in default < config file < environment < command line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ticketq {

struct Config {
  std::string bind = "127.0.0.1";
  int64_t port = 8000;
  std::string redis_url = "redis://127.0.0.1:6379";
  int64_t threads = 0;  // 0 = one per core
  int64_t capacity = 500;
  int64_t queue_limit = 500;
  std::string admin_token;    // empty = generate one at start
  std::string metrics_token;  // empty = /metrics is open
  std::string log_level = "info";
  std::string key_prefix = "ticketq";
  int64_t request_timeout_ms = 1000;
  int64_t max_body_bytes = 4096;
  int64_t max_header_bytes = 8192;
  int64_t idle_timeout_s = 60;
  int64_t max_inflight = 10000;
  int64_t max_connections = 0;  // 0 = derived from the open-file limit
  int64_t max_connections_per_client = 256;
  int64_t max_streams_per_user = 4;
  std::string trusted_proxies;  // addresses or blocks, comma-separated
  int64_t request_read_timeout_ms = 10000;
  int64_t max_requests_per_connection = 100000;
  int64_t access_log = 0;
  int64_t batch_max = 256;
  int64_t shutdown_timeout_ms = 5000;
  int64_t redis_allow_eviction = 0;     // 1: accept a maxmemory-policy other than noeviction
  int64_t redis_wait_replicas = 0;      // replicas a change must reach before it is acknowledged
  int64_t redis_wait_timeout_ms = 100;  // how long it may wait for them
  std::string token_keys;  // PEM files, comma-separated, the first signs; "" = made at start
  std::string token_issuer = "ticketq";
  std::string token_audience = "booking";
  int64_t admission_tick_ms = 200;
  int64_t admission_discover_ms = 2000;
  int64_t stream_tick_ms = 250;
  int64_t stream_heartbeat_s = 15;
  std::string cors_origins;   // comma-separated origins; "" = none, "*" = any
  std::string booking_url;    // where the waiting room sends the admitted
  int64_t cookie_secure = 0;  // 1: the visitor's cookie is Secure (behind TLS)

  // Derived at load time, not settings.
  bool admin_token_generated = false;
  std::string config_file;

  // Number of event loops to run (threads resolved against the core count).
  int worker_count() const;
  // max_connections resolved against the process's open-file limit.
  int64_t connection_cap(int64_t open_files) const;
};

enum class SettingKind { kInt, kString };

// One row of the settings table.
struct Setting {
  const char* name;  // file key; the flag is the same with '-' for '_'
  const char* env;   // environment variable
  SettingKind kind;
  int64_t Config::*int_field;
  std::string Config::*str_field;
  int64_t min;
  int64_t max;
  const char* help;
  bool secret;  // never printed back
};

std::span<const Setting> settings_table();

// Outcome of reading the configuration.
struct LoadResult {
  enum class Action { kRun, kExit } action = Action::kRun;
  int exit_code = 0;
  std::string message;  // printed by main: help, version, or the error
  Config config;
};

// Builds the configuration from argv, the environment and the config file.
// `env` is a lookup so tests can supply their own environment.
using EnvLookup = std::optional<std::string> (*)(const char* name);
LoadResult load_config(int argc, const char* const* argv, EnvLookup env = nullptr);

// Applies one textual value to a setting, checking type and bounds.
// Returns an error message, or empty on success.
std::string apply_setting(Config& cfg, const Setting& s, const std::string& value);

// Renders the effective configuration (secrets redacted), one `key = value` per line.
std::string describe(const Config& cfg);

// The origins of a cors_origins list, and what is wrong with it ("" if nothing).
std::vector<std::string> split_origins(std::string_view list);
std::string check_origins(std::string_view list);

}  // namespace ticketq
