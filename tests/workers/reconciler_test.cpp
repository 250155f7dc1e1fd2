#include "src/workers/reconciler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

constexpr Micros kSecond = kMicrosPerSecond;

class ReconcilerTest : public WorkerTest {
 protected:
  // A Running sandbox with its container, as the provisioner would leave it.
  void make_running(const std::string& id) {
    ASSERT_TRUE(create(id));
    ContainerSpec spec;
    spec.sandbox_id = id;
    spec.image_uri = basic_spec().image_uri;
    spec.entrypoint = basic_spec().entrypoint;
    auto info = runtime_.create_and_start(spec);
    ASSERT_TRUE(info.has_value());
    ASSERT_TRUE(run(id, RecordStarted{info->runtime_id}));
    ASSERT_EQ(state_of(id), SandboxState::kRunning);
  }
  std::vector<ReconcileFinding> findings() {
    return events_of<ReconcileFinding>(std::string(kSystemStream));
  }
  // The last event of the sandbox's stream (also after it left the projection).
  Event last_event(const std::string& id) { return stream(stream_of(id)).back(); }
};

TEST_F(ReconcilerTest, ContainerThatExitedWithZeroIsRecordedTerminated) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 0));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_EQ(state_of("sb1"), std::nullopt);  // Terminated
  const auto terminated = std::get<SandboxTerminated>(last_event("sb1").data);
  EXPECT_EQ(terminated.exit_code, 0);
  ASSERT_EQ(findings().size(), 1u);
  EXPECT_EQ(findings()[0].kind, "died");
  EXPECT_EQ(findings()[0].sandbox_id, "sb1");
  EXPECT_EQ(stream(std::string(kSystemStream)).back().reason, Reason::kReconcile);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);  // nothing new
}

TEST_F(ReconcilerTest, ContainerThatExitedWithAnErrorIsRecordedFailedWithItsCode) {
  metrics::Registry registry;
  metrics::SandboxMetrics sandbox_metrics(registry);
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options(), {},
                        &sandbox_metrics);
  make_running("sb1");
  ASSERT_TRUE(run("sb1", PauseSandbox{}));
  ASSERT_TRUE(run("sb1", RecordPaused{}));
  ASSERT_TRUE(runtime_.pause("sb1"));
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 3));  // died while Paused
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  auto sb = store().get_sandbox("sb1");
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->state, SandboxState::kFailed);
  EXPECT_EQ(sb->status_reason, "SANDBOX::CONTAINER_EXITED");
  EXPECT_NE(sb->status_message.find("code 3"), std::string::npos);
  EXPECT_EQ(sb->exit_code, 3);
  EXPECT_EQ(sandbox_metrics.reconcile_findings_total.with({"died"}).value(), 1.0);
}

TEST_F(ReconcilerTest, OomKilledContainerIsRecordedFailed) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 137, /*oom_killed=*/true));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->state, SandboxState::kFailed);
  EXPECT_EQ(sb->status_reason, "SANDBOX::OOM_KILLED");
  EXPECT_EQ(sb->exit_code, 137);
  EXPECT_EQ(findings().at(0).kind, "oom_killed");
}

TEST_F(ReconcilerTest, VanishedContainerIsRecordedFailed) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_TRUE(runtime_.simulate_vanish("sb1"));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->state, SandboxState::kFailed);
  EXPECT_EQ(sb->status_reason, "SANDBOX::CONTAINER_VANISHED");
  EXPECT_NE(sb->status_message.find("container vanished"), std::string::npos);
  EXPECT_EQ(findings().at(0).kind, "vanished");
}

