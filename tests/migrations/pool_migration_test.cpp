// Migration 6 (the pools column family) and the pools projection against a replay of the log.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <map>
#include <string>
#include <vector>

#include "events/codec.h"
#include "events/pool.h"
#include "migrations/migrations.h"
#include "migrations/rebuild.h"
#include "src/common/clock.h"
#include "store/event_store.h"
#include "store/layout.h"
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

PoolCreated created(const std::string& name, PoolCapacity c = {1, 2, 0, 4}) {
  PoolCreated e;
  e.name = name;
  e.template_spec.image_uri = "busybox:1";
  e.template_json = "{}";
  e.capacity = c;
  return e;
}

// Writes `data` as the next events of `stream` straight into a raw database (what a
// schema-5 binary's log would hold: it accepted any stream name).
void write_raw(layout::RawDb& db, const std::string& stream, std::vector<EventData> data) {
  auto position = db.last_position();
  ASSERT_TRUE(position);
  auto version = db.last_stream_version(stream);
  ASSERT_TRUE(version);
  rocksdb::WriteBatch batch;
  for (auto& d : data) {
    Event e = make_event(std::move(d), kT0 + static_cast<Micros>(*position));
    e.position = ++*position;
    e.stream = stream;
    e.version = ++*version;
    e.schema = current_schema(e.type());
    layout::stage_event(batch, layout::log_families(db), e, encode_event(e));
  }
  ASSERT_TRUE(db.db()->Write(rocksdb::WriteOptions(), &batch).ok());
}

Result<AppendResult> append(EventStore& store, const std::string& name, ExpectedVersion ex,
                            EventData data) {
  AppendRequest r;
  r.stream = pool_stream_of(name);
  r.expected = ex;
  r.events.push_back(make_event(std::move(data), kT0));
  return store.append(std::move(r));
}

TEST(PoolMigration, Step6AddsThePoolsFamilyAndReplaysPoolStreamsOfASchema5Store) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions to5;
  to5.target_version = 5;
  ASSERT_TRUE(migrate(dir.str(), clock, to5));
  {
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    EXPECT_FALSE((*raw)->has(layout::kPools));
    write_raw(**raw, "pool-web", {created("web"), PoolCapacityChanged{PoolCapacity{0, 3, 0, 3}}});
    write_raw(**raw, std::string(kSystemStream), {ReconcileFinding{"test", "", "between"}});
    write_raw(**raw, "pool-gone", {created("gone"), PoolDeleted{}});
    write_raw(**raw, "pool-again", {created("again"), PoolDeleted{}, created("again", {0, 1, 0, 1})});
    write_raw(**raw, "pool-odd", {PoolCapacityChanged{PoolCapacity{1, 1, 1, 1}}});
    write_raw(**raw, "pool-", {created("bare")});
    // A half-created family from an interrupted run is dropped and made again.
    ASSERT_TRUE((*raw)->create_column_family(layout::kPools));
    ASSERT_TRUE((*raw)->db()->Put(rocksdb::WriteOptions(), (*raw)->cf(layout::kPools), "junk",
                                  "not json").ok());
  }
  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->applied.size(), 1u);
  EXPECT_EQ(report->applied[0].version, 6);
  EXPECT_EQ(*schema_version_of(dir.str()), 6);
  {
    auto store = open_store(dir.str());
    ASSERT_NE(store, nullptr);
    std::map<std::string, std::shared_ptr<const Pool>> pools;
    std::string names;
    for (const auto& p : store->list_pools()) {
      pools[p->name] = p;
      names += p->name + " ";
    }
    ASSERT_EQ(pools.size(), 2u) << names;  // web and again; not gone, odd, bare, junk
    ASSERT_TRUE(pools.contains("web")) << names;
    EXPECT_EQ(pools["web"]->capacity, (PoolCapacity{0, 3, 0, 3}));
    EXPECT_EQ(pools["web"]->version, 2u);
    EXPECT_EQ(pools["web"]->generation, 1u);
    ASSERT_TRUE(pools.contains("again")) << names;
    EXPECT_EQ(pools["again"]->generation, 3u);
    EXPECT_EQ(pools["again"]->capacity, (PoolCapacity{0, 1, 0, 1}));
    // The store goes on from there: the stream versions are the log's.
    ASSERT_TRUE(append(*store, "gone", ExpectedVersion::exactly(2), created("gone")));
    ASSERT_TRUE(append(*store, "web", ExpectedVersion::exactly(2), PoolDeleted{}));
  }
  // Reopened: what the store wrote since is kept, and the whole projection equals a replay.
  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get_pool("web"), nullptr);
  ASSERT_NE(store->get_pool("gone"), nullptr);
  EXPECT_EQ(store->get_pool("gone")->generation, 3u);
  ASSERT_NE(store->get_pool("again"), nullptr);
  EXPECT_EQ(store->list_pools().size(), 2u);
  TempDir scratch;
  auto verify = verify_projections(*store, scratch.str() + "/replay", 10);
  ASSERT_TRUE(verify) << verify.error().message;
  EXPECT_TRUE(verify->differences.empty())
      << verify->differences.front().projection << " " << verify->differences.front().key
      << ": " << verify->differences.front().live << " vs " << verify->differences.front().rebuilt;
}

TEST(PoolMigration, Step6OnAStoreWithoutPoolStreamsStartsEmpty) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions to5;
  to5.target_version = 5;
  ASSERT_TRUE(migrate(dir.str(), clock, to5));
  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->applied.size(), 1u);
  auto again = migrate(dir.str(), clock);  // nothing left to do
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->applied.empty());
  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->list_pools().empty());
}

TEST(PoolReplay, ThePoolsProjectionEqualsAReplayOfTheLog) {
  TempDir dir, scratch;
  auto store = open_store(dir.str());
  ASSERT_TRUE(append(*store, "a", ExpectedVersion::no_stream(), created("a")));
  ASSERT_TRUE(append(*store, "a", ExpectedVersion::exactly(1),
                     PoolCapacityChanged{PoolCapacity{2, 2, 2, 2}}));
  ASSERT_TRUE(append(*store, "b", ExpectedVersion::no_stream(), created("b")));
  ASSERT_TRUE(append(*store, "b", ExpectedVersion::exactly(1), PoolDeleted{}));
  ASSERT_TRUE(append(*store, "c", ExpectedVersion::no_stream(), created("c")));
  ASSERT_TRUE(append(*store, "c", ExpectedVersion::exactly(1), PoolDeleted{}));
  ASSERT_TRUE(append(*store, "c", ExpectedVersion::exactly(2), created("c", {0, 0, 0, 0})));
  auto report = verify_projections(*store, scratch.str() + "/replay", 10);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->differences.empty())
      << report->differences.front().projection << " " << report->differences.front().key;
}

}  // namespace
}  // namespace sbx
