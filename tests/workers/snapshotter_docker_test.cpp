// Snapshots against the real Docker engine of the tests (scripts/docker-env.sh; skipped
// without one, failed under CI=true): the provisioner runs a sandbox that writes a file,
// the snapshotter commits it, a second sandbox started from the snapshot image sees the
// file (read through the engine's archive API), a paused source stays paused, and a
// deletion removes the image.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "events/uuid.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/workers/provisioner.h"
#include "src/workers/snapshotter.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

class SnapshotterDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    DockerOptions options;
    options.host = host;
    options.api_timeout = std::chrono::seconds(60);
    options.execd_image = kTestExecdImage;
    options.port_bind_ip = "127.0.0.1";
    // A fixed identity: its execd volume is made once per engine, not once per run.
    options.instance_id = "snapshot-docker-test";
    auto runtime = DockerRuntime::create(options);
    ASSERT_TRUE(runtime.has_value()) << runtime.error().message;
    runtime_ = std::move(*runtime);
    auto http = HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
    auto store = EventStore::open(StoreOptions{.path = (dir_ / "data").string()});
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    provisioner_ = std::make_unique<Provisioner>(*store_, *runtime_,
                                                 make_recorder(*store_, clock_), fast_options());
    ASSERT_TRUE(provisioner_->start());
    snapshotter_ = std::make_unique<Snapshotter>(
        *store_, *runtime_,
        [this](const std::string& id, const SnapshotCommand& c) {
          return execute_snapshot(*store_, clock_, id, c, "worker:snapshotter");
        },
        FindingRecorder{});
    ASSERT_TRUE(snapshotter_->start());
  }

  void TearDown() override {
    if (snapshotter_) snapshotter_->stop();
    if (provisioner_) provisioner_->stop();
    for (const auto& id : sandboxes_) (void)runtime_->remove(id);
    for (const auto& [id, ref] : snapshots_) (void)runtime_->remove_snapshot_image(id, ref);
  }

  std::string run_sandbox(SandboxSpec spec) {
    const std::string id = new_uuid();
    sandboxes_.insert(id);
    spec.network_mode = "bridge";
    EXPECT_TRUE(execute(*store_, clock_, id, CreateSandbox{id, spec, {}, std::nullopt}));
    EXPECT_TRUE(eventually(
        [&] {
          auto sb = store_->get_sandbox(id);
          return sb && sb->state == SandboxState::kRunning;
        },
        60s))
        << (store_->get_sandbox(id) ? store_->get_sandbox(id)->status_message : "gone");
    return id;
  }

  std::string snapshot_of(const std::string& sandbox_id) {
    const std::string id = new_uuid();
    snapshots_[id] = snapshot_image_ref(id);
    EXPECT_TRUE(execute_snapshot(*store_, clock_, id,
                                 CreateSnapshot{id, sandbox_id, "t", snapshot_image_ref(id)}));
    EXPECT_TRUE(eventually(
        [&] {
          auto s = store_->get_snapshot(id);
          return s && s->state != SnapshotState::kCreating;
        },
        60s));
    return id;
  }

  json image_json(const std::string& ref) {
    auto r = http_->send({.target = "/images/" + ref + "/json"});
    EXPECT_TRUE(r);
    if (!r || r->status != 200) return json();
    return json::parse(r->body);
  }

  std::string container_state(const std::string& sandbox_id) {
    auto r = http_->send({.target = "/containers/sandbox-" + sandbox_id + "/json"});
    if (!r || r->status != 200) return "";
    return json::parse(r->body)["State"]["Status"];
  }

  SystemClock clock_;
  TempDir dir_{"sandboxd-snapshot-docker"};
  std::unique_ptr<DockerRuntime> runtime_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Provisioner> provisioner_;
  std::unique_ptr<Snapshotter> snapshotter_;
  std::set<std::string> sandboxes_;
  std::map<std::string, std::string> snapshots_;
};

TEST_F(SnapshotterDockerTest, ARestoredSandboxSeesTheFileWrittenBeforeTheSnapshot) {
  SandboxSpec spec;
  spec.image_uri = kTestBusyboxImage;
  spec.entrypoint = {"sh", "-c", "mkdir -p /data && echo snapshot-hi > /data/f && exec sleep 1000"};
  const std::string source = run_sandbox(spec);
  // The entrypoint writes before it sleeps: wait until the file is there.
  ASSERT_TRUE(eventually(
      [&] {
        auto r = http_->send({.target = "/containers/sandbox-" + source + "/archive?path=/data/f"});
        return r && r->status == 200;
      },
      30s));

  const std::string sn = snapshot_of(source);
  auto snapshot = store_->get_snapshot(sn);
  ASSERT_EQ(snapshot->state, SnapshotState::kReady) << snapshot->status_message;
  EXPECT_EQ(container_state(source), "running");  // a running source keeps running
  const json image = image_json(snapshot->image_ref);
  ASSERT_TRUE(image.is_object());
  EXPECT_EQ(image["Id"], snapshot->image_id);
  EXPECT_EQ(image["Config"]["Labels"]["sandboxd.io/snapshot"], sn);
  EXPECT_EQ(image["Config"]["Labels"]["sandboxd.io/instance"], "snapshot-docker-test");

  // Restore: the image of the snapshot, the reference's default entrypoint.
  SandboxSpec restored;
  restored.image_uri = snapshot->image_ref;
  restored.snapshot_id = sn;
  restored.entrypoint = {"tail", "-f", "/dev/null"};
  const std::string copy = run_sandbox(restored);
  auto r = http_->send({.target = "/containers/sandbox-" + copy + "/archive?path=/data/f"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  // A tar stream: the file's bytes follow its 512-byte header.
  EXPECT_NE(r->body.find("snapshot-hi\n"), std::string::npos);
  EXPECT_EQ(container_state(copy), "running");

  // Delete: the image goes once no container uses it.
  (void)runtime_->remove(copy);
  ASSERT_TRUE(execute_snapshot(*store_, clock_, sn, DeleteSnapshot{}));
  ASSERT_TRUE(eventually([&] { return !store_->get_snapshot(sn); }, 60s));
  auto gone = http_->send({.target = "/images/" + snapshot->image_ref + "/json"});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

TEST_F(SnapshotterDockerTest, APausedSourceStaysPaused) {
  SandboxSpec spec;
  spec.image_uri = kTestBusyboxImage;
  spec.entrypoint = {"sleep", "1000"};
  const std::string source = run_sandbox(spec);
  ASSERT_TRUE(execute(*store_, clock_, source, PauseSandbox{}));
  ASSERT_TRUE(eventually([&] { return container_state(source) == "paused"; }, 30s));
  const std::string sn = snapshot_of(source);
  EXPECT_EQ(store_->get_snapshot(sn)->state, SnapshotState::kReady);
  EXPECT_EQ(container_state(source), "paused");
}

TEST_F(SnapshotterDockerTest, AMissingSourceFailsAndDeletingAnAbsentImageCompletes) {
  const std::string sn = snapshot_of(new_uuid());
  auto s = store_->get_snapshot(sn);
  EXPECT_EQ(s->state, SnapshotState::kFailed);
  EXPECT_EQ(s->status_reason, "SNAPSHOT::SOURCE_NOT_FOUND");
  ASSERT_TRUE(execute_snapshot(*store_, clock_, sn, DeleteSnapshot{}));
  ASSERT_TRUE(eventually([&] { return !store_->get_snapshot(sn); }, 60s));
}

}  // namespace
}  // namespace sbx::testing