TEST_F(ReconcilerTest, OrphanContainerIsRemovedAndRecorded) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ContainerSpec spec;
  spec.sandbox_id = "ghost";
  spec.image_uri = basic_spec().image_uri;
  spec.entrypoint = basic_spec().entrypoint;
  auto ghost = runtime_.create_and_start(spec);
  ASSERT_TRUE(ghost.has_value());
  runtime_.add_foreign_container();  // not ours: never touched

  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_FALSE(runtime_.inspect("ghost")->has_value());
  EXPECT_TRUE(runtime_.inspect("sb1")->has_value());
  const auto removed = events_of<OrphanRemoved>(std::string(kSystemStream));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].sandbox_id, "ghost");
  EXPECT_EQ(removed[0].runtime_id, ghost->runtime_id);
  EXPECT_EQ(state_of("sb1"), SandboxState::kRunning);
}

// ---- several sandboxd on one engine --------------------------------------------------

constexpr char kOtherInstance[] = "0b6f3c9e-8d0a-4d7e-9a51-2f4c7e1d9b30";

TEST_F(ReconcilerTest, ContainersOfAnotherInstanceAreNeverRemovedOrReported) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_FALSE(store().instance_id().empty());
  ASSERT_NE(store().instance_id(), kOtherInstance);
  runtime_.add_container_of("theirs", kOtherInstance);  // a sandbox of another sandboxd
  clock_.advance(3600 * kSecond);                       // long past the orphan grace

  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(*reconciler.reconcile_sandbox("theirs"), 0u);
  ASSERT_TRUE(runtime_.simulate_exit("theirs", 1));
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(*reconciler.reconcile_sandbox("theirs"), 0u);
  EXPECT_TRUE(runtime_.inspect("theirs")->has_value());
  EXPECT_EQ(runtime_.calls("remove"), 0);
  EXPECT_TRUE(findings().empty());
  EXPECT_TRUE(events_of<OrphanRemoved>(std::string(kSystemStream)).empty());
  EXPECT_EQ(state_of("sb1"), SandboxState::kRunning);
}

TEST_F(ReconcilerTest, OurLiveSandboxWhoseNameIsTakenByAnotherInstanceCountsAsVanished) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_TRUE(runtime_.simulate_vanish("sb1"));
  runtime_.add_container_of("sb1", kOtherInstance);  // not ours: never paused, resumed, removed
  ASSERT_TRUE(runtime_.pause("sb1"));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_EQ(findings().at(0).kind, "vanished");
  EXPECT_EQ((*runtime_.inspect("sb1"))->state, ContainerState::kPaused);
  EXPECT_EQ(runtime_.calls("resume"), 0);
}

TEST_F(ReconcilerTest, RuntimeEventsOfAnotherInstanceAreIgnored) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  runtime_.add_container_of("theirs", kOtherInstance);
  ASSERT_TRUE(reconciler.start().has_value());
  // The first pass has listed (and, agreeing, looks no further); the watch is running.
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1 && runtime_.calls("list") >= 1; }));
  ASSERT_TRUE(runtime_.simulate_exit("theirs", 1));  // die
  ASSERT_TRUE(runtime_.simulate_vanish("theirs"));   // destroy
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 2));     // ours, after theirs in the stream
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  reconciler.stop();
  // Only our die was looked at (events arrive in order: theirs came first).
  EXPECT_EQ(runtime_.calls("inspect"), 1);
  EXPECT_EQ(runtime_.calls("remove"), 0);
}

