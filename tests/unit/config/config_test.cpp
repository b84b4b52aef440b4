// Tests of src/config/config.cpp: load_config (defaults, precedence, errors, help,
// --check-config, generated token), apply_setting, describe, the settings
// table, and config/ticketq.toml kept in step with the table.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "key_files.h"

namespace ticketq {
namespace {

using Action = LoadResult::Action;

// ---------------------------------------------------------------- helpers --

// The fake environment; load_config takes a plain function pointer.
std::map<std::string, std::string>& fake_env() {
  static std::map<std::string, std::string> env;
  return env;
}

std::optional<std::string> lookup_fake_env(const char* name) {
  auto it = fake_env().find(name);
  if (it == fake_env().end()) return std::nullopt;
  return it->second;
}

LoadResult load(std::vector<std::string> args) {
  args.insert(args.begin(), "ticketq-server");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return load_config(static_cast<int>(args.size()), argv.data(), &lookup_fake_env);
}

bool is_lower_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

const Setting& setting(std::string_view name) {
  for (const Setting& s : settings_table())
    if (name == s.name) return s;
  ADD_FAILURE() << "no setting " << name;
  static Setting none{};
  return none;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { fake_env().clear(); }
  void TearDown() override {
    fake_env().clear();
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  // Writes a TOML file in the test's temp dir and returns its path.
  std::string write_toml(const std::string& text) {
    static std::atomic<int> counter{0};
    std::string path = ::testing::TempDir() + "ticketq_config_test_" + std::to_string(::getpid()) +
                       "_" + std::to_string(counter++) + ".toml";
    std::ofstream(path, std::ios::binary) << text;
    files_.push_back(path);
    return path;
  }

  // Expects an exit with code 2 whose message names `needle` (the setting).
  static void expect_error(const LoadResult& r, const std::string& needle) {
    EXPECT_EQ(r.action, Action::kExit);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.message.find(needle), std::string::npos)
        << "message does not name '" << needle << "': " << r.message;
  }

  std::vector<std::string> files_;
};

// --------------------------------------------------------------- defaults --

TEST_F(ConfigTest, DefaultsMatchTheBrief) {
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.message, "");
  const Config& c = r.config;
  EXPECT_EQ(c.bind, "127.0.0.1");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.redis_url, "redis://127.0.0.1:6379");
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.capacity, 500);
  EXPECT_EQ(c.queue_limit, 500);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.key_prefix, "ticketq");
  EXPECT_EQ(c.request_timeout_ms, 1000);
  EXPECT_EQ(c.max_body_bytes, 4096);
  EXPECT_EQ(c.max_header_bytes, 8192);
  EXPECT_EQ(c.idle_timeout_s, 60);
  EXPECT_EQ(c.max_inflight, 10000);
  EXPECT_EQ(c.shutdown_timeout_ms, 5000);
  EXPECT_EQ(c.redis_allow_eviction, 0);
  EXPECT_EQ(c.config_file, "");
}

TEST_F(ConfigTest, DefaultStructMatchesTheBrief) {
  Config c;
  EXPECT_EQ(c.bind, "127.0.0.1");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.redis_url, "redis://127.0.0.1:6379");
  EXPECT_EQ(c.capacity, 500);
  EXPECT_EQ(c.queue_limit, 500);
  EXPECT_EQ(c.request_timeout_ms, 1000);
  EXPECT_EQ(c.max_body_bytes, 4096);
  EXPECT_EQ(c.admin_token, "");
  EXPECT_FALSE(c.admin_token_generated);
}

// ------------------------------------------------------------- admin token --

TEST_F(ConfigTest, GeneratesAnAdminTokenWhenNoneIsSet) {
  LoadResult a = load({});
  ASSERT_EQ(a.action, Action::kRun) << a.message;
  EXPECT_TRUE(a.config.admin_token_generated);
  EXPECT_EQ(a.config.admin_token.size(), 32u);
  EXPECT_TRUE(is_lower_hex(a.config.admin_token)) << a.config.admin_token;

  LoadResult b = load({});
  ASSERT_EQ(b.action, Action::kRun);
  EXPECT_NE(a.config.admin_token, b.config.admin_token);
}

TEST_F(ConfigTest, ExplicitAdminTokenIsKept) {
  LoadResult r = load({"--admin-token", "s3cret-token"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.admin_token, "s3cret-token");
  EXPECT_FALSE(r.config.admin_token_generated);

  fake_env()["TICKETQ_ADMIN_TOKEN"] = "from-env";
  r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.admin_token, "from-env");
  EXPECT_FALSE(r.config.admin_token_generated);
}

TEST_F(ConfigTest, EmptyAdminTokenMeansGenerate) {
  fake_env()["TICKETQ_ADMIN_TOKEN"] = "";
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_TRUE(r.config.admin_token_generated);
  EXPECT_EQ(r.config.admin_token.size(), 32u);

  // An empty flag overrides a token from the file.
  std::string path = write_toml("admin_token = \"from-file\"\n");
  r = load({"--config", path, "--admin-token", ""});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_TRUE(r.config.admin_token_generated);
  EXPECT_NE(r.config.admin_token, "from-file");
}

