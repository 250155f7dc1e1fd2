// The snapshots projection equals a replay of the log (sandbox-events verify).
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <thread>
#include <vector>

#include "events/snapshot.h"
#include "migrations/migrations.h"
#include "migrations/rebuild.h"
#include "src/common/clock.h"
#include "store/internal.h"
#include "store/layout.h"
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

TEST(SnapshotReplay, EqualsAReplayOfTheLog) {
  TempDir dir, scratch;
  auto store = open_store(dir.str());
  ASSERT_TRUE(append(*store, "a", ExpectedVersion::no_stream(),
                     SnapshotRequested{"a", "sb1", "one", snapshot_image_ref("a")}));
  ASSERT_TRUE(append(*store, "a", ExpectedVersion::exactly(1), SnapshotReady{"sha256:a"}));
  ASSERT_TRUE(append(*store, "b", ExpectedVersion::no_stream(),
                     SnapshotRequested{"b", "sb1", "", snapshot_image_ref("b")}));
  ASSERT_TRUE(append(*store, "b", ExpectedVersion::exactly(1),
                     SnapshotFailed{"SNAPSHOT::SOURCE_NOT_FOUND", "gone"}));
  ASSERT_TRUE(append(*store, "c", ExpectedVersion::no_stream(),
                     SnapshotRequested{"c", "sb2", "", snapshot_image_ref("c")}));
  auto report = verify_projections(*store, scratch.str() + "/replay", 10);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->differences.empty())
      << report->differences.front().projection << " " << report->differences.front().key;
}

TEST(SnapshotMigration, Step5AddsTheSnapshotsFamilyToASchema4StoreAndKeepsItsSandboxes) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions to4;
  to4.target_version = 4;
  ASSERT_TRUE(migrate(dir.str(), clock, to4));
  {
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    EXPECT_FALSE((*raw)->has(layout::kSnapshots));
    // A half-created family from an interrupted run is dropped and made again.
    ASSERT_TRUE((*raw)->create_column_family(layout::kSnapshots));
    ASSERT_TRUE((*raw)->db()->Put(rocksdb::WriteOptions(), (*raw)->cf(layout::kSnapshots), "junk",
                                  "not json").ok());
  }
  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->applied.size(), 2u);  // 5 and 6 (pools)
  EXPECT_EQ(report->applied[0].version, 5);
  EXPECT_EQ(*schema_version_of(dir.str()), kStoreSchemaVersion);
  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->list_snapshots().empty());  // the junk went with the old family
  ASSERT_TRUE(append(*store, "a", ExpectedVersion::no_stream(),
                     SnapshotRequested{"a", "sb1", "", snapshot_image_ref("a")}));
  EXPECT_EQ(store->get_snapshot("a")->state, SnapshotState::kCreating);
}

}  // namespace
}  // namespace sbx