TEST_F(ReconcilerTest, LegacyContainerOfASandboxInTheLogIsAdopted) {
  // Made by a version before instance labels: no instance id.
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  ASSERT_TRUE(create("old1"));
  const std::string runtime_id = runtime_.add_container_of("old1", "");
  ASSERT_TRUE(run("old1", RecordStarted{runtime_id}));
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);  // agrees: nothing to do
  EXPECT_TRUE(runtime_.inspect("old1")->has_value());

  // Tracked like one of ours: paused behind our back, it is unpaused; dead, it is recorded.
  ASSERT_TRUE(runtime_.pause("old1"));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_EQ((*runtime_.inspect("old1"))->state, ContainerState::kRunning);
  ASSERT_TRUE(runtime_.simulate_exit("old1", 3));
  EXPECT_EQ(*reconciler.reconcile_sandbox("old1"), 1u);
  EXPECT_EQ(state_of("old1"), SandboxState::kFailed);

  // And once its sandbox has ended, it is an orphan of ours, exactly as before.
  ASSERT_TRUE(create("old2"));
  const std::string id2 = runtime_.add_container_of("old2", "");
  ASSERT_TRUE(run("old2", RecordStarted{id2}));
  ASSERT_TRUE(run("old2", DeleteSandbox{}));
  ASSERT_TRUE(run("old2", RecordTerminated{}));  // container left behind
  clock_.advance(3600 * kSecond);
  EXPECT_GE(*reconciler.reconcile_once(), 1u);
  EXPECT_FALSE(runtime_.inspect("old2")->has_value());
  const auto removed = events_of<OrphanRemoved>(std::string(kSystemStream));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].sandbox_id, "old2");
}

TEST_F(ReconcilerTest, LegacyContainerWhoseSandboxIsNotInTheLogIsLeftAlone) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  runtime_.add_container_of("stranger", "");
  clock_.advance(3600 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(*reconciler.reconcile_sandbox("stranger"), 0u);
  EXPECT_TRUE(runtime_.inspect("stranger")->has_value());
  EXPECT_EQ(runtime_.calls("remove"), 0);
  EXPECT_TRUE(findings().empty());
  EXPECT_TRUE(events_of<OrphanRemoved>(std::string(kSystemStream)).empty());
}

TEST_F(ReconcilerTest, ContainerOfATerminatedSandboxIsAnOrphanOnlyAfterTheGrace) {
  WorkerOptions options = fast_options();
  options.orphan_grace = 60 * kSecond;
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options);
  make_running("sb1");
  ASSERT_TRUE(run("sb1", DeleteSandbox{}));
  ASSERT_TRUE(run("sb1", RecordTerminated{}));  // recorded, container left behind
  ASSERT_EQ(state_of("sb1"), std::nullopt);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);  // within the grace: the provisioner's job
  EXPECT_TRUE(runtime_.inspect("sb1")->has_value());
  clock_.advance(61 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_FALSE(runtime_.inspect("sb1")->has_value());
}

TEST_F(ReconcilerTest, PendingSandboxesAreLeftToTheProvisioner) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  ASSERT_TRUE(create("sb1"));
  clock_.advance(3600 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);
  EXPECT_TRUE(findings().empty());
}

TEST_F(ReconcilerTest, ContainerPausedOutsideIsUnpausedAndRecorded) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  ASSERT_TRUE(runtime_.pause("sb1"));
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_EQ((*runtime_.inspect("sb1"))->state, ContainerState::kRunning);
  EXPECT_EQ(state_of("sb1"), SandboxState::kRunning);
  EXPECT_EQ(findings().at(0).kind, "paused_outside");
}

TEST_F(ReconcilerTest, FailedWhilePendingIsCleanedUpAfterTheTtl) {
  WorkerOptions options = fast_options();
  options.pending_failure_ttl = 3600 * kSecond;
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options);
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(run("sb1", RecordProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "no image"}));
  make_running("sb2");
  ASSERT_TRUE(run("sb2", RecordFailed{"SANDBOX::CONTAINER_EXITED", "exited", 1}));  // had run

  clock_.advance(3599 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kFailed);

  clock_.advance(1 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  EXPECT_EQ(state_of("sb1"), std::nullopt);  // deleted: no longer listed
  const Event last = last_event("sb1");
  EXPECT_EQ(last.type(), "DeletionRequested");
  EXPECT_EQ(last.reason, Reason::kReconcile);
  EXPECT_EQ(findings().at(0).kind, "pending_failure_cleanup");
  EXPECT_EQ(state_of("sb2"), SandboxState::kFailed);  // failed after running: kept
}

