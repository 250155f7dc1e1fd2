#include "src/metrics/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "src/metrics/text_format.h"

namespace sbx::metrics {
namespace {

TEST(Registry, ExpositionMatchesTheGoldenTextIncludingEscapes) {
  Registry r;
  auto& requests = r.counter_family("test_requests_total", "Requests \\ handled\nby route.",
                                    {"method", "route"});
  requests.with({"GET", "/v1/a\"b\\c\nd"}).inc(3);
  requests.with({"DELETE", "/v1/x"}).inc();
  r.gauge("test_temperature_celsius", "Temperature.").set(-2.5);
  auto& latency = r.histogram_family("test_latency_seconds", "Latency.", {"op"}, {0.125, 0.5, 1});
  for (double v : {0.0625, 0.125, 0.75, 3.0}) latency.with({"read"}).observe(v);
  latency.with({"write\n"}).observe(0.5);

  EXPECT_EQ(r.expose(), R"(# HELP test_latency_seconds Latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{op="read",le="0.125"} 2
test_latency_seconds_bucket{op="read",le="0.5"} 2
test_latency_seconds_bucket{op="read",le="1"} 3
test_latency_seconds_bucket{op="read",le="+Inf"} 4
test_latency_seconds_sum{op="read"} 3.9375
test_latency_seconds_count{op="read"} 4
test_latency_seconds_bucket{op="write\n",le="0.125"} 0
test_latency_seconds_bucket{op="write\n",le="0.5"} 1
test_latency_seconds_bucket{op="write\n",le="1"} 1
test_latency_seconds_bucket{op="write\n",le="+Inf"} 1
test_latency_seconds_sum{op="write\n"} 0.5
test_latency_seconds_count{op="write\n"} 1
# HELP test_requests_total Requests \\ handled\nby route.
# TYPE test_requests_total counter
test_requests_total{method="DELETE",route="/v1/x"} 1
test_requests_total{method="GET",route="/v1/a\"b\\c\nd"} 3
# HELP test_temperature_celsius Temperature.
# TYPE test_temperature_celsius gauge
test_temperature_celsius -2.5
)");
  EXPECT_EQ(kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(Registry, FamiliesAreSortedByNameAndChildrenByLabelValues) {
  Registry r;
  auto& b = r.counter_family("b_total", "B.", {"k"});
  r.counter("a_total", "A.").inc();
  b.with({"zeta"}).inc();
  b.with({"alpha"}).inc();
  b.with({"Beta"}).inc();
  EXPECT_EQ(r.expose(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
            "# HELP b_total B.\n# TYPE b_total counter\n"
            "b_total{k=\"Beta\"} 1\nb_total{k=\"alpha\"} 1\nb_total{k=\"zeta\"} 1\n");
}

TEST(Registry, LabelledFamilyWithoutChildrenIsLeftOutButUnlabelledOneShowsZero) {
  Registry r;
  r.counter_family("labelled_total", "L.", {"k"});
  r.gauge("plain", "P.");
  EXPECT_EQ(r.expose(), "# HELP plain P.\n# TYPE plain gauge\nplain 0\n");
}

TEST(Registry, WithReturnsTheSameChildForTheSameLabelValues) {
  Registry r;
  auto& f = r.counter_family("x_total", "X.", {"a", "b"});
  Counter& c1 = f.with({"1", "2"});
  const std::vector<std::string> owned = {"1", "2"};
  Counter& c2 = f.with(owned);
  const std::vector<std::string_view> views = {"1", "2"};
  Counter& c3 = f.with(std::span<const std::string_view>(views));
  EXPECT_EQ(&c1, &c2);
  EXPECT_EQ(&c1, &c3);
  EXPECT_NE(&c1, &f.with({"2", "1"}));
  EXPECT_EQ(f.size(), 2u);
}

TEST(Registry, RegisteringTheSameDefinitionAgainReturnsTheExistingFamily) {
  Registry r;
  auto& f1 = r.histogram_family("h_seconds", "H.", {"op"}, {1, 2});
  auto& f2 = r.histogram_family("h_seconds", "H.", {"op"}, {1, 2});
  EXPECT_EQ(&f1, &f2);
  Counter& c1 = r.counter("c_total", "C.");
  Counter& c2 = r.counter("c_total", "C.");
  EXPECT_EQ(&c1, &c2);
}

TEST(RegistryDeathTest, ConflictingOrInvalidDefinitionsAbortWithTheMetricName) {
  Registry r;
  r.counter_family("c_total", "C.", {"a"});
  EXPECT_DEATH(r.counter_family("c_total", "C.", {"b"}), "c_total: already registered");
  EXPECT_DEATH(r.gauge("c_total", "C."), "c_total: already registered");
  EXPECT_DEATH(r.counter("c_total", "Other help."), "c_total: already registered");
  EXPECT_DEATH(r.counter("requests", "R."), "requests: counter names must end in _total");
  EXPECT_DEATH(r.gauge("bad-name", "B."), "invalid metric name");
  EXPECT_DEATH(r.gauge_family("g", "G.", {"__x"}), "invalid label name");
  EXPECT_DEATH(r.gauge_family("g", "G.", {"a", "a"}), "duplicate label name");
}

TEST(RegistryDeathTest, WrongNumberOfLabelValuesAborts) {
  Registry r;
  auto& f = r.counter_family("x_total", "X.", {"a", "b"});
  EXPECT_DEATH(f.with({"only-one"}), "x_total: wrong number of label values");
  EXPECT_DEATH(f.with({"1", "2", "3"}), "x_total: wrong number of label values");
}

TEST(Counter, IgnoresIncrementsThatWouldNotIncreaseIt) {
  Registry r;
  Counter& c = r.counter("c_total", "C.");
  c.inc();
  c.inc(2);
  c.inc(std::uint64_t{3});
  c.inc(0.5);
  c.inc(-4.0);
  c.inc(-4);
  c.inc(std::nan(""));
  c.inc(std::numeric_limits<double>::infinity());
  EXPECT_EQ(c.value(), 6.5);
}

TEST(Gauge, SetAddIncDec) {
  Registry r;
  Gauge& g = r.gauge("g", "G.");
  g.set(10);
  g.inc();
  g.dec();
  g.dec();
  g.add(0.25);
  EXPECT_EQ(g.value(), 9.25);
}

TEST(Registry, ConcurrentUpdatesGiveExactTotals) {
  Registry r;
  auto& counters = r.counter_family("ops_total", "Ops.", {"thread"});
  Counter& shared = r.counter("shared_total", "Shared.");
  Gauge& gauge = r.gauge("level", "Level.");
  Histogram& hist = r.histogram("size", "Size.", {1, 10, 100});
  constexpr int kThreads = 8;
  constexpr int kIterations = 100'000;
  std::atomic<bool> stop_scraping{false};
  std::thread scraper([&] {
    // Scraping while children are created and updated must be safe.
    while (!stop_scraping.load()) (void)r.expose();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string mine = std::to_string(t % 4);  // pairs of threads share a child
      for (int i = 0; i < kIterations; ++i) {
        counters.with({mine}).inc();
        shared.inc();
        shared.inc(0.5);
        gauge.inc();
        if (i % 2 == 1) gauge.dec();
        hist.observe(i % 200);
      }
    });
  }
  for (auto& th : threads) th.join();
  stop_scraping = true;
  scraper.join();

  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(counters.with({std::to_string(k)}).value(), 2.0 * kIterations) << k;
  }
  EXPECT_EQ(shared.value(), 1.5 * kThreads * kIterations);
  EXPECT_EQ(gauge.value(), kThreads * kIterations / 2.0);
  const auto s = hist.snapshot();
  EXPECT_EQ(s.count, std::uint64_t{kThreads} * kIterations);
  // Per thread: 500 cycles of 0..199; values <= 1: 2, <= 10: 11, <= 100: 101 per cycle.
  constexpr std::uint64_t kCycles = kThreads * (kIterations / 200);
  EXPECT_EQ(s.cumulative,
            (std::vector<std::uint64_t>{2 * kCycles, 11 * kCycles, 101 * kCycles, 200 * kCycles}));
  EXPECT_EQ(s.sum, static_cast<double>(kCycles) * (199 * 200 / 2));
}

TEST(RegistryCallback, SamplesAreSortedAndMalformedOnesDropped) {
  Registry r;
  auto handle = r.add_callback("live", "Live things.", MetricType::kGauge, {"state"}, [] {
    return std::vector<CallbackSample>{
        {{"Running"}, 3}, {{"Paused"}, 1}, {{"a", "b"}, 9}, {{"Running"}, 7}, {{}, 2}};
  });
  ASSERT_TRUE(handle.has_value()) << handle.error().message;
  EXPECT_EQ(r.expose(),
            "# HELP live Live things.\n# TYPE live gauge\n"
            "live{state=\"Paused\"} 1\nlive{state=\"Running\"} 3\n");
}

TEST(RegistryCallback, IsEvaluatedAtEachScrape) {
  Registry r;
  double value = 1;
  auto handle = r.add_callback("v", "V.", MetricType::kGauge, {}, [&] {
    return std::vector<CallbackSample>{{{}, value}};
  });
  ASSERT_TRUE(handle.has_value());
  EXPECT_EQ(r.expose(), "# HELP v V.\n# TYPE v gauge\nv 1\n");
  value = 42;
  EXPECT_EQ(r.expose(), "# HELP v V.\n# TYPE v gauge\nv 42\n");
}

TEST(RegistryCallback, DestroyingTheHandleUnregistersAndFreesTheName) {
  Registry r;
  int calls = 0;
  auto fn = [&] {
    ++calls;
    return std::vector<CallbackSample>{{{}, 1}};
  };
  {
    auto handle = r.add_callback("things_total", "T.", MetricType::kCounter, {}, fn);
    ASSERT_TRUE(handle.has_value());
    auto again = r.add_callback("things_total", "T.", MetricType::kCounter, {}, fn);
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
    CallbackHandle moved = std::move(*handle);
    EXPECT_FALSE(handle->active());
    EXPECT_TRUE(moved.active());
    (void)r.expose();
    EXPECT_EQ(calls, 1);
  }
  EXPECT_EQ(r.expose(), "");
  EXPECT_EQ(calls, 1);
  auto handle = r.add_callback("things_total", "T.", MetricType::kCounter, {}, fn);
  EXPECT_TRUE(handle.has_value());
}

TEST(RegistryCallback, NameTakenByAFamilyIsRejected) {
  Registry r;
  r.gauge("g", "G.");
  auto handle = r.add_callback("g", "G.", MetricType::kGauge, {},
                               [] { return std::vector<CallbackSample>{}; });
  ASSERT_FALSE(handle.has_value());
  EXPECT_EQ(handle.error().code, ErrorCode::kAlreadyExists);
}

TEST(RegistryCallback, InvalidDefinitionsAreRejected) {
  Registry r;
  auto none = [] { return std::vector<CallbackSample>{}; };
  EXPECT_EQ(r.add_callback("c", "C.", MetricType::kCounter, {}, none).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add_callback("h", "H.", MetricType::kHistogram, {}, none).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add_callback("bad name", "B.", MetricType::kGauge, {}, none).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add_callback("g", "G.", MetricType::kGauge, {"x-y"}, none).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add_callback("g", "G.", MetricType::kGauge, {}, nullptr).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(RegistryCallback, ThrowingOrEmptyCallbackLeavesOnlyItsFamilyOut) {
  Registry r;
  r.gauge("ok", "Ok.").set(1);
  auto throwing = r.add_callback(
      "boom", "B.", MetricType::kGauge, {},
      []() -> std::vector<CallbackSample> { throw std::runtime_error("source unavailable"); });
  auto empty = r.add_callback("empty", "E.", MetricType::kGauge, {},
                              [] { return std::vector<CallbackSample>{}; });
  ASSERT_TRUE(throwing.has_value());
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(r.expose(), "# HELP ok Ok.\n# TYPE ok gauge\nok 1\n");
}

}  // namespace
}  // namespace sbx::metrics
