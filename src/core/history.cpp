#include "core/history.h"

#include <algorithm>

#include "core/scripts.h"

namespace ticketq {

namespace {

int64_t slot_of(int64_t t_ms) {
  return t_ms / kHistorySlotMs;
}

}  // namespace

int64_t history_window_ms() {
  return kHistorySlotMs * kHistorySlots;
}

std::vector<HistoryPoint> history_points(int64_t now_ms, std::vector<HistoryPoint> samples) {
  const int64_t start = now_ms - history_window_ms();
  std::sort(samples.begin(), samples.end(),
            [](const HistoryPoint& a, const HistoryPoint& b) { return a.t_ms < b.t_ms; });
  std::vector<HistoryPoint> inside;
  const HistoryPoint* before = nullptr;  // the newest sample from before the window
  for (const HistoryPoint& s : samples) {
    if (s.t_ms > now_ms) continue;  // not from this clock's past: nothing to draw
    if (s.t_ms <= start)
      before = &s;
    else
      inside.push_back(s);
  }
  // A sample of slot c took the ring's field of slot c - kHistorySlots; if
  // that slot came after `before`, it may have held a later count.
  if (before &&
      (inside.empty() || slot_of(inside.back().t_ms) <= slot_of(before->t_ms) + kHistorySlots)) {
    HistoryPoint first = *before;
    first.t_ms = start;
    inside.insert(inside.begin(), first);
  }
  std::vector<HistoryPoint> out;
  out.reserve(inside.size() * 2 + 1);
  for (size_t i = 0; i < inside.size(); ++i) {
    if (i > 0) {
      HistoryPoint held = inside[i - 1];
      held.t_ms = slot_of(inside[i].t_ms) * kHistorySlotMs;
      if (held.t_ms > out.back().t_ms && held.t_ms < inside[i].t_ms) out.push_back(held);
    }
    out.push_back(inside[i]);
  }
  if (!out.empty() && out.back().t_ms < now_ms) {
    HistoryPoint last = out.back();
    last.t_ms = now_ms;
    out.push_back(last);
  }
  return out;
}

}  // namespace ticketq