TEST_F(ReconcilerTest, RuntimeEventsAreReconciledAsTheyHappen) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  make_running("sb1");
  make_running("sb2");
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1; }));
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 2));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(store().get_sandbox("sb1")->exit_code, 2);

  // The stream breaks; events after it are still seen once it reconnects.
  runtime_.break_watchers();
  ASSERT_TRUE(runtime_.simulate_vanish("sb2"));
  ASSERT_TRUE(wait_state("sb2", SandboxState::kFailed));
  EXPECT_EQ(store().get_sandbox("sb2")->status_reason, "SANDBOX::CONTAINER_VANISHED");
}

TEST_F(ReconcilerTest, ContainerThatDiedBeforeItsStartWasRecordedIsFoundAtTheStart) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1; }));
  ASSERT_TRUE(create("sb1"));
  ContainerSpec spec;
  spec.sandbox_id = "sb1";
  spec.image_uri = basic_spec().image_uri;
  spec.entrypoint = basic_spec().entrypoint;
  auto info = runtime_.create_and_start(spec);
  ASSERT_TRUE(info.has_value());
  // The process exits while the sandbox is still Pending: the die event is ignored then.
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 4));
  ASSERT_TRUE(eventually([&] { return runtime_.calls("inspect") >= 1; }));
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);
  // Recording the start makes the reconciler look again (the interval is an hour).
  ASSERT_TRUE(run("sb1", RecordStarted{info->runtime_id}));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(store().get_sandbox("sb1")->exit_code, 4);
}

TEST_F(ReconcilerTest, ReportsRuntimeAvailabilityChangesAndReconcilesOnComeback) {
  std::mutex mu;
  std::vector<bool> changes;
  auto on_availability = [&](bool up) {
    std::lock_guard lock(mu);
    changes.push_back(up);
  };
  auto seen = [&] {
    std::lock_guard lock(mu);
    return changes;
  };
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options(), on_availability);
  make_running("sb1");
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("ping") >= 1; }));
  EXPECT_TRUE(seen().empty());  // available from the start: no change to report
  EXPECT_TRUE(reconciler.runtime_available());

  runtime_.set_unreachable(true);
  ASSERT_TRUE(eventually([&] { return seen() == std::vector<bool>{false}; }));
  EXPECT_FALSE(reconciler.runtime_available());
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 0));  // happens while the engine is unreachable

  runtime_.set_unreachable(false);
  ASSERT_TRUE(eventually([&] { return seen() == std::vector<bool>{false, true}; }));
  // The reconcile interval is an hour: the comeback (its pass, or the resumed event stream)
  // finds what happened meanwhile.
  ASSERT_TRUE(wait_state("sb1", std::nullopt));
  ASSERT_TRUE(eventually([&] { return !findings().empty(); }));  // appended after the outcome
  EXPECT_EQ(findings().at(0).kind, "died");
}

TEST_F(ReconcilerTest, ListFailureMarksTheRuntimeUnavailable) {
  std::atomic<int> downs{0};
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options(),
                        [&](bool up) { downs += up ? 0 : 1; });
  runtime_.set_unreachable(true);
  auto r = reconciler.reconcile_once();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(downs.load(), 1);
  EXPECT_FALSE(reconciler.runtime_available());
  runtime_.set_unreachable(false);
  EXPECT_TRUE(reconciler.check_health());
  EXPECT_TRUE(reconciler.runtime_available());
}

TEST_F(ReconcilerTest, StopIsPrompt) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), fast_options());
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1; }));
  const auto begin = std::chrono::steady_clock::now();
  reconciler.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
}