// -------------------------------------------------------------- precedence --

TEST_F(ConfigTest, FileOverridesDefaults) {
  std::string path = write_toml(
      "port = 9001\nredis = \"redis://10.0.0.1:7000/2\"\ncapacity = 3\nlog_level = \"debug\"\n");
  LoadResult r = load({"--config", path});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.port, 9001);
  EXPECT_EQ(r.config.redis_url, "redis://10.0.0.1:7000/2");
  EXPECT_EQ(r.config.capacity, 3);
  EXPECT_EQ(r.config.log_level, "debug");
  EXPECT_EQ(r.config.queue_limit, 500);  // untouched
  EXPECT_EQ(r.config.config_file, path);
}

TEST_F(ConfigTest, FlagsOverrideEnvOverrideFile) {
  std::string path = write_toml("port = 9001\nlog_level = \"debug\"\nkey_prefix = \"file\"\n");
  fake_env()["TICKETQ_PORT"] = "9002";
  fake_env()["TICKETQ_LOG_LEVEL"] = "warn";

  LoadResult r = load({"--config", path, "--port", "9003"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.port, 9003);          // flag > env > file
  EXPECT_EQ(r.config.log_level, "warn");   // env > file
  EXPECT_EQ(r.config.key_prefix, "file");  // file > default

  r = load({"--config", path});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.port, 9002);

  fake_env().erase("TICKETQ_PORT");
  r = load({"--config", path});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.port, 9001);

  r = load({"--config", path, "--log-level=error"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.log_level, "error");
}

TEST_F(ConfigTest, FlagOverridesEnvForStrings) {
  fake_env()["REDIS_URL"] = "redis://env-host:1";
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.redis_url, "redis://env-host:1");
  r = load({"--redis", "unix:///tmp/flag.sock"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.redis_url, "unix:///tmp/flag.sock");
}

TEST_F(ConfigTest, ConfigPathFromEnvironment) {
  std::string path = write_toml("queue_limit = 77\n");
  fake_env()["TICKETQ_CONFIG"] = path;
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.queue_limit, 77);
  EXPECT_EQ(r.config.config_file, path);

  // --config wins over TICKETQ_CONFIG.
  std::string other = write_toml("queue_limit = 78\n");
  r = load({"--config", other});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.queue_limit, 78);
  EXPECT_EQ(r.config.config_file, other);
}

TEST_F(ConfigTest, EverySettingHasAWorkingFlagAndEnvVariable) {
  test::KeyDir keys;
  std::string key_file = keys.new_key("k.pem");
  // A value valid for every setting of its kind, and different from the default.
  for (const Setting& s : settings_table()) {
    SCOPED_TRACE(s.name);
    std::string flag = std::string("--") + s.name;
    for (char& c : flag)
      if (c == '_') c = '-';
    std::string value;
    if (s.kind == SettingKind::kInt) {
      value = std::to_string(s.max);
    } else if (std::string_view(s.name) == "log_level") {
      value = "trace";
    } else if (std::string_view(s.name) == "redis") {
      value = "redis://x-redis:1";
    } else if (std::string_view(s.name) == "token_keys") {
      value = key_file;  // checked at load: it must be a key
    } else if (std::string_view(s.name) == "cors_origins") {
      value = "https://x-shop.example:8443";
    } else if (std::string_view(s.name) == "booking_url") {
      value = "https://x-book.example/book";
    } else if (std::string_view(s.name) == "trusted_proxies") {
      value = "10.0.0.0/8";
    } else {
      value = std::string("x-") + s.name;
    }
    auto get = [&](const Config& c) {
      return s.kind == SettingKind::kInt ? std::to_string(c.*s.int_field) : c.*s.str_field;
    };

    fake_env().clear();
    LoadResult by_flag = load({flag, value});
    ASSERT_EQ(by_flag.action, Action::kRun) << by_flag.message;
    EXPECT_EQ(get(by_flag.config), value);

    fake_env()[s.env] = value;
    LoadResult by_env = load({});
    ASSERT_EQ(by_env.action, Action::kRun) << by_env.message;
    EXPECT_EQ(get(by_env.config), value);
  }
}

// Off unless asked for: a Redis that may evict keys keeps /ready at 503.
TEST_F(ConfigTest, RedisAllowEvictionIsZeroOrOne) {
  EXPECT_EQ(load({}).config.redis_allow_eviction, 0);
  LoadResult r = load({"--redis-allow-eviction", "1"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.redis_allow_eviction, 1);
  fake_env()["TICKETQ_REDIS_ALLOW_EVICTION"] = "1";
  r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.redis_allow_eviction, 1);
  r = load({"--config", write_toml("redis_allow_eviction = 0\n")});  // env > file
  EXPECT_EQ(r.config.redis_allow_eviction, 1);
  fake_env().clear();
  expect_error(load({"--redis-allow-eviction", "2"}), "redis_allow_eviction");
  expect_error(load({"--config", write_toml("redis_allow_eviction = true\n")}),
               "'redis_allow_eviction' must be an integer");
}

