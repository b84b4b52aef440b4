#include "core/pace.h"

#include <algorithm>
#include <cstdint>

namespace ticketq {

std::optional<int64_t> estimate_wait_s(const Pace& pace, int64_t position) {
  if (pace.paused || pace.admitted_last_minute <= 0 || pace.span_ms <= 0 || position <= 0)
    return std::nullopt;
  // position / (admitted / span_s), rounded up, in integers.
  const __int128 num = static_cast<__int128>(position) * pace.span_ms;
  const __int128 den = static_cast<__int128>(pace.admitted_last_minute) * 1000;
  const __int128 eta = (num + den - 1) / den;
  return static_cast<int64_t>(std::min<__int128>(eta, INT64_MAX));
}

int64_t poll_after_ms(const Pace& pace, bool waiting, std::optional<int64_t> eta_s) {
  if (!waiting) return kPollNotWaitingMs;
  // A tenth of the wait, in ms; capped first, so that no product overflows.
  int64_t ms =
      eta_s ? std::clamp<int64_t>(std::min(*eta_s, kPollMaxMs / 100) * 100, kPollMinMs, kPollMaxMs)
            : kPollUnknownMs;
  if (pace.waiter_ttl_s > 0) ms = std::min(ms, pace.waiter_ttl_s * 1000 / 3);
  return ms;
}

}  // namespace ticketq
