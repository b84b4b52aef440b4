#include "core/history.h"

#include <gtest/gtest.h>

#include "core/scripts.h"

namespace ticketq {
namespace {

constexpr int64_t kSlot = kHistorySlotMs;
// A clock in the middle of a slot, far from the epoch.
constexpr int64_t kNow = 1'000'000 * kSlot + 4'000;

TEST(History, TheWindowIsTheRing) {
  EXPECT_EQ(history_window_ms(), kHistorySlotMs * kHistorySlots);
  EXPECT_EQ(history_window_ms(), 600'000);
}

TEST(History, NothingStoredIsNoLine) {
  EXPECT_TRUE(history_points(kNow, {}).empty());
}

TEST(History, OneSampleHoldsUntilNow) {
  auto got = history_points(kNow, {{kNow - 30'000, 5, 2}});
  EXPECT_EQ(got, (std::vector<HistoryPoint>{{kNow - 30'000, 5, 2}, {kNow, 5, 2}}));
}

// A count that stood still for minutes is flat until the slot of the next
// change begins: the line is a step, not a slope.
TEST(History, SamplesAreSortedAndStepped) {
  const int64_t a = kNow - 300'000;  // five minutes ago
  const int64_t b = kNow - 61'000;
  auto got = history_points(kNow, {{b, 1, 0}, {a, 9, 3}});
  const int64_t b_slot = b / kSlot * kSlot;
  EXPECT_EQ(got, (std::vector<HistoryPoint>{{a, 9, 3}, {b_slot, 9, 3}, {b, 1, 0}, {kNow, 1, 0}}));
}

// A sample at the very start of its slot needs no step point.
TEST(History, NoStepPointOnTheSampleItself) {
  const int64_t a = kNow - 100'000;
  const int64_t b = (kNow - 50'000) / kSlot * kSlot;
  auto got = history_points(kNow, {{a, 1, 1}, {b, 2, 2}});
  EXPECT_EQ(got, (std::vector<HistoryPoint>{{a, 1, 1}, {b, 2, 2}, {kNow, 2, 2}}));
}

TEST(History, TheNewestSampleBeforeTheWindowStartsTheLine) {
  const int64_t start = kNow - history_window_ms();
  const int64_t old = start - 7 * kSlot;
  const int64_t older = start - 20 * kSlot;
  const int64_t inside = start + 3 * kSlot;  // its field was of a slot before `old`'s
  auto got = history_points(kNow, {{older, 8, 8}, {old, 4, 1}, {inside, 3, 1}});
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got.front(), (HistoryPoint{start, 4, 1}));
  EXPECT_EQ(got.back(), (HistoryPoint{kNow, 3, 1}));
  for (const HistoryPoint& p : got) EXPECT_GE(p.t_ms, start);
  // Only a sample from before the window: flat over the whole window.
  EXPECT_EQ(history_points(kNow, {{old, 4, 1}}),
            (std::vector<HistoryPoint>{{start, 4, 1}, {kNow, 4, 1}}));
}

// A sample of slot c took the ring's field of slot c - kHistorySlots. When
// that slot came after the newest sample before the window, the count there
// may have changed unseen: the line starts at the first sample known.
TEST(History, AnOverwrittenFieldHidesTheStart) {
  const int64_t start = kNow - history_window_ms();
  const int64_t old = start - 10 * kSlot;
  const int64_t late = kNow - 2 * kSlot;  // its slot is old's + kHistorySlots + 8
  auto got = history_points(kNow, {{old, 4, 1}, {late, 6, 0}});
  EXPECT_EQ(got.front(), (HistoryPoint{late, 6, 0}));
  // A window sample whose slot is within kHistorySlots of the old one
  // overwrote a field older than it: the old one still starts the line.
  const int64_t early = start + 5 * kSlot;
  EXPECT_EQ(history_points(kNow, {{old, 4, 1}, {early, 6, 0}}).front(),
            (HistoryPoint{start, 4, 1}));
  const int64_t close = old + (kHistorySlots - 1) * kSlot;
  ASSERT_GT(close, start);
  EXPECT_EQ(history_points(kNow, {{old, 4, 1}, {close, 6, 0}}).front(),
            (HistoryPoint{start, 4, 1}));
}

// Samples from after the clock (a clock that stepped back) are left out.
TEST(History, SamplesFromTheFutureAreLeftOut) {
  auto got = history_points(kNow, {{kNow + 5'000, 9, 9}, {kNow - 5'000, 1, 1}});
  EXPECT_EQ(got, (std::vector<HistoryPoint>{{kNow - 5'000, 1, 1}, {kNow, 1, 1}}));
}

// A full ring gives a bounded line: a step point per sample at most, and
// the start and the end.
TEST(History, AFullRingIsBounded) {
  std::vector<HistoryPoint> ring;
  for (int i = 0; i < kHistorySlots; ++i) ring.push_back({kNow - i * kSlot - 1'000, i, i});
  auto got = history_points(kNow, ring);
  EXPECT_LE(got.size(), size_t(2 * kHistorySlots + 2));
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].t_ms, got[i].t_ms) << i;
  EXPECT_GE(got.front().t_ms, kNow - history_window_ms());
  EXPECT_EQ(got.back().t_ms, kNow);
}

}  // namespace
}  // namespace ticketq