// Durability: off by default; a bounded number of replicas and a wait.
TEST_F(ConfigTest, RedisWaitReplicas) {
  EXPECT_EQ(load({}).config.redis_wait_replicas, 0);
  EXPECT_EQ(load({}).config.redis_wait_timeout_ms, 100);
  LoadResult r = load({"--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "250"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.redis_wait_replicas, 1);
  EXPECT_EQ(r.config.redis_wait_timeout_ms, 250);
  expect_error(load({"--redis-wait-replicas", "-1"}), "redis_wait_replicas");
  expect_error(load({"--redis-wait-replicas", "17"}), "redis_wait_replicas");
  expect_error(load({"--redis-wait-timeout-ms", "0"}), "redis_wait_timeout_ms");
}

// Sentinel and Cluster URLs are checked like any other (redis_url_test.cpp
// has the parser's cases).
TEST_F(ConfigTest, RedisSentinelAndClusterUrls) {
  for (const char* url :
       {"sentinel://h1:26379,h2:26379/tq", "cluster://n1:7000,n2:7001", "sentinel://:pw@h/tq"}) {
    LoadResult r = load({"--redis", url});
    ASSERT_EQ(r.action, Action::kRun) << url << ": " << r.message;
    EXPECT_EQ(r.config.redis_url, url);
  }
  expect_error(load({"--redis", "sentinel://h1:26379"}), "redis: sentinel:// needs /master-name");
  expect_error(load({"--redis", "cluster://"}), "redis: cluster:// needs at least one host");
  // The password is never shown.
  Config c;
  c.redis_url = "sentinel://:hunter2@h1,h2/tq";
  EXPECT_EQ(describe(c).find("hunter2"), std::string::npos);
  EXPECT_NE(describe(c).find("redis = \"sentinel://:***@h1,h2/tq\""), std::string::npos);
}

// ---------------------------------------------------------- admission timer --

// The bounds are the table's (every integer setting's bounds are checked
// above); here: the defaults, and each way of giving them.
TEST_F(ConfigTest, AdmissionTimerSettings) {
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.admission_tick_ms, 200);
  EXPECT_EQ(r.config.admission_discover_ms, 2000);
  EXPECT_STREQ(setting("admission_tick_ms").env, "TICKETQ_ADMISSION_TICK_MS");
  EXPECT_STREQ(setting("admission_discover_ms").env, "TICKETQ_ADMISSION_DISCOVER_MS");
  // The admission bucket holds half a second of the rate: the default tick
  // is well inside it.
  EXPECT_LT(r.config.admission_tick_ms, 500);
  EXPECT_GT(setting("admission_discover_ms").min, 0);

  r = load({"--admission-tick-ms", "50", "--admission-discover-ms", "500"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.admission_tick_ms, 50);
  EXPECT_EQ(r.config.admission_discover_ms, 500);
  fake_env()["TICKETQ_ADMISSION_TICK_MS"] = "75";
  r = load({"--config", write_toml("admission_tick_ms = 100\nadmission_discover_ms = 60000\n")});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.admission_tick_ms, 75);  // env > file
  EXPECT_EQ(r.config.admission_discover_ms, 60000);
  fake_env().clear();

  for (const char* name : {"admission_tick_ms", "admission_discover_ms"}) {
    SCOPED_TRACE(name);
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    expect_error(load({flag, std::to_string(setting(name).max + 1)}), name);
    expect_error(load({flag, "-1"}), name);
    expect_error(load({flag, "1.5"}), name);
    expect_error(load({"--config", write_toml(std::string(name) + " = \"200\"\n")}),
                 "'" + std::string(name) + "' must be an integer");
  }
}

// -------------------------------------------------------------- token keys --

TEST_F(ConfigTest, TokenSettingsDefaultToAKeyMadeAtStartForTicketqAndBooking) {
  LoadResult r = load({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.token_keys, "");
  EXPECT_EQ(r.config.token_issuer, "ticketq");
  EXPECT_EQ(r.config.token_audience, "booking");
}

// Every key file is read at load, so --check-config catches a bad one and
// the message names the file but never shows what is in it.
TEST_F(ConfigTest, TokenKeysAreCheckedAtLoad) {
  test::KeyDir keys;
  std::string a = keys.new_key("a.pem"), b = keys.new_key("b.pem");
  std::string rsa = keys.new_key("rsa.pem", "RSA");
  std::string junk = keys.write_text("junk.pem", "PRIVATE-DO-NOT-PRINT\n");
  LoadResult r = load({"--token-keys", a + "," + b});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.token_keys, a + "," + b);

  r = load({"--token-keys", a + "," + b, "--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_NE(r.message.find("token_keys = \"" + a + "," + b + "\"\n"), std::string::npos)
      << r.message;  // paths are not secret

  expect_error(load({"--token-keys", keys.file("missing.pem")}),
               "token_keys: key file " + keys.file("missing.pem") + ": cannot be read");
  expect_error(load({"--token-keys", a + "," + rsa}), rsa + ": holds a key of type RSA");
  r = load({"--token-keys", junk, "--check-config"});
  expect_error(r, junk + ": not an unencrypted PEM private key");
  EXPECT_EQ(r.message.find("PRIVATE-DO-NOT-PRINT"), std::string::npos) << r.message;
  fake_env()["TICKETQ_TOKEN_KEYS"] = a + ",";
  expect_error(load({}), "token_keys: an empty path");
  // A bad file named in the config file does not matter when the flag
  // replaces it: only the value that applies is read.
  fake_env().clear();
  r = load({"--config", write_toml("token_keys = \"" + junk + "\"\n"), "--token-keys", a});
  EXPECT_EQ(r.action, Action::kRun) << r.message;
}

TEST_F(ConfigTest, TokenIssuerAndAudienceMustNotBeEmpty) {
  expect_error(load({"--token-issuer", ""}), "token_issuer: must not be empty");
  expect_error(load({"--token-audience", ""}), "token_audience: must not be empty");
  LoadResult r = load({"--token-issuer", "https://q.example", "--token-audience", "hotel"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.token_issuer, "https://q.example");
  EXPECT_EQ(r.config.token_audience, "hotel");
}

// -------------------------------------------------------------- bad values --

TEST_F(ConfigTest, NonIntegerFlagIsRefused) {
  LoadResult r = load({"--port", "abc"});
  expect_error(r, "port");
  EXPECT_NE(r.message.find("'abc' is not an integer"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("--port"), std::string::npos) << r.message;

  for (const char* bad : {"80x", "1.5", "", " 80", "0x10", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_error(load({"--capacity", bad}), "capacity");
  }
}

TEST_F(ConfigTest, NonIntegerEnvIsRefusedNamingTheVariable) {
  fake_env()["TICKETQ_QUEUE_LIMIT"] = "lots";
  LoadResult r = load({});
  expect_error(r, "queue_limit");
  EXPECT_NE(r.message.find("TICKETQ_QUEUE_LIMIT"), std::string::npos) << r.message;
}

TEST_F(ConfigTest, OutOfRangeIsRefused) {
  LoadResult r = load({"--port", "65536"});
  expect_error(r, "port");
  EXPECT_NE(r.message.find("out of range [0, 65535]"), std::string::npos) << r.message;
  expect_error(load({"--port", "-1"}), "port");
  expect_error(load({"--request-timeout-ms", "0"}), "request_timeout_ms");
  expect_error(load({"--max-body-bytes", "63"}), "max_body_bytes");
  expect_error(load({"--capacity", "1099511627777"}), "capacity");
  expect_error(load({"--threads", "257"}), "threads");

  LoadResult ok = load({"--port", "0", "--capacity", "1099511627776", "--threads", "256"});
  ASSERT_EQ(ok.action, Action::kRun) << ok.message;
  EXPECT_EQ(ok.config.port, 0);
  EXPECT_EQ(ok.config.capacity, INT64_C(1) << 40);
  EXPECT_EQ(ok.config.threads, 256);
}

TEST_F(ConfigTest, EveryIntegerSettingAcceptsItsBoundsAndRefusesBeyond) {
  for (const Setting& s : settings_table()) {
    if (s.kind != SettingKind::kInt) continue;
    SCOPED_TRACE(s.name);
    for (int64_t v : {s.min, s.max}) {
      fake_env().clear();
      fake_env()[s.env] = std::to_string(v);
      LoadResult r = load({});
      ASSERT_EQ(r.action, Action::kRun) << r.message;
      EXPECT_EQ(r.config.*s.int_field, v);
    }
    for (int64_t v : {s.min - 1, s.max + 1}) {
      fake_env().clear();
      fake_env()[s.env] = std::to_string(v);
      LoadResult r = load({});
      expect_error(r, s.name);
      EXPECT_NE(r.message.find(s.env), std::string::npos) << r.message;
    }
  }
}

TEST_F(ConfigTest, BadLogLevelIsRefused) {
  for (const char* bad : {"verbose", "INFO", "", "warning"}) {
    SCOPED_TRACE(bad);
    expect_error(load({"--log-level", bad}), "log_level");
  }
  for (const char* good : {"trace", "debug", "info", "warn", "error", "off"}) {
    LoadResult r = load({"--log-level", good});
    ASSERT_EQ(r.action, Action::kRun) << r.message;
    EXPECT_EQ(r.config.log_level, good);
  }
}

TEST_F(ConfigTest, BadKeyPrefixAndBindAreRefused) {
  for (const char* bad : {"", "a{b", "a}b", "a b", "a\tb"}) {
    SCOPED_TRACE(bad);
    expect_error(load({"--key-prefix", bad}), "key_prefix");
  }
  expect_error(load({"--bind", ""}), "bind");
}

TEST_F(ConfigTest, UnknownFlagIsRefused) {
  LoadResult r = load({"--no-such-flag"});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("--no-such-flag"), std::string::npos) << r.message;
}

TEST_F(ConfigTest, UnknownKeyInFileIsRefused) {
  std::string path = write_toml("port = 9000\nportt = 9001\n");
  LoadResult r = load({"--config", path});
  expect_error(r, "portt");
  EXPECT_NE(r.message.find("unknown setting"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(path), std::string::npos) << r.message;

  // A table is not a setting either.
  expect_error(load({"--config", write_toml("[server]\nport = 1\n")}), "server");
}

TEST_F(ConfigTest, WrongTomlTypeIsRefused) {
  LoadResult r = load({"--config", write_toml("port = \"8000\"\n")});
  expect_error(r, "'port' must be an integer");
  expect_error(load({"--config", write_toml("capacity = 1.0\n")}), "'capacity' must be an integer");
  expect_error(load({"--config", write_toml("threads = true\n")}), "'threads' must be an integer");
  expect_error(load({"--config", write_toml("bind = 127\n")}), "'bind' must be a string");
  expect_error(load({"--config", write_toml("redis = [\"a\"]\n")}), "'redis' must be a string");
}

TEST_F(ConfigTest, BadValueInFileIsRefused) {
  expect_error(load({"--config", write_toml("port = 70000\n")}), "port");
  expect_error(load({"--config", write_toml("log_level = \"loud\"\n")}), "log_level");
}

TEST_F(ConfigTest, MalformedOrMissingFileIsRefused) {
  std::string path = write_toml("port = = 1\n");
  LoadResult r = load({"--config", path});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find(path), std::string::npos) << r.message;

  // A duplicate key is a TOML error.
  r = load({"--config", write_toml("port = 1\nport = 2\n")});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 2);

  std::string missing = ::testing::TempDir() + "ticketq_no_such_file.toml";
  r = load({"--config", missing});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find(missing), std::string::npos) << r.message;
}

// ------------------------------------------------------ help, version, check --

TEST_F(ConfigTest, HelpExitsZeroAndListsEverySetting) {
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    LoadResult r = load({flag});
    EXPECT_EQ(r.action, Action::kExit);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.message.find("Usage"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("--config"), std::string::npos);
    EXPECT_NE(r.message.find("--check-config"), std::string::npos);
    for (const Setting& s : settings_table()) {
      EXPECT_NE(r.message.find(s.env), std::string::npos) << s.env;
      EXPECT_NE(r.message.find(s.help), std::string::npos) << s.help;
    }
    EXPECT_NE(r.message.find("--queue-limit"), std::string::npos);
    EXPECT_NE(r.message.find("default 8000"), std::string::npos);
  }
}

