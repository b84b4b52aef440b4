// Process and file helpers shared by the harness: temporary directories,
// spawning a child with its output sent to files, bounded waits.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ticketq::test {

using Millis = std::chrono::milliseconds;

// A fresh directory from mkdtemp, removed with everything in it on
// destruction (set TICKETQ_TEST_KEEP_TMP=1 to keep it for a post-mortem).
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// How a child process ended.
struct ExitStatus {
  bool exited = false;  // exited normally with `code`
  int code = -1;
  int signal = 0;          // killed by this signal
  bool timed_out = false;  // did not end in time and had to be killed
  std::string describe() const;
};

using EnvList = std::vector<std::pair<std::string, std::string>>;

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the program path
  EnvList env_overrides;          // set (or replace) these in the child's environment
  // Variables dropped from the inherited environment: exact names, or
  // prefixes when they end with '*'.
  std::vector<std::string> env_drop;
  std::string stdout_path;  // "" = /dev/null
  std::string stderr_path;  // "" = /dev/null
};

// fork + exec. The child dies with SIGKILL should the test process die
// (PR_SET_PDEATHSIG), so nothing outlives a crashed test run. Returns the
// pid, or -1 with `error` set.
pid_t spawn(const SpawnSpec& spec, std::string* error);

// Non-blocking check; fills `status` and returns true once the child ended.
bool try_reap(pid_t pid, ExitStatus* status);
// Waits at most `timeout` for the child to end.
bool wait_exit(pid_t pid, Millis timeout, ExitStatus* status);
// SIGKILL and reap (bounded).
ExitStatus kill_and_reap(pid_t pid);

// Runs a program to completion (bounded) and captures its output.
struct CommandResult {
  ExitStatus status;
  std::string out;
  std::string err;
};
CommandResult run_command(const SpawnSpec& spec, Millis timeout);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// Polls `pred` every `interval` until it holds or `timeout` passes; returns
// its last value. Bounded in time and, through the interval, in count.
bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis interval = Millis(10));

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
int pick_free_port();

// Milliseconds since an arbitrary fixed point (steady clock).
int64_t now_ms();

}  // namespace ticketq::test
