#include "src/metrics/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "src/metrics/registry.h"

namespace sbx::metrics {
namespace {

TEST(Histogram, UpperBoundsAreInclusiveAndBucketsCumulative) {
  const std::vector<double> bounds = {0.125, 0.5, 1};
  Histogram h(bounds);
  h.observe(0.0625);
  h.observe(0.125);  // exactly on a bound: counted in le="0.125"
  h.observe(0.75);
  h.observe(3);
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 2, 3, 4}));
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.sum, 3.9375);
}

TEST(Histogram, CumulativeCountsNeverDecreaseAndEndAtTheCount) {
  const std::vector<double> bounds = exponential_buckets(0.001, 2, 12);
  Histogram h(bounds);
  for (int i = 0; i < 1000; ++i) h.observe((i % 97) * 0.0005);
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), bounds.size() + 1);
  for (std::size_t i = 1; i < s.cumulative.size(); ++i) {
    EXPECT_LE(s.cumulative[i - 1], s.cumulative[i]) << "bucket " << i;
  }
  EXPECT_EQ(s.cumulative.back(), 1000u);
  EXPECT_EQ(s.count, 1000u);
  // i % 97 in {0, 1, 2} gives 0, 0.0005, 0.001 (all <= 0.001); each residue below 30
  // occurs 11 times in 0..999.
  EXPECT_EQ(s.cumulative[0], 33u);
}

TEST(Histogram, NanAndValuesAboveTheLastBoundGoToInf) {
  const std::vector<double> bounds = {1, 2};
  Histogram h(bounds);
  h.observe(std::nan(""));
  h.observe(std::numeric_limits<double>::infinity());
  h.observe(2.0000001);
  h.observe(-5);  // below every bound: first bucket
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 1, 4}));
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(Histogram, WithoutBoundsOnlyTheInfBucketExists) {
  Histogram h(std::span<const double>{});
  h.observe(1);
  h.observe(2);
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(s.sum, 3);
}

TEST(Histogram, BucketHelpersProduceTheRequestedSeries) {
  EXPECT_EQ(exponential_buckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(linear_buckets(0.5, 0.5, 4), (std::vector<double>{0.5, 1, 1.5, 2}));
  EXPECT_TRUE(exponential_buckets(1, 2, 0).empty());
}

TEST(Histogram, ExpositionListsEveryBucketThenSumAndCount) {
  Registry r;
  auto& h = r.histogram("x_seconds", "X.", {0.25, 1, 2.5, std::numeric_limits<double>::infinity()});
  h.observe(0.25);
  h.observe(2);
  EXPECT_EQ(r.expose(),
            "# HELP x_seconds X.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.25\"} 1\n"
            "x_seconds_bucket{le=\"1\"} 1\n"
            "x_seconds_bucket{le=\"2.5\"} 2\n"
            "x_seconds_bucket{le=\"+Inf\"} 2\n"
            "x_seconds_sum 2.25\n"
            "x_seconds_count 2\n");
}

TEST(HistogramDeathTest, BoundsMustBeStrictlyIncreasingAndFinite) {
  Registry r;
  EXPECT_DEATH(r.histogram("a_seconds", "A.", {1, 1}), "strictly increasing");
  EXPECT_DEATH(r.histogram("b_seconds", "B.", {2, 1}), "strictly increasing");
  EXPECT_DEATH(r.histogram("c_seconds", "C.", {std::nan(""), 1}), "strictly increasing");
  EXPECT_DEATH(r.histogram_family("d_seconds", "D.", {"le"}, {1}), "reserved");
}

}  // namespace
}  // namespace sbx::metrics
