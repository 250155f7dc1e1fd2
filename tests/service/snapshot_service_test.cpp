#include "src/service/snapshot_service.h"

#include <gtest/gtest.h>

#include <future>

#include "events/snapshot_decider.h"
#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

const RequestContext kUser{"req-1", "api:key"};
const RequestContext kWorker{"", "worker:snapshotter"};

class SnapshotServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    ServiceOptions o;
    o.network_mode = "bridge";
    o.port_range_low = 43000;
    o.port_range_high = 43999;
    o.probe_host_ports = false;
    sandboxes_ = std::make_unique<SandboxService>(*store_, clock_, o);
    snapshots_ = std::make_unique<SnapshotService>(*store_, clock_, *sandboxes_, true);
  }

  // A sandbox in `state` (Running by default).
  std::string sandbox(SandboxState state = SandboxState::kRunning) {
    CreateRequest r;
    r.spec.image_uri = "busybox:latest";
    r.spec.entrypoint = {"sleep", "1000"};
    auto c = sandboxes_->create(r, kUser);
    EXPECT_TRUE(c) << c.error().message;
    const std::string id = c->sandbox.id;
    if (state == SandboxState::kPending) return id;
    EXPECT_TRUE(sandboxes_->execute(id, RecordStarted{"c1", "", {}}, kWorker));
    if (state == SandboxState::kPaused) {
      EXPECT_TRUE(sandboxes_->execute(id, PauseSandbox{}, kUser));
      EXPECT_TRUE(sandboxes_->execute(id, RecordPaused{}, kWorker));
    }
    return id;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<SandboxService> sandboxes_;
  std::unique_ptr<SnapshotService> snapshots_;
};

TEST_F(SnapshotServiceTest, CreateOfARunningSandboxRecordsTheRequestWithItsImageRef) {
  const std::string sb = sandbox();
  auto s = snapshots_->create(sb, "before upgrade", kUser);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(is_uuid(s->id));
  EXPECT_EQ(s->sandbox_id, sb);
  EXPECT_EQ(s->name, "before upgrade");
  EXPECT_EQ(s->state, SnapshotState::kCreating);
  EXPECT_EQ(s->image_ref, "sandboxd-snapshot/" + s->id + ":latest");
  auto events = store_->read_stream(snapshot_stream_of(s->id));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actor, "api:key");
  EXPECT_EQ((*events)[0].request_id, "req-1");
  EXPECT_EQ((*events)[0].reason, Reason::kUser);
  EXPECT_EQ(std::get<SnapshotRequested>((*events)[0].data).image_ref, s->image_ref);
  EXPECT_EQ(snapshots_->get(s->id)->state, SnapshotState::kCreating);
}

TEST_F(SnapshotServiceTest, SourceMustExistAndBeRunningAndNothingIsAppendedOtherwise) {
  const std::uint64_t head = store_->head();
  auto missing = snapshots_->create("0190b4a4-7b7c-7cc2-8f00-000000000000", "", kUser);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().field, "");  // the sandbox routes' 404
  for (SandboxState st : {SandboxState::kPending, SandboxState::kPaused}) {
    const std::string sb = sandbox(st);
    const std::uint64_t before = store_->head();
    auto r = snapshots_->create(sb, "", kUser);
    ASSERT_FALSE(r) << to_string(st);
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(r.error().field, "snapshot.source");
    EXPECT_EQ(store_->head(), before);
  }
  EXPECT_TRUE(store_->list_snapshots().empty());
  (void)head;
}

TEST_F(SnapshotServiceTest, HostileNamesAreRefused) {
  const std::string sb = sandbox();
  for (const std::string& bad : {std::string(129, 'a'), std::string("a\nb"),
                                 std::string("nul\0x", 5), std::string("\x7f")}) {
    auto r = snapshots_->create(sb, bad, kUser);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, "name");
  }
  EXPECT_TRUE(snapshots_->create(sb, std::string(128, 'a'), kUser));
  EXPECT_TRUE(snapshots_->create(sb, "ünïcödé ✓", kUser));
}

TEST_F(SnapshotServiceTest, WithoutRuntimeSupportEveryCreateIsRefusedBeforeAnyCheck) {
  SnapshotService k8s(*store_, clock_, *sandboxes_, false);
  const std::uint64_t head = store_->head();
  auto r = k8s.create("not-even-a-sandbox", std::string(500, 'x'), kUser);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(r.error().field, "runtime.snapshots");
  EXPECT_EQ(store_->head(), head);
}

