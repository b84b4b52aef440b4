#include "base/json_writer.h"

#include <charconv>
#include <cstring>

namespace ticketq {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the valid UTF-8 sequence at the start of `s` (whose first
// byte is >= 0x80), or 0 if it is not one (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
size_t utf8_sequence(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(0);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return n;
}

}  // namespace

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t plain = 0;  // start of the run of bytes copied as they are
  size_t i = 0;
  auto flush = [&] { out.append(text.data() + plain, i - plain); };
  while (i < text.size()) {
    // Eight bytes at a time while none needs a look (a token is 300 bytes
    // of base64url): a byte below 0x20, a quote, a backslash, or >= 0x80.
    while (i + 8 <= text.size()) {
      uint64_t x;
      std::memcpy(&x, text.data() + i, 8);
      constexpr uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
      auto zero_byte = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
      if (((x - kOnes * 0x20) | zero_byte(x ^ (kOnes * '"')) | zero_byte(x ^ (kOnes * '\\')) | x) &
          kHigh)
        break;
      i += 8;
    }
    if (i >= text.size()) break;
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = utf8_sequence(text.substr(i));
      if (n != 0) {
        i += n;
        continue;
      }
      flush();
      out += kReplacement;
      plain = ++i;
      continue;
    }
    flush();
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
    plain = ++i;
  }
  flush();
  out += '"';
}

JsonWriter::JsonWriter(std::string& out) : out_(out) {
  out_ += '{';
}

void JsonWriter::key(std::string_view k) {
  if (!first_) out_ += ',';
  first_ = false;
  out_ += '"';
  out_ += k;
  out_ += "\":";
}

JsonWriter& JsonWriter::field(std::string_view k, std::string_view value) {
  key(k);
  append_json_string(out_, value);
  return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, int64_t value) {
  key(k);
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out_.append(digits, end);
  return *this;
}

JsonWriter& JsonWriter::field(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null_field(std::string_view k) {
  key(k);
  out_ += "null";
  return *this;
}

void JsonWriter::close() {
  out_ += '}';
}

}  // namespace ticketq
