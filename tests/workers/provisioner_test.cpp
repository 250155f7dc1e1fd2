#include "src/workers/provisioner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "events/codec.h"
#include "src/metrics/registry.h"
#include "src/metrics/worker_metrics.h"
#include "tests/support/corrupt_store.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

// A Runtime that forwards to the FakeRuntime and records every operation per sandbox, slows
// create down, and notices two operations of one sandbox running at the same time.
class RecordingRuntime final : public Runtime {
 public:
  RecordingRuntime(Runtime& inner, std::chrono::milliseconds create_delay)
      : inner_(inner), create_delay_(create_delay) {}

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) override {
    Guard g(*this, spec.sandbox_id, "create");
    if (on_create) on_create(spec.sandbox_id);
    std::this_thread::sleep_for(create_delay_);
    return inner_.create_and_start(spec);
  }
  Result<void> pause(const std::string& id) override {
    Guard g(*this, id, "pause");
    return inner_.pause(id);
  }
  Result<void> resume(const std::string& id) override {
    Guard g(*this, id, "resume");
    return inner_.resume(id);
  }
  Result<void> remove(const std::string& id) override {
    Guard g(*this, id, "remove");
    return inner_.remove(id);
  }
  Result<std::optional<ContainerStatus>> inspect(const std::string& id) override {
    return inner_.inspect(id);
  }
  Result<std::vector<ContainerStatus>> list() override { return inner_.list(); }
  Result<void> ping() override { return inner_.ping(); }
  Result<void> watch(std::optional<Micros> since, const EventCallback& cb,
                     std::stop_token stop) override {
    return inner_.watch(since, cb, stop);
  }

  std::map<std::string, std::vector<std::string>> ops() const {
    std::lock_guard lock(mu_);
    return ops_;
  }
  int overlaps() const { return overlaps_.load(); }
  // Called at the start of every create, on the provisioner's thread.
  std::function<void(const std::string&)> on_create;
  int max_parallel() const { return max_parallel_.load(); }

 private:
  struct Guard {
    Guard(RecordingRuntime& r, const std::string& id, const char* op) : r(r), id(id) {
      std::lock_guard lock(r.mu_);
      if (!r.busy_.insert(id).second) ++r.overlaps_;
      r.ops_[id].push_back(op);
      r.max_parallel_ = std::max<int>(r.max_parallel_, static_cast<int>(r.busy_.size()));
    }
    ~Guard() {
      std::lock_guard lock(r.mu_);
      r.busy_.erase(id);
    }
    RecordingRuntime& r;
    std::string id;
  };

  Runtime& inner_;
  std::chrono::milliseconds create_delay_;
  mutable std::mutex mu_;
  std::set<std::string> busy_;
  std::map<std::string, std::vector<std::string>> ops_;
  std::atomic<int> overlaps_{0};
  std::atomic<int> max_parallel_{0};
};

class ProvisionerTest : public WorkerTest {};

