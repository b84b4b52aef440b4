#include "ticketq/connection_guard.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "ticketq/clock.h"
#include "ticketq/metrics.h"

namespace ticketq {

namespace {

constexpr char kRefusal[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 38\r\n\r\n"
    "{\"error\":\"too many open connections\"}\n";

}  // namespace

ConnectionGuard::ConnectionGuard(event_base* base, evhttp* http, ConnectionLimits limits,
                                 std::atomic<int64_t>& open, LoopMetrics* metrics)
    : base_(base), limits_(limits), open_(open), metrics_(metrics) {
  evhttp_set_bevcb(http, &ConnectionGuard::make_bufferevent, this);
  sweep_timer_ = event_new(base, -1, EV_PERSIST, &ConnectionGuard::on_sweep, this);
  timeval every{0, 100 * 1000};
  event_add(sweep_timer_, &every);
}

ConnectionGuard::~ConnectionGuard() {
  event_free(sweep_timer_);
  for (auto& [bev, c] : conns_) release(c);
  conns_.clear();
}

// evhttp asks for the bufferevent of each accepted connection; the socket
// is set on it right after. The guard keeps a reference until its sweep, so
// the bufferevent outlives evhttp's free of the connection by up to 100 ms.
// With BEV_OPT_CLOSE_ON_FREE evhttp leaves the socket to the bufferevent,
// which closes it only then: were it closed at once, the next connection
// could get the same descriptor while the old bufferevent still reads it,
// and lose bytes to it.
bufferevent* ConnectionGuard::make_bufferevent(event_base* base, void* arg) {
  auto* self = static_cast<ConnectionGuard*>(arg);
  bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) return nullptr;
  bufferevent_incref(bev);
  Conn& c = self->conns_[bev];
  c.guard = self;
  c.bev = bev;
  evbuffer_add_cb(bufferevent_get_input(bev), &ConnectionGuard::on_input, &c);
  int64_t open = ++self->open_;
  if (self->metrics_ != nullptr) self->metrics_->connection_opened();
  if (open > self->limits_.max_connections) {
    // The socket is not set yet: refuse on the next turn of the loop.
    event_base_once(base, -1, EV_TIMEOUT, &ConnectionGuard::refuse, &c, nullptr);
  }
  return bev;
}

void ConnectionGuard::refuse(int, short, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  bufferevent_event_cb errorcb = nullptr;
  bufferevent_getcb(c->bev, nullptr, nullptr, &errorcb, nullptr);
  int fd = bufferevent_getfd(c->bev);
  if (errorcb == nullptr || fd < 0) return;  // already closed by evhttp
  thread_local int64_t last_log_us = 0;
  if (now_us() - last_log_us > 10'000'000) {
    last_log_us = now_us();
    spdlog::warn("refusing connections: {} open, limit {}", c->guard->open_.load(),
                 c->guard->limits_.max_connections);
  }
  if (c->guard->metrics_ != nullptr) c->guard->metrics_->connection_refused();
  (void)!send(fd, kRefusal, sizeof kRefusal - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_RDWR);  // evhttp sees the end of the stream and frees it
}

// Bytes arriving while no request is in progress start one. Every byte that
// arrives is looked at once for a NUL.
void ConnectionGuard::on_input(evbuffer* buf, const evbuffer_cb_info* info, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  if (info->n_added == 0) return;
  if (c->request_started_us == 0) c->request_started_us = now_us();
  evbuffer_ptr from;
  if (!c->nul_byte && evbuffer_ptr_set(buf, &from, info->orig_size, EVBUFFER_PTR_SET) == 0)
    c->nul_byte = evbuffer_search(buf, "", 1, &from).pos >= 0;
}

ConnectionGuard::ReadVerdict ConnectionGuard::request_read(evhttp_request* req) {
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  if (evcon == nullptr) return {};
  auto it = conns_.find(evhttp_connection_get_bufferevent(evcon));
  if (it == conns_.end()) return {};
  Conn& c = it->second;
  // A pipelined request may already be waiting in the buffer: its clock runs.
  c.request_started_us = evbuffer_get_length(bufferevent_get_input(c.bev)) > 0 ? now_us() : 0;
  return {++c.requests >= limits_.max_requests || c.nul_byte, c.nul_byte};
}

void ConnectionGuard::on_sweep(int, short, void* arg) {
  static_cast<ConnectionGuard*>(arg)->sweep();
}

// Drops connections evhttp has freed, and cuts requests past their deadline.
void ConnectionGuard::sweep() {
  int64_t now = now_us();
  std::vector<bufferevent*> gone;
  for (auto& [bev, c] : conns_) {
    bufferevent_event_cb errorcb = nullptr;
    bufferevent_getcb(bev, nullptr, nullptr, &errorcb, nullptr);
    if (errorcb == nullptr) {  // evhttp freed the connection
      gone.push_back(bev);
      continue;
    }
    if (c.request_started_us != 0 &&
        now - c.request_started_us > limits_.request_timeout_ms * 1000) {
      int fd = bufferevent_getfd(bev);
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
      c.request_started_us = 0;
      if (metrics_ != nullptr) metrics_->slow_request();
    }
  }
  for (bufferevent* bev : gone) {
    release(conns_.at(bev));
    conns_.erase(bev);
  }
}

void ConnectionGuard::release(Conn& c) {
  evbuffer_remove_cb(bufferevent_get_input(c.bev), &ConnectionGuard::on_input, &c);
  bufferevent_decref(c.bev);
  --open_;
  if (metrics_ != nullptr) metrics_->connection_closed();
}

}  // namespace ticketq
