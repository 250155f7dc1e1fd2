#include "events/integer.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(ParseInt, WholeInputDecimalOnly) {
  EXPECT_EQ(parse_int("42"), 42);
  EXPECT_EQ(parse_int("-7"), -7);
  EXPECT_EQ(parse_int("0"), 0);
  EXPECT_EQ(parse_int("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", " 4", "4 ", "4x", "0x10", "1.5", "-", "9223372036854775808"}) {
    EXPECT_FALSE(parse_int(bad).has_value()) << bad;
  }
}

TEST(ParseInt, APlusSignOnlyWhereAllowed) {
  EXPECT_FALSE(parse_int("+5").has_value());
  EXPECT_EQ(parse_int("+5", SignPolicy::kAllowPlus), 5);
  EXPECT_EQ(parse_int("-5", SignPolicy::kAllowPlus), -5);
  for (const char* bad : {"+", "+-5", "++5", "+ 5"}) {
    EXPECT_FALSE(parse_int(bad, SignPolicy::kAllowPlus).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sbx
