#include "support/process_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ticketq::test {

// ------------------------------------------------------------------ TempDir --

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                     "/ticketq-it-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  const char* keep = std::getenv("TICKETQ_TEST_KEEP_TMP");
  if (keep != nullptr && std::string(keep) == "1") return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ---------------------------------------------------------------- processes --

std::string ExitStatus::describe() const {
  std::ostringstream os;
  if (exited)
    os << "exited with " << code;
  else if (signal != 0)
    os << "killed by signal " << signal;
  else
    os << "still running";
  if (timed_out) os << " (after timing out)";
  return os.str();
}

namespace {

bool dropped(const std::string& name, const std::vector<std::string>& drop) {
  for (const auto& d : drop) {
    if (!d.empty() && d.back() == '*') {
      if (name.compare(0, d.size() - 1, d, 0, d.size() - 1) == 0) return true;
    } else if (name == d) {
      return true;
    }
  }
  return false;
}

void fill_status(int raw, ExitStatus* st) {
  if (WIFEXITED(raw)) {
    st->exited = true;
    st->code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    st->signal = WTERMSIG(raw);
  }
}

}  // namespace

pid_t spawn(const SpawnSpec& spec, std::string* error) {
  if (spec.argv.empty()) {
    *error = "spawn: empty argv";
    return -1;
  }
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls (the test process may have threads).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : spec.env_overrides) overridden = overridden || k == name;
    if (!overridden && !dropped(name, spec.env_drop)) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : spec.env_overrides) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string out = spec.stdout_path.empty() ? "/dev/null" : spec.stdout_path;
  std::string err = spec.stderr_path.empty() ? "/dev/null" : spec.stderr_path;
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);  // own process group: a terminal's ^C reaches only the tests
    int in_fd = open("/dev/null", O_RDONLY);
    int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(126);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    // Unblock every signal the test runner might have blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

bool try_reap(pid_t pid, ExitStatus* status) {
  int raw = 0;
  pid_t r = waitpid(pid, &raw, WNOHANG);
  if (r == pid) {
    fill_status(raw, status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {  // already reaped elsewhere
    status->exited = false;
    return true;
  }
  return false;
}

bool wait_exit(pid_t pid, Millis timeout, ExitStatus* status) {
  int64_t deadline = now_ms() + timeout.count();
  while (true) {
    if (try_reap(pid, status)) return true;
    if (now_ms() >= deadline) return false;
    std::this_thread::sleep_for(Millis(5));
  }
}

ExitStatus kill_and_reap(pid_t pid) {
  ExitStatus st;
  if (try_reap(pid, &st)) return st;
  ::kill(pid, SIGKILL);
  if (!wait_exit(pid, Millis(10000), &st)) st.timed_out = true;
  return st;
}

CommandResult run_command(const SpawnSpec& spec_in, Millis timeout) {
  TempDir dir("cmd");
  SpawnSpec spec = spec_in;
  spec.stdout_path = dir.file("stdout");
  spec.stderr_path = dir.file("stderr");
  CommandResult result;
  std::string error;
  pid_t pid = spawn(spec, &error);
  if (pid < 0) {
    result.err = error;
    return result;
  }
  if (!wait_exit(pid, timeout, &result.status)) {
    result.status = kill_and_reap(pid);
    result.status.timed_out = true;
  }
  result.out = read_file(spec.stdout_path);
  result.err = read_file(spec.stderr_path);
  return result;
}

// -------------------------------------------------------------------- misc --

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis interval) {
  int64_t deadline = now_ms() + timeout.count();
  while (true) {
    if (pred()) return true;
    if (now_ms() >= deadline) return pred();
    std::this_thread::sleep_for(interval);
  }
}

int pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = -1;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace ticketq::test
