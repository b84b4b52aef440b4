#include "base/validate.h"

#include <openssl/rand.h>

#include <cassert>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace ticketq {

namespace {

bool id_chars(std::string_view s, bool allow_colon_at) {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  for (unsigned char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || (allow_colon_at && (c == ':' || c == '@'));
    if (!ok) return false;
  }
  return true;
}

// Reads a non-negative integer member, refusing floats, strings and booleans.
Parsed<int64_t> int_member(const nlohmann::json& obj, const char* name, int64_t max) {
  auto it = obj.find(name);
  if (it == obj.end()) return Parsed<int64_t>::fail(std::string("\"") + name + "\" is required");
  if (!it->is_number_integer())
    return Parsed<int64_t>::fail(std::string("\"") + name + "\" must be an integer");
  if (it->is_number_unsigned() ? it->get<uint64_t>() > uint64_t(max)
                               : (it->get<int64_t>() < 0 || it->get<int64_t>() > max))
    return Parsed<int64_t>::fail(std::string("\"") + name + "\" must be between 0 and " +
                                 std::to_string(max));
  return {it->get<int64_t>(), {}};
}

}  // namespace

// Duplicate keys are looked for with the parser's callback: nlohmann keeps
// the last of them silently.
Parsed<nlohmann::json> parse_json_object(std::string_view body) {
  using nlohmann::json;
  std::vector<std::set<std::string>> seen;
  bool duplicate = false;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!seen.back().insert(parsed.get<std::string>()).second) duplicate = true;
        break;
      default:
        break;
    }
    return true;
  };
  // The parser would stop at a NUL and ignore what follows it.
  if (body.find('\0') != std::string_view::npos)
    return Parsed<json>::fail("body is not valid JSON");
  json j = json::parse(body.begin(), body.end(), cb, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Parsed<json>::fail("body is not valid JSON");
  if (duplicate) return Parsed<json>::fail("body has a duplicate key");
  if (!j.is_object()) return Parsed<json>::fail("body must be a JSON object");
  return {std::move(j), {}};
}

bool valid_user_id(std::string_view id) {
  return id_chars(id, true);
}
bool valid_event(std::string_view event) {
  return id_chars(event, false);
}

namespace {

// The body nearly every join sends, {"user_id":"<id>"} with any JSON white
// space around its tokens, read without a JSON parser: the id, or nullopt
// for any other body (which the parser then reads). An id's characters
// include no quote and no backslash, so such a body is valid JSON with one
// key, and both readings agree on it.
std::optional<std::string_view> plain_reserve_body(std::string_view body) {
  auto skip_space = [&] {
    size_t n = body.find_first_not_of(" \t\r\n");
    body.remove_prefix(n == std::string_view::npos ? body.size() : n);
  };
  auto take = [&](std::string_view token) {
    skip_space();
    if (body.substr(0, token.size()) != token) return false;
    body.remove_prefix(token.size());
    return true;
  };
  if (!take("{") || !take("\"user_id\"") || !take(":") || !take("\"")) return std::nullopt;
  size_t end = body.find('"');
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view id = body.substr(0, end);
  body.remove_prefix(end + 1);
  if (!valid_user_id(id) || !take("}")) return std::nullopt;
  skip_space();
  if (!body.empty()) return std::nullopt;
  return id;
}

}  // namespace

Parsed<std::string> parse_reserve_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return {std::string(), {}};
  if (auto id = plain_reserve_body(body)) return {std::string(*id), {}};
  auto obj = parse_json_object(body);
  if (!obj.ok()) return Parsed<std::string>::fail(obj.error);
  auto it = obj.value->find("user_id");
  if (it == obj.value->end() || it->is_null()) return {std::string(), {}};
  if (!it->is_string()) return Parsed<std::string>::fail("\"user_id\" must be a string");
  const auto& id = it->get_ref<const std::string&>();
  if (!valid_user_id(id))
    return Parsed<std::string>::fail(
        "\"user_id\" must be 1-64 characters of A-Z a-z 0-9 . _ : @ -");
  return {id, {}};
}

