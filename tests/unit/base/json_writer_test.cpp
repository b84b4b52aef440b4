#include "base/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace ticketq {
namespace {

using Json = nlohmann::ordered_json;

std::string dumped(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string written(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(JsonWriter, WritesFieldsInOrderAsNlohmannDoes) {
  std::string out = "x";  // appends: what was there stays
  JsonWriter w(out);
  w.field("status", "queued")
      .field("user_id", std::string("alice"))
      .field("position", int64_t{12})
      .field("small", 3)
      .null_field("eta_s")
      .field("yes", true)
      .field("no", false)
      .field("min", std::numeric_limits<int64_t>::min())
      .field("max", std::numeric_limits<int64_t>::max());
  w.close();
  Json expected{{"status", "queued"},
                {"user_id", "alice"},
                {"position", 12},
                {"small", 3},
                {"eta_s", nullptr},
                {"yes", true},
                {"no", false},
                {"min", std::numeric_limits<int64_t>::min()},
                {"max", std::numeric_limits<int64_t>::max()}};
  EXPECT_EQ(out, "x" + dumped(expected));
}

TEST(JsonWriter, AnEmptyObject) {
  std::string out;
  JsonWriter(out).close();
  EXPECT_EQ(out, "{}");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(written("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(written("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(written(std::string_view("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  for (int c = 0; c < 0x80; ++c) {
    std::string s(1, static_cast<char>(c));
    EXPECT_EQ(written(s), dumped(Json(s))) << "byte " << c;
  }
}

TEST(JsonWriter, ValidUtf8PassesAsItIs) {
  for (std::string s : {"é", "€", "𝄞", "日本語", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"})
    EXPECT_EQ(written(s), "\"" + s + "\"");
}

TEST(JsonWriter, EachInvalidByteBecomesAReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(written("\xff"), "\"" + r + "\"");
  EXPECT_EQ(written("a\xC0\xAF"
                    "b"),
            "\"a" + r + r + "b\"");                                     // overlong
  EXPECT_EQ(written("\xED\xA0\x80"), "\"" + r + r + r + "\"");          // a surrogate
  EXPECT_EQ(written("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(written("\xE2\x82"), "\"" + r + r + "\"");                  // cut short
  EXPECT_EQ(written("\xE2\x82\""), "\"" + r + r + "\\\"\"");
}

// Long runs are checked eight bytes at a time: a byte that needs a look
// is found at every offset of a long string.
TEST(JsonWriter, FindsEveryByteThatNeedsALookInLongStrings) {
  for (std::string odd : {"\x01", "\x1f", "\"", "\\", "\x7f", "é", "\xff", "\xC3"}) {
    for (size_t at = 0; at <= 40; ++at) {
      std::string s(at, 'a');
      s += odd;
      s += std::string(40 - at, 'b');
      std::string out = written(s);
      Json back = Json::parse(out, nullptr, /*allow_exceptions=*/false);
      ASSERT_FALSE(back.is_discarded()) << out;
      if (valid_utf8(s))
        EXPECT_EQ(out, dumped(Json(s))) << "at " << at;
      else
        EXPECT_EQ(back.get<std::string>(),
                  std::string(at, 'a') + "\xEF\xBF\xBD" + std::string(40 - at, 'b'));
    }
  }
}

// Whatever the bytes, the output is JSON that reads back; when they are
// valid UTF-8 it reads back as them and equals nlohmann's spelling.
TEST(JsonWriter, AnyBytesGiveValidJson) {
  std::mt19937 rng(7);
  const char* pieces[] = {"a",    "\"",   "\\",       "\n",       "\x01",         "é",    "€", "𝄞",
                          "\xff", "\xC3", "\xE2\x82", "\xF0\x9F", "\xED\xA0\x80", "\x80", "z"};
  for (int round = 0; round < 5000; ++round) {
    std::string s;
    int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    std::string out = written(s);
    Json back = Json::parse(out, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(back.is_discarded()) << out;
    bool valid = true;
    try {
      (void)Json(s).dump();
    } catch (const Json::exception&) {
      valid = false;
    }
    if (valid) {
      EXPECT_EQ(back.get<std::string>(), s);
      EXPECT_EQ(out, dumped(Json(s)));
    }
  }
}

TEST(JsonWriter, ValidUtf8) {
  for (std::string s : {"", "plain", "é€𝄞", "\xF4\x8F\xBF\xBF"}) EXPECT_TRUE(valid_utf8(s)) << s;
  for (std::string s : {"\xff", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "a\xE2\x82"})
    EXPECT_FALSE(valid_utf8(s)) << s;
}

// Written into a string with room enough, the writer allocates nothing.
TEST(JsonWriter, AStringWithRoomDoesNotGrow) {
  std::string out;
  out.reserve(256);
  const char* before = out.data();
  JsonWriter w(out);
  w.field("status", "in_queue").field("user_id", "user-123").field("position", 99999);
  w.close();
  EXPECT_EQ(out.data(), before);
}

}  // namespace
}  // namespace ticketq
