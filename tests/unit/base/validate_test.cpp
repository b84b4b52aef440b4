// Tests of src/base/validate.cpp: ids, request bodies, the promote limit, UUIDs.
#include "base/validate.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ticketq {
namespace {

using namespace std::string_literals;

const std::string kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// ---------------------------------------------------------------------- ids --

TEST(ValidId, LengthBoundaries) {
  for (auto* valid : {&valid_user_id, &valid_event}) {
    EXPECT_FALSE(valid(""));
    EXPECT_TRUE(valid("a"));
    EXPECT_TRUE(valid(std::string(63, 'a')));
    EXPECT_TRUE(valid(std::string(64, 'a')));
    EXPECT_FALSE(valid(std::string(65, 'a')));
    EXPECT_FALSE(valid(std::string(1000, 'a')));
  }
  EXPECT_EQ(kMaxIdLength, 64u);
}

// Tries every byte value alone and inside an otherwise valid id.
TEST(ValidId, ExactlyTheDocumentedCharactersAreAllowed) {
  const std::string user_chars = kAlnum + "._:@-";
  const std::string event_chars = kAlnum + "._-";
  for (int b = 0; b < 256; ++b) {
    char c = static_cast<char>(b);
    SCOPED_TRACE(b);
    bool user_ok = user_chars.find(c) != std::string::npos;
    bool event_ok = event_chars.find(c) != std::string::npos;
    EXPECT_EQ(valid_user_id(std::string(1, c)), user_ok);
    EXPECT_EQ(valid_event(std::string(1, c)), event_ok);
    std::string mid = std::string("ab") + c + "cd";
    EXPECT_EQ(valid_user_id(mid), user_ok);
    EXPECT_EQ(valid_event(mid), event_ok);
  }
}

TEST(ValidId, EveryAllowedCharacterInOneId) {
  const std::string user_chars = kAlnum + "._:@-";  // 67 characters: two ids
  EXPECT_TRUE(valid_user_id(user_chars.substr(0, 64)));
  EXPECT_TRUE(valid_user_id(user_chars.substr(64)));
  EXPECT_FALSE(valid_user_id(user_chars));         // 67 > 64
  const std::string event_chars = kAlnum + "._-";  // 65 characters
  EXPECT_TRUE(valid_event(event_chars.substr(0, 64)));
  EXPECT_TRUE(valid_event(event_chars.substr(1)));
  EXPECT_FALSE(valid_event(event_chars));
}

TEST(ValidId, DisallowedCharacters) {
  for (auto* valid : {&valid_user_id, &valid_event}) {
    EXPECT_FALSE(valid("a/b"));
    EXPECT_FALSE(valid("a%40b"));
    EXPECT_FALSE(valid("a b"));
    EXPECT_FALSE(valid(" a"));
    EXPECT_FALSE(valid("a\n"));
    EXPECT_FALSE(valid(std::string("a\0b", 3)));
    EXPECT_FALSE(valid(std::string("\0", 1)));
    EXPECT_FALSE(valid("caf\xc3\xa9"));   // UTF-8 é
    EXPECT_FALSE(valid("\xe2\x82\xac"));  // UTF-8 €
    EXPECT_FALSE(valid("a{b}"));
    EXPECT_FALSE(valid("a*"));
    EXPECT_FALSE(valid("a+b"));
  }
  EXPECT_TRUE(valid_user_id("user:42@example.com"));
  EXPECT_FALSE(valid_event("user:42"));
  EXPECT_FALSE(valid_event("a@b"));
  EXPECT_TRUE(valid_event("concert-2024_v1.0"));
  // 64 characters, the last one bad.
  EXPECT_FALSE(valid_user_id(std::string(63, 'a') + "/"));
}

// ------------------------------------------------------ parse_reserve_body --

void expect_user(std::string_view body, const std::string& user) {
  auto p = parse_reserve_body(body);
  ASSERT_TRUE(p.ok()) << "body " << body << ": " << p.error;
  EXPECT_EQ(*p.value, user) << "body " << body;
  EXPECT_EQ(p.error, "");
}

void expect_reserve_error(std::string_view body, const std::string& error) {
  auto p = parse_reserve_body(body);
  EXPECT_FALSE(p.ok()) << "body " << body << " accepted as '" << p.value.value_or("") << "'";
  EXPECT_EQ(p.error, error) << "body " << body;
}

TEST(ParseReserveBody, EmptyOrWhitespaceMeansNoUserId) {
  expect_user("", "");
  expect_user(" ", "");
  expect_user(" \t\r\n ", "");
}

TEST(ParseReserveBody, NoUserIdGiven) {
  expect_user("{}", "");
  expect_user(" { } \n", "");
  expect_user(R"({"user_id":null})", "");
}

TEST(ParseReserveBody, ValidUserId) {
  expect_user(R"({"user_id":"u1"})", "u1");
  expect_user(R"(  {"user_id" : "alice@example.com"}  )", "alice@example.com");
  expect_user(R"({"user_id":"a\u0040b"})", "a@b");  // JSON escape decoded first
  expect_user(R"({"user_id":")" + std::string(64, 'x') + "\"}", std::string(64, 'x'));
}

