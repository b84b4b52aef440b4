#include "support/proc_stats.h"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/process_util.h"

namespace ticketq::test {

bool server_is_sanitized(pid_t pid) {
  return read_file("/proc/" + std::to_string(pid) + "/maps").find("libasan") != std::string::npos;
}

int64_t vm_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    try {
      return std::stoll(line.substr(6));  // "VmRSS:    12345 kB"
    } catch (...) {
      return -1;
    }
  }
  return -1;
}

int open_fd_count(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

namespace {

// Calls `each(state, rx_queue)` for every socket of /proc/net/tcp{,6} whose
// local port is `port`. Lines look like
//   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 ...
template <typename Each>
void for_each_tcp_socket(int port, Each each) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues;
      if (!(fields >> slot >> local >> remote >> state >> queues)) continue;
      size_t colon = local.rfind(':');
      size_t qcolon = queues.find(':');
      if (colon == std::string::npos || qcolon == std::string::npos) continue;
      try {
        if (std::stoi(local.substr(colon + 1), nullptr, 16) != port) continue;
        each(std::stoi(state, nullptr, 16), std::stoll(queues.substr(qcolon + 1), nullptr, 16));
      } catch (...) {
      }
    }
  }
}

constexpr int kEstablished = 0x01;
constexpr int kCloseWait = 0x08;
constexpr int kListen = 0x0A;

}  // namespace

int64_t tcp_unread_bytes(int port) {
  int64_t bytes = 0;
  // (A listening socket's rx_queue is its accept queue: not bytes.)
  for_each_tcp_socket(port, [&](int state, int64_t rx) { bytes += state == kListen ? 0 : rx; });
  return bytes;
}

int tcp_open_connections(int port) {
  int n = 0;
  for_each_tcp_socket(
      port, [&](int state, int64_t) { n += state == kEstablished || state == kCloseWait; });
  return n;
}

}  // namespace ticketq::test
