// ticketq-floor: a MEASURING STICK, NOT A SERVER. Do not deploy it.
//
// It measures what the kernel charges a server for one HTTP request over
// loopback (accept, epoll, read, write), with as little user-space work as
// can still keep a keep-alive client going: it parses nothing but where each
// request ends and answers EVERY request, whatever its method, path or body,
// with the same fixed `200 OK` and a small fixed JSON body (about the size of
// ticketq's queue answer). It does not look at the request line, does not
// talk to Redis, validates nothing and keeps no state but bytes in flight.
// Its server CPU per request is the floor ticketq's own HTTP layer is
// compared against (bench/run.sh, bar 10).
//
// How it works: ONE thread, ONE epoll instance, LEVEL-TRIGGERED. The listening
// socket and every connection are non-blocking (accept4 with SOCK_NONBLOCK).
// On each readable connection: one read() of up to 64 KiB, then count the
// complete requests in it; a request ends at the end of its head ("\r\n\r\n")
// plus the Content-Length bytes of its body, when the head has one (found by
// a case-insensitive search for "content-length" at the start of a header
// line; no chunked bodies). So pipelined and keep-alive clients sending
// `POST /reserve` with a JSON body work. The replies for all requests
// completed by that read go out in ONE write(); if the socket takes only part
// of it, the rest waits for EPOLLOUT and the connection is not read meanwhile.
// A head over 64 KiB or a bad Content-Length closes the connection. SIGTERM or
// SIGINT (through a signalfd in the same epoll set) stops it cleanly; it then
// prints how many requests it answered.
//
//   ticketq-floor [--port N]      # 127.0.0.1 only; --port 0 (the default) picks a free port
//
// It prints `ticketq-floor listening on http://127.0.0.1:PORT` once it accepts
// connections (bench/run.sh reads the URL from that line).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr char kBody[] =
    "{\"status\":\"in_queue\",\"user_id\":\"floor00000000000\",\"position\":1,\"state\":\"waiting\"}\n";
constexpr size_t kBodyLen = sizeof kBody - 1;

// The one reply, built once: status line, three headers, body.
std::string make_reply() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(kBodyLen) + "\r\nConnection: keep-alive\r\n\r\n" + kBody;
}

constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kMaxHead = 64 * 1024;

struct Conn {
  int fd = -1;
  std::string in;           // bytes of an unfinished head, kept across reads
  unsigned long long body_left = 0;  // body bytes of the current request still to come
  bool in_body = false;     // the head is complete, its body is not
  std::string out;          // replies the socket did not take yet
};

// Position of the case-insensitive `needle` in `hay`, or npos.
size_t find_nocase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (strncasecmp(hay.data() + i, needle.data(), needle.size()) == 0) return i;
  return std::string_view::npos;
}

// The Content-Length of a head (ending in "\r\n\r\n"): 0 when absent, -1 when bad.
long long content_length(std::string_view head) {
  size_t p = find_nocase(head, "\ncontent-length");
  if (p == std::string_view::npos) return 0;
  p += 15;
  while (p < head.size() && (head[p] == ' ' || head[p] == '\t')) ++p;
  if (p >= head.size() || head[p] != ':') return -1;
  ++p;
  while (p < head.size() && (head[p] == ' ' || head[p] == '\t')) ++p;
  if (p >= head.size() || head[p] < '0' || head[p] > '9') return -1;
  long long v = 0;
  while (p < head.size() && head[p] >= '0' && head[p] <= '9') {
    v = v * 10 + (head[p++] - '0');
    if (v > (1LL << 40)) return -1;
  }
  return v;
}

// Consumes `data` and counts the requests it completes; leaves an unfinished
// head in c.in. False: the connection is to be closed (bad or huge head).
bool count_requests(Conn& c, std::string_view data, size_t* done) {
  while (!data.empty()) {
    if (c.in_body) {
      size_t take = data.size() < c.body_left ? data.size() : static_cast<size_t>(c.body_left);
      c.body_left -= take;
      data.remove_prefix(take);
      if (c.body_left > 0) return true;
      c.in_body = false;
      ++*done;
      continue;
    }
    std::string_view head;
    size_t used;  // bytes of `data` the head takes
    if (c.in.empty()) {
      size_t end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (data.size() > kMaxHead) return false;
        c.in.assign(data);
        return true;
      }
      head = data.substr(0, end + 4);
      used = end + 4;
    } else {
      size_t old = c.in.size();
      // The terminator may straddle the two pieces: search from 3 bytes back.
      size_t from = old >= 3 ? old - 3 : 0;
      c.in.append(data);
      size_t end = c.in.find("\r\n\r\n", from);
      if (end == std::string::npos) {
        if (c.in.size() > kMaxHead) return false;
        return true;
      }
      used = end + 4 - old;
      c.in.resize(end + 4);
      head = c.in;
    }
    long long len = content_length(head);
    c.in.clear();
    if (len < 0) return false;
    data.remove_prefix(used);
    if (len == 0) {
      ++*done;
    } else {
      c.in_body = true;
      c.body_left = static_cast<unsigned long long>(len);
    }
  }
  return true;
}

