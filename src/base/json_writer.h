// JSON objects written straight into a string, with no document in between:
// the replies and token payloads of the hot path (reserve, status, a user
// token), where building an nlohmann DOM and dumping it cost more than the
// rest of the request. Fields come out in the order they are written, with
// nlohmann's compact spelling, so a reply reads the same whichever wrote it.
//
//   std::string body;
//   JsonWriter w(body);
//   w.field("status", "queued").field("position", 12).null_field("eta_s");
//   w.close();   // body == {"status":"queued","position":12,"eta_s":null}
//
// Keys are the caller's literals and written as they are. String values are
// escaped as JSON needs (quote, backslash, control characters); valid UTF-8
// passes as it is and each byte that is not part of a valid sequence
// becomes U+FFFD (as nlohmann's dump with error_handler_t::replace), so no
// input makes the output invalid JSON. The writer only appends: it never
// allocates beyond the string's own growth, which a reused string does not
// need.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketq {

class JsonWriter {
 public:
  // Opens an object at the end of `out`.
  explicit JsonWriter(std::string& out);

  JsonWriter& field(std::string_view key, std::string_view value);
  JsonWriter& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  JsonWriter& field(std::string_view key, int64_t value);
  JsonWriter& field(std::string_view key, int value) { return field(key, int64_t{value}); }
  JsonWriter& field(std::string_view key, bool value);
  // The number, or null.
  JsonWriter& field(std::string_view key, std::optional<int64_t> value) {
    return value ? field(key, *value) : null_field(key);
  }
  JsonWriter& null_field(std::string_view key);

  // Closes the object; nothing is written after.
  void close();

 private:
  void key(std::string_view k);

  std::string& out_;
  bool first_ = true;
};

// Appends `text` as a JSON string, quotes included (escaped as above).
void append_json_string(std::string& out, std::string_view text);

// True when `text` is valid UTF-8 (RFC 3629).
bool valid_utf8(std::string_view text);

}  // namespace ticketq