TEST(ParseReserveBody, UnknownFieldsAreIgnored) {
  expect_user(R"({"user_id":"u1","foo":[1,2,{"a":null}],"bar":{"x":true}})", "u1");
  expect_user(R"({"other":1})", "");
}

TEST(ParseReserveBody, InvalidUserIdString) {
  const std::string bad = "\"user_id\" must be 1-64 characters of A-Z a-z 0-9 . _ : @ -";
  expect_reserve_error(R"({"user_id":""})", bad);
  expect_reserve_error(R"({"user_id":"a/b"})", bad);
  expect_reserve_error(R"({"user_id":"a b"})", bad);
  expect_reserve_error(R"({"user_id":"a\u0000b"})", bad);
  expect_reserve_error(R"({"user_id":"caf\u00e9"})", bad);
  expect_reserve_error(R"({"user_id":")" + std::string(65, 'x') + "\"}", bad);
}

TEST(ParseReserveBody, WrongTypes) {
  const std::string bad = "\"user_id\" must be a string";
  expect_reserve_error(R"({"user_id":42})", bad);
  expect_reserve_error(R"({"user_id":-1.5})", bad);
  expect_reserve_error(R"({"user_id":true})", bad);
  expect_reserve_error(R"({"user_id":false})", bad);
  expect_reserve_error(R"({"user_id":["u1"]})", bad);
  expect_reserve_error(R"({"user_id":{"id":"u1"}})", bad);
}

TEST(ParseReserveBody, MalformedJson) {
  const std::string bad = "body is not valid JSON";
  expect_reserve_error("{", bad);
  expect_reserve_error("}", bad);
  expect_reserve_error(R"({"user_id":"u1")", bad);
  expect_reserve_error(R"({"user_id":"u1",})", bad);
  expect_reserve_error(R"({user_id:"u1"})", bad);
  expect_reserve_error(R"({'user_id':'u1'})", bad);
  expect_reserve_error("user_id=u1", bad);
  expect_reserve_error(std::string("{\"user_id\":\"\xff\"}"), bad);  // invalid UTF-8
  expect_reserve_error("{\"user_id\":\"a\0\"}"s, bad);               // raw NUL in a string
}

// The body nearly every join sends is read without the JSON parser; what
// differs from it in any way goes to the parser, so the answers are the same.
TEST(ParseReserveBody, TheCommonBodyAndItsNearMisses) {
  expect_user(R"({"user_id":"u1"})", "u1");
  expect_user("\n{\t\"user_id\"\r:\n\"u-1.a_b:c@d\" }\n", "u-1.a_b:c@d");
  expect_reserve_error(R"({"user_id":"u1","user_id":"u2"})", "body has a duplicate key");
  expect_reserve_error(R"({"user_id":"u1"}x)", "body is not valid JSON");
  expect_reserve_error(R"({"user_id":"u1"}})", "body is not valid JSON");
  expect_reserve_error(R"({"user_id" "u1"})", "body is not valid JSON");
  expect_reserve_error(R"({"user_id":"u1" )", "body is not valid JSON");
  expect_reserve_error("{\"user_id\":\"u1\"}\0"s, "body is not valid JSON");
  expect_reserve_error(R"({"user_id":"u\"1"})",
                       "\"user_id\" must be 1-64 characters of A-Z a-z 0-9 . _ : @ -");
  expect_user(R"({"user_id":"u\u0031"})", "u1");
  expect_user(R"({"user_id":"u1","x":1})", "u1");
}

