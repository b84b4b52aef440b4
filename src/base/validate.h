// Validation of everything a client sends: ids, request bodies, query values.
// Pure functions; each returns an error text for the 400 reply, or a value.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ticketq {

constexpr size_t kMaxIdLength = 64;

// user_id: 1-64 chars of [A-Za-z0-9._:@-].
bool valid_user_id(std::string_view id);
// event: 1-64 chars of [A-Za-z0-9._-].
bool valid_event(std::string_view event);

// Either a value or the reason it was refused.
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;
  bool ok() const { return value.has_value(); }
  static Parsed fail(std::string why) { return {std::nullopt, std::move(why)}; }
};

// One JSON object, strictly: no trailing bytes, no NUL, no duplicate keys at
// any depth (which of two values was meant is anyone's guess).
Parsed<nlohmann::json> parse_json_object(std::string_view text);

// Body of POST .../reserve: empty, or a JSON object whose optional "user_id"
// is a valid id string. Yields the user id, or "" when none was given.
Parsed<std::string> parse_reserve_body(std::string_view body);

struct EventSettings {
  int64_t capacity = 0;
  int64_t queue_limit = 0;
};
constexpr int64_t kMaxEventSize = INT64_C(1) << 40;

// An event's state: open; paused (people join, nobody is admitted);
// closed (nobody new joins; those in line keep their place and status).
enum class EventState { kOpen, kPaused, kClosed };
const char* event_state_name(EventState s);  // "open", "paused", "closed"
std::optional<EventState> parse_event_state(std::string_view text);

// How an event admits from its line and how long places and seats last.
struct AdmissionSettings {
  // Users admitted per second while seats are free; nullopt: "manual" (only
  // process_queue admits); 0: paused.
  std::optional<double> admit_rate;
  int64_t hold_s = 0;        // an unconfirmed seat returns after this long; 0: never
  int64_t waiter_ttl_s = 0;  // a waiter not heard from for this long loses the place; 0: never
};
constexpr double kMaxAdmitRate = 1e6;
constexpr int64_t kMaxDurationS = 365 * 24 * 3600;
// "manual" or the rate as the shortest text that reads back the same.
std::string admit_rate_text(const std::optional<double>& rate);
// The inverse, for text the scripts stored; nullopt in the outer optional
// when it is neither.
std::optional<std::optional<double>> parse_admit_rate(std::string_view text);

// Body of PUT /v1/events/{event}: any of "capacity" and "queue_limit"
// (integers in [0, 2^40]), "state", "admit_rate" ("manual" or a number in
// [0, 10^6]), "hold_s" and "waiter_ttl_s" (integers in [0, one year]), at
// least one. Settings left out keep their values (a new event needs
// capacity and queue_limit).
struct EventPatch {
  std::optional<int64_t> capacity;
  std::optional<int64_t> queue_limit;
  std::optional<EventState> state;
  std::optional<std::optional<double>> admit_rate;  // set: "manual" (nullopt) or a rate
  std::optional<int64_t> hold_s;
  std::optional<int64_t> waiter_ttl_s;
};
Parsed<EventPatch> parse_event_body(std::string_view body);

constexpr int64_t kMaxPromoteLimit = 1000;
// The `limit` query value of process_queue: absent → 1000; a positive integer,
// capped at 1000.
Parsed<int64_t> parse_promote_limit(std::optional<std::string_view> text);

// A random (version 4) UUID in its canonical lower-case text form.
std::string make_uuid_v4();

}  // namespace ticketq
