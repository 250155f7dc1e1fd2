#include "events/time.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

constexpr Micros kSec = kMicrosPerSecond;

TEST(Time, FormatsUtcWithSixFractionalDigits) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339(1'772'366'400'250'000), "2026-03-01T12:00:00.250000Z");
  EXPECT_EQ(format_rfc3339(1), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_rfc3339(951'782'400 * kSec), "2000-02-29T00:00:00.000000Z");
}

TEST(Time, ParsesUtcWithAndWithoutFraction) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2026-03-01T12:00:00.250000Z"), 1'772'366'400'250'000);
  EXPECT_EQ(parse_rfc3339("2026-03-01T12:00:00.25Z"), 1'772'366'400'250'000);
  EXPECT_EQ(parse_rfc3339("2026-03-01T12:00:00.000001Z"), 1'772'366'400'000'001);
  EXPECT_EQ(parse_rfc3339("2026-03-01t12:00:00z"), 1'772'366'400'000'000);
  EXPECT_EQ(parse_rfc3339("2026-03-01 12:00:00Z"), 1'772'366'400'000'000);
}

TEST(Time, FractionsBeyondMicrosecondsAreTruncated) {
  EXPECT_EQ(parse_rfc3339("2026-03-01T12:00:00.123456789Z"), 1'772'366'400'123'456);
}

TEST(Time, OffsetsAreNormalisedToUtc) {
  const auto utc = parse_rfc3339("2026-03-01T12:00:00Z");
  EXPECT_EQ(parse_rfc3339("2026-03-01T14:00:00+02:00"), utc);
  EXPECT_EQ(parse_rfc3339("2026-03-01T06:30:00-05:30"), utc);
  EXPECT_EQ(parse_rfc3339("2026-03-01T12:00:00+00:00"), utc);
  EXPECT_EQ(parse_rfc3339("2026-03-02T01:00:00+13:00"), utc);
  EXPECT_EQ(parse_rfc3339("2026-02-28T23:00:00.5-13:00"), *utc + kSec / 2);
}

TEST(Time, FormatThenParseRoundTrips) {
  for (Micros t : {Micros{0}, Micros{-1}, Micros{1}, Micros{1'772'366'400'250'000},
                   Micros{253'402'300'799'999'999} /* 9999-12-31T23:59:59.999999Z */,
                   Micros{951'868'799'999'999}, Micros{-2'208'988'800'000'000}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t) << format_rfc3339(t);
  }
  for (Micros t = 0; t < 400LL * 366 * 86400 * kSec; t += 7'777'777'777'777) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t) << format_rfc3339(t);
  }
}

TEST(Time, InvalidStringsAreRejected) {
  for (const char* bad : {"",
                          "2026",
                          "2026-03-01",
                          "2026-03-01T12:00:00",  // no zone
                          "2026-03-01T12:00Z",
                          "2026-3-01T12:00:00Z",
                          "2026-13-01T00:00:00Z",
                          "2026-00-01T00:00:00Z",
                          "2026-01-00T00:00:00Z",
                          "2026-01-32T00:00:00Z",
                          "2026-02-30T00:00:00Z",
                          "2025-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z",
                          "2026-03-01T24:00:00Z",
                          "2026-03-01T12:60:00Z",
                          "2026-03-01T12:00:61Z",
                          "2026-03-01T12:00:00.Z",
                          "2026-03-01T12:00:00+2:00",
                          "2026-03-01T12:00:00+0200",
                          "2026-03-01T12:00:00+24:00",
                          "2026-03-01T12:00:00Zjunk",
                          "2026-03-01X12:00:00Z",
                          "2026/03/01T12:00:00Z",
                          " 2026-03-01T12:00:00Z",
                          "2026-03-01T12:00:00 Z"}) {
    EXPECT_EQ(parse_rfc3339(bad), std::nullopt) << bad;
  }
}

TEST(Time, LeapDayIsAcceptedInLeapYears) {
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z").has_value());
  EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z").has_value());
}

}  // namespace
}  // namespace sbx
