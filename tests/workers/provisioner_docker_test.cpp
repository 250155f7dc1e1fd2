// The workers against the real Docker engine of the tests (scripts/docker-env.sh; skipped
// without one, failed under CI=true): the provisioner creates, pauses, resumes and removes
// real containers and records the outcomes; the reconciler sees a real container exit
// through the engine's event stream.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/workers/provisioner.h"
#include "src/workers/reconciler.h"
#include "store/event_store.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

class ProvisionerDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    DockerOptions options;
    options.host = host;
    options.api_timeout = std::chrono::seconds(60);
    options.execd_image = kTestExecdImage;
    options.port_bind_ip = "127.0.0.1";
    auto runtime = DockerRuntime::create(options);
    ASSERT_TRUE(runtime.has_value()) << runtime.error().message;
    runtime_ = std::move(*runtime);
    StoreOptions store_options;
    store_options.path = (dir_ / "data").string();
    auto store = EventStore::open(store_options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
  }

  void TearDown() override {
    for (const auto& id : ids_) {
      if (runtime_) {
        EXPECT_TRUE(runtime_->remove(id).has_value()) << "cleanup of " << id;
      }
    }
  }

  std::string new_sandbox(SandboxSpec spec) {
    const std::string id = new_uuid();
    ids_.insert(id);
    auto r = execute(*store_, clock_, id,
                     CreateSandbox{id, std::move(spec), {{"test", "workers"}}, std::nullopt});
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return id;
  }
  std::optional<SandboxState> state_of(const std::string& id) {
    auto sb = store_->get_sandbox(id);
    if (!sb) return std::nullopt;
    return sb->state;
  }
  bool wait_state(const std::string& id, std::optional<SandboxState> want) {
    return eventually([&] { return state_of(id) == want; }, 60s);
  }
  std::optional<ContainerStatus> container(const std::string& id) {
    auto c = runtime_->inspect(id);
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return c ? *c : std::nullopt;
  }
  WorkerOptions options() {
    WorkerOptions o = fast_options();
    o.provisioners = 2;
    return o;
  }

  SystemClock clock_;
  TempDir dir_{"sandboxd-workers-docker"};
  std::unique_ptr<DockerRuntime> runtime_;
  std::unique_ptr<EventStore> store_;
  std::set<std::string> ids_;
};

TEST_F(ProvisionerDockerTest, RunsARealContainerThroughItsLifecycle) {
  Provisioner provisioner(*store_, *runtime_, make_recorder(*store_, clock_), options());
  ASSERT_TRUE(provisioner.start().has_value());

  SandboxSpec spec;
  spec.image_uri = kTestBusyboxImage;
  spec.entrypoint = {"sleep", "3600"};
  spec.network_mode = "bridge";
  spec.resource_limits = {{"memory", "64Mi"}};
  const std::string id = new_sandbox(spec);
  ASSERT_TRUE(wait_state(id, SandboxState::kRunning)) << store_->get_sandbox(id)->status_message;
  auto c = container(id);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->state, ContainerState::kRunning);
  EXPECT_EQ(store_->get_sandbox(id)->runtime_id, c->runtime_id);

  ASSERT_TRUE(execute(*store_, clock_, id, PauseSandbox{}));
  ASSERT_TRUE(wait_state(id, SandboxState::kPaused));
  EXPECT_EQ(container(id)->state, ContainerState::kPaused);

  ASSERT_TRUE(execute(*store_, clock_, id, ResumeSandbox{}));
  ASSERT_TRUE(wait_state(id, SandboxState::kRunning));
  EXPECT_EQ(container(id)->state, ContainerState::kRunning);

  ASSERT_TRUE(execute(*store_, clock_, id, DeleteSandbox{}));
  ASSERT_TRUE(wait_state(id, std::nullopt));
  EXPECT_FALSE(container(id).has_value());
}

TEST_F(ProvisionerDockerTest, MissingImageFailsWithTheEngineCode) {
  Provisioner provisioner(*store_, *runtime_, make_recorder(*store_, clock_), options());
  ASSERT_TRUE(provisioner.start().has_value());
  SandboxSpec spec;
  spec.image_uri = "sandboxd-test/does-not-exist:1";
  spec.entrypoint = {"sleep", "3600"};
  spec.network_mode = "bridge";
  const std::string id = new_sandbox(spec);
  ASSERT_TRUE(wait_state(id, SandboxState::kFailed));
  EXPECT_EQ(store_->get_sandbox(id)->status_reason, "DOCKER::IMAGE_NOT_FOUND");
  EXPECT_FALSE(container(id).has_value());
}

TEST_F(ProvisionerDockerTest, ReconcilerSeesARealExitThroughTheEventStream) {
  Provisioner provisioner(*store_, *runtime_, make_recorder(*store_, clock_), options());
  WorkerOptions o = options();
  Reconciler reconciler(*store_, *runtime_, clock_, make_recorder(*store_, clock_), o);
  ASSERT_TRUE(provisioner.start().has_value());
  ASSERT_TRUE(reconciler.start().has_value());

  SandboxSpec spec;
  spec.image_uri = kTestBusyboxImage;
  spec.entrypoint = {"sh", "-c", "sleep 2; exit 3"};
  spec.network_mode = "bridge";
  const std::string id = new_sandbox(spec);
  ASSERT_TRUE(wait_state(id, SandboxState::kRunning));
  // The reconcile interval is an hour: only the engine's die event can report this.
  ASSERT_TRUE(wait_state(id, SandboxState::kFailed));
  auto sb = store_->get_sandbox(id);
  EXPECT_EQ(sb->status_reason, "SANDBOX::CONTAINER_EXITED");
  EXPECT_EQ(sb->exit_code, 3);
}

}  // namespace
}  // namespace sbx::testing
