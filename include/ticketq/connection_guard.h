// Connection guard: limits evhttp 2.1 has no hooks for.
//
//  - a cap on open client connections per process (past it a new connection
//    gets a canned 503 and is closed at once);
//  - a deadline for a whole request (line, headers and body) to arrive, from
//    its first byte, so clients that drip bytes (slowloris) cannot hold a
//    connection; evhttp's own timeout only measures inactivity;
//  - a cap on requests per connection (the last reply says Connection: close).
//
// How: the guard creates every connection's bufferevent for evhttp
// (evhttp_set_bevcb), without BEV_OPT_CLOSE_ON_FREE so evhttp itself closes
// the socket, and keeps one reference to it. The reference keeps the
// bufferevent's memory valid after evhttp frees the connection; a sweep sees
// that (evhttp's free clears the callbacks) and drops it, within 100 ms. A callback on the
// input buffer tells when a request starts; the front end tells when it has
// been read in full.
#pragma once

#include <atomic>
#include <cstdint>
#include <unordered_map>

struct event_base;
struct event;
struct bufferevent;
struct evbuffer;
struct evbuffer_cb_info;
struct evhttp;
struct evhttp_request;

namespace ticketq {

class LoopMetrics;

struct ConnectionLimits {
  int64_t max_connections = 20000;     // per process, over all loops
  int64_t request_timeout_ms = 10000;  // whole request, from its first byte
  int64_t max_requests = 100000;       // per connection
};

class ConnectionGuard {
 public:
  // `open` counts connections over all loops of the process.
  ConnectionGuard(event_base* base, evhttp* http, ConnectionLimits limits,
                  std::atomic<int64_t>& open, LoopMetrics* metrics);
  ~ConnectionGuard();  // call after evhttp_free()
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // A request has been read in full. Says whether its reply should close
  // the connection (the connection's request cap is reached), and whether a
  // NUL byte arrived on it: libevent cuts header values at a NUL, so the
  // headers we see may not be the ones sent, and the request is refused.
  struct ReadVerdict {
    bool close_after = false;
    bool nul_byte = false;
  };
  ReadVerdict request_read(evhttp_request* req);

  // Connections of this loop still open (or closed within the last sweep).
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    ConnectionGuard* guard;
    bufferevent* bev;
    int64_t request_started_us = 0;  // 0: between requests
    int64_t requests = 0;
    bool nul_byte = false;
  };

  static bufferevent* make_bufferevent(event_base* base, void* arg);
  static void on_input(evbuffer* buf, const evbuffer_cb_info* info, void* arg);
  static void on_sweep(int fd, short what, void* arg);
  static void refuse(int fd, short what, void* arg);
  void sweep();
  void release(Conn& c);

  event_base* base_;
  ConnectionLimits limits_;
  std::atomic<int64_t>& open_;
  LoopMetrics* metrics_;
  event* sweep_timer_;
  std::unordered_map<bufferevent*, Conn> conns_;  // node-based: Conn* stay valid
};

}  // namespace ticketq
