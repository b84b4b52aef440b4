// A real ticketq-server process on a free loopback port, with its log in a
// temporary directory; killed and cleaned up on destruction.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/process_util.h"

namespace ticketq::test {

// The admin token every test server is started with.
inline constexpr const char* kAdminToken = "it-admin-token-3f9c2e71b0d84a56";

// What each event loop logs once it is connected to Redis with every script
// loaded (src/redis/redis_gateway.cpp).
inline constexpr const char* kReadyLogLine = "redis: ready on";

// What the first event loop logs once it has read (and, on a fresh Redis,
// stored) the default event's settings (src/server/server.cpp).
inline constexpr const char* kDefaultEventLogLine = "default event: ";

// The server binary under test (set by tests/CMakeLists.txt; the
// environment's TICKETQ_TEST_SERVER_BIN, when set, replaces it).
std::string server_binary();

struct ServerOptions {
  int redis_port = 0;  // used for --redis unless redis_url is set
  std::string redis_url;
  std::string admin_token = kAdminToken;  // "" = do not pass --admin-token
  int threads = 2;
  // The port to listen on; 0 = a free one, read back from the log. A fixed
  // port lets a test restart a server where its clients expect it.
  int port = 0;
  std::vector<std::string> extra_args;  // appended to the standard ones
  // Runs the server through this command, e.g. {"/usr/bin/prlimit", "--nofile=64:64", "--"}.
  std::vector<std::string> command_prefix;
  EnvList env;  // extra environment
  // Wait for every event loop to have loaded its scripts and for /ready
  // to answer 200. Off when Redis is meant to be unreachable.
  bool wait_ready = true;
  // Generous: an ASan build on a busy shared machine starts slowly.
  Millis start_timeout = Millis(30000);
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and reads its port back from the log. Returns "" or
  // why it failed (with the log).
  std::string start();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running();
  const ServerOptions& options() const { return options_; }

  std::string log() const;
  // How often `needle` occurs in the log so far.
  size_t log_count(std::string_view needle) const;
  // Waits (bounded) until `needle` occurs at least `count` times.
  bool wait_for_log(std::string_view needle, size_t count, Millis timeout);

  // Waits (bounded) until the log holds at least `ready_lines` lines
  // kReadyLogLine (each event loop logs one per (re)connection) and a fresh
  // GET /ready answers 200. /ready alone is not enough: it answers for the
  // one event loop that accepted the connection.
  bool wait_ready(Millis timeout, size_t ready_lines);

  // SIGTERM, then waits at most `timeout` for the exit; SIGKILL after that
  // (status.timed_out is then set).
  ExitStatus terminate(Millis timeout = Millis(10000));
  // SIGKILL.
  ExitStatus kill9();

 private:
  ServerOptions options_;
  std::unique_ptr<TempDir> dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  ExitStatus final_;
};

}  // namespace ticketq::test