TEST_F(ConfigTest, VersionExitsZero) {
  LoadResult r = load({"--version"});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.message.find(std::string("ticketq-server ") + TICKETQ_VERSION), std::string::npos)
      << r.message;
}

TEST_F(ConfigTest, CheckConfigExitsZeroAndRedactsTheToken) {
  fake_env()["TICKETQ_ADMIN_TOKEN"] = "do-not-print-me-42";
  LoadResult r = load({"--check-config", "--port", "8123"});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.message.rfind("configuration OK\n", 0), 0u) << r.message;
  EXPECT_NE(r.message.find("port = 8123\n"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("admin_token = \"(redacted)\"\n"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("do-not-print-me-42"), std::string::npos) << r.message;
  EXPECT_EQ(r.config.admin_token, "do-not-print-me-42");
  EXPECT_EQ(r.config.port, 8123);
}

TEST_F(ConfigTest, CheckConfigRedactsAGeneratedToken) {
  LoadResult r = load({"--check-config"});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.config.admin_token.size(), 32u);
  EXPECT_EQ(r.message.find(r.config.admin_token), std::string::npos) << r.message;
}

TEST_F(ConfigTest, CheckConfigWithABadValueExitsTwo) {
  LoadResult r = load({"--check-config", "--port", "x"});
  expect_error(r, "port");
}