int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, SOMAXCONN) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      char* end = nullptr;
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 65535) a = "--help";
      port = static_cast<int>(v);
    } else {
      a = "--help";
    }
    if (a == "--help") {
      fprintf(stderr,
              "usage: ticketq-floor [--port N]\n"
              "A measuring stick, not a server: answers every HTTP/1.1 request on 127.0.0.1\n"
              "with one fixed 200 reply (--port 0, the default, picks a free port).\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);

  int lfd = listen_on(port);
  if (lfd < 0 || sfd < 0) {
    fprintf(stderr, "ticketq-floor: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
    return 1;
  }
  sockaddr_in a{};
  socklen_t alen = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen);
  port = ntohs(a.sin_port);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

  const std::string reply = make_reply();
  std::vector<std::unique_ptr<Conn>> conns;  // by descriptor
  std::vector<char> rbuf(kReadSize);
  std::string wbuf;
  unsigned long long answered = 0, accepted = 0;

  auto close_conn = [&](Conn* c) {
    close(c->fd);  // also removes it from the epoll set
    conns[static_cast<size_t>(c->fd)].reset();
  };
  // Writes `n` bytes at `p`; keeps what the socket does not take and waits for
  // EPOLLOUT (not reading meanwhile). False: the connection is gone.
  auto send_out = [&](Conn* c, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = write(c->fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno != EAGAIN) return false;
      if (w < 0) break;
      p += w;
      n -= static_cast<size_t>(w);
    }
    if (n > 0) {
      c->out.assign(p, n);
      epoll_event e{};
      e.events = EPOLLOUT;
      e.data.fd = c->fd;
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    }
    return true;
  };

  printf("ticketq-floor listening on http://127.0.0.1:%d (a measuring stick: one fixed reply)\n", port);
  fflush(stdout);

  std::vector<epoll_event> events(256);
  bool running = true;
  while (running) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("ticketq-floor: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[static_cast<size_t>(i)].data.fd;
      uint32_t what = events[static_cast<size_t>(i)].events;
      if (fd == sfd) {
        running = false;
        continue;
      }
      if (fd == lfd) {
        for (;;) {
          int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            break;  // EAGAIN, or out of descriptors: try again on the next wake-up
          }
          int one = 1;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (conns.size() <= static_cast<size_t>(cfd)) conns.resize(static_cast<size_t>(cfd) + 1);
          conns[static_cast<size_t>(cfd)] = std::make_unique<Conn>();
          conns[static_cast<size_t>(cfd)]->fd = cfd;
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.fd = cfd;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
          ++accepted;
        }
        continue;
      }
      Conn* c = static_cast<size_t>(fd) < conns.size() ? conns[static_cast<size_t>(fd)].get() : nullptr;
      if (c == nullptr) continue;
      if (!c->out.empty()) {  // waiting for EPOLLOUT to finish a write
        if (what & (EPOLLERR | EPOLLHUP)) {
          close_conn(c);
          continue;
        }
        if (!(what & EPOLLOUT)) continue;
        std::string rest;
        rest.swap(c->out);
        if (!send_out(c, rest.data(), rest.size())) {
          close_conn(c);
          continue;
        }
        if (c->out.empty()) {  // drained: read again
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
        }
        continue;
      }
      ssize_t r = read(fd, rbuf.data(), rbuf.size());
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {  // end of stream or error
        close_conn(c);
        continue;
      }
      size_t done = 0;
      if (!count_requests(*c, std::string_view(rbuf.data(), static_cast<size_t>(r)), &done)) {
        close_conn(c);
        continue;
      }
      if (done == 0) continue;
      answered += done;
      bool ok;
      if (done == 1) {
        ok = send_out(c, reply.data(), reply.size());
      } else {
        wbuf.clear();
        wbuf.reserve(done * reply.size());
        for (size_t k = 0; k < done; ++k) wbuf += reply;
        ok = send_out(c, wbuf.data(), wbuf.size());
      }
      if (!ok) close_conn(c);
    }
  }
  for (auto& c : conns)
    if (c) close(c->fd);
  close(lfd);
  close(ep);
  close(sfd);
  fprintf(stderr, "ticketq-floor: stopped; %llu connections, %llu requests answered\n", accepted, answered);
  return 0;
}
