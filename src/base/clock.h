// The monotonic clock every deadline and latency is measured on, and the
// wall clock that tokens carry (iat, exp).
#pragma once

#include <sys/time.h>

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

// Seconds since the Unix epoch.
inline int64_t unix_now_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// A duration in milliseconds as libevent's timers take it.
inline timeval timeval_of_ms(int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
}

// Milliseconds since the epoch as whole seconds, rounded up: a time that
// ends within a second is shown as the second it ends in.
inline int64_t epoch_s_up(int64_t ms) {
  return (ms + 999) / 1000;
}

}  // namespace ticketq