// A password in the Redis URL is as secret as the admin token; --check-config
// output is meant to be pasted into tickets and CI logs.
TEST_F(ConfigTest, CheckConfigDoesNotPrintTheRedisPassword) {
  LoadResult r = load({"--check-config", "--redis", "redis://:hunter2pw@10.1.2.3:6379/1"});
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.message.find("hunter2pw"), std::string::npos) << r.message;
}

// The server refuses a Redis URL it cannot parse (exit 2 at start), so
// --check-config must not call such a configuration OK.
TEST_F(ConfigTest, CheckConfigRefusesABadRedisUrl) {
  LoadResult r = load({"--check-config", "--redis", "http://127.0.0.1:6379"});
  expect_error(r, "redis");
  EXPECT_EQ(r.message.find("configuration OK"), std::string::npos) << r.message;
}

TEST_F(ConfigTest, CorsOriginsMustBeOrigins) {
  LoadResult ok = load({"--cors-origins", " https://a.example, http://b.example:8080 ,*"});
  ASSERT_EQ(ok.action, Action::kRun) << ok.message;
  EXPECT_EQ(split_origins(ok.config.cors_origins),
            (std::vector<std::string>{"https://a.example", "http://b.example:8080", "*"}));
  EXPECT_TRUE(split_origins("").empty());
  for (const char* bad : {"a.example", "https://a.example/", "https://a.example/path",
                          "ftp://a.example", "https://", "https://a.example?x", "https://a b"}) {
    SCOPED_TRACE(bad);
    expect_error(load({"--cors-origins", bad}), "cors_origins");
  }
}