TEST_F(ProvisionerTest, CreatesTheContainerFromTheSpecAndRecordsRunning) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());

  SandboxSpec spec = basic_spec();
  spec.env = {{"A", "1"}};
  spec.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
  spec.network_mode = "bridge";
  spec.ports = {{44772, 40001}, {8080, 40002}};
  spec.platform = Platform{"linux", "amd64"};
  spec.image_auth_provided = true;
  ASSERT_TRUE(run("sb1", CreateSandbox{"sb1", spec, {{"team", "a"}}, std::nullopt}, "req-1",
                  SandboxSecrets{ImageAuth{"user-Rq2", "secret-Kw9"}}));

  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  auto sb = store().get_sandbox("sb1");
  auto container = runtime_.inspect("sb1");
  ASSERT_TRUE(container.has_value() && container->has_value());
  EXPECT_EQ(sb->runtime_id, (*container)->runtime_id);

  auto created = runtime_.last_spec("sb1");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->image_uri, spec.image_uri);
  EXPECT_EQ(created->entrypoint, spec.entrypoint);
  EXPECT_EQ(created->env, spec.env);
  EXPECT_EQ(created->limits.cpu, "500m");
  EXPECT_EQ(created->limits.memory, "512Mi");
  EXPECT_EQ(created->labels, (std::map<std::string, std::string>{{"team", "a"}}));
  EXPECT_EQ(created->network_mode, "bridge");
  EXPECT_EQ(created->ports,
            (std::map<std::uint16_t, std::uint16_t>{{44772, 40001}, {8080, 40002}}));
  ASSERT_TRUE(created->platform.has_value());
  EXPECT_EQ(created->platform->arch, "amd64");
  // The registry credentials came from the store's secrets area (the log has none), and
  // went with the SandboxStarted.
  ASSERT_TRUE(created->auth.has_value());
  EXPECT_EQ(created->auth->username, "user-Rq2");
  EXPECT_EQ(created->auth->password, "secret-Kw9");
  EXPECT_EQ(secrets_of("sb1"), std::nullopt);
  for (const auto& e : stream("sandbox-sb1")) {
    EXPECT_EQ(encode_event(e).find("secret-Kw9"), std::string::npos);
    EXPECT_EQ(encode_event(e).find("user-Rq2"), std::string::npos);
  }

  // The outcomes carry the worker as actor and the request id of the request.
  const auto events = stream("sandbox-sb1");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].type(), "ProvisioningStarted");
  EXPECT_EQ(events[2].type(), "SandboxStarted");
  EXPECT_EQ(events[2].actor, "worker:provisioner");
  EXPECT_EQ(events[2].request_id, "req-1");
  EXPECT_EQ(runtime_.calls("create_and_start"), 1);
}

TEST_F(ProvisionerTest, CredentialsAreDeletedWhenProvisioningFails) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  runtime_.add_missing_image("registry.invalid/gone:1");
  SandboxSpec spec = basic_spec();
  spec.image_uri = "registry.invalid/gone:1";
  ASSERT_TRUE(create_with_auth("sb1", ImageAuth{"u", "p"}, spec));
  EXPECT_TRUE(secrets_of("sb1").has_value());
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(secrets_of("sb1"), std::nullopt);
}

TEST_F(ProvisionerTest, CredentialsAreDeletedWhenAPendingSandboxIsDeleted) {
  // No provisioner: the sandbox stays Pending until the user deletes it.
  ASSERT_TRUE(create_with_auth("sb1", ImageAuth{"u", "p"}));
  EXPECT_TRUE(secrets_of("sb1").has_value());
  ASSERT_TRUE(run("sb1", DeleteSandbox{Reason::kUser}));
  EXPECT_EQ(state_of("sb1"), SandboxState::kStopping);
  EXPECT_EQ(secrets_of("sb1"), std::nullopt);
}

TEST_F(ProvisionerTest, ASandboxWhoseCredentialsAreMissingFailsInsteadOfPullingWithout) {
  // A store restored without its secrets area, say: the request names credentials the
  // store does not have.
  SandboxSpec spec = basic_spec();
  spec.image_auth_provided = true;
  ASSERT_TRUE(create("sb1", spec));
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(runtime_.calls("create_and_start"), 0);
  const auto failed = events_of<ProvisioningFailed>("sandbox-sb1");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].message.find("credentials"), std::string::npos) << failed[0].message;
}

TEST_F(ProvisionerTest, PausesResumesAndDeletes) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));

  ASSERT_TRUE(run("sb1", PauseSandbox{}));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kPaused));
  EXPECT_EQ((*runtime_.inspect("sb1"))->state, ContainerState::kPaused);

  ASSERT_TRUE(run("sb1", ResumeSandbox{}));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  EXPECT_EQ((*runtime_.inspect("sb1"))->state, ContainerState::kRunning);

  ASSERT_TRUE(run("sb1", DeleteSandbox{}));
  ASSERT_TRUE(wait_state("sb1", std::nullopt));  // Terminated leaves the projection
  EXPECT_FALSE(runtime_.inspect("sb1")->has_value());
  EXPECT_EQ(stream("sandbox-sb1").back().type(), "SandboxTerminated");
}

