#include "redis/host_resolver.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace ticketq {

bool is_numeric_host(const std::string& host) {
  unsigned char scratch[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), scratch) == 1 ||
         inet_pton(AF_INET6, host.c_str(), scratch) == 1;
}

struct HostResolver::Base {
  evdns_base* dns = nullptr;
  ~Base() {
    if (dns != nullptr) evdns_base_free(dns, /*fail_requests=*/0);
  }
};

struct HostResolver::Lookup {
  std::shared_ptr<Base> base;  // kept until libevent is done with the request
  Callback done;               // empty once cancelled
  evdns_getaddrinfo_request* request = nullptr;
};

namespace {

// libevent calls this exactly once per lookup, cancelled ones included.
void on_answer(int result, evutil_addrinfo* res, void* arg) {
  std::unique_ptr<HostResolver::Lookup> lookup(static_cast<HostResolver::Lookup*>(arg));
  char ip[INET6_ADDRSTRLEN] = "";
  if (result == 0 && res != nullptr) {
    const void* addr =
        res->ai_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
    evutil_inet_ntop(res->ai_family, addr, ip, sizeof ip);
  }
  if (res != nullptr) evutil_freeaddrinfo(res);
  if (!lookup->done) return;  // cancelled
  HostResolver::Callback done = std::move(lookup->done);
  lookup.reset();  // before the callback, which may start another lookup
  done(ip, result == 0 ? "no address" : evutil_gai_strerror(result));
}

}  // namespace

HostResolver::HostResolver(event_base* base) : base_(base) {}

// Lookups still in flight were cancelled by their owners; each keeps the
// evdns base until libevent has answered it.
HostResolver::~HostResolver() = default;

HostResolver::Lookup* HostResolver::lookup(const std::string& host, Callback done) {
  if (dns_ == nullptr) {
    dns_ = std::make_shared<Base>();
    // The loop's Worker ends it with loopexit; an idle resolver must not
    // keep it running.
    dns_->dns =
        evdns_base_new(base_, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns_->dns == nullptr) {
      dns_.reset();
      done("", "cannot start the resolver");
      return nullptr;
    }
  }
  auto* lookup = new Lookup{dns_, std::move(done), nullptr};
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // nullptr: answered already (from /etc/hosts, or a failure), and freed.
  evdns_getaddrinfo_request* request =
      evdns_getaddrinfo(dns_->dns, host.c_str(), nullptr, &hints, &on_answer, lookup);
  if (request == nullptr) return nullptr;
  lookup->request = request;
  return lookup;
}

void HostResolver::cancel(Lookup* lookup) {
  if (lookup == nullptr) return;
  lookup->done = nullptr;
  evdns_getaddrinfo_cancel(lookup->request);
}

}  // namespace ticketq