TEST_F(ConfigTest, BookingUrlIsAnHttpUrlOrAPath) {
  for (const char* good :
       {"", "https://book.example/b?x=1", "http://127.0.0.1:9/book", "/book", "https://[::1]:8443",
        "https://book.example#x", "/book?next=https://shop.example/x"}) {
    SCOPED_TRACE(good);
    EXPECT_EQ(load({"--booking-url", good}).action, Action::kRun);
  }
  // The origin goes into a Content-Security-Policy header: nothing but a
  // host and port may be there.
  for (const char* bad : {"javascript:alert(1)", "book", "//evil.example", "https://",
                          "https:///path", "https://a.example;script-src *", "https://a b.example/",
                          "https://user@book.example/", "https://a.example'/"}) {
    SCOPED_TRACE(bad);
    expect_error(load({"--booking-url", bad}), "booking_url");
  }
}

// ---------------------------------------------------------------- describe --

TEST_F(ConfigTest, DescribeListsEverySettingInTableOrder) {
  Config c;
  c.admin_token = "secret";
  c.port = 1234;
  EXPECT_EQ(describe(c),
            "bind = \"127.0.0.1\"\n"
            "port = 1234\n"
            "redis = \"redis://127.0.0.1:6379\"\n"
            "threads = 0\n"
            "capacity = 500\n"
            "queue_limit = 500\n"
            "admin_token = \"(redacted)\"\n"
            "metrics_token = \"\"\n"
            "log_level = \"info\"\n"
            "key_prefix = \"ticketq\"\n"
            "request_timeout_ms = 1000\n"
            "max_body_bytes = 4096\n"
            "max_header_bytes = 8192\n"
            "idle_timeout_s = 60\n"
            "max_inflight = 10000\n"
            "max_connections = 0\n"
            "max_connections_per_client = 256\n"
            "max_streams_per_user = 4\n"
            "trusted_proxies = \"\"\n"
            "request_read_timeout_ms = 10000\n"
            "max_requests_per_connection = 100000\n"
            "access_log = 0\n"
            "batch_max = 256\n"
            "shutdown_timeout_ms = 5000\n"
            "redis_allow_eviction = 0\n"
            "redis_wait_replicas = 0\n"
            "redis_wait_timeout_ms = 100\n"
            "token_keys = \"\"\n"
            "token_issuer = \"ticketq\"\n"
            "token_audience = \"booking\"\n"
            "admission_tick_ms = 200\n"
            "admission_discover_ms = 2000\n"
            "stream_tick_ms = 250\n"
            "stream_heartbeat_s = 15\n"
            "cors_origins = \"\"\n"
            "booking_url = \"\"\n"
            "cookie_secure = 0\n");
}

// ------------------------------------------------------------ apply_setting --

TEST_F(ConfigTest, ApplySettingChecksTypeAndBounds) {
  Config c;
  EXPECT_EQ(apply_setting(c, setting("port"), "8080"), "");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(apply_setting(c, setting("port"), "8080 "), "port: '8080 ' is not an integer");
  EXPECT_EQ(apply_setting(c, setting("port"), "65536"), "port: 65536 is out of range [0, 65535]");
  EXPECT_EQ(c.port, 8080);  // unchanged by a refused value
  EXPECT_EQ(apply_setting(c, setting("bind"), "::1"), "");
  EXPECT_EQ(c.bind, "::1");
  EXPECT_EQ(apply_setting(c, setting("log_level"), "nope"),
            "log_level: 'nope' is not one of trace, debug, info, warn, error, off");
  EXPECT_EQ(c.log_level, "info");
}

// max_connections 0 keeps descriptors for what is not a client; a value
// set is taken as it is.
TEST_F(ConfigTest, ConnectionCapIsDerivedFromTheOpenFileLimit) {
  Config c;
  ASSERT_EQ(c.max_connections, 0);
  EXPECT_EQ(c.connection_cap(20000), 17936);
  EXPECT_EQ(c.connection_cap(1024), 857);
  EXPECT_EQ(c.connection_cap(48), 24);  // a tiny limit keeps half
  EXPECT_EQ(c.connection_cap(1), 1);
  c.max_connections = 50000;
  EXPECT_EQ(c.connection_cap(1024), 50000);
}