// The log records which named volumes sandboxd created (SandboxStarted.createdVolumes);
// the deletion removes those whose pvc says deleteOnSandboxTermination, and only those.
TEST_F(ProvisionerTest, DeletionRemovesOnlyCreatedVolumesMarkedDeleteOnTermination) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  SandboxSpec spec = basic_spec();
  spec.volumes_json = R"([
    {"name":"a","mountPath":"/a","pvc":{"claimName":"scratch","deleteOnSandboxTermination":true}},
    {"name":"b","mountPath":"/b","pvc":{"claimName":"keep"}},
    {"name":"c","mountPath":"/c","pvc":{"claimName":"shared","createIfNotExists":false,
                                        "deleteOnSandboxTermination":true}}])";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  auto started = stream("sandbox-sb1");
  const SandboxStarted* s = nullptr;
  for (const auto& e : started) {
    if (auto* p = std::get_if<SandboxStarted>(&e.data)) s = p;
  }
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->created_volumes, (std::vector<std::string>{"scratch", "keep"}));
  ASSERT_EQ(runtime_.last_spec("sb1")->volumes.size(), 3u);

  ASSERT_TRUE(run("sb1", DeleteSandbox{}));
  ASSERT_TRUE(wait_state("sb1", std::nullopt));
  // "keep" is not marked; "shared" was not created by sandboxd.
  EXPECT_EQ(runtime_.removed_volumes("sb1"), std::vector<std::string>{"scratch"});
}

// Deleted before its start was recorded: no createdVolumes in the log, so every pvc with
// deleteOnSandboxTermination is named and the runtime's labels decide.
TEST_F(ProvisionerTest, DeletionBeforeAnyStartNamesEveryVolumeMarkedDeleteOnTermination) {
  SandboxSpec spec = basic_spec();
  spec.volumes_json = R"([
    {"name":"a","mountPath":"/a","pvc":{"claimName":"scratch","deleteOnSandboxTermination":true}},
    {"name":"b","mountPath":"/b","pvc":{"claimName":"keep"}}])";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(run("sb1", DeleteSandbox{}));  // Pending -> Stopping before any worker ran
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(wait_state("sb1", std::nullopt));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  EXPECT_EQ(runtime_.removed_volumes("sb1"), std::vector<std::string>{"scratch"});
}

TEST_F(ProvisionerTest, PauseOfAnExitedContainerRecordsPauseFailed) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  ASSERT_TRUE(runtime_.simulate_exit("sb1", 1));
  ASSERT_TRUE(run("sb1", PauseSandbox{}));
  // PauseFailed returns the sandbox to Running, with the reason recorded.
  ASSERT_TRUE(eventually([&] { return !events_of<PauseFailed>("sandbox-sb1").empty(); }));
  EXPECT_EQ(state_of("sb1"), SandboxState::kRunning);
  EXPECT_EQ(store().get_sandbox("sb1")->status_reason, "pause_failed");
}

TEST_F(ProvisionerTest, KeepsPerSandboxOrderWithManySandboxesAndThreads) {
  RecordingRuntime recording(runtime_, 20ms);
  // Each sandbox is deleted while its container is being created. The deletion must wait
  // for the create (same thread, log order); if it ran beside or before it, the removal
  // would overlap the create and leave a container behind.
  std::atomic<int> delete_failures{0};
  recording.on_create = [&](const std::string& id) {
    if (!run(id, DeleteSandbox{})) ++delete_failures;
  };
  WorkerOptions options = fast_options();
  options.provisioners = 4;
  Provisioner provisioner(store(), recording, recorder(), options);
  ASSERT_TRUE(provisioner.start().has_value());
  constexpr int kSandboxes = 12;
  for (int i = 0; i < kSandboxes; ++i) ASSERT_TRUE(create("sb" + std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return store().live_sandbox_count() == 0; }, 20s));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 20s));

  EXPECT_EQ(delete_failures.load(), 0);
  EXPECT_EQ(recording.overlaps(), 0);
  EXPECT_GT(recording.max_parallel(), 1) << "sandboxes should be handled in parallel";
  EXPECT_TRUE(runtime_.list()->empty()) << "a removal overtook its create";
  const auto ops = recording.ops();
  EXPECT_EQ(ops.size(), static_cast<std::size_t>(kSandboxes));
  for (const auto& [id, sandbox_ops] : ops) {
    EXPECT_EQ(sandbox_ops, (std::vector<std::string>{"create", "remove"})) << id;
  }
}

