// The recent history of an event's counts for the dashboard's chart: the
// ring the scripts keep in Redis (scripts.h, kHistorySlots) turned into the
// points of a line, oldest first. Pure; no Redis, no HTTP.
#pragma once

#include <cstdint>
#include <vector>

namespace ticketq {

struct HistoryPoint {
  int64_t t_ms = 0;  // Redis's clock, ms since the epoch
  int64_t waiting = 0;
  int64_t admitted = 0;  // holding a seat, not confirmed
  bool operator==(const HistoryPoint&) const = default;
};

// How far back the chart's history reaches.
int64_t history_window_ms();

// The points of the last history_window_ms() before `now_ms`, from the
// ring's samples (each the counts after the last change in its slot, in any
// order). A sample holds until the next one's slot begins, where a point
// repeats it, so a count that stood still for minutes is drawn flat, not as
// a slope; the last holds until now (every change writes a sample). The
// newest sample from before the window starts the line at the window's
// start, unless a sample of the window may have overwritten a later one in
// the ring; then the line starts at the first sample known. At most
// 2 * kHistorySlots + 2 points, whatever the ring holds.
std::vector<HistoryPoint> history_points(int64_t now_ms, std::vector<HistoryPoint> samples);

}  // namespace ticketq
