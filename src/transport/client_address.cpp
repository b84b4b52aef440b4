#include "transport/client_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace ticketq {

namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

IpAddress from_v6(const uint8_t* b) {
  IpAddress a;
  if (std::memcmp(b, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    a.size = 4;
    std::memcpy(a.bytes.data(), b + 12, 4);
  } else {
    a.size = 16;
    std::memcpy(a.bytes.data(), b, 16);
  }
  return a;
}

}  // namespace

IpAddress IpAddress::of(const sockaddr* addr) {
  IpAddress a;
  if (addr == nullptr) return a;
  if (addr->sa_family == AF_INET) {
    a.size = 4;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    a = from_v6(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr);
  }
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.size = 4;
    return a;
  }
  uint8_t v6[16];
  if (inet_pton(AF_INET6, buf, v6) == 1) return from_v6(v6);
  return std::nullopt;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (size == 0) return "local";
  if (inet_ntop(size == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf) == nullptr)
    return "?";
  return buf;
}

bool IpRange::contains(const IpAddress& a) const {
  if (a.size != base.size || a.size == 0) return false;
  int full = bits / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

Parsed<std::vector<IpRange>> parse_ip_ranges(std::string_view list) {
  using Result = Parsed<std::vector<IpRange>>;
  std::vector<IpRange> ranges;
  while (!trim(list).empty()) {
    size_t comma = list.find(',');
    std::string_view entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;  // "a, , b"
    size_t slash = entry.find('/');
    std::optional<IpAddress> base = IpAddress::parse(entry.substr(0, slash));
    if (!base) return Result::fail("\"" + std::string(entry) + "\" is not an address or block");
    IpRange r{*base, base->size * 8};
    if (slash != std::string_view::npos) {
      std::string_view len = entry.substr(slash + 1);
      int bits = -1;
      auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (ec != std::errc() || end != len.data() + len.size() || bits < 0 || bits > r.bits)
        return Result::fail("\"" + std::string(entry) + "\" has a bad prefix length");
      r.bits = bits;
    }
    ranges.push_back(r);
  }
  return Result{std::move(ranges), {}};
}

bool in_ranges(const std::vector<IpRange>& ranges, const IpAddress& a) {
  for (const IpRange& r : ranges)
    if (r.contains(a)) return true;
  return false;
}

IpAddress forwarded_client(const IpAddress& peer, const std::vector<std::string_view>& xff,
                           const std::vector<IpRange>& trusted) {
  IpAddress client = peer;
  if (!in_ranges(trusted, peer)) return client;
  for (auto header = xff.rbegin(); header != xff.rend(); ++header) {
    std::string_view rest = *header;
    while (!rest.empty()) {
      size_t comma = rest.rfind(',');
      std::string_view entry =
          trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      std::optional<IpAddress> hop = IpAddress::parse(entry);
      if (!hop) return client;
      client = *hop;
      if (!in_ranges(trusted, client)) return client;
    }
  }
  return client;
}

bool KeyedCounts::acquire(std::string_view key, int64_t cap) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = counts_.try_emplace(std::string(key), 0);
  if (cap > 0 && it->second >= cap) return false;
  ++it->second;
  return true;
}

void KeyedCounts::release(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(std::string(key));
  if (it == counts_.end()) return;
  if (--it->second <= 0) counts_.erase(it);
}

int64_t KeyedCounts::count(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(std::string(key));
  return it == counts_.end() ? 0 : it->second;
}

size_t KeyedCounts::keys() const {
  std::lock_guard lock(mutex_);
  return counts_.size();
}

}  // namespace ticketq