const char* event_state_name(EventState s) {
  switch (s) {
    case EventState::kPaused:
      return "paused";
    case EventState::kClosed:
      return "closed";
    case EventState::kOpen:
      break;
  }
  return "open";
}

std::optional<EventState> parse_event_state(std::string_view text) {
  for (EventState s : {EventState::kOpen, EventState::kPaused, EventState::kClosed})
    if (text == event_state_name(s)) return s;
  return std::nullopt;
}

std::string admit_rate_text(const std::optional<double>& rate) {
  if (!rate) return "manual";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, *rate);
  return std::string(buf, r.ptr);
}

std::optional<std::optional<double>> parse_admit_rate(std::string_view text) {
  if (text == "manual") return std::optional<double>();
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !(v >= 0) || v > kMaxAdmitRate)
    return std::nullopt;
  return std::optional<double>(v);
}

Parsed<EventPatch> parse_event_body(std::string_view body) {
  using P = Parsed<EventPatch>;
  auto obj = parse_json_object(body);
  if (!obj.ok()) return P::fail(obj.error);
  EventPatch patch;
  for (auto& [key, value] : obj.value->items()) {
    if (key == "capacity" || key == "queue_limit") {
      auto n = int_member(*obj.value, key.c_str(), kMaxEventSize);
      if (!n.ok()) return P::fail(n.error);
      (key == "capacity" ? patch.capacity : patch.queue_limit) = *n.value;
    } else if (key == "hold_s" || key == "waiter_ttl_s") {
      auto n = int_member(*obj.value, key.c_str(), kMaxDurationS);
      if (!n.ok()) return P::fail(n.error);
      (key == "hold_s" ? patch.hold_s : patch.waiter_ttl_s) = *n.value;
    } else if (key == "state") {
      auto state =
          value.is_string() ? parse_event_state(value.get_ref<const std::string&>()) : std::nullopt;
      if (!state) return P::fail("\"state\" must be \"open\", \"paused\" or \"closed\"");
      patch.state = state;
    } else if (key == "admit_rate") {
      if (value.is_string() && value.get_ref<const std::string&>() == "manual") {
        patch.admit_rate = std::optional<double>();
      } else if (value.is_number() && value.get<double>() >= 0 &&
                 value.get<double>() <= kMaxAdmitRate) {
        patch.admit_rate = std::optional<double>(value.get<double>() + 0.0);  // -0 is 0
      } else {
        return P::fail(
            "\"admit_rate\" must be \"manual\" or a number of users per second "
            "between 0 and 1000000");
      }
    } else {
      return P::fail("unknown field \"" + key + "\"");
    }
  }
  if (!patch.capacity && !patch.queue_limit && !patch.state && !patch.admit_rate && !patch.hold_s &&
      !patch.waiter_ttl_s)
    return P::fail(
        "nothing to change: give capacity, queue_limit, state, admit_rate, hold_s or "
        "waiter_ttl_s");
  return {patch, {}};
}

Parsed<int64_t> parse_promote_limit(std::optional<std::string_view> text) {
  if (!text) return {kMaxPromoteLimit, {}};
  if (text->empty() || text->find_first_not_of("0123456789") != std::string_view::npos)
    return Parsed<int64_t>::fail("limit must be a positive integer");
  // Digits only. Past its leading zeros, anything too long to parse is far
  // above the cap.
  std::string_view digits = text->substr(std::min(text->find_first_not_of('0'), text->size()));
  int64_t v = digits.empty() ? 0 : kMaxPromoteLimit;
  if (!digits.empty() && digits.size() < 10)
    std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (v < 1) return Parsed<int64_t>::fail("limit must be a positive integer");
  return {std::min(v, kMaxPromoteLimit), {}};
}

std::string make_uuid_v4() {
  unsigned char b[16];
  int ok = RAND_bytes(b, sizeof b);
  assert(ok == 1);
  (void)ok;
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

}  // namespace ticketq