// Runtimes that report readiness (Kubernetes): the provisioner only creates the workload;
// the reconciler records the start, or the failure with the workload's reason.
class ReadinessReconcilerTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    runtime_.set_reports_readiness(true);
  }
  WorkerOptions options() {
    WorkerOptions o = fast_options();
    o.error_code_prefix = "KUBERNETES";
    o.pending_timeout = 300 * kSecond;
    return o;
  }
  // A Pending sandbox whose workload exists but is not ready, as the provisioner leaves it.
  void make_created(const std::string& id) {
    ASSERT_TRUE(create(id));
    ContainerSpec spec;
    spec.sandbox_id = id;
    spec.image_uri = basic_spec().image_uri;
    spec.entrypoint = basic_spec().entrypoint;
    auto info = runtime_.create_and_start(spec);
    ASSERT_TRUE(info.has_value());
    ASSERT_FALSE(info->ready);
  }
};

TEST_F(ReadinessReconcilerTest, APendingSandboxBecomesRunningWhenItsWorkloadIsReady) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options());
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1; }));
  make_created("sb1");
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);
  ASSERT_TRUE(runtime_.simulate_ready("sb1", "10.1.2.3"));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->address, "10.1.2.3");
  EXPECT_EQ(sb->runtime_id, (*runtime_.inspect("sb1"))->runtime_id);
  EXPECT_EQ(last_event("sb1").actor, "worker:reconciler");
  EXPECT_TRUE(findings().empty());  // the expected outcome, not a finding
}

TEST_F(ReadinessReconcilerTest, AReadyWorkloadFoundByAPassIsRecordedToo) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options());
  make_created("sb1");
  ASSERT_TRUE(runtime_.simulate_ready("sb1", "10.1.2.4"));
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kRunning);
  EXPECT_EQ(store().get_sandbox("sb1")->address, "10.1.2.4");
}

TEST_F(ReadinessReconcilerTest, AWorkloadThatCanNeverStartFailsItsSandboxAtOnce) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options());
  ASSERT_TRUE(reconciler.start().has_value());
  ASSERT_TRUE(eventually([&] { return runtime_.calls("watch") >= 1; }));
  make_created("sb1");
  ASSERT_TRUE(runtime_.simulate_not_starting("sb1", "InvalidImageName",
                                             "couldn't parse image reference", true));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->status_reason, "KUBERNETES::POD_FAILED");
  EXPECT_NE(sb->status_message.find("InvalidImageName: couldn't parse image reference"),
            std::string::npos)
      << sb->status_message;
  // The finding is appended right after the outcome, on the reconciler's thread.
  ASSERT_TRUE(eventually([&] { return !findings().empty(); }));
  EXPECT_EQ(findings().at(0).kind, "failed_pending");
}

TEST_F(ReadinessReconcilerTest, AWorkloadPendingTooLongFailsWithItsLastReason) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options());
  make_created("sb1");
  ASSERT_TRUE(runtime_.simulate_not_starting("sb1", "ImagePullBackOff",
                                             "Back-off pulling image", false));
  clock_.advance(299 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 0u);
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);  // an image pull may still succeed
  clock_.advance(1 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  auto sb = store().get_sandbox("sb1");
  ASSERT_EQ(sb->state, SandboxState::kFailed);
  EXPECT_EQ(sb->status_reason, "KUBERNETES::PENDING_TIMEOUT");
  EXPECT_NE(sb->status_message.find("ImagePullBackOff: Back-off pulling image"),
            std::string::npos)
      << sb->status_message;
  EXPECT_EQ(findings().at(0).kind, "pending_timeout");
}

TEST_F(ReadinessReconcilerTest, APendingSandboxWithoutAWorkloadFailsAfterTheTimeout) {
  Reconciler reconciler(store(), runtime_, clock_, recorder(), options());
  ASSERT_TRUE(create("sb1"));  // the workload was never created (or deleted outside)
  clock_.advance(300 * kSecond);
  EXPECT_EQ(*reconciler.reconcile_once(), 1u);
  auto sb = store().get_sandbox("sb1");
  ASSERT_EQ(sb->state, SandboxState::kFailed);
  EXPECT_NE(sb->status_message.find("the runtime has no workload for it"), std::string::npos);
}

}  // namespace
}  // namespace sbx::testing
