// A real redis-server on a free loopback port, in its own temporary
// directory, killed and cleaned up on destruction.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "support/process_util.h"

namespace ticketq::test {

struct RedisOptions {
  // appendonly yes + appendfsync always: every write is on disk before
  // Redis answers, so state survives kill -9. Default: no persistence
  // (save "" and appendonly no).
  bool persistent = false;
  std::string password;                   // requirepass, when set
  bool unix_socket = false;               // also listen on socket_path()
  std::vector<std::string> extra_config;  // more redis.conf lines
  // "replicaof 127.0.0.1 <port>" when > 0 (add "masterauth" to
  // extra_config when the master has a password).
  int replicaof_port = 0;
  // Run as a Sentinel (redis-server <conf> --sentinel); extra_config holds
  // its "sentinel ..." lines. The config file is written on the first start
  // only: a Sentinel rewrites it with what it learns, and restart() keeps
  // that, as a real deployment does. persistent and unix_socket do not
  // apply.
  bool sentinel = false;
};

class RedisProcess {
 public:
  explicit RedisProcess(RedisOptions options = {});
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // Picks a free port and starts; waits until it answers and has loaded its
  // data (INFO: our process_id, loading:0). Returns "" or
  // why it failed.
  std::string start();
  // Starts again on the SAME port and directory (after kill9/stop).
  std::string restart();
  // SIGKILL, reaped; Redis is gone without a chance to save anything.
  void kill9();
  // SIGSTOP / SIGCONT: Redis holds its connections but answers nothing.
  void pause();
  void resume();

  bool running();
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_->path(); }
  std::string socket_path() const { return dir_->file("redis.sock"); }
  const RedisOptions& options() const { return options_; }
  // Changes take effect at the next restart() (e.g. replicaof_port); a
  // Sentinel's config file is not written again.
  RedisOptions& edit_options() { return options_; }
  std::string log() const;
  pid_t pid() const { return pid_; }
  bool paused() const { return paused_; }
  // The config file the process was started with (a Sentinel rewrites it).
  std::string config_path() const { return dir_->file("redis.conf"); }

 private:
  std::string launch();

  RedisOptions options_;
  std::unique_ptr<TempDir> dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace ticketq::test
