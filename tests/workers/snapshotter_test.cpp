// The snapshotter against the fake runtime: commit -> Ready, missing source -> Failed,
// delete -> image removed -> Deleted, the start-up reconcile (Creating finished, orphan
// images removed and recorded), runtime outages retried.
#include "src/workers/snapshotter.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "src/runtime/fake/fake_runtime.h"
#include "tests/support/temp_dir.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
  }
  std::unique_ptr<Snapshotter> make() {
    return std::make_unique<Snapshotter>(
        *store_, runtime_,
        [this](const std::string& id, const SnapshotCommand& c) {
          return execute_snapshot(*store_, clock_, id, c, "worker:snapshotter");
        },
        [this](const std::string& kind, const std::string& detail) {
          findings_.push_back(kind + " " + detail);
        });
  }
  // A Running sandbox with a container in the fake runtime.
  std::string running_sandbox() {
    const std::string id = "sb-" + std::to_string(++n_);
    ContainerSpec spec;
    spec.sandbox_id = id;
    spec.image_uri = "img:1";
    spec.entrypoint = {"sleep"};
    spec.network_mode = "host";
    EXPECT_TRUE(runtime_.create_and_start(spec));
    return id;
  }
  std::string request(const std::string& sandbox_id) {
    const std::string id = "sn-" + std::to_string(++n_);
    EXPECT_TRUE(execute_snapshot(*store_, clock_, id,
                                 CreateSnapshot{id, sandbox_id, "", snapshot_image_ref(id)}));
    return id;
  }
  std::optional<SnapshotState> state_of(const std::string& id) {
    auto s = store_->get_snapshot(id);
    return s ? std::optional(s->state) : std::nullopt;
  }

  TempDir dir_;
  ManualClock clock_;
  FakeRuntime runtime_{clock_, "inst-1"};
  std::unique_ptr<EventStore> store_;
  std::vector<std::string> findings_;
  int n_ = 0;
};

TEST_F(SnapshotterTest, CommitsARequestedSnapshotAndRecordsReady) {
  auto worker = make();
  ASSERT_TRUE(worker->start());
  const std::string sb = running_sandbox();
  const std::string sn = request(sb);
  ASSERT_TRUE(eventually([&] { return state_of(sn) == SnapshotState::kReady; }, 10s));
  auto s = store_->get_snapshot(sn);
  EXPECT_FALSE(s->image_id.empty());
  auto image = runtime_.snapshot_image(sn, s->image_ref);
  ASSERT_TRUE(image && *image);
  EXPECT_EQ(**image, s->image_id);
  // The container keeps running.
  EXPECT_EQ(runtime_.inspect(sb).value()->state, ContainerState::kRunning);
  auto events = store_->read_stream(snapshot_stream_of(sn));
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->back().actor, "worker:snapshotter");
  EXPECT_EQ(events->back().reason, Reason::kRuntime);
}

TEST_F(SnapshotterTest, AMissingSourceFailsTheSnapshotWithACode) {
  auto worker = make();
  ASSERT_TRUE(worker->start());
  const std::string sn = request("sb-without-container");
  ASSERT_TRUE(eventually([&] { return state_of(sn) == SnapshotState::kFailed; }, 10s));
  EXPECT_EQ(store_->get_snapshot(sn)->status_reason, "SNAPSHOT::SOURCE_NOT_FOUND");
}

TEST_F(SnapshotterTest, ADeletionRemovesTheImageAndRecordsDeleted) {
  auto worker = make();
  ASSERT_TRUE(worker->start());
  const std::string sn = request(running_sandbox());
  ASSERT_TRUE(eventually([&] { return state_of(sn) == SnapshotState::kReady; }, 10s));
  const std::string ref = store_->get_snapshot(sn)->image_ref;
  ASSERT_TRUE(execute_snapshot(*store_, clock_, sn, DeleteSnapshot{}));
  ASSERT_TRUE(eventually([&] { return !store_->get_snapshot(sn); }, 10s));
  EXPECT_FALSE(runtime_.snapshot_image(sn, ref).value().has_value());
  EXPECT_EQ(store_->stream_version(snapshot_stream_of(sn)), 4u);
}

TEST_F(SnapshotterTest, ARuntimeOutageIsRetried) {
  const std::string sb = running_sandbox();
  auto worker = make();
  runtime_.set_unreachable(true);
  ASSERT_TRUE(worker->start());
  const std::string sn = request(sb);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(state_of(sn), SnapshotState::kCreating);
  runtime_.set_unreachable(false);
  ASSERT_TRUE(eventually([&] { return state_of(sn) == SnapshotState::kReady; }, 10s));
}

