#include "src/workers/workers.h"

#include <gtest/gtest.h>

#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/worker_metrics.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

class WorkersTest : public WorkerTest {};

TEST_F(WorkersTest, RunSandboxesFromRequestToExpiryAndStopPromptly) {
  metrics::Registry registry;
  metrics::WorkerMetrics worker_metrics(registry);
  metrics::SandboxMetrics sandbox_metrics(registry);
  std::atomic<int> availability_calls{0};
  auto workers = std::make_unique<Workers>(store(), runtime_, clock_, recorder(), fast_options(),
                                           WorkerMetricsRefs{&worker_metrics, &sandbox_metrics},
                                           [&](bool) { ++availability_calls; });
  ASSERT_TRUE(workers->start().has_value());
  EXPECT_FALSE(workers->start().has_value());  // already started

  ASSERT_TRUE(create("sb1", basic_spec(), clock_.now() + 60 * kMicrosPerSecond));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));

  clock_.advance(61 * kMicrosPerSecond);
  workers->expirer().poke();
  ASSERT_TRUE(wait_state("sb1", std::nullopt));  // expired, removed, Terminated
  EXPECT_TRUE(runtime_.list()->empty());
  EXPECT_EQ(sandbox_metrics.expirations_total.value(), 1.0);
  EXPECT_EQ(availability_calls.load(), 0);

  ASSERT_TRUE(workers->provisioner().wait_until_done(store().head(), 5s));
  const auto begin = std::chrono::steady_clock::now();
  workers->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  EXPECT_EQ(*store().checkpoint("provisioner"), store().head());
  workers.reset();  // destructor after stop is fine
}

TEST_F(WorkersTest, StartAfterARestartPicksUpWhereTheLogIs) {
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(create("sb2", basic_spec(), clock_.now() + kMicrosPerSecond));
  clock_.advance(10 * kMicrosPerSecond);
  Workers workers(store(), runtime_, clock_, recorder(), fast_options());
  ASSERT_TRUE(workers.start().has_value());
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  ASSERT_TRUE(wait_state("sb2", std::nullopt));
  EXPECT_EQ(runtime_.list()->size(), 1u);
}

}  // namespace
}  // namespace sbx::testing