TEST_F(ProvisionerTest, FullLifecyclesOfManySandboxesRunInOrder) {
  RecordingRuntime recording(runtime_, 1ms);
  Provisioner provisioner(store(), recording, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  constexpr int kSandboxes = 20;
  auto all_in = [&](SandboxState s) {
    for (int i = 0; i < kSandboxes; ++i) {
      if (state_of("sb" + std::to_string(i)) != s) return false;
    }
    return true;
  };
  for (int i = 0; i < kSandboxes; ++i) ASSERT_TRUE(create("sb" + std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return all_in(SandboxState::kRunning); }));
  for (int i = 0; i < kSandboxes; ++i) ASSERT_TRUE(run("sb" + std::to_string(i), PauseSandbox{}));
  ASSERT_TRUE(eventually([&] { return all_in(SandboxState::kPaused); }));
  for (int i = 0; i < kSandboxes; ++i) ASSERT_TRUE(run("sb" + std::to_string(i), ResumeSandbox{}));
  ASSERT_TRUE(eventually([&] { return all_in(SandboxState::kRunning); }));
  for (int i = 0; i < kSandboxes; ++i) ASSERT_TRUE(run("sb" + std::to_string(i), DeleteSandbox{}));
  ASSERT_TRUE(eventually([&] { return store().live_sandbox_count() == 0; }));
  EXPECT_EQ(recording.overlaps(), 0);
  for (const auto& [id, ops] : recording.ops()) {
    EXPECT_EQ(ops, (std::vector<std::string>{"create", "pause", "resume", "remove"})) << id;
  }
}

TEST_F(ProvisionerTest, RetriesTransientFailuresThenSucceeds) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  runtime_.fail_next(3, ErrorCode::kUnavailable);
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  EXPECT_EQ(runtime_.calls("create_and_start"), 4);
}

TEST_F(ProvisionerTest, TransientFailuresThatPersistRecordFailedWithTheReason) {
  WorkerOptions options = fast_options();
  options.runtime_retry.max_attempts = 3;
  Provisioner provisioner(store(), runtime_, recorder(), options);
  runtime_.fail_next(1000, ErrorCode::kDeadlineExceeded);
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->status_reason, "DOCKER::INITIALIZATION_ERROR");
  EXPECT_NE(sb->status_message.find("failed 3 times"), std::string::npos) << sb->status_message;
  EXPECT_NE(sb->status_message.find("injected failure"), std::string::npos) << sb->status_message;
  EXPECT_EQ(runtime_.calls("create_and_start"), 3);
}

TEST_F(ProvisionerTest, PermanentFailureFailsAtOnceWithTheRuntimeCode) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  runtime_.add_missing_image("nope:1");
  SandboxSpec spec = basic_spec();
  spec.image_uri = "nope:1";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  auto sb = store().get_sandbox("sb1");
  EXPECT_EQ(sb->status_reason, "DOCKER::IMAGE_NOT_FOUND");
  EXPECT_NE(sb->status_message.find("nope:1"), std::string::npos);
  EXPECT_FALSE(sb->status_message.starts_with("DOCKER::")) << sb->status_message;
  EXPECT_EQ(runtime_.calls("create_and_start"), 1);
}

