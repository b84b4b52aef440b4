// What a waiting user is told about time: the estimated wait and when to
// ask again. Pure functions of the line's pace, which Redis measures for
// every instance alike (queue_core.h: Pace), so every instance gives the
// same answer.
//
// The estimate: the admissions from the line over the last minute, divided
// by the time they took (from the start of the oldest 5-second slot that
// admitted anyone, at least 5 s), is the rate; the wait is position / rate,
// rounded up. Unknown (nullopt) while nobody was admitted in the last
// minute, and while the event admits nobody (paused, closed, admit_rate 0).
//
// When to ask again: a tenth of the estimated wait, between 1 and 30 s, so
// that users near the head ask often and those far back rarely and the
// load stays flat; 5 s when the wait is unknown; never longer than a third
// of waiter_ttl_s (at least 333 ms, as the TTL is whole seconds), so a
// polling user keeps the place. Users not waiting
// (admitted, or unknown) are told 10 s.
#pragma once

#include <cstdint>
#include <optional>

#include "core/queue_core.h"

namespace ticketq {

constexpr int64_t kPollMinMs = 1000;
constexpr int64_t kPollMaxMs = 30000;
constexpr int64_t kPollUnknownMs = 5000;
constexpr int64_t kPollNotWaitingMs = 10000;

std::optional<int64_t> estimate_wait_s(const Pace& pace, int64_t position);
int64_t poll_after_ms(const Pace& pace, bool waiting, std::optional<int64_t> eta_s);

}  // namespace ticketq
