#include "support/server_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <regex>
#include <thread>

#include "support/http_client.h"

namespace ticketq::test {

std::string server_binary() {
  // Another build's server, e.g. to show a new test failing on older code.
  if (const char* other = std::getenv("TICKETQ_TEST_SERVER_BIN"); other != nullptr && *other)
    return other;
  return TICKETQ_SERVER_BIN;
}

ServerProcess::ServerProcess(ServerOptions options)
    : options_(std::move(options)), dir_(std::make_unique<TempDir>("server")) {
  log_path_ = dir_->file("server.log");
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    // A server that ended on its own during the test crashed or hit a
    // sanitizer report (ASan/UBSan exit 1 at once).
    ExitStatus st;
    if (try_reap(pid_, &st)) {
      // (Neither exited nor signalled: the test reaped it itself and
      // checked how it ended.)
      if (st.exited || st.signal != 0)
        ADD_FAILURE() << "ticketq-server " << st.describe() << " during the test";
    } else {
      // Stop it gracefully, so LeakSanitizer runs at exit and a report
      // (exit 23) or anything but a clean exit fails the test.
      st = terminate(Millis(30000));
      if (!st.exited || st.code != 0)
        ADD_FAILURE() << "ticketq-server " << st.describe() << " after SIGTERM at teardown";
    }
  }
  // However it ended (also by the test's own kill9/terminate), a sanitizer
  // report in its log fails the test.
  {
    std::string text = log();
    for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                               "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer"})
      if (text.find(marker) != std::string::npos)
        ADD_FAILURE() << "sanitizer report (" << marker << ") in the ticketq-server log";
  }
  // A failed test shows what the server said.
  if (::testing::Test::HasFailure()) {
    std::string text = log();
    if (text.size() > 6000) text = "...\n" + text.substr(text.size() - 6000);
    std::fprintf(stderr, "---- ticketq-server log (port %d) ----\n%s---- end of log ----\n", port_,
                 text.c_str());
  }
}

std::string ServerProcess::start() {
  SpawnSpec spec;
  spec.argv = {server_binary(),
               "--bind",
               "127.0.0.1",
               "--port",
               std::to_string(options_.port),
               "--threads",
               std::to_string(options_.threads)};
  spec.argv.push_back("--redis");
  spec.argv.push_back(options_.redis_url.empty()
                          ? "redis://127.0.0.1:" + std::to_string(options_.redis_port)
                          : options_.redis_url);
  if (!options_.admin_token.empty()) {
    spec.argv.push_back("--admin-token");
    spec.argv.push_back(options_.admin_token);
  }
  for (const auto& a : options_.extra_args) spec.argv.push_back(a);
  spec.argv.insert(spec.argv.begin(), options_.command_prefix.begin(),
                   options_.command_prefix.end());
  spec.env_overrides = options_.env;
  // The tests say everything on the command line; nothing leaks in from
  // the environment of whoever runs them.
  spec.env_drop = {"TICKETQ_*", "REDIS_URL"};
  spec.stdout_path = dir_->file("server.out");
  spec.stderr_path = log_path_;

  static const std::regex kListening(R"(listening on http://127\.0\.0\.1:(\d+))");
  std::smatch m;
  ExitStatus st;
  bool found = false;
  int64_t deadline = now_ms() + options_.start_timeout.count();
  // A fixed port (a restart where clients expect the server) may have been
  // taken while it was free, if only for a moment: retry while it is busy.
  for (int attempt = 0;; ++attempt) {
    std::string error;
    st = ExitStatus{};
    size_t log_from = log().size();
    pid_ = spawn(spec, &error);
    if (pid_ < 0) return error;
    found = wait_until(
        [&] {
          std::string text = log();
          if (std::regex_search(text, m, kListening)) {
            port_ = std::stoi(m[1].str());
            return true;
          }
          return try_reap(pid_, &st);
        },
        Millis(std::max<int64_t>(0, deadline - now_ms())), Millis(5));
    bool busy = (st.exited || st.signal != 0) && options_.port != 0 &&
                log().find("Address already in use", log_from) != std::string::npos;
    if (!busy || now_ms() >= deadline) break;
    write_file(log_path_, log() + "(test harness: port busy, attempt " +
                              std::to_string(attempt + 1) + " failed; retrying)\n");
    std::this_thread::sleep_for(Millis(100));
  }
  if (st.exited || st.signal != 0) {
    pid_ = -1;
    return "ticketq-server " + st.describe() + " before listening; log:\n" + log();
  }
  if (!found || port_ <= 0) return "ticketq-server did not log its port; log:\n" + log();
  if (options_.wait_ready &&
      !wait_ready(options_.start_timeout, static_cast<size_t>(options_.threads)))
    return "ticketq-server did not become ready; log:\n" + log();
  // Once this line is out, the default event's settings are in Redis: a
  // test's snapshot taken from here on sees no write it did not cause.
  if (options_.wait_ready && !wait_for_log(kDefaultEventLogLine, 1, options_.start_timeout))
    return "ticketq-server did not check the default event; log:\n" + log();
  return "";
}

bool ServerProcess::wait_ready(Millis timeout, size_t ready_lines) {
  int64_t deadline = now_ms() + timeout.count();
  if (!wait_for_log(kReadyLogLine, ready_lines, timeout)) return false;
  return wait_until(
      [&] {
        HttpClient c(port_, Millis(5000));
        return c.get("/ready").status == 200;
      },
      Millis(std::max<int64_t>(0, deadline - now_ms())), Millis(10));
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  if (try_reap(pid_, &final_)) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ServerProcess::log() const {
  return read_file(log_path_);
}

size_t ServerProcess::log_count(std::string_view needle) const {
  std::string text = log();
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

bool ServerProcess::wait_for_log(std::string_view needle, size_t count, Millis timeout) {
  return wait_until([&] { return log_count(needle) >= count; }, timeout, Millis(5));
}

ExitStatus ServerProcess::terminate(Millis timeout) {
  if (pid_ <= 0) return final_;
  ::kill(pid_, SIGTERM);
  ExitStatus st;
  if (!wait_exit(pid_, timeout, &st)) {
    st = kill_and_reap(pid_);
    st.timed_out = true;
  }
  pid_ = -1;
  final_ = st;
  return st;
}

ExitStatus ServerProcess::kill9() {
  if (pid_ <= 0) return final_;
  final_ = kill_and_reap(pid_);
  pid_ = -1;
  return final_;
}

}  // namespace ticketq::test