TEST_F(ProvisionerTest, SpecTheRuntimeCannotHonourFailsAsInvalidParameter) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  SandboxSpec spec = basic_spec();
  spec.volumes_json = R"([{"name":"v","ossfs":{"bucket":"b"},"mountPath":"/data"}])";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(store().get_sandbox("sb1")->status_reason, "SANDBOX::INVALID_PARAMETER");
  EXPECT_EQ(runtime_.calls("create_and_start"), 0);
}

// Cluster-managed pools (issue 14): the SandboxRequested's spec.pool_ref reaches the runtime
// as ContainerSpec::pool_ref (the runtime takes the sandbox's pod from that pool).
TEST_F(ProvisionerTest, PoolRefIsHandedToTheRuntime) {
  runtime_.set_manages_pools(true);
  RuntimePoolSpec pool;
  pool.name = "web";
  pool.generation = 1;
  pool.template_spec.image_uri = basic_spec().image_uri;
  pool.template_spec.entrypoint = basic_spec().entrypoint;
  pool.capacity = PoolCapacity{1, 2, 0, 4};
  ASSERT_TRUE(runtime_.apply_pool(pool));
  ASSERT_TRUE(runtime_.set_pool_status("web", 2, 0, 2));
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());

  SandboxSpec spec = basic_spec();
  spec.pool_ref = "web";
  ASSERT_TRUE(create("sb1", spec, clock_.now() + 60 * kMicrosPerSecond));
  SandboxSpec plain = basic_spec();
  ASSERT_TRUE(create("sb2", plain));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  ASSERT_TRUE(wait_state("sb2", SandboxState::kRunning));
  ASSERT_TRUE(runtime_.last_spec("sb1"));
  EXPECT_EQ(runtime_.last_spec("sb1")->pool_ref, "web");
  EXPECT_EQ(runtime_.last_spec("sb1")->image_uri, spec.image_uri);
  EXPECT_EQ(runtime_.last_spec("sb1")->expires_at, clock_.now() + 60 * kMicrosPerSecond);
  EXPECT_EQ(runtime_.last_spec("sb2")->pool_ref, "");
  // The fake's "controller" gave sb1 one of the pool's pods.
  auto pools = runtime_.list_pools();
  ASSERT_TRUE(pools);
  ASSERT_EQ(pools->size(), 1u);
  EXPECT_EQ((*pools)[0].available, 1);
  EXPECT_EQ((*pools)[0].allocated, 1);
}

TEST_F(ProvisionerTest, PoolRefOnARuntimeWithoutPoolsFailsAsInvalidParameter) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  SandboxSpec spec = basic_spec();
  spec.pool_ref = "web";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  EXPECT_EQ(store().get_sandbox("sb1")->status_reason, "SANDBOX::INVALID_PARAMETER");
  EXPECT_NE(store().get_sandbox("sb1")->status_message.find("pool"), std::string::npos)
      << store().get_sandbox("sb1")->status_message;
}

TEST_F(ProvisionerTest, RestartFromCheckpointRedoesAnUnfinishedCreateOnce) {
  // The request is in the log; the previous process created the container and died before
  // recording the outcome.
  ASSERT_TRUE(create("sb1"));
  auto spec = ContainerSpec{};
  spec.sandbox_id = "sb1";
  spec.image_uri = basic_spec().image_uri;
  spec.entrypoint = basic_spec().entrypoint;
  auto first = runtime_.create_and_start(spec);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*store().checkpoint("provisioner"), 0u);

  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  EXPECT_EQ(store().get_sandbox("sb1")->runtime_id, first->runtime_id);
  EXPECT_EQ(runtime_.list()->size(), 1u);
  EXPECT_EQ(events_of<SandboxStarted>("sandbox-sb1").size(), 1u);
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  provisioner.stop();
  EXPECT_EQ(*store().checkpoint("provisioner"), store().head());
}

