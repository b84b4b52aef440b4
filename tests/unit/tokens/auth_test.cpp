// Tests of src/tokens/auth.cpp: token comparison and generation.
#include "tokens/auth.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ticketq {
namespace {

TEST(TokenMatches, EqualTokensMatch) {
  EXPECT_TRUE(token_matches("s3cret", "s3cret"));
  EXPECT_TRUE(token_matches("x", "x"));
  std::string long_token(4096, 'k');
  EXPECT_TRUE(token_matches(long_token, long_token));
}

TEST(TokenMatches, DifferentTokensDoNotMatch) {
  EXPECT_FALSE(token_matches("s3cret", "s3creT"));
  EXPECT_FALSE(token_matches("S3CRET", "s3cret"));
  EXPECT_FALSE(token_matches("t3cret", "s3cret"));
  EXPECT_FALSE(token_matches("s3cret ", "s3cret"));
  EXPECT_FALSE(token_matches(" s3cret", "s3cret"));
}

TEST(TokenMatches, PrefixOrLongerDoesNotMatch) {
  EXPECT_FALSE(token_matches("s3cre", "s3cret"));
  EXPECT_FALSE(token_matches("s", "s3cret"));
  EXPECT_FALSE(token_matches("", "s3cret"));
  EXPECT_FALSE(token_matches("s3cretX", "s3cret"));
  EXPECT_FALSE(token_matches("s3crets3cret", "s3cret"));
  // Embedded NUL: not a C-string comparison.
  EXPECT_FALSE(token_matches(std::string_view("s3cret\0x", 8), "s3cret"));
  EXPECT_FALSE(token_matches("s3cret", std::string_view("s3cret\0x", 8)));
  EXPECT_TRUE(token_matches(std::string_view("s3\0cret", 7), std::string_view("s3\0cret", 7)));
}

TEST(TokenMatches, EmptyExpectedNeverMatches) {
  EXPECT_FALSE(token_matches("", ""));
  EXPECT_FALSE(token_matches("anything", ""));
  EXPECT_FALSE(token_matches(std::string_view("\0", 1), ""));
}

TEST(GenerateToken, ThirtyTwoLowerHexDigits) {
  for (int i = 0; i < 100; ++i) {
    std::string t = generate_token();
    ASSERT_EQ(t.size(), 32u) << t;
    for (char c : t) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << t;
    EXPECT_TRUE(token_matches(t, t));
  }
}

TEST(GenerateToken, DiffersEachCall) {
  std::string a = generate_token(), b = generate_token();
  EXPECT_NE(a, b);
  EXPECT_FALSE(token_matches(a, b));
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(generate_token());
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace ticketq
