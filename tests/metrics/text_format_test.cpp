#include "src/metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sbx::metrics {
namespace {

TEST(TextFormat, WholeNumbersAreWrittenWithoutExponentOrFraction) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(1e6), "1000000");
  EXPECT_EQ(format_value(123456789012345.0), "123456789012345");
  EXPECT_EQ(format_value(9007199254740991.0), "9007199254740991");
}

TEST(TextFormat, FractionsUseTheShortestRoundTripForm) {
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_value(0.0001), "0.0001");
  EXPECT_EQ(format_value(0.00025), "0.00025");
  EXPECT_EQ(format_value(-0.0005), "-0.0005");
  EXPECT_EQ(format_value(0.00005), "5e-05");
  EXPECT_EQ(format_value(1e-7), "1e-07");
  EXPECT_EQ(format_value(1234567.5), "1234567.5");
  EXPECT_EQ(format_value(1e17 + 0.0), "100000000000000000");
  EXPECT_EQ(format_value(1.5e20), "150000000000000000000");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(std::stod(format_value(1.0 / 3)), 1.0 / 3);
}

TEST(TextFormat, SpecialValuesUseThePrometheusSpelling) {
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(TextFormat, HelpEscapesBackslashAndNewlineOnly) {
  std::string out;
  append_escaped_help(out, "a\\b\nc\"d");
  EXPECT_EQ(out, "a\\\\b\\nc\"d");
}

TEST(TextFormat, LabelValuesEscapeBackslashQuoteAndNewline) {
  std::string out;
  append_escaped_label_value(out, "a\\b\nc\"d");
  EXPECT_EQ(out, "a\\\\b\\nc\\\"d");
}

TEST(TextFormat, LabelsAreWrittenInOrderWithTheExtraLabelLast) {
  const std::vector<std::string> names = {"method", "route"};
  const std::vector<std::string> values = {"GET", "/a\"b"};
  std::string out;
  append_labels(out, names, values);
  EXPECT_EQ(out, R"({method="GET",route="/a\"b"})");
  out.clear();
  append_labels(out, names, values, "le", "0.5");
  EXPECT_EQ(out, R"({method="GET",route="/a\"b",le="0.5"})");
  out.clear();
  append_labels(out, {}, {}, "le", "+Inf");
  EXPECT_EQ(out, R"({le="+Inf"})");
  out.clear();
  append_labels(out, {}, {});
  EXPECT_EQ(out, "");
}

TEST(TextFormat, MetricAndLabelNamesFollowThePrometheusRules) {
  EXPECT_TRUE(is_valid_metric_name("sandboxd_http_requests_total"));
  EXPECT_TRUE(is_valid_metric_name("job:rate5m"));
  EXPECT_TRUE(is_valid_metric_name("_x"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("1abc"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
  EXPECT_FALSE(is_valid_metric_name("a b"));

  EXPECT_TRUE(is_valid_label_name("route"));
  EXPECT_TRUE(is_valid_label_name("_x1"));
  EXPECT_FALSE(is_valid_label_name(""));
  EXPECT_FALSE(is_valid_label_name("__name__"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("9a"));
}

}  // namespace
}  // namespace sbx::metrics
