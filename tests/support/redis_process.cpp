#include "support/redis_process.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <thread>

#include "support/redis_client.h"

namespace ticketq::test {

namespace {
constexpr const char* kRedisServer = "redis-server";

std::string find_redis_server() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"}) {
    std::string p = std::string(dir) + "/" + kRedisServer;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}
}  // namespace

RedisProcess::RedisProcess(RedisOptions options)
    : options_(std::move(options)), dir_(std::make_unique<TempDir>("redis")) {}

RedisProcess::~RedisProcess() {
  if (pid_ > 0) kill_and_reap(pid_);
}

std::string RedisProcess::start() {
  std::string last;
  for (int attempt = 0; attempt < 8; ++attempt) {
    port_ = pick_free_port();
    if (port_ <= 0) return "no free port";
    // A Sentinel's config is written only when absent: a fresh one for the
    // new port (restart() keeps it).
    if (options_.sentinel) std::remove(config_path().c_str());
    last = launch();
    if (last.empty()) return "";
  }
  return "redis-server did not start: " + last;
}

std::string RedisProcess::restart() {
  if (pid_ > 0) kill9();
  std::string err;
  // The port was ours a moment ago, but while it was free another process
  // may have bound it (a port handed out by bind(0) elsewhere on a busy
  // machine): keep trying for a while, with pauses, before giving up.
  int64_t deadline = now_ms() + 30000;
  do {
    err = launch();
    if (err.empty() || err.find("Address already in use") == std::string::npos) return err;
    std::this_thread::sleep_for(Millis(100));
  } while (now_ms() < deadline);
  return err;
}

std::string RedisProcess::launch() {
  std::string server = find_redis_server();
  if (server.empty()) return "redis-server not found";
  if (options_.sentinel) {
    // Written once: the Sentinel keeps what it learns in this file.
    if (access(config_path().c_str(), F_OK) != 0) {
      std::ostringstream conf;
      conf << "port " << port_ << "\n"
           << "bind 127.0.0.1\n"
           << "dir " << dir_->path() << "\n"
           << "daemonize no\n"
           << "logfile \"\"\n";
      if (!options_.password.empty()) conf << "requirepass \"" << options_.password << "\"\n";
      for (const auto& line : options_.extra_config) conf << line << "\n";
      write_file(config_path(), conf.str());
    }
  } else {
    std::ostringstream conf;
    conf << "port " << port_ << "\n"
         << "bind 127.0.0.1\n"
         << "dir " << dir_->path() << "\n"
         << "daemonize no\n"
         << "save \"\"\n"
         << "logfile \"\"\n"
         << "databases 4\n";
    if (options_.persistent)
      conf << "appendonly yes\nappendfsync always\n";
    else
      conf << "appendonly no\n";
    if (!options_.password.empty()) conf << "requirepass \"" << options_.password << "\"\n";
    if (options_.unix_socket) conf << "unixsocket " << socket_path() << "\nunixsocketperm 700\n";
    if (options_.replicaof_port > 0)
      conf << "replicaof 127.0.0.1 " << options_.replicaof_port << "\n";
    for (const auto& line : options_.extra_config) conf << line << "\n";
    write_file(config_path(), conf.str());
  }

  SpawnSpec spec;
  spec.argv = {server, config_path()};
  if (options_.sentinel) spec.argv.push_back("--sentinel");
  spec.stdout_path = dir_->file("redis.log");
  spec.stderr_path = dir_->file("redis.log");
  std::string error;
  pid_ = spawn(spec, &error);
  if (pid_ < 0) return error;
  paused_ = false;

  RedisClient client(port_, "127.0.0.1", 200, options_.password);
  ExitStatus st;
  bool up = wait_until(
      [&] {
        if (try_reap(pid_, &st)) return true;
        // It must be our redis answering, not another one on a reused port,
        // and done loading its data (it accepts connections while loading).
        // A Sentinel has no data (and no "loading" field).
        Reply info = client.command({"INFO"});
        return info.type == Reply::Type::kString &&
               info.str.find("process_id:" + std::to_string(pid_) + "\r\n") != std::string::npos &&
               info.str.find(options_.sentinel ? "\r\nredis_mode:sentinel\r\n"
                                               : "\r\nloading:0\r\n") != std::string::npos;
      },
      Millis(30000), Millis(10));  // generous: a big AOF to load, a busy machine
  if (st.exited || st.signal != 0) {
    pid_ = -1;
    return "redis-server " + st.describe() + ": " + log();
  }
  if (!up) {
    kill_and_reap(pid_);
    pid_ = -1;
    return "redis-server did not answer INFO within 30 s: " + log();
  }
  return "";
}

void RedisProcess::kill9() {
  if (pid_ <= 0) return;
  kill_and_reap(pid_);
  pid_ = -1;
  paused_ = false;
}

void RedisProcess::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisProcess::resume() {
  if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
}

bool RedisProcess::running() {
  if (pid_ <= 0) return false;
  ExitStatus st;
  if (try_reap(pid_, &st)) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string RedisProcess::log() const {
  return read_file(dir_->file("redis.log"));
}

}  // namespace ticketq::test