TEST_F(SnapshotServiceTest, DeleteRulesFollowTheReference) {
  const std::string sb = sandbox();
  auto s = snapshots_->create(sb, "", kUser);
  ASSERT_TRUE(s);
  auto creating = snapshots_->remove(s->id, kUser);
  ASSERT_FALSE(creating);
  EXPECT_EQ(creating.error().field, "snapshot.state");
  ASSERT_TRUE(snapshots_->execute(s->id, RecordSnapshotReady{"sha256:1"}, kWorker));
  auto deleting = snapshots_->remove(s->id, kUser);
  ASSERT_TRUE(deleting);
  EXPECT_EQ(deleting->state, SnapshotState::kDeleting);
  const auto v = store_->stream_version(snapshot_stream_of(s->id));
  EXPECT_TRUE(snapshots_->remove(s->id, kUser));  // again: nothing appended
  EXPECT_EQ(store_->stream_version(snapshot_stream_of(s->id)), v);
  ASSERT_TRUE(snapshots_->execute(s->id, RecordSnapshotDeleted{}, kWorker));
  EXPECT_EQ(snapshots_->get(s->id), nullptr);
  auto gone = snapshots_->remove(s->id, kUser);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().field, "snapshot");
}

TEST_F(SnapshotServiceTest, ListFiltersBySandboxNameAndStatesAndPagesNewestFirst) {
  const std::string a = sandbox(), b = sandbox();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_.advance(kMicrosPerSecond);
    auto s = snapshots_->create(i < 3 ? a : b, i == 4 ? "named" : "", kUser);
    ASSERT_TRUE(s);
    ids.push_back(s->id);
  }
  ASSERT_TRUE(snapshots_->execute(ids[0], RecordSnapshotReady{"x"}, kWorker));
  ASSERT_TRUE(snapshots_->execute(ids[1], RecordSnapshotFailed{"E", "m"}, kWorker));

  SnapshotListQuery q;
  q.page_size = 2;
  auto p1 = snapshots_->list(q);
  EXPECT_EQ(p1.total_items, 5u);
  EXPECT_EQ(p1.total_pages, 3u);
  EXPECT_TRUE(p1.has_next_page);
  ASSERT_EQ(p1.items.size(), 2u);
  EXPECT_EQ(p1.items[0]->id, ids[4]);  // newest first
  q.page = 3;
  auto p3 = snapshots_->list(q);
  ASSERT_EQ(p3.items.size(), 1u);
  EXPECT_EQ(p3.items[0]->id, ids[0]);
  EXPECT_FALSE(p3.has_next_page);

  SnapshotListQuery by_sandbox;
  by_sandbox.sandbox_id = a;
  EXPECT_EQ(snapshots_->list(by_sandbox).total_items, 3u);
  SnapshotListQuery by_state;
  by_state.states = {SnapshotState::kReady, SnapshotState::kFailed};
  EXPECT_EQ(snapshots_->list(by_state).total_items, 2u);
  SnapshotListQuery by_name;
  by_name.name = "named";
  ASSERT_EQ(snapshots_->list(by_name).total_items, 1u);
  SnapshotListQuery none;
  none.no_state_matches = true;
  EXPECT_EQ(snapshots_->list(none).total_items, 0u);
}

TEST_F(SnapshotServiceTest, CreateFromSnapshotNeedsAReadySnapshotAndStartsFromItsImage) {
  const std::string sb = sandbox();
  auto s = snapshots_->create(sb, "", kUser);
  ASSERT_TRUE(s);
  CreateRequest r;
  r.spec.snapshot_id = s->id;
  auto not_ready = sandboxes_->create(r, kUser);
  ASSERT_FALSE(not_ready);
  EXPECT_EQ(not_ready.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(not_ready.error().field, "snapshotId");

  ASSERT_TRUE(snapshots_->execute(s->id, RecordSnapshotReady{"sha256:1"}, kWorker));
  auto restored = sandboxes_->create(r, kUser);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(restored->sandbox.spec.snapshot_id, s->id);
  EXPECT_EQ(restored->sandbox.spec.image_uri, s->image_ref);
  EXPECT_EQ(restored->sandbox.spec.entrypoint,
            (std::vector<std::string>{"tail", "-f", "/dev/null"}));

  r.spec.entrypoint = {"sh", "-c", "sleep 5"};  // a given entrypoint is kept
  auto own = sandboxes_->create(r, kUser);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->sandbox.spec.entrypoint, r.spec.entrypoint);

  ServiceOptions k8s;
  k8s.runtime_type = "kubernetes";
  k8s.pause_supported = false;
  k8s.snapshots_supported = false;
  SandboxService kube(*store_, clock_, k8s);
  auto refused = kube.create(r, kUser);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(refused.error().field, "runtime.snapshots");
}

TEST_F(SnapshotServiceTest, AsyncFormsAnswerOnTheMutationThread) {
  const std::string sb = sandbox();
  std::promise<Result<Snapshot>> created;
  snapshots_->create_async(sb, "x", kUser, [&](Result<Snapshot> r) { created.set_value(r); });
  auto r = created.get_future().get();
  ASSERT_TRUE(r);
  std::promise<Result<Snapshot>> removed;
  snapshots_->remove_async(r->id, kUser, [&](Result<Snapshot> x) { removed.set_value(x); });
  auto d = removed.get_future().get();
  ASSERT_FALSE(d);  // still Creating
  EXPECT_EQ(d.error().field, "snapshot.state");
  snapshots_->shutdown();
  std::promise<Result<Snapshot>> late;
  snapshots_->create_async(sb, "", kUser, [&](Result<Snapshot> x) { late.set_value(x); });
  auto l = late.get_future().get();
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace sbx
