// The monotonic clock every deadline and latency is measured on.
#pragma once

#include <chrono>
#include <cstdint>

namespace ticketq {

inline int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

inline int64_t now_ms() {
  return now_us() / 1000;
}

}  // namespace ticketq
