// The snapshots projection (store/FORMAT.md "snapshots"): staged in the append's batch,
// served from memory, loaded at open, removed by SnapshotDeleted, equal to a replay.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "events/snapshot.h"
#include "store/event_store.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

std::unique_ptr<EventStore> open_store(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.sync = false;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

Result<AppendResult> append(EventStore& store, const std::string& id, ExpectedVersion ex,
                            EventData data, Micros t = kT0) {
  AppendRequest r;
  r.stream = snapshot_stream_of(id);
  r.expected = ex;
  r.events.push_back(make_event(std::move(data), t));
  return store.append(std::move(r));
}

TEST(SnapshotProjection, FollowsTheStreamAndSurvivesAReopen) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    auto a = append(*store, "sn1", ExpectedVersion::no_stream(),
                    SnapshotRequested{"sn1", "sb1", "nightly", snapshot_image_ref("sn1")});
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_NE(a->snapshot, nullptr);
    EXPECT_EQ(a->sandbox, nullptr);
    EXPECT_EQ(a->snapshot->state, SnapshotState::kCreating);
    EXPECT_EQ(store->get_snapshot("sn1")->name, "nightly");
    EXPECT_EQ(store->get_sandbox("sn1"), nullptr);  // not a sandbox
    auto b = append(*store, "sn1", ExpectedVersion::exactly(1), SnapshotReady{"sha256:ab"},
                    kT0 + 10);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->snapshot->state, SnapshotState::kReady);
    EXPECT_EQ(store->list_snapshots().size(), 1u);
  }
  auto store = open_store(dir.str());
  auto sn = store->get_snapshot("sn1");
  ASSERT_NE(sn, nullptr);
  EXPECT_EQ(sn->state, SnapshotState::kReady);
  EXPECT_EQ(sn->image_id, "sha256:ab");
  EXPECT_EQ(sn->version, 2u);
  EXPECT_EQ(sn->last_transition_at, kT0 + 10);
}

TEST(SnapshotProjection, SnapshotDeletedRemovesTheRecordAndLaterEventsChangeNothing) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(append(*store, "sn1", ExpectedVersion::no_stream(),
                       SnapshotRequested{"sn1", "sb1", "", snapshot_image_ref("sn1")}));
    ASSERT_TRUE(append(*store, "sn1", ExpectedVersion::exactly(1), SnapshotReady{"sha256:ab"}));
    ASSERT_TRUE(append(*store, "sn1", ExpectedVersion::exactly(2), SnapshotDeletionRequested{}));
    EXPECT_EQ(store->get_snapshot("sn1")->state, SnapshotState::kDeleting);
    auto gone = append(*store, "sn1", ExpectedVersion::exactly(3), SnapshotDeleted{});
    ASSERT_TRUE(gone);
    ASSERT_NE(gone->snapshot, nullptr);  // its final state
    EXPECT_TRUE(gone->snapshot->deleted);
    EXPECT_EQ(store->get_snapshot("sn1"), nullptr);
    // A late event on the removed stream is logged but projects nothing.
    auto late = append(*store, "sn1", ExpectedVersion::exactly(4), SnapshotReady{"x"});
    ASSERT_TRUE(late);
    EXPECT_EQ(store->get_snapshot("sn1"), nullptr);
    // A snapshot stream that does not start with SnapshotRequested is not projected.
    ASSERT_TRUE(append(*store, "sn2", ExpectedVersion::no_stream(), SnapshotReady{"y"}));
    EXPECT_EQ(store->get_snapshot("sn2"), nullptr);
  }
  auto store = open_store(dir.str());
  EXPECT_TRUE(store->list_snapshots().empty());
  EXPECT_EQ(store->stream_version(snapshot_stream_of("sn1")), 5u);  // history kept
}

TEST(SnapshotProjection, ConcurrentAppendsToOneStreamFoldInOrder) {
  // Many snapshots at once (group commit stages several streams per batch) and, per
  // snapshot, the outcome appended right behind the request (the same group or the next).
  TempDir dir;
  auto store = open_store(dir.str());
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string id = "sn-" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(append(*store, id, ExpectedVersion::no_stream(),
                           SnapshotRequested{id, "sb", "", snapshot_image_ref(id)}));
        if (i % 2 == 0) {
          ASSERT_TRUE(append(*store, id, ExpectedVersion::exactly(1), SnapshotReady{"sha256:1"}));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->list_snapshots().size(), static_cast<std::size_t>(kThreads * 20));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < 20; ++i) {
      auto sn = store->get_snapshot("sn-" + std::to_string(t) + "-" + std::to_string(i));
      ASSERT_NE(sn, nullptr);
      EXPECT_EQ(sn->state, i % 2 == 0 ? SnapshotState::kReady : SnapshotState::kCreating);
    }
  }
}

}  // namespace
}  // namespace sbx
