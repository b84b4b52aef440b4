#include "transport/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ticketq {

namespace {

int open_one(const addrinfo* ai, std::string* error) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit TCP_NODELAY. Without it a reply larger than one
  // libevent write (16 KiB) leaves a tail that waits ~40 ms for a delayed ACK.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
    *error = std::string("bind/listen: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Listeners open_listeners(const std::string& bind_addr, int port, int count) {
  Listeners out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string host = bind_addr;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    out.error = "bad bind address '" + bind_addr + "': " + gai_strerror(rc);
    return out;
  }
  for (int i = 0; i < count; ++i) {
    int fd = open_one(res, &out.error);
    if (fd < 0) break;
    out.fds.push_back(fd);
    if (i == 0) {
      // With port 0 the first socket picks the port; the others join it.
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      out.port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                          : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      if (res->ai_family == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_port = htons(out.port);
      else
        reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_port = htons(out.port);
    }
  }
  freeaddrinfo(res);
  if (static_cast<int>(out.fds.size()) != count) {
    for (int fd : out.fds) close(fd);
    out.fds.clear();
    out.error = "cannot listen on " + bind_addr + ":" + std::to_string(port) + ": " + out.error;
  }
  return out;
}

}  // namespace ticketq
