// Who is on the other end of a connection, and how many connections (or
// streams) each client holds, counted over every event loop of the process.
//
// A client is its IP address; an IPv6 client is its /64, the share of one
// host or home network (anyone holding a /64 can use all of its addresses).
// Behind a proxy every connection comes from the proxy: a peer in
// trusted_proxies is not counted as a client, and a request's client is the
// right-most address of its X-Forwarded-For that is not a trusted proxy.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/validate.h"

struct sockaddr;

namespace ticketq {

// An IPv4 or IPv6 address as bytes (an IPv4-mapped IPv6 address is IPv4);
// empty for a peer with no IP address (a Unix socket).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  uint8_t size = 0;  // 4, 16, or 0: none

  static IpAddress of(const sockaddr* addr);
  static std::optional<IpAddress> parse(std::string_view text);
  bool empty() const { return size == 0; }
  std::string str() const;
  // What a per-client count counts by: the IPv4 address, or the IPv6 /64.
  std::string_view client_key() const {
    return {reinterpret_cast<const char*>(bytes.data()), size == 16 ? size_t{8} : size};
  }
  bool operator==(const IpAddress&) const = default;
};

// An address block: "10.0.0.0/8", "fd00::/8", or one address.
struct IpRange {
  IpAddress base;
  int bits = 0;
  bool contains(const IpAddress& a) const;
};

// A comma-separated list of address blocks (trusted_proxies); an error
// names the entry that is not one.
Parsed<std::vector<IpRange>> parse_ip_ranges(std::string_view list);
bool in_ranges(const std::vector<IpRange>& ranges, const IpAddress& a);

// The client of a request that came from `peer` with these X-Forwarded-For
// values (every such header, in order): `peer` unless it is trusted; then
// the right-most listed address not trusted (or the left-most, when all
// are); an entry that is not an address ends the walk at the hop before it.
IpAddress forwarded_client(const IpAddress& peer, const std::vector<std::string_view>& xff,
                           const std::vector<IpRange>& trusted);

// Counts of things held per key (a client's connections, a user's streams),
// shared by the event loops of a process. A key's entry lives while its
// count is above 0: the memory is bounded by the things held.
class KeyedCounts {
 public:
  // One more for `key`, unless it holds `cap` already (cap 0: no cap).
  bool acquire(std::string_view key, int64_t cap);
  void release(std::string_view key);
  int64_t count(std::string_view key) const;
  size_t keys() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int64_t> counts_;
};

}  // namespace ticketq
