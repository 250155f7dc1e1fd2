#include "src/workers/expirer.h"

#include <gtest/gtest.h>

#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

constexpr Micros kSecond = kMicrosPerSecond;

class ExpirerTest : public WorkerTest {};

TEST_F(ExpirerTest, DeletesTheSandboxAtItsDeadline) {
  metrics::Registry registry;
  metrics::SandboxMetrics sandbox_metrics(registry);
  Expirer expirer(store(), clock_, recorder(), fast_options(), &sandbox_metrics);
  ASSERT_TRUE(create("sb1", basic_spec(), clock_.now() + 60 * kSecond));
  ASSERT_TRUE(expirer.start().has_value());

  clock_.advance(59 * kSecond);
  EXPECT_EQ(*expirer.expire_due(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);

  clock_.advance(1 * kSecond);
  expirer.poke();
  ASSERT_TRUE(wait_state("sb1", SandboxState::kStopping));
  const auto events = stream("sandbox-sb1");
  EXPECT_EQ(events.back().type(), "DeletionRequested");
  EXPECT_EQ(events.back().reason, Reason::kExpired);
  EXPECT_EQ(events.back().actor, "worker:expirer");
  EXPECT_EQ(store().get_sandbox("sb1")->status_reason, "expired");
  EXPECT_TRUE(eventually([&] { return sandbox_metrics.expirations_total.value() == 1.0; }));
}

TEST_F(ExpirerTest, RenewalMovesTheDeadline) {
  Expirer expirer(store(), clock_, recorder(), fast_options());
  const Micros start = clock_.now();
  ASSERT_TRUE(create("sb1", basic_spec(), start + 60 * kSecond));
  ASSERT_TRUE(create("sb2", basic_spec(), start + 90 * kSecond));
  ASSERT_TRUE(expirer.start().has_value());

  clock_.set(start + 30 * kSecond);
  ASSERT_TRUE(run("sb1", RenewExpiration{start + 120 * kSecond}));
  clock_.set(start + 100 * kSecond);
  expirer.poke();
  ASSERT_TRUE(wait_state("sb2", SandboxState::kStopping));
  EXPECT_EQ(*expirer.expire_due(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);

  clock_.set(start + 120 * kSecond);
  expirer.poke();
  ASSERT_TRUE(wait_state("sb1", SandboxState::kStopping));
}

TEST_F(ExpirerTest, DeletesAtStartWhatExpiredWhileTheServerWasDown) {
  ASSERT_TRUE(create("sb1", basic_spec(), clock_.now() + 10 * kSecond));
  ASSERT_TRUE(create("sb2", basic_spec(), clock_.now() + 7200 * kSecond));
  ASSERT_TRUE(create("sb3"));  // manual cleanup: never expires
  reopen_store();              // the "restart"
  clock_.advance(3600 * kSecond);
  Expirer expirer(store(), clock_, recorder(), fast_options());
  ASSERT_TRUE(expirer.start().has_value());  // no poke: start alone must do it
  ASSERT_TRUE(wait_state("sb1", SandboxState::kStopping));
  EXPECT_EQ(*expirer.expire_due(), 0u);
  EXPECT_EQ(state_of("sb2"), SandboxState::kPending);
  EXPECT_EQ(state_of("sb3"), SandboxState::kPending);
}

TEST_F(ExpirerTest, WakesForANewEarlierDeadlineAndHitsItWithinASecond) {
  SystemClock system_clock;
  Recorder rec = make_recorder(store(), system_clock);
  Expirer expirer(store(), system_clock, rec, fast_options());
  ASSERT_TRUE(expirer.start().has_value());  // nothing to expire: it sleeps without deadline
  std::this_thread::sleep_for(20ms);

  const Micros deadline = system_clock.now() + 300'000;  // 300 ms
  ASSERT_TRUE(
      execute(store(), system_clock, "sb1", CreateSandbox{"sb1", basic_spec(), {}, deadline}));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kStopping, 3s));
  const Event last = stream("sandbox-sb1").back();
  EXPECT_GE(last.time, deadline);
  EXPECT_LT(last.time - deadline, 1 * kSecond);
}

TEST_F(ExpirerTest, ExpiresEachSandboxOnceAndSkipsDeletedOnes) {
  Expirer expirer(store(), clock_, recorder(), fast_options());
  ASSERT_TRUE(create("sb1", basic_spec(), clock_.now() + 5 * kSecond));
  ASSERT_TRUE(create("sb2", basic_spec(), clock_.now() + 5 * kSecond));
  ASSERT_TRUE(run("sb1", DeleteSandbox{}));  // leaves the expiry index
  clock_.advance(10 * kSecond);
  EXPECT_EQ(*expirer.expire_due(), 1u);
  EXPECT_EQ(state_of("sb2"), SandboxState::kStopping);
  EXPECT_EQ(events_of<DeletionRequested>("sandbox-sb1").size(), 1u);
  EXPECT_EQ(*expirer.expire_due(), 0u);
}

TEST_F(ExpirerTest, StopIsPrompt) {
  Expirer expirer(store(), clock_, recorder(), fast_options());
  ASSERT_TRUE(create("sb1", basic_spec(), clock_.now() + 3600 * kSecond));
  ASSERT_TRUE(expirer.start().has_value());
  std::this_thread::sleep_for(10ms);
  const auto begin = std::chrono::steady_clock::now();
  expirer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
}

}  // namespace
}  // namespace sbx::testing
