// Micro-benchmarks of the metrics hot paths (inc/observe on a cached child, label lookup)
// and of a full /metrics exposition. Baseline in the same run: a bare relaxed
// std::atomic<uint64_t> increment (BM_RawAtomicIncrement), the floor a counter can reach.
//
//   build-*/bench/metrics_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "src/metrics/http_metrics.h"
#include "src/metrics/process_metrics.h"
#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"

namespace {

using sbx::metrics::Counter;
using sbx::metrics::Histogram;
using sbx::metrics::Registry;

// Shared by the threads of one multi-threaded benchmark run (benchmark's threads call the
// function concurrently, so the objects must outlive each call).
struct Shared {
  Registry registry;
  std::atomic<std::uint64_t> raw{0};
  Counter& counter = registry.counter("bench_ops_total", "Ops.");
  Histogram& histogram = registry.histogram("bench_latency_seconds", "Latency.",
                                            {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
};

Shared& shared() {
  static Shared s;
  return s;
}

void BM_RawAtomicIncrement(benchmark::State& state) {
  auto& raw = shared().raw;
  for (auto _ : state) raw.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_RawAtomicIncrement)->ThreadRange(1, 2)->UseRealTime();

void BM_CounterInc(benchmark::State& state) {
  Counter& c = shared().counter;
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc)->ThreadRange(1, 2)->UseRealTime();

void BM_CounterIncFractional(benchmark::State& state) {
  Counter& c = shared().counter;
  for (auto _ : state) c.inc(0.25);
}
BENCHMARK(BM_CounterIncFractional)->ThreadRange(1, 2)->UseRealTime();

void BM_GaugeAdd(benchmark::State& state) {
  static Registry registry;
  auto& g = registry.gauge("bench_level", "Level.");
  for (auto _ : state) g.add(1);
}
BENCHMARK(BM_GaugeAdd);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram& h = shared().histogram;
  // A spread of latencies so the binary search does not always take the same path.
  const double values[8] = {0.00007, 0.0003, 0.0009, 0.004, 0.02, 0.07, 0.3, 3};
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) h.observe(values[i++ & 7]);
}
BENCHMARK(BM_HistogramObserve)->ThreadRange(1, 2)->UseRealTime();

// What an HTTP handler pays when it does not cache the child: a lookup by three label
// values (shared lock + map search, no allocation) in a family of ~100 children.
void BM_LabelLookup(benchmark::State& state) {
  static Registry registry;
  static sbx::metrics::HttpMetrics http(registry);
  static const std::vector<std::string> routes = [] {
    std::vector<std::string> r;
    for (int i = 0; i < 25; ++i) r.push_back("/v1/route" + std::to_string(i) + "/{id}");
    return r;
  }();
  static const char* statuses[] = {"200", "202", "404", "409"};
  if (state.thread_index() == 0) {
    for (const auto& route : routes)
      for (const char* status : statuses) http.requests_total.with({"GET", route, status});
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    const std::string& route = routes[i % routes.size()];
    Counter& c = http.requests_total.with({"GET", route, statuses[i & 3]});
    benchmark::DoNotOptimize(&c);
    ++i;
  }
}
BENCHMARK(BM_LabelLookup)->ThreadRange(1, 2)->UseRealTime();

// A realistic scrape: the http/store/sandbox families with ~100 labelled children
// (50 counters, 50 histograms of 17 buckets), without (process:0) and with (process:1)
// the process metrics, which read /proc at each scrape.
void BM_Expose(benchmark::State& state) {
  Registry registry;
  sbx::metrics::HttpMetrics http(registry);
  sbx::metrics::StoreMetrics store(registry);
  sbx::metrics::SandboxMetrics sandbox(registry);
  std::optional<sbx::Result<sbx::metrics::ProcessMetrics>> process;
  if (state.range(0) != 0) process = sbx::metrics::ProcessMetrics::attach(registry);
  for (int i = 0; i < 50; ++i) {
    const std::string route = "/v1/route" + std::to_string(i) + "/{id}";
    http.requests_total.with({"GET", route, "200"}).inc(i);
    http.request_duration_seconds.with({"GET", route}).observe(0.001 * i);
  }
  store.event_append_duration_seconds.observe(0.002);
  sandbox.lifecycle_transitions_total.with({"Pending", "Running"}).inc();
  std::string out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    registry.expose_to(out);
    bytes = out.size();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Expose)->ArgName("process")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
