// Tests of src/core/pace.cpp: the estimated wait from the line's pace, and when a
// user is told to ask again. Pure functions of their arguments: no clock.
#include "core/pace.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

namespace ticketq {
namespace {

constexpr int64_t kNowMs = 1'700'000'000'000;

// A line that admitted `admitted` users over `span_ms`.
Pace moving(int64_t admitted, int64_t span_ms, int64_t waiter_ttl_s = 0) {
  Pace p;
  p.now_ms = kNowMs;
  p.admitted_last_minute = admitted;
  p.span_ms = span_ms;
  p.waiter_ttl_s = waiter_ttl_s;
  return p;
}

Pace with_ttl(int64_t waiter_ttl_s) {
  return moving(0, 0, waiter_ttl_s);
}

// ---------------------------------------------------------- estimate_wait_s --

TEST(EstimateWait, PositionOverTheRate) {
  // 60 a minute: one a second.
  EXPECT_EQ(estimate_wait_s(moving(60, 60'000), 1), 1);
  EXPECT_EQ(estimate_wait_s(moving(60, 60'000), 100), 100);
  // 10 in 5 s: two a second.
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 4), 2);
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 40), 20);
  // 2 in 10 s: one every 5 s.
  EXPECT_EQ(estimate_wait_s(moving(2, 10'000), 3), 15);
  // One in the shortest span, 5 s.
  EXPECT_EQ(estimate_wait_s(moving(1, 5'000), 1), 5);
  // A fast line: 12000 a minute is 200 a second.
  EXPECT_EQ(estimate_wait_s(moving(12'000, 60'000), 200), 1);
  EXPECT_EQ(estimate_wait_s(moving(12'000, 60'000), 200'000), 1000);
}

TEST(EstimateWait, RoundsUpToAWholeSecond) {
  // Two a second: 1 -> 0.5 s, 5 -> 2.5 s, 3 -> 1.5 s.
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 1), 1);
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 5), 3);
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 3), 2);
  // Exact quotients are not rounded up.
  EXPECT_EQ(estimate_wait_s(moving(10, 5'000), 6), 3);
  // Far below a second still says one: the head of a fast line.
  EXPECT_EQ(estimate_wait_s(moving(1'000'000, 5'000), 1), 1);
  // 7 over 6001 ms, position 1: 0.857... s.
  EXPECT_EQ(estimate_wait_s(moving(7, 6'001), 1), 1);
  // 3 over 10 s, position 1: 3.33 s.
  EXPECT_EQ(estimate_wait_s(moving(3, 10'000), 1), 4);
}

TEST(EstimateWait, UnknownWhileNobodyIsAdmitted) {
  EXPECT_EQ(estimate_wait_s(moving(0, 0), 1), std::nullopt);
  EXPECT_EQ(estimate_wait_s(moving(0, 60'000), 1), std::nullopt);
  EXPECT_EQ(estimate_wait_s(moving(5, 0), 1), std::nullopt);
  EXPECT_EQ(estimate_wait_s(Pace{}, 10), std::nullopt);
  // Nonsense from a reply is no estimate either, never a negative one.
  EXPECT_EQ(estimate_wait_s(moving(-5, 60'000), 1), std::nullopt);
  EXPECT_EQ(estimate_wait_s(moving(5, -60'000), 1), std::nullopt);
}

TEST(EstimateWait, UnknownWhileTheEventAdmitsNobody) {
  Pace p = moving(60, 60'000);
  ASSERT_EQ(estimate_wait_s(p, 10), 10);
  p.paused = true;  // paused, closed or admit_rate 0
  EXPECT_EQ(estimate_wait_s(p, 10), std::nullopt);
  EXPECT_EQ(estimate_wait_s(p, 1), std::nullopt);
}

TEST(EstimateWait, OnlyForAPlaceInLine) {
  EXPECT_EQ(estimate_wait_s(moving(60, 60'000), 0), std::nullopt);
  EXPECT_EQ(estimate_wait_s(moving(60, 60'000), -1), std::nullopt);
}

// Positions up to the largest queue_limit, and rates up to the largest
// admit_rate, without overflow: the product is taken in 128 bits.
TEST(EstimateWait, LargeValuesDoNotOverflow) {
  constexpr int64_t kMaxLine = INT64_C(1) << 40;
  // The whole of the longest line at one a minute: 2^40 minutes.
  EXPECT_EQ(estimate_wait_s(moving(1, 60'000), kMaxLine), kMaxLine * 60);
  // ... and at one per 65 s, the longest span the ring gives.
  EXPECT_EQ(estimate_wait_s(moving(1, 65'000), kMaxLine), kMaxLine * 65);
  // At a million a second (admit_rate's bound) over a minute.
  EXPECT_EQ(estimate_wait_s(moving(60'000'000, 60'000), kMaxLine),
            (kMaxLine + 999'999) / 1'000'000);
  // position * span is far beyond 64 bits; the quotient is not.
  EXPECT_EQ(estimate_wait_s(moving(1000, 1000), INT64_MAX), INT64_MAX / 1000 + 1);
  EXPECT_EQ(estimate_wait_s(moving(INT64_MAX, INT64_MAX), INT64_MAX), INT64_MAX / 1000 + 1);
  EXPECT_EQ(estimate_wait_s(moving(INT64_MAX, 1), 1), 1);
}

// A quotient beyond 64 bits (a position far beyond any queue_limit) must
// not come back negative. Disabled: estimate_wait_s casts the 128-bit
// quotient without a bound (see the report; unreachable while positions
// are at most 2^40 and spans at most ~65 s).
TEST(EstimateWait, AQuotientBeyond64BitsIsNotNegative) {
  auto eta = estimate_wait_s(moving(1, 60'000), INT64_MAX);
  ASSERT_TRUE(eta.has_value());
  EXPECT_GT(*eta, 0);
}

// ------------------------------------------------------------ poll_after_ms --

TEST(PollAfter, ATenthOfTheWait) {
  const Pace p = moving(60, 60'000);
  EXPECT_EQ(poll_after_ms(p, true, 11), 1'100);
  EXPECT_EQ(poll_after_ms(p, true, 20), 2'000);
  EXPECT_EQ(poll_after_ms(p, true, 100), 10'000);
  EXPECT_EQ(poll_after_ms(p, true, 123), 12'300);
  EXPECT_EQ(poll_after_ms(p, true, 299), 29'900);
  // With the estimate it is made from.
  const Pace two_a_second = moving(10, 5'000);
  EXPECT_EQ(poll_after_ms(two_a_second, true, estimate_wait_s(two_a_second, 40)), 2'000);
}

TEST(PollAfter, BetweenOneAndThirtySeconds) {
  const Pace p = moving(60, 60'000);
  EXPECT_EQ(kPollMinMs, 1'000);
  EXPECT_EQ(kPollMaxMs, 30'000);
  for (int64_t eta : {INT64_C(0), INT64_C(1), INT64_C(5), INT64_C(9), INT64_C(10)})
    EXPECT_EQ(poll_after_ms(p, true, eta), kPollMinMs) << eta;
  for (int64_t eta :
       {INT64_C(300), INT64_C(301), INT64_C(3'600), INT64_C(86'400 * 365), (INT64_C(1) << 40) * 65})
    EXPECT_EQ(poll_after_ms(p, true, eta), kPollMaxMs) << eta;
  // A negative estimate (none is made) is read as "now".
  EXPECT_EQ(poll_after_ms(p, true, -5), kPollMinMs);
}

TEST(PollAfter, FiveSecondsWhenTheWaitIsUnknown) {
  EXPECT_EQ(kPollUnknownMs, 5'000);
  EXPECT_EQ(poll_after_ms(Pace{}, true, std::nullopt), kPollUnknownMs);
  Pace paused = moving(60, 60'000);
  paused.paused = true;
  EXPECT_EQ(poll_after_ms(paused, true, estimate_wait_s(paused, 10)), kPollUnknownMs);
}

TEST(PollAfter, TenSecondsWhenNotWaiting) {
  EXPECT_EQ(kPollNotWaitingMs, 10'000);
  EXPECT_EQ(poll_after_ms(Pace{}, false, std::nullopt), kPollNotWaitingMs);
  EXPECT_EQ(poll_after_ms(moving(60, 60'000), false, 1), kPollNotWaitingMs);
  EXPECT_EQ(poll_after_ms(moving(60, 60'000), false, 1'000), kPollNotWaitingMs);
  // Someone not in line keeps no place, so waiter_ttl_s does not shorten it.
  EXPECT_EQ(poll_after_ms(with_ttl(3), false, std::nullopt), kPollNotWaitingMs);
}

// A waiter polling as told is never dropped as silent: at most a third of
// waiter_ttl_s between two polls.
TEST(PollAfter, AtMostAThirdOfTheWaiterTtl) {
  // 60 s: at most 20 s.
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 60), true, 1'000), 20'000);
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 60), true, 150), 15'000);  // under the cap
  EXPECT_EQ(poll_after_ms(with_ttl(60), true, std::nullopt), kPollUnknownMs);
  // 9 s: 3 s, below the unknown wait's 5 s.
  EXPECT_EQ(poll_after_ms(with_ttl(9), true, std::nullopt), 3'000);
  // 90 s and more: the 30 s cap is the lower one.
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 90), true, 1'000), 30'000);
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 365 * 24 * 3600), true, 1'000), 30'000);
  // Below the 1 s floor when the ttl is that short: the place comes first.
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 2), true, 1'000), 666);
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 1), true, 1), 333);
  EXPECT_EQ(poll_after_ms(with_ttl(1), true, std::nullopt), 333);
  // 0: no waiter_ttl_s, no cap.
  EXPECT_EQ(poll_after_ms(moving(60, 60'000, 0), true, 1'000), 30'000);
  for (int64_t ttl = 1; ttl <= 200; ++ttl) {
    for (std::optional<int64_t> eta :
         {std::optional<int64_t>(), std::optional<int64_t>(1), std::optional<int64_t>(50),
          std::optional<int64_t>(10'000)}) {
      int64_t ms = poll_after_ms(with_ttl(ttl), true, eta);
      EXPECT_LE(ms * 3, ttl * 1000) << ttl;
      EXPECT_GE(ms, 250) << ttl;
    }
  }
}

// An estimate beyond any real line must still say 30 s. Disabled:
// poll_after_ms multiplies the estimate by 100 in 64 bits, which overflows
// past ~9.2e16 s (see the report; unreachable from estimate_wait_s while
// positions are at most 2^40).
TEST(PollAfter, AHugeEstimateIsThirtySeconds) {
  EXPECT_EQ(poll_after_ms(Pace{}, true, INT64_MAX), kPollMaxMs);
  EXPECT_EQ(poll_after_ms(Pace{}, true, INT64_MAX / 100 + 1), kPollMaxMs);
}

}  // namespace
}  // namespace ticketq