TEST_F(ConfigTest, TrustedProxiesMustBeAddressesOrBlocks) {
  Config c;
  EXPECT_EQ(apply_setting(c, setting("trusted_proxies"), "10.0.0.0/8, ::1,192.168.1.7"), "");
  EXPECT_EQ(c.trusted_proxies, "10.0.0.0/8, ::1,192.168.1.7");
  EXPECT_EQ(apply_setting(c, setting("trusted_proxies"), "proxy.example"),
            "trusted_proxies: \"proxy.example\" is not an address or block");
  EXPECT_EQ(apply_setting(c, setting("trusted_proxies"), "10.0.0.0/33"),
            "trusted_proxies: \"10.0.0.0/33\" has a bad prefix length");
  EXPECT_EQ(c.trusted_proxies, "10.0.0.0/8, ::1,192.168.1.7");  // unchanged
}

TEST_F(ConfigTest, WorkerCount) {
  Config c;
  c.threads = 3;
  EXPECT_EQ(c.worker_count(), 3);
  c.threads = 0;
  unsigned hw = std::thread::hardware_concurrency();
  EXPECT_EQ(c.worker_count(), hw == 0 ? 1 : static_cast<int>(hw));
}

// ----------------------------------------------------------- settings table --

TEST(SettingsTable, HasEveryExpectedSettingOnce) {
  std::vector<std::string> names;
  for (const Setting& s : settings_table()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bind",
                                             "port",
                                             "redis",
                                             "threads",
                                             "capacity",
                                             "queue_limit",
                                             "admin_token",
                                             "metrics_token",
                                             "log_level",
                                             "key_prefix",
                                             "request_timeout_ms",
                                             "max_body_bytes",
                                             "max_header_bytes",
                                             "idle_timeout_s",
                                             "max_inflight",
                                             "max_connections",
                                             "max_connections_per_client",
                                             "max_streams_per_user",
                                             "trusted_proxies",
                                             "request_read_timeout_ms",
                                             "max_requests_per_connection",
                                             "access_log",
                                             "batch_max",
                                             "shutdown_timeout_ms",
                                             "redis_allow_eviction",
                                             "redis_wait_replicas",
                                             "redis_wait_timeout_ms",
                                             "token_keys",
                                             "token_issuer",
                                             "token_audience",
                                             "admission_tick_ms",
                                             "admission_discover_ms",
                                             "stream_tick_ms",
                                             "stream_heartbeat_s",
                                             "cors_origins",
                                             "booking_url",
                                             "cookie_secure"}));
}

TEST(SettingsTable, RowsAreConsistent) {
  std::set<std::string> envs, names;
  Config defaults;
  for (const Setting& s : settings_table()) {
    SCOPED_TRACE(s.name);
    ASSERT_NE(s.name, nullptr);
    ASSERT_NE(s.env, nullptr);
    ASSERT_NE(s.help, nullptr);
    EXPECT_GT(std::string_view(s.help).size(), 0u);
    EXPECT_TRUE(envs.insert(s.env).second) << "duplicate env " << s.env;
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate name " << s.name;
    if (s.kind == SettingKind::kInt) {
      EXPECT_NE(s.int_field, nullptr);
      EXPECT_EQ(s.str_field, nullptr);
      EXPECT_LE(s.min, s.max);
      // The default lies within the bounds.
      EXPECT_GE(defaults.*s.int_field, s.min);
      EXPECT_LE(defaults.*s.int_field, s.max);
    } else {
      EXPECT_NE(s.str_field, nullptr);
      EXPECT_EQ(s.int_field, nullptr);
    }
    // Env names are upper-case identifiers.
    for (char c : std::string_view(s.env))
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') << s.env;
  }
  EXPECT_EQ(envs.count("TICKETQ_CONFIG"), 0u);  // reserved for the file path
  // Only the tokens are secret.
  for (const Setting& s : settings_table())
    EXPECT_EQ(s.secret, std::string_view(s.name) == "admin_token" ||
                            std::string_view(s.name) == "metrics_token")
        << s.name;
}

TEST(SettingsTable, BoundsMatchTheDocumentation) {
  struct Row {
    const char* name;
    int64_t min, max;
  };
  for (Row row :
       {Row{"port", 0, 65535}, Row{"threads", 0, 256}, Row{"capacity", 0, INT64_C(1) << 40},
        Row{"queue_limit", 0, INT64_C(1) << 40}, Row{"request_timeout_ms", 1, 600000},
        Row{"max_body_bytes", 64, 1 << 20}, Row{"max_header_bytes", 1024, 1 << 20},
        Row{"idle_timeout_s", 1, 3600}, Row{"max_inflight", 1, 1000000},
        Row{"max_connections", 0, 10000000}, Row{"max_connections_per_client", 0, 10000000},
        Row{"max_streams_per_user", 0, 1000000}, Row{"request_read_timeout_ms", 100, 600000},
        Row{"max_requests_per_connection", 1, 1000000000}, Row{"access_log", 0, 1},
        Row{"batch_max", 1, 1000}, Row{"shutdown_timeout_ms", 0, 600000},
        Row{"redis_allow_eviction", 0, 1}}) {
    SCOPED_TRACE(row.name);
    const Setting& s = setting(row.name);
    EXPECT_EQ(s.kind, SettingKind::kInt);
    EXPECT_EQ(s.min, row.min);
    EXPECT_EQ(s.max, row.max);
  }
}

