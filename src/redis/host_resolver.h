// Host names turned into addresses on the event loop, with libevent's evdns
// (evdns_getaddrinfo on the loop's own event base): getaddrinfo() blocks,
// and in the loop a slow DNS server would freeze every request, deadlines
// included.
//
// The resolver reads /etc/resolv.conf and /etc/hosts (like the C library)
// the first time a name needs it; a loop whose Redis is given by addresses
// never opens it. Numeric addresses never reach it: callers check
// is_numeric_host first.
//
// A lookup is answered exactly once unless cancelled; an answer found at
// once (a name from /etc/hosts) comes before lookup() returns. A cancelled
// lookup never calls back: libevent still answers it with EVUTIL_EAI_CANCEL
// on the loop's next turn, and that answer only frees what the lookup held.
// The evdns base lives until the last such answer, even past the resolver.
#pragma once

#include <functional>
#include <memory>
#include <string>

struct event_base;

namespace ticketq {

// An IPv4 or IPv6 address written out ("127.0.0.1", "::1").
bool is_numeric_host(const std::string& host);

class HostResolver {
 public:
  explicit HostResolver(event_base* base);
  ~HostResolver();
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // The first address of `host`, or an empty address and why not.
  using Callback = std::function<void(const std::string& address, const std::string& error)>;
  struct Lookup;
  // Starts a lookup; nullptr when it was answered already (`done` ran).
  Lookup* lookup(const std::string& host, Callback done);
  // Stops a lookup that has not been answered: `done` is never called.
  static void cancel(Lookup* lookup);

 private:
  struct Base;  // the evdns base, shared with the lookups in flight
  event_base* base_;
  std::shared_ptr<Base> dns_;
};

}  // namespace ticketq
