// LogMetrics over a real store in a temp dir: every lifecycle transition is counted once,
// in order, also when one append carries several events of one sandbox, and the metrics
// follow the events, not the projection as it is when the listener runs.
#include "src/server/log_metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

class LogMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.path = dir_.str();
    o.sync = false;
    auto s = EventStore::open(o);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    log_metrics_.reset();
    if (store_) store_->close();
  }

  void start() { log_metrics_ = std::make_unique<LogMetrics>(*store_, store_m_, sandbox_m_); }

  void append(const std::string& id, std::uint64_t version, std::vector<Event> events) {
    AppendRequest a;
    a.stream = stream_of(id);
    a.expected = version == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(version);
    a.events = std::move(events);
    auto r = store_->append(std::move(a));
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  // Listeners may run just after append() returns; wait (bounded) until they saw `head`.
  void settle() {
    const double head = static_cast<double>(store_->head());
    for (int i = 0; i < 2000 && store_m_.log_head_position.value() < head; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(store_m_.log_head_position.value(), head);
  }

  double transitions(const std::string& from, const std::string& to) {
    return sandbox_m_.lifecycle_transitions_total.with({from, to}).value();
  }

  TempDir dir_;
  std::unique_ptr<EventStore> store_;
  metrics::Registry registry_;
  metrics::StoreMetrics store_m_{registry_};
  metrics::SandboxMetrics sandbox_m_{registry_};
  std::unique_ptr<LogMetrics> log_metrics_;
};

SandboxRequested requested(const std::string& id) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "img:1";
  r.expires_at = kT0 + 600 * kMicrosPerSecond;
  return r;
}

TEST_F(LogMetricsTest, EveryTransitionIsCountedOnceInOrder) {
  start();
  append("a", 0, {make_event(requested("a"), kT0)});
  append("a", 1, {make_event(SandboxStarted{"c1"}, kT0 + 2 * kMicrosPerSecond, Reason::kRuntime)});
  // Two events in one append: both transitions count, not only the final state.
  append("a", 2,
         {make_event(PauseRequested{}, kT0 + 3 * kMicrosPerSecond),
          make_event(SandboxPaused{}, kT0 + 4 * kMicrosPerSecond, Reason::kRuntime)});
  settle();
  EXPECT_EQ(transitions("None", "Pending"), 1);
  EXPECT_EQ(transitions("Pending", "Running"), 1);
  EXPECT_EQ(transitions("Running", "Pausing"), 1);
  EXPECT_EQ(transitions("Pausing", "Paused"), 1);
  EXPECT_EQ(transitions("Running", "Paused"), 0);
  EXPECT_EQ(sandbox_m_.time_to_running_seconds.snapshot().count, 1u);
  EXPECT_DOUBLE_EQ(sandbox_m_.time_to_running_seconds.snapshot().sum, 2.0);
  EXPECT_EQ(store_m_.events_appended_total.value(), 4);
}

TEST_F(LogMetricsTest, ExpiryDeletionCountsAnExpirationAndEndsInTerminated) {
  start();
  append("b", 0, {make_event(requested("b"), kT0)});
  append("b", 1, {make_event(SandboxStarted{"c2"}, kT0 + 1, Reason::kRuntime)});
  append("b", 2,
         {make_event(DeletionRequested{}, kT0 + 2, Reason::kExpired),
          make_event(SandboxTerminated{}, kT0 + 3, Reason::kRuntime)});
  settle();
  EXPECT_EQ(transitions("Running", "Stopping"), 1);
  EXPECT_EQ(transitions("Stopping", "Terminated"), 1);
  EXPECT_EQ(sandbox_m_.expirations_total.value(), 1);
}

TEST_F(LogMetricsTest, SandboxesFromBeforeTheStartContinueFromTheirProjectedState) {
  append("c", 0, {make_event(requested("c"), kT0)});
  append("c", 1, {make_event(SandboxStarted{"c3"}, kT0 + 1, Reason::kRuntime)});
  start();  // seeded from the projection: c is Running
  append("c", 2, {make_event(PauseRequested{}, kT0 + 2)});
  settle();
  EXPECT_EQ(transitions("None", "Pending"), 0);
  EXPECT_EQ(transitions("Running", "Pausing"), 1);
}

TEST_F(LogMetricsTest, DeletingAFailedSandboxCountsFailedToTerminated) {
  start();
  append("d", 0, {make_event(requested("d"), kT0)});
  append("d", 1,
         {make_event(ProvisioningFailed{"DOCKER::SANDBOX_IMAGE_PULL_FAILED", "no such image"},
                     kT0 + 1, Reason::kRuntime)});
  append("d", 2, {make_event(DeletionRequested{}, kT0 + 2)});
  settle();
  EXPECT_EQ(transitions("Pending", "Failed"), 1);
  EXPECT_EQ(transitions("Failed", "Terminated"), 1);
}

TEST_F(LogMetricsTest, PoolMembersAreNoClientSandboxesUntilClaimed) {
  start();
  append("a", 0, {make_event(requested("a"), kT0)});
  append("a", 1, {make_event(SandboxStarted{"c1"}, kT0 + kMicrosPerSecond, Reason::kRuntime)});
  SandboxRequested member = requested("m");
  member.spec.pool_name = "warm";
  member.expires_at.reset();
  append("m", 0, {make_event(member, kT0)});
  append("m", 1, {make_event(SandboxStarted{"c2"}, kT0 + kMicrosPerSecond, Reason::kRuntime)});
  settle();
  const auto running = [this] {
    const std::string text = registry_.expose();
    const std::string line = "sandboxd_sandboxes{state=\"Running\"} ";
    const auto at = text.find(line);
    return at == std::string::npos
               ? std::string("absent")
               : text.substr(at + line.size(), text.find('\n', at) - at - line.size());
  };
  EXPECT_EQ(running(), "1");
  // The member's warm-up is no client's wait: only "a" took time to run.
  EXPECT_EQ(sandbox_m_.time_to_running_seconds.snapshot().count, 1u);
  SandboxClaimed claim;
  claim.metadata = {{"owner", "x"}};
  claim.expires_at = kT0 + 900 * kMicrosPerSecond;
  append("m", 2, {make_event(claim, kT0 + 2 * kMicrosPerSecond)});
  settle();
  EXPECT_EQ(running(), "2");
}

}  // namespace
}  // namespace sbx