TEST_F(ProvisionerTest, RestartResumesFromThePersistedCheckpoint) {
  {
    Provisioner provisioner(store(), runtime_, recorder(), fast_options());
    ASSERT_TRUE(provisioner.start().has_value());
    ASSERT_TRUE(create("sb1"));
    ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
    ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  }
  const std::uint64_t saved = *store().checkpoint("provisioner");
  EXPECT_GE(saved, 3u);
  reopen_store();
  EXPECT_EQ(*store().checkpoint("provisioner"), saved);

  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb2"));
  ASSERT_TRUE(wait_state("sb2", SandboxState::kRunning));
  EXPECT_EQ(runtime_.calls("create_and_start"), 2);  // sb1 was not redone
  EXPECT_EQ(events_of<ProvisioningStarted>("sandbox-sb1").size(), 1u);
}

TEST_F(ProvisionerTest, ReplayedRequestOfADeletedSandboxCreatesNothing) {
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(run("sb1", DeleteSandbox{}));  // Pending -> Stopping before any worker ran
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(wait_state("sb1", std::nullopt));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  EXPECT_EQ(runtime_.calls("create_and_start"), 0);
  EXPECT_EQ(runtime_.calls("remove"), 1);
  EXPECT_TRUE(runtime_.list()->empty());
  EXPECT_EQ(stream("sandbox-sb1").back().type(), "SandboxTerminated");
}

TEST_F(ProvisionerTest, DeletionOfAFailedSandboxRemovesWhatIsLeft) {
  runtime_.add_missing_image("nope:1");
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  SandboxSpec spec = basic_spec();
  spec.image_uri = "nope:1";
  ASSERT_TRUE(create("sb1", spec));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kFailed));
  ASSERT_TRUE(run("sb1", DeleteSandbox{}));
  ASSERT_TRUE(wait_state("sb1", std::nullopt));  // deleted while Failed
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  EXPECT_EQ(runtime_.calls("remove"), 1);
}

TEST_F(ProvisionerTest, ExposesLagAndCheckpointMetrics) {
  metrics::Registry registry;
  metrics::WorkerMetrics worker_metrics(registry);
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(create("sb2"));
  Provisioner provisioner(store(), runtime_, recorder(), fast_options(), &worker_metrics);
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  ASSERT_TRUE(wait_state("sb2", SandboxState::kRunning));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 5s));
  auto& checkpoint = worker_metrics.worker_checkpoint_position.with({"provisioner"});
  auto& lag = worker_metrics.worker_lag_events.with({"provisioner"});
  ASSERT_TRUE(eventually([&] {
    return checkpoint.value() == static_cast<double>(store().head()) && lag.value() == 0;
  }));
  EXPECT_EQ(provisioner.lag(), 0u);
}

TEST_F(ProvisionerTest, StopInterruptsABackoffAndLeavesTheRequestUndone) {
  WorkerOptions options = fast_options();
  options.runtime_retry = BackoffOptions{10s, 10s, 100, std::chrono::minutes(10)};
  Provisioner provisioner(store(), runtime_, recorder(), options);
  runtime_.set_unreachable(true);
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(create("sb1"));
  ASSERT_TRUE(eventually([&] { return runtime_.calls("create_and_start") == 1; }));
  const auto begin = std::chrono::steady_clock::now();
  provisioner.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  // The request is not done: the checkpoint stays before it, so a restart redoes it.
  const auto requested_at = stream("sandbox-sb1").front().position;
  EXPECT_LT(*store().checkpoint("provisioner"), requested_at);
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);
}

// Issue 10 item 8: an event that does not decode used to stop the provisioner for good
// (every later create stayed Pending). It is skipped; its sandbox is marked Failed.
TEST_F(ProvisionerTest, SkipsACorruptEventMarksItsSandboxFailedAndProvisionsTheRest) {
  ASSERT_TRUE(create("a"));  // position 1
  ASSERT_TRUE(create("b"));  // position 2
  ASSERT_TRUE(create("c"));  // position 3
  store_.reset();
  corrupt_event((dir_ / "data").string(), 2);
  open_store();

  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start());
  EXPECT_TRUE(wait_state("a", SandboxState::kRunning));
  EXPECT_TRUE(wait_state("c", SandboxState::kRunning));
  EXPECT_TRUE(wait_state("b", SandboxState::kFailed));
  auto b = store().get_sandbox("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status_reason, "STORE::CORRUPT_EVENT");
  EXPECT_EQ(b->status_message, "corrupt event at position 2");
  ASSERT_TRUE(create("d"));  // later creates progress too
  EXPECT_TRUE(wait_state("d", SandboxState::kRunning));
  EXPECT_TRUE(provisioner.wait_until_done(store().head(), std::chrono::seconds(10)));
  provisioner.stop();
  EXPECT_GE(provisioner.checkpoint(), 3u);  // past the corrupt position
  EXPECT_EQ(store().corrupt_events_found(), 1u);
}