// A NUL byte after the object is a trailing byte like any other; it must not
// end the input early (nlohmann's lexer treats '\0' as end of input).
TEST(ParseReserveBody, NulAfterTheObjectIsATrailingByte) {
  const std::string bad = "body is not valid JSON";
  expect_reserve_error("{}\0"s, bad);
  expect_reserve_error("{\"user_id\":\"a\"}\0{\"user_id\":\"b\"}"s, bad);
  auto p = parse_event_body("{\"capacity\":1,\"queue_limit\":2}\0junk"s);
  EXPECT_FALSE(p.ok()) << "accepted";
  EXPECT_EQ(p.error, bad);
}

TEST(ParseReserveBody, TrailingBytesAfterTheObject) {
  const std::string bad = "body is not valid JSON";
  expect_reserve_error("{}x", bad);
  expect_reserve_error("{} {}", bad);
  expect_reserve_error(R"({"user_id":"a"}{"user_id":"b"})", bad);
  expect_reserve_error("{} 1", bad);
  expect_user("{}\r\n", "");  // trailing whitespace is fine
}

TEST(ParseReserveBody, TopLevelMustBeAnObject) {
  const std::string bad = "body must be a JSON object";
  expect_reserve_error("[]", bad);
  expect_reserve_error(R"([{"user_id":"u1"}])", bad);
  expect_reserve_error(R"("u1")", bad);
  expect_reserve_error("42", bad);
  expect_reserve_error("true", bad);
  expect_reserve_error("null", bad);
}

TEST(ParseReserveBody, DuplicateKeysAtAnyDepth) {
  const std::string bad = "body has a duplicate key";
  expect_reserve_error(R"({"user_id":"a","user_id":"b"})", bad);
  expect_reserve_error(R"({"user_id":"a","user_id":"a"})", bad);
  expect_reserve_error(R"({"user_id":"a","x":{"k":1,"k":2}})", bad);
  expect_reserve_error(R"({"x":[{"y":{"k":1,"k":1}}]})", bad);
  // The same key in different objects is no duplicate.
  expect_user(R"({"user_id":"a","x":{"user_id":"b"},"y":[{"k":1},{"k":2}]})", "a");
}

TEST(ParseReserveBody, DeepNestingIsHandled) {
  // Nothing recursive may overflow on a (large) body of nested arrays.
  const int depth = 500000;
  std::string body =
      R"({"x":)" + std::string(depth, '[') + std::string(depth, ']') + R"(,"user_id":"deep"})";
  expect_user(body, "deep");
  expect_reserve_error(std::string(depth, '['), "body is not valid JSON");
}

// -------------------------------------------------------- parse_event_body --

const std::string kNothingToChange =
    "nothing to change: give capacity, queue_limit, state, admit_rate, hold_s or waiter_ttl_s";

void expect_event(std::string_view body, int64_t capacity, int64_t limit) {
  auto p = parse_event_body(body);
  ASSERT_TRUE(p.ok()) << "body " << body << ": " << p.error;
  EXPECT_EQ(p.value->capacity, capacity) << body;
  EXPECT_EQ(p.value->queue_limit, limit) << body;
}

void expect_event_error(std::string_view body, const std::string& error) {
  auto p = parse_event_body(body);
  EXPECT_FALSE(p.ok()) << "body " << body << " accepted";
  EXPECT_EQ(p.error, error) << "body " << body;
}