// ------------------------------------------------------ config/ticketq.toml --

const std::string kDocFile = std::string(TICKETQ_SOURCE_DIR) + "/config/ticketq.toml";

TEST_F(ConfigTest, DocumentedConfigFileLoadsToTheBuiltInDefaults) {
  LoadResult r = load({"--config", kDocFile});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  Config defaults;
  for (const Setting& s : settings_table()) {
    SCOPED_TRACE(s.name);
    if (s.kind == SettingKind::kInt) {
      EXPECT_EQ(r.config.*s.int_field, defaults.*s.int_field);
    } else if (std::string_view(s.name) == "admin_token") {
      // "" in the file: a token is generated.
      EXPECT_TRUE(r.config.admin_token_generated);
    } else {
      EXPECT_EQ(r.config.*s.str_field, defaults.*s.str_field);
    }
  }
  EXPECT_EQ(r.config.config_file, kDocFile);

  LoadResult check = load({"--config", kDocFile, "--check-config"});
  EXPECT_EQ(check.action, Action::kExit);
  EXPECT_EQ(check.exit_code, 0) << check.message;
}

// Splits the file into `key = value` lines, each with the comment block
// (consecutive '#' lines) right above it.
struct DocEntry {
  std::string key;
  std::string value;
  std::string comment;
};

std::vector<DocEntry> doc_entries(const std::string& text) {
  std::vector<DocEntry> out;
  std::istringstream in(text);
  std::string line, comment;
  while (std::getline(in, line)) {
    if (line.empty()) {
      comment.clear();
      continue;
    }
    if (line[0] == '#') {
      comment += line + "\n";
      continue;
    }
    size_t eq = line.find(" = ");
    if (eq == std::string::npos) {
      ADD_FAILURE() << "unexpected line in " << kDocFile << ": " << line;
      continue;
    }
    out.push_back({line.substr(0, eq), line.substr(eq + 3), comment});
    comment.clear();
  }
  return out;
}

TEST_F(ConfigTest, DocumentedConfigFileHasEverySettingOnceWithItsDefault) {
  std::string text = read_file(kDocFile);
  ASSERT_FALSE(text.empty()) << "cannot read " << kDocFile;
  auto entries = doc_entries(text);

  std::map<std::string, int> count;
  for (const auto& e : entries) ++count[e.key];
  EXPECT_EQ(entries.size(), settings_table().size());

  Config defaults;
  for (const Setting& s : settings_table()) {
    SCOPED_TRACE(s.name);
    EXPECT_EQ(count[s.name], 1);
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const DocEntry& e) { return e.key == s.name; });
    if (it == entries.end()) continue;
    // The value as written is the default, in TOML form.
    std::string expected = s.kind == SettingKind::kInt ? std::to_string(defaults.*s.int_field)
                                                       : "\"" + defaults.*s.str_field + "\"";
    EXPECT_EQ(it->value, expected);
    // The comment above the key gives the help text, the env variable and,
    // for integers, the bounds.
    EXPECT_NE(it->comment.find(std::string("# ") + s.help + "\n"), std::string::npos)
        << it->comment;
    EXPECT_NE(it->comment.find(s.env), std::string::npos) << it->comment;
    if (s.kind == SettingKind::kInt) {
      std::string bounds = "[" + std::to_string(s.min) + ", " + std::to_string(s.max) + "]";
      EXPECT_NE(it->comment.find(bounds), std::string::npos) << it->comment;
    }
  }
  for (const auto& [key, n] : count) EXPECT_TRUE(n == 1) << key << " appears " << n << " times";
}

TEST_F(ConfigTest, DocumentedConfigFileExplainsPrecedenceAndUse) {
  std::string text = read_file(kDocFile);
  EXPECT_NE(text.find("ticketq-server --config config/ticketq.toml"), std::string::npos);
  EXPECT_NE(text.find("--check-config"), std::string::npos);
  EXPECT_NE(text.find("TICKETQ_CONFIG"), std::string::npos);
  // defaults < file < env < flags, in that order.
  size_t d = text.find("default"), f = text.find("file", d), e = text.find("environment", f),
         c = text.find("command-line", e);
  EXPECT_NE(d, std::string::npos);
  EXPECT_NE(f, std::string::npos);
  EXPECT_NE(e, std::string::npos);
  EXPECT_NE(c, std::string::npos);
}

}  // namespace
}  // namespace ticketq

namespace ticketq {
namespace {

// A newline in a string setting could forge lines in --check-config output.
TEST(ApplySetting, ControlCharactersInStringsAreRefused) {
  for (const Setting& s : settings_table()) {
    if (s.kind != SettingKind::kString) continue;
    Config cfg;
    std::string before = describe(cfg);
    std::string err = apply_setting(cfg, s, "redis://h\nadmin_token = \"x\"");
    EXPECT_NE(err.find("control characters"), std::string::npos) << s.name << ": " << err;
    EXPECT_EQ(describe(cfg), before) << s.name;
  }
}

}  // namespace
}  // namespace ticketq