// Fault-injection suite: a runtime call that never returns (a hung engine; the real
// runtime bounds it with docker.api_timeout) holds only the provisioner thread its sandbox
// hashes to. The creates of sandboxes on the other threads progress meanwhile.
TEST_F(ProvisionerTest, OneHungRuntimeCallDoesNotBlockTheOtherProvisionerThreads) {
  RecordingRuntime recording(runtime_, 0ms);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  recording.on_create = [&](const std::string& id) {
    if (id != "hung") return;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
  };
  WorkerOptions options = fast_options();
  options.provisioners = 4;
  Provisioner provisioner(store(), recording, recorder(), options);
  ASSERT_TRUE(provisioner.start());
  ASSERT_TRUE(create("hung"));
  ASSERT_TRUE(eventually([&] { return recording.ops().contains("hung"); }));
  // Sandboxes that the dispatcher routes to other threads (hash of the id, as it does).
  const auto queue_of = [](const std::string& id) { return std::hash<std::string>{}(id) % 4; };
  std::vector<std::string> others;
  for (int i = 0; others.size() < 6; ++i) {
    const std::string id = "other-" + std::to_string(i);
    if (queue_of(id) != queue_of("hung")) others.push_back(id);
  }
  for (const auto& id : others) ASSERT_TRUE(create(id));
  for (const auto& id : others) EXPECT_TRUE(wait_state(id, SandboxState::kRunning)) << id;
  EXPECT_EQ(state_of("hung"), SandboxState::kPending);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(wait_state("hung", SandboxState::kRunning));
  provisioner.stop();
}

TEST_F(ProvisionerTest, ARuntimeThatReportsReadinessLeavesTheSandboxPendingAfterTheCreate) {
  runtime_.set_reports_readiness(true);
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(run("sb1", CreateSandbox{"sb1", basic_spec(), {}, std::nullopt}));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 10s));
  EXPECT_EQ(runtime_.calls("create_and_start"), 1);
  // The workload exists but is not ready: only the provisioning start is recorded; the
  // reconciler records the start when the runtime reports readiness.
  EXPECT_EQ(state_of("sb1"), SandboxState::kPending);
  const auto events = stream("sandbox-sb1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type(), "ProvisioningStarted");
}

TEST_F(ProvisionerTest, ARenewalIsPassedToTheRuntimeWhileItIsTheSandboxsExpiry) {
  Provisioner provisioner(store(), runtime_, recorder(), fast_options());
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(run("sb1", CreateSandbox{"sb1", basic_spec(), {}, clock_.now() + 60 * kMicrosPerSecond}));
  ASSERT_TRUE(wait_state("sb1", SandboxState::kRunning));
  const Micros later = clock_.now() + 3600 * kMicrosPerSecond;
  ASSERT_TRUE(run("sb1", RenewExpiration{later}));
  ASSERT_TRUE(provisioner.wait_until_done(store().head(), 10s));
  EXPECT_EQ(runtime_.renewed_expiry("sb1"), later);
  // The spec given to create carried the expiry of that time (the BatchSandbox's expireTime).
  ASSERT_TRUE(runtime_.last_spec("sb1").has_value());
  EXPECT_EQ(runtime_.last_spec("sb1")->expires_at, clock_.now() + 60 * kMicrosPerSecond);
}

}  // namespace
}  // namespace sbx::testing