TEST(ParseEventBody, Valid) {
  expect_event(R"({"capacity":10,"queue_limit":20})", 10, 20);
  expect_event(R"({"queue_limit":0,"capacity":0})", 0, 0);
  expect_event(R"( {"capacity": 1099511627776, "queue_limit": 1099511627776} )", INT64_C(1) << 40,
               INT64_C(1) << 40);
  EXPECT_EQ(kMaxEventSize, INT64_C(1099511627776));
}

// Any subset, at least one; what is left out stays unset (kept by Redis).
TEST(ParseEventBody, AnySubsetOfTheSettings) {
  auto p = parse_event_body(R"({"queue_limit":20})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_FALSE(p.value->capacity.has_value());
  EXPECT_EQ(p.value->queue_limit, 20);
  EXPECT_FALSE(p.value->state.has_value());
  p = parse_event_body(R"({"state":"paused"})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.value->state, EventState::kPaused);
  EXPECT_FALSE(p.value->capacity.has_value() || p.value->queue_limit.has_value());
  p = parse_event_body(R"({"capacity":3,"state":"closed"})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.value->capacity, 3);
  EXPECT_EQ(p.value->state, EventState::kClosed);
  expect_event_error("{}", kNothingToChange);
  expect_event_error("", "body is not valid JSON");
}

TEST(ParseEventBody, StateIsOneOfThreeNames) {
  for (const char* s : {"open", "paused", "closed"}) {
    auto p = parse_event_body(std::string(R"({"state":")") + s + "\"}");
    ASSERT_TRUE(p.ok()) << s;
    EXPECT_STREQ(event_state_name(*p.value->state), s);
  }
  const std::string bad = "\"state\" must be \"open\", \"paused\" or \"closed\"";
  for (const char* body : {R"({"state":"Open"})", R"({"state":""})", R"({"state":1})",
                           R"({"state":null})", R"({"state":["open"]})", R"({"state":"open "})"})
    expect_event_error(body, bad);
}

TEST(ParseEventBody, IntegersOnly) {
  expect_event_error(R"({"capacity":1.0,"queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":10,"queue_limit":2.5})", "\"queue_limit\" must be an integer");
  expect_event_error(R"({"capacity":1e3,"queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":"10","queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":true,"queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":null,"queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":[10],"queue_limit":20})", "\"capacity\" must be an integer");
  expect_event_error(R"({"capacity":{},"queue_limit":20})", "\"capacity\" must be an integer");
}

TEST(ParseEventBody, Bounds) {
  const std::string cap = "\"capacity\" must be between 0 and 1099511627776";
  const std::string limit = "\"queue_limit\" must be between 0 and 1099511627776";
  expect_event_error(R"({"capacity":-1,"queue_limit":20})", cap);
  expect_event_error(R"({"capacity":10,"queue_limit":-1})", limit);
  expect_event_error(R"({"capacity":-9223372036854775808,"queue_limit":20})", cap);
  expect_event_error(R"({"capacity":1099511627777,"queue_limit":20})", cap);
  expect_event_error(R"({"capacity":10,"queue_limit":1099511627777})", limit);
  expect_event_error(R"({"capacity":9223372036854775807,"queue_limit":20})", cap);
  expect_event_error(R"({"capacity":18446744073709551615,"queue_limit":20})", cap);
  // Beyond uint64 nlohmann parses a float.
  expect_event_error(R"({"capacity":18446744073709551616,"queue_limit":20})",
                     "\"capacity\" must be an integer");
}

TEST(ParseEventBody, UnknownAndDuplicateFields) {
  expect_event_error(R"({"capacity":10,"queue_limit":20,"name":"x"})", "unknown field \"name\"");
  expect_event_error(R"({"capacity":10,"queue_limit":20,"Capacity":1})",
                     "unknown field \"Capacity\"");
  expect_event_error(R"({"capacity":10,"queue_limit":20,"capacity":10})",
                     "body has a duplicate key");
  expect_event_error(R"({"capacity":10,"queue_limit":20,"capacity":11})",
                     "body has a duplicate key");
}

TEST(ParseEventBody, ShapeErrors) {
  expect_event_error(R"({"capacity":10,"queue_limit":20}x)", "body is not valid JSON");
  expect_event_error(R"([{"capacity":10,"queue_limit":20}])", "body must be a JSON object");
  expect_event_error("10", "body must be a JSON object");
}

// An empty object, and one with only settings that are not there, change
// nothing; every setting alone is enough.
TEST(ParseEventBody, NothingToChange) {
  expect_event_error("{}", kNothingToChange);
  expect_event_error(" { } ", kNothingToChange);
  for (const char* body :
       {R"({"capacity":1})", R"({"queue_limit":1})", R"({"state":"open"})",
        R"({"admit_rate":"manual"})", R"({"hold_s":0})", R"({"waiter_ttl_s":0})"}) {
    auto p = parse_event_body(body);
    EXPECT_TRUE(p.ok()) << body << ": " << p.error;
  }
}

TEST(ParseEventBody, EverySettingAtOnce) {
  auto p = parse_event_body(
      R"({"capacity":10,"queue_limit":20,"state":"paused","admit_rate":2.5,"hold_s":300,)"
      R"("waiter_ttl_s":60})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.value->capacity, 10);
  EXPECT_EQ(p.value->queue_limit, 20);
  EXPECT_EQ(p.value->state, EventState::kPaused);
  ASSERT_TRUE(p.value->admit_rate.has_value());
  EXPECT_EQ(*p.value->admit_rate, std::optional<double>(2.5));
  EXPECT_EQ(p.value->hold_s, 300);
  EXPECT_EQ(p.value->waiter_ttl_s, 60);
  // Left out, they stay unset (kept by Redis).
  p = parse_event_body(R"({"hold_s":5})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_FALSE(p.value->capacity || p.value->queue_limit || p.value->state || p.value->admit_rate ||
               p.value->waiter_ttl_s);
  EXPECT_EQ(p.value->hold_s, 5);
}

// "manual" (only process_queue admits) is a value of its own: set, but no
// rate. Unset is "keep what is stored".
TEST(ParseEventBody, AdmitRateManual) {
  auto p = parse_event_body(R"({"admit_rate":"manual"})");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_TRUE(p.value->admit_rate.has_value());
  EXPECT_FALSE(p.value->admit_rate->has_value());
  p = parse_event_body(R"({"capacity":1})");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_FALSE(p.value->admit_rate.has_value());
}

TEST(ParseEventBody, AdmitRateNumbers) {
  const std::pair<const char*, double> rates[] = {
      {"0", 0},        {"0.0", 0},         {"1", 1},     {"2.5", 2.5},           {"0.001", 0.001},
      {"1e-3", 0.001}, {"1E2", 100},       {"0.5", 0.5}, {"999999.5", 999999.5}, {"1000000", 1e6},
      {"1e6", 1e6},    {"1000000.0", 1e6}, {"0.1", 0.1}, {"5e-324", 5e-324}};
  for (auto [text, value] : rates) {
    SCOPED_TRACE(text);
    auto p = parse_event_body(std::string(R"({"admit_rate":)") + text + "}");
    ASSERT_TRUE(p.ok()) << p.error;
    ASSERT_TRUE(p.value->admit_rate.has_value());
    ASSERT_TRUE(p.value->admit_rate->has_value());
    EXPECT_EQ(**p.value->admit_rate, value);
  }
  EXPECT_EQ(kMaxAdmitRate, 1e6);
}

TEST(ParseEventBody, AdmitRateRefused) {
  const std::string bad =
      "\"admit_rate\" must be \"manual\" or a number of users per second between 0 and 1000000";
  for (const char* value : {"-1",
                            "-0.5",
                            "-1e-9",
                            "1000000.0001",
                            "1000001",
                            "1e7",
                            "1e308",
                            "18446744073709551616",
                            "-9223372036854775808",
                            R"("fast")",
                            R"("Manual")",
                            R"("MANUAL")",
                            R"("manual ")",
                            R"("")",
                            R"("5")",
                            R"("0")",
                            "true",
                            "false",
                            "null",
                            "[]",
                            "[1]",
                            "{}",
                            R"({"rate":1})"}) {
    SCOPED_TRACE(value);
    expect_event_error(std::string(R"({"admit_rate":)") + value + "}", bad);
  }
  // Beyond a double, JSON has no number at all.
  EXPECT_FALSE(parse_event_body(R"({"admit_rate":1e400})").ok());
}

TEST(ParseEventBody, DurationsAreWholeSecondsUpToAYear) {
  EXPECT_EQ(kMaxDurationS, 31536000);
  for (const char* name : {"hold_s", "waiter_ttl_s"}) {
    SCOPED_TRACE(name);
    auto body = [&](const std::string& v) { return "{\"" + std::string(name) + "\":" + v + "}"; };
    auto value = [&](const EventPatch& p) {
      return std::string(name) == "hold_s" ? p.hold_s : p.waiter_ttl_s;
    };
    for (int64_t v : {INT64_C(0), INT64_C(1), INT64_C(86400), kMaxDurationS}) {
      auto p = parse_event_body(body(std::to_string(v)));
      ASSERT_TRUE(p.ok()) << p.error;
      EXPECT_EQ(value(*p.value), v);
    }
    const std::string range = "\"" + std::string(name) + "\" must be between 0 and 31536000";
    for (const char* v :
         {"-1", "31536001", "9223372036854775807", "18446744073709551615", "-9223372036854775808"})
      expect_event_error(body(v), range);
    const std::string integer = "\"" + std::string(name) + "\" must be an integer";
    for (const char* v : {"1.5", "1.0", "1e3", R"("60")", "true", "null", "[60]", "{}"})
      expect_event_error(body(v), integer);
  }
}

// ------------------------------------------ admit_rate_text, parse_admit_rate --

TEST(AdmitRateText, ManualOrTheShortestNumber) {
  EXPECT_EQ(admit_rate_text(std::nullopt), "manual");
  EXPECT_EQ(admit_rate_text(0.0), "0");
  EXPECT_EQ(admit_rate_text(1.0), "1");
  EXPECT_EQ(admit_rate_text(2.5), "2.5");
  EXPECT_EQ(admit_rate_text(0.1), "0.1");
  EXPECT_EQ(admit_rate_text(123456.0), "123456");
  // The shortest text, which Lua's tonumber reads too.
  EXPECT_EQ(admit_rate_text(1e6), "1e+06");
  EXPECT_EQ(admit_rate_text(0.00001), "1e-05");
}

TEST(ParseAdmitRate, ReadsWhatTheScriptsStore) {
  auto manual = parse_admit_rate("manual");
  ASSERT_TRUE(manual.has_value());
  EXPECT_FALSE(manual->has_value());
  const std::pair<const char*, double> rates[] = {{"0", 0},       {"1", 1},         {"2.5", 2.5},
                                                  {"1e+06", 1e6}, {"1000000", 1e6}, {"1e-05", 1e-5},
                                                  {"0.25", 0.25}};
  for (auto [text, value] : rates) {
    SCOPED_TRACE(text);
    auto r = parse_admit_rate(text);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(**r, value);
  }
  for (const char* bad :
       {"",    "Manual", "manual ", " manual", "fast", "-1",       "-0.5", "1000000.5",
        "1e7", "inf",    "-inf",    "nan",     "NaN",  "infinity", " 1",   "1 ",
        "+1",  "1x",     "0x10",    "1,5",     "1e",   "."}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_admit_rate(bad).has_value());
  }
  EXPECT_FALSE(parse_admit_rate(std::string_view("1\0", 2)).has_value());
}

// What is sent to Redis is read back as the same value, for every rate a
// client may set.
TEST(ParseAdmitRate, RoundTripsAdmitRateText) {
  std::vector<std::optional<double>> rates = {std::nullopt,  0.0,       1.0,  2.5,    0.1,
                                              1.0 / 3,       2.0 / 3,   1e-9, 5e-324, 999999.999999,
                                              kMaxAdmitRate, 12345.678, 0.3};
  for (int i = 1; i <= 1000; ++i) rates.push_back(i * 0.017);
  for (const auto& rate : rates) {
    std::string text = admit_rate_text(rate);
    SCOPED_TRACE(text);
    auto back = parse_admit_rate(text);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, rate);
    // And through a PUT body: the text is also valid JSON for the number.
    if (rate) {
      auto p = parse_event_body(R"({"admit_rate":)" + text + "}");
      ASSERT_TRUE(p.ok()) << p.error;
      EXPECT_EQ(*p.value->admit_rate, rate);
    }
  }
}

// ----------------------------------------------------- parse_promote_limit --

void expect_limit(std::optional<std::string_view> text, int64_t value) {
  auto p = parse_promote_limit(text);
  ASSERT_TRUE(p.ok()) << "'" << text.value_or("(absent)") << "': " << p.error;
  EXPECT_EQ(*p.value, value) << "'" << text.value_or("(absent)") << "'";
}

void expect_limit_error(std::string_view text) {
  auto p = parse_promote_limit(text);
  EXPECT_FALSE(p.ok()) << "'" << text << "' accepted as " << p.value.value_or(-1);
  EXPECT_EQ(p.error, "limit must be a positive integer") << "'" << text << "'";
}

TEST(ParsePromoteLimit, AbsentMeansTheMaximum) {
  expect_limit(std::nullopt, 1000);
  EXPECT_EQ(kMaxPromoteLimit, 1000);
}

TEST(ParsePromoteLimit, PositiveIntegersCappedAtTheMaximum) {
  expect_limit("1", 1);
  expect_limit("5", 5);
  expect_limit("05", 5);
  expect_limit("999", 999);
  expect_limit("1000", 1000);
  expect_limit("1001", 1000);
  expect_limit("5000", 1000);
  expect_limit("9223372036854775807", 1000);
  expect_limit("99999999999999999999999", 1000);
}

TEST(ParsePromoteLimit, Refused) {
  for (const char* bad : {"0", "-1", "", "abc", "5x", " 5", "5 ", "+5", "0x10", "1.5", "1e3", "-0",
                          "-99999999999999999999999"}) {
    SCOPED_TRACE(bad);
    expect_limit_error(bad);
  }
  expect_limit_error(std::string_view("5\0", 2));
}

// A huge number is capped, but trailing garbage after it must still be
// refused like after any other number ("5x" is refused).
TEST(ParsePromoteLimit, HugeNumberWithTrailingGarbageIsRefused) {
  expect_limit_error("99999999999999999999999x");
  expect_limit_error("99999999999999999999999 ");
}

// ------------------------------------------------------------ make_uuid_v4 --

TEST(MakeUuidV4, CanonicalVersion4Form) {
  const std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<char> variants;
  for (int i = 0; i < 500; ++i) {
    std::string u = make_uuid_v4();
    ASSERT_EQ(u.size(), 36u) << u;
    ASSERT_TRUE(std::regex_match(u, form)) << u;
    EXPECT_EQ(u[14], '4') << u;
    variants.insert(u[19]);
    // A UUID is a valid user id (the server hands them out as such).
    EXPECT_TRUE(valid_user_id(u)) << u;
  }
  // All four variant digits show up in 500 draws (probability of a miss ~1e-62).
  EXPECT_EQ(variants, (std::set<char>{'8', '9', 'a', 'b'}));
}

TEST(MakeUuidV4, CallsDiffer) {
  EXPECT_NE(make_uuid_v4(), make_uuid_v4());
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(make_uuid_v4());
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace ticketq

namespace ticketq {
namespace {

// Leading zeros neither hide a small limit nor make zero valid.
TEST(ParsePromoteLimit, LeadingZerosAreReadAsTheNumberTheyPrefix) {
  EXPECT_EQ(*parse_promote_limit("0000000001").value, 1);
  EXPECT_EQ(*parse_promote_limit("00000000000000000000658").value, 658);
  EXPECT_EQ(*parse_promote_limit("007").value, 7);
  EXPECT_FALSE(parse_promote_limit("0000000000").ok());
  EXPECT_FALSE(parse_promote_limit("00").ok());
  EXPECT_EQ(*parse_promote_limit("000000000099999999999").value, kMaxPromoteLimit);
}

}  // namespace
}  // namespace ticketq