TEST_F(SnapshotterTest, StartUpReconcileFinishesCreatingAndRemovesOrphanImages) {
  // Written while no worker ran: one snapshot whose image exists already (the commit
  // finished, the Ready was never recorded), one whose source is still there, one whose
  // source is gone; an image of a Failed snapshot and one with no record at all.
  const std::string sb = running_sandbox();
  const std::string done = request(sb);
  runtime_.add_snapshot_image(done, snapshot_image_ref(done));
  const std::string again = request(sb);
  const std::string lost = request("sb-gone");
  const std::string failed = request(sb);
  ASSERT_TRUE(execute_snapshot(*store_, clock_, failed, RecordSnapshotFailed{"E", "m"}));
  runtime_.add_snapshot_image(failed, snapshot_image_ref(failed));
  runtime_.add_snapshot_image("unknown", snapshot_image_ref("unknown"));
  // The checkpoint is past every request: only the reconcile can finish them.
  ASSERT_TRUE(store_->save_checkpoint("snapshotter", store_->head()));

  // And a Ready snapshot whose image someone removed.
  const std::string vanished = request(sb);
  ASSERT_TRUE(execute_snapshot(*store_, clock_, vanished, RecordSnapshotReady{"sha256:old"}));

  auto worker = make();
  worker->reconcile();
  EXPECT_EQ(state_of(vanished), SnapshotState::kFailed);
  EXPECT_EQ(store_->get_snapshot(vanished)->status_reason, "SNAPSHOT::IMAGE_MISSING");
  EXPECT_EQ(state_of(done), SnapshotState::kReady);
  EXPECT_EQ(state_of(again), SnapshotState::kReady);
  EXPECT_EQ(state_of(lost), SnapshotState::kFailed);
  auto images = runtime_.list_snapshot_images().value();
  std::set<std::string> left;
  for (const auto& i : images) left.insert(i.snapshot_id);
  EXPECT_EQ(left, (std::set<std::string>{done, again}));
  ASSERT_EQ(findings_.size(), 2u);
  for (const auto& f : findings_) EXPECT_TRUE(f.starts_with("snapshot_image_removed ")) << f;
}

// The Runtime defaults (what Kubernetes inherits): every snapshot call is refused with
// kUnimplemented, field runtime.snapshots, and supports_snapshots() is false.
class NoSnapshotsRuntime final : public Runtime {
 public:
  Result<RuntimeInfo> create_and_start(const ContainerSpec&) override { return RuntimeInfo{}; }
  Result<void> pause(const std::string&) override { return {}; }
  Result<void> resume(const std::string&) override { return {}; }
  Result<void> remove(const std::string&) override { return {}; }
  Result<std::optional<ContainerStatus>> inspect(const std::string&) override {
    return std::nullopt;
  }
  Result<std::vector<ContainerStatus>> list() override { return std::vector<ContainerStatus>{}; }
  Result<void> ping() override { return {}; }
  Result<void> watch(std::optional<Micros>, const EventCallback&, std::stop_token) override {
    return {};
  }
};

TEST(RuntimeDefaults, SnapshotsAreRefusedAsUnimplemented) {
  NoSnapshotsRuntime rt;
  EXPECT_FALSE(rt.supports_snapshots());
  for (const Error& e : {rt.commit_snapshot("a", "b", "c").error(),
                         rt.snapshot_image("b", "c").error(),
                         rt.remove_snapshot_image("b", "c").error(),
                         rt.list_snapshot_images().error()}) {
    EXPECT_EQ(e.code, ErrorCode::kUnimplemented);
    EXPECT_EQ(e.field, "runtime.snapshots");
  }
}

TEST_F(SnapshotterTest, OnARuntimeWithoutSnapshotsARequestFailsWithACode) {
  // The service refuses snapshots up front on such a runtime; a request in the log (one
  // written under another configuration) still ends, it does not hang in Creating.
  runtime_.set_supports_snapshots(false);
  const std::string sb = running_sandbox();
  auto worker = make();
  ASSERT_TRUE(worker->start());
  const std::string sn = request(sb);
  ASSERT_TRUE(eventually([&] { return state_of(sn) == SnapshotState::kFailed; }, 10s));
  EXPECT_EQ(store_->get_snapshot(sn)->status_reason, "SNAPSHOT::COMMIT_FAILED");
}

}  // namespace
}  // namespace sbx::testing
