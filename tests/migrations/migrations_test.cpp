#include "migrations/migrations.h"

#include <gtest/gtest.h>
#include <rocksdb/iterator.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "events/codec.h"
#include "migrations/rebuild.h"
#include "src/common/clock.h"
#include "store/event_store.h"
#include "store/keys.h"
#include "store/internal.h"
#include "store/layout.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::TempDir;

std::unique_ptr<EventStore> open_store(const std::string& path, bool read_only = false) {
  StoreOptions o;
  o.path = path;
  o.sync = false;
  o.read_only = read_only;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

std::vector<MigrationApplied> migration_events(EventStore& store) {
  std::vector<MigrationApplied> out;
  auto events = store.read_stream("system");
  for (const auto& e : *events) {
    if (auto* m = std::get_if<MigrationApplied>(&e.data)) out.push_back(*m);
  }
  return out;
}

// Runs a random workload on a fresh store at `path`; returns its log.
std::vector<Event> write_workload(const std::string& path, int steps, std::uint64_t seed) {
  auto store = open_store(path);
  testing::Workload w(*store, seed);
  for (int i = 0; i < steps; ++i) (void)w.step();
  return *store->read(1, SIZE_MAX);
}

TEST(Migrations, FreshDirectoryRunsEveryStepOnceAndRecordsThem) {
  TempDir dir;
  ManualClock clock;
  ASSERT_EQ(*schema_version_of(dir.str()), 0);
  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, kStoreSchemaVersion);
  ASSERT_EQ(report->applied.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(report->applied[i].version, i + 1);
    EXPECT_EQ(report->applied[i].position, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_EQ(*schema_version_of(dir.str()), 6);
  ASSERT_EQ(migration_steps().size(), 6u);

  auto again = migrate(dir.str(), clock);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->from_version, 6);

  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  auto recorded = migration_events(*store);
  ASSERT_EQ(recorded.size(), 6u);
  EXPECT_EQ(recorded[0].schema_version, 1);
  EXPECT_EQ(recorded[0].name, migration_steps()[0].name);
  EXPECT_EQ(recorded[1].schema_version, 2);
  EXPECT_EQ(recorded[2].schema_version, 3);
  EXPECT_EQ(recorded[3].schema_version, 4);
  EXPECT_EQ(recorded[4].schema_version, 5);
  EXPECT_EQ(recorded[5].schema_version, 6);
  auto log = store->read(1, 10);
  EXPECT_EQ(log->at(0).time, clock.now());
  EXPECT_EQ(log->at(0).actor, "migrations");
  // The store appends after the migration events.
  auto r = store->append({"system",
                          ExpectedVersion::exactly(6),
                          {testing::make_event(ServerStarted{"t", 0}, clock.now())}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_position, 7u);
}

TEST(Migrations, AMigratedDirectoryGetsItsIdentityOnItsFirstOpenAndKeepsIt) {
  // How sandboxd starts: migrate() creates the directory, then the store opens it.
  TempDir dir;
  ManualClock clock;
  ASSERT_TRUE(migrate(dir.str(), clock));
  std::string id;
  {
    auto store = open_store(dir.str());
    ASSERT_NE(store, nullptr);
    id = store->instance_id();
    EXPECT_EQ(id.size(), 36u) << id;
    // One MigrationApplied per step, no more: the identity is not a migration.
    EXPECT_EQ(store->head(), static_cast<std::uint64_t>(kStoreSchemaVersion));
  }
  auto report = migrate(dir.str(), clock);  // the next start: nothing to do
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->applied.empty());
  EXPECT_EQ(*schema_version_of(dir.str()), kStoreSchemaVersion);
  auto again = open_store(dir.str());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->instance_id(), id);
  auto secondary = open_store(dir.str(), /*read_only=*/true);
  ASSERT_NE(secondary, nullptr);
  EXPECT_EQ(secondary->instance_id(), id);
}

TEST(Migrations, OpenRefusesAnOlderSchemaUntilMigrated) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions only_first;
  only_first.target_version = 1;
  auto report = migrate(dir.str(), clock, only_first);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->to_version, 1);
  StoreOptions o;
  o.path = dir.str();
  auto refused = EventStore::open(o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("older"), std::string::npos);
  EXPECT_NE(refused.error().message.find("migrat"), std::string::npos);
  ASSERT_TRUE(migrate(dir.str(), clock));
  EXPECT_TRUE(EventStore::open(o).has_value());
}

TEST(Migrations, RefusesADirectoryNewerThanTheBinary) {
  TempDir dir;
  ManualClock clock;
  ASSERT_TRUE(migrate(dir.str(), clock));
  {
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    rocksdb::WriteBatch b;
    (*raw)->put_schema_version(b, 7);
    ASSERT_TRUE((*raw)->db()->Write(rocksdb::WriteOptions(), &b).ok());
  }
  auto r = migrate(dir.str(), clock);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "data directory schema 7 is newer than this binary (6)");
}

// The schema-1 fixture is built in the test: step 1 alone creates the layout, then a
// schema-1 writer (the v1 column families only: log, stream index, event ids, sandboxes,
// expiry) stores a real workload's events and their projections. Step 2 must then build
// by_state from the sandboxes column family alone.
struct V1Fixture {
  std::map<std::string, Sandbox> live;
  std::uint64_t head = 0;
};

V1Fixture write_v1_fixture(const std::string& path, const std::string& workload_dir,
                           const Clock& clock) {
  V1Fixture f;
  MigrateOptions only_first;
  only_first.target_version = 1;
  auto m = migrate(path, clock, only_first);
  EXPECT_TRUE(m) << m.error().message;
  auto events = write_workload(workload_dir, 1500, 99);
  auto raw = layout::RawDb::open(path, false);
  EXPECT_TRUE(raw);
  auto& db = **raw;
  EXPECT_FALSE(db.has(layout::kByState));
  std::uint64_t position = *db.last_position();  // the MigrationApplied event of step 1
  rocksdb::WriteBatch batch;
  std::vector<Event> shifted;
  for (auto e : events) {
    e.position = ++position;
    layout::stage_event(batch, layout::log_families(db), e, encode_event(e));
    shifted.push_back(std::move(e));
  }
  f.live = testing::replay_live(shifted);
  for (const auto& [id, s] : f.live) {
    (void)batch.Put(db.cf(layout::kSandboxes), id, encode_sandbox(s));
  }
  for (const auto& [deadline, id] : testing::expected_expiry(f.live)) {
    (void)batch.Put(db.cf(layout::kExpiry), keys::expiry_key(deadline, id), rocksdb::Slice());
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EXPECT_TRUE(db.db()->Write(wo, &batch).ok());
  f.head = position;
  return f;
}

TEST(Migrations, Step2BuildsTheStateIndexFromASchema1Store) {
  TempDir dir, work;
  ManualClock clock;
  auto fixture = write_v1_fixture(dir.str(), work.str(), clock);
  ASSERT_GT(fixture.live.size(), 20u);
  EXPECT_EQ(*schema_version_of(dir.str()), 1);

  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->from_version, 1);
  ASSERT_EQ(report->applied.size(), 5u);
  EXPECT_EQ(report->applied[0].version, 2);
  EXPECT_EQ(report->applied[0].position, fixture.head + 1);
  EXPECT_EQ(report->applied[1].version, 3);
  EXPECT_EQ(report->applied[2].version, 4);
  EXPECT_EQ(report->applied[3].version, 5);
  EXPECT_EQ(report->applied[4].version, 6);

  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->live_sandbox_count(), fixture.live.size());
  std::map<SandboxState, std::vector<std::pair<Micros, std::string>>> by_state;
  std::map<SandboxState, std::size_t> counts;
  for (const auto& [id, s] : fixture.live) {
    by_state[s.state].emplace_back(s.created_at, id);
    ++counts[s.state];
  }
  EXPECT_EQ(*store->count_by_state(), counts);
  EXPECT_GE(counts.size(), 3u);  // a workload that reaches several states
  for (auto& [state, entries] : by_state) {
    std::sort(entries.begin(), entries.end());
    std::vector<std::string> ids;
    for (auto& [t, id] : entries) ids.push_back(id);
    EXPECT_EQ(*store->sandbox_ids_in_state(state), ids) << to_string(state);
  }
  auto recorded = migration_events(*store);
  ASSERT_EQ(recorded.size(), 6u);
  EXPECT_EQ(recorded[1].schema_version, 2);

  // The store maintains the index from now on, and a rebuild from the log agrees with it.
  testing::Workload w(*store, 5);
  for (int i = 0; i < 300; ++i) (void)w.step();
  TempDir scratch;
  auto verify = verify_projections(*store, (scratch / "replay").string());
  ASSERT_TRUE(verify) << verify.error().message;
  EXPECT_TRUE(verify->differences.empty())
      << verify->differences[0].projection << " " << verify->differences[0].key;
}

TEST(Migrations, Step2RedoesAnInterruptedRun) {
  TempDir dir, work;
  ManualClock clock;
  auto fixture = write_v1_fixture(dir.str(), work.str(), clock);
  {
    // A crash after the DDL and before the batch: by_state exists (here with junk), schema 1.
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    ASSERT_TRUE((*raw)->ensure_column_families(2));
    ASSERT_TRUE((*raw)
                    ->db()
                    ->Put(rocksdb::WriteOptions(), (*raw)->cf(layout::kByState),
                          keys::by_state_key(SandboxState::kRunning, 1, "ghost"), "")
                    .ok());
  }
  EXPECT_EQ(*schema_version_of(dir.str()), 1);
  ASSERT_TRUE(migrate(dir.str(), clock));
  auto store = open_store(dir.str());
  std::size_t total = 0;
  auto counts = store->count_by_state();
  for (auto& [state, n] : *counts) total += n;
  EXPECT_EQ(total, fixture.live.size());
  auto running = *store->sandbox_ids_in_state(SandboxState::kRunning);
  EXPECT_EQ(std::count(running.begin(), running.end(), "ghost"), 0);
}

// --- step 3: registry credentials leave the log -------------------------------------------

// No 4 bytes of these appear elsewhere in the store (table-file compression keeps them
// literal for the byte scans).
constexpr std::string_view kUser = "Us7Kd2MvQ";
constexpr std::string_view kPendingPassword = "Pq4Lw9Xz2Rk7";
constexpr std::string_view kRunningPassword = "Rn3Vb8Hj5Ty1";

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "cf: key" of every entry of every family but `secrets` that holds `needle`, and every
// WAL file and table file (of another family) that does.
std::vector<std::string> leaks(const std::string& path, std::string_view needle) {
  std::vector<std::string> out;
  auto raw = layout::RawDb::open(path, false);
  EXPECT_TRUE(raw) << raw.error().message;
  if (!raw) return out;
  auto& db = **raw;
  for (const auto& name : layout::column_families_of(kStoreSchemaVersion)) {
    if (name == layout::kSecrets || !db.has(name)) continue;  // older schemas lack some
    std::unique_ptr<rocksdb::Iterator> it(
        db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().ToStringView().find(needle) != std::string_view::npos ||
          it->value().ToStringView().find(needle) != std::string_view::npos) {
        out.push_back(name + ": " + keys::describe_key(name, it->key().ToStringView()));
      }
    }
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db.db()->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    if (f.column_family_name == layout::kSecrets) continue;
    const auto p = std::filesystem::path(path) / std::filesystem::path(f.name).filename();
    if (read_bytes(p).find(needle) != std::string::npos) out.push_back("file " + p.string());
  }
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() == ".log" &&
        read_bytes(entry.path()).find(needle) != std::string::npos) {
      out.push_back("WAL " + entry.path().string());
    }
  }
  return out;
}

// The JSON a schema-2 store holds for `encoded` (written by today's encoder with
// `imageAuth` {"provided": true}): `imageAuth` with the username and password.
std::string with_old_auth(std::string encoded, std::string_view password) {
  const std::string now = R"("imageAuth":{"provided":true})";
  const std::string old = std::string(R"("imageAuth":{"username":")") + std::string(kUser) +
                          R"(","password":")" + std::string(password) + R"("})";
  const auto at = encoded.find(now);
  EXPECT_NE(at, std::string::npos) << encoded;
  if (at != std::string::npos) encoded.replace(at, now.size(), old);
  return encoded;
}
std::string with_schema(std::string encoded, int schema) {
  const std::string now = "\"schema\":" + std::to_string(current_schema("SandboxRequested"));
  const auto at = encoded.find(now);
  EXPECT_NE(at, std::string::npos) << encoded;
  if (at != std::string::npos) {
    encoded.replace(at, now.size(), "\"schema\":" + std::to_string(schema));
  }
  return encoded;
}

TEST(Migrations, Step3MovesRegistryCredentialsOutOfTheLogAndTheProjections) {
  TempDir dir;
  ManualClock clock;
  const std::string path = dir.str();
  MigrateOptions to2;
  to2.target_version = 2;
  ASSERT_TRUE(migrate(path, clock, to2));

  // A schema-2 store, written as sandboxd wrote it before: "pending" (schema-2 event) and
  // "running" (schema-1 event, then started) were created with image.auth, "plain" without.
  std::map<std::string, std::string> old_events;  // id -> the stored SandboxRequested JSON
  std::map<std::string, std::string> scrubbed;    // id -> what step 3 must leave
  {
    auto raw = layout::RawDb::open(path, false);
    ASSERT_TRUE(raw);
    auto& db = **raw;
    std::uint64_t position = *db.last_position();
    rocksdb::WriteBatch batch;
    std::vector<Event> written;
    auto put = [&](Event e, std::string json) {
      layout::stage_event(batch, layout::log_families(db), e, json);
      written.push_back(std::move(e));
    };
    auto requested = [&](const std::string& id, bool auth) {
      SandboxRequested r;
      r.sandbox_id = id;
      r.spec.image_uri = "registry.invalid/team/app:1";
      r.spec.env = {{"MODE", "test"}};
      r.spec.image_auth_provided = auth;
      Event e = testing::make_event(r, clock.now());
      e.position = ++position;
      e.stream = stream_of(id);
      e.version = 1;
      e.schema = current_schema(e.type());
      return e;
    };
    for (auto [id, password, schema] :
         {std::tuple{"pending", kPendingPassword, 2}, std::tuple{"running", kRunningPassword, 1}}) {
      Event e = requested(id, true);
      const std::string now = encode_event(e);
      old_events[id] = with_schema(with_old_auth(now, password), schema);
      scrubbed[id] = with_schema(now, schema);
      put(e, old_events[id]);
    }
    {
      Event e = requested("plain", false);
      old_events["plain"] = scrubbed["plain"] = with_schema(encode_event(e), 2);
      put(e, old_events["plain"]);
    }
    Event started = testing::make_event(SandboxStarted{"c1"}, clock.now());
    started.position = ++position;
    started.stream = stream_of("running");
    started.version = 2;
    put(started, encode_event(started));
    const auto live = testing::replay_live(written);
    ASSERT_EQ(live.size(), 3u);
    for (const auto& [id, s] : live) {
      std::string record = encode_sandbox(s);
      if (id != "plain") {
        record = with_old_auth(record, id == "pending" ? kPendingPassword : kRunningPassword);
      }
      (void)batch.Put(db.cf(layout::kSandboxes), id, record);
      (void)batch.Put(db.cf(layout::kByState), keys::by_state_key(s.state, s.created_at, id), "");
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db.db()->Write(wo, &batch).ok());
  }  // closed: flushed into table files
  ASSERT_FALSE(leaks(path, kPendingPassword).empty());  // the fixture holds them, on disk too
  ASSERT_FALSE(leaks(path, kRunningPassword).empty());

  auto report = migrate(path, clock);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->applied.size(), 4u);
  EXPECT_EQ(report->applied[0].version, 3);
  EXPECT_EQ(report->applied[1].version, 4);
  EXPECT_EQ(report->applied[2].version, 5);
  EXPECT_EQ(report->applied[3].version, 6);
  EXPECT_EQ(*schema_version_of(path), 6);

  for (std::string_view needle : {kPendingPassword, kRunningPassword, kUser}) {
    EXPECT_EQ(leaks(path, needle), std::vector<std::string>{}) << needle;
  }
  {
    // Each event is rewritten in place: its imageAuth only, its schema kept.
    auto raw = layout::RawDb::open(path, false);
    ASSERT_TRUE(raw);
    auto& db = **raw;
    std::unique_ptr<rocksdb::Iterator> it(
        db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(layout::kEvents)));
    std::map<std::string, std::string> stored;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto e = decode_event(it->value().ToStringView());
      ASSERT_TRUE(e) << e.error().message;
      if (e->type() == "SandboxRequested") {
        stored[std::get<SandboxRequested>(e->data).sandbox_id] = it->value().ToString();
      }
    }
    EXPECT_EQ(stored, scrubbed);
  }

  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->get_sandbox("pending")->spec.image_auth_provided);
  EXPECT_TRUE(store->get_sandbox("running")->spec.image_auth_provided);
  EXPECT_FALSE(store->get_sandbox("plain")->spec.image_auth_provided);
  EXPECT_EQ(store->get_sandbox("running")->state, SandboxState::kRunning);
  // The pending sandbox can still be provisioned with its credentials; the running one no
  // longer needs them.
  auto pending = store->sandbox_secrets("pending");
  ASSERT_TRUE(pending && pending->has_value());
  EXPECT_EQ((*pending)->image_auth,
            (ImageAuth{std::string(kUser), std::string(kPendingPassword)}));
  EXPECT_EQ(*store->sandbox_secrets("running"), std::nullopt);
  EXPECT_EQ(*store->sandbox_secrets("plain"), std::nullopt);
  auto events = store->read_stream(stream_of("running"));
  ASSERT_TRUE(events);
  EXPECT_TRUE(std::get<SandboxRequested>(events->front().data).spec.image_auth_provided);
  // The projections still equal a replay of the (rewritten) log.
  TempDir scratch;
  auto verify = verify_projections(*store, (scratch / "replay").string());
  ASSERT_TRUE(verify) << verify.error().message;
  EXPECT_TRUE(verify->differences.empty()) << verify->differences[0].projection << " "
                                           << verify->differences[0].key;
  store.reset();
  auto again = migrate(path, clock);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->applied.empty());
}

TEST(Rebuild, ReplayOfALiveStoreEqualsItsProjections) {
  TempDir dir, scratch;
  auto store = open_store(dir.str());
  testing::Workload w(*store, 17);
  for (int i = 0; i < 3000; ++i) (void)w.step();
  ASSERT_TRUE(store->save_checkpoint("x", 5));
  auto rebuilt = rebuild_projections(*store, (scratch / "a").string());
  ASSERT_TRUE(rebuilt) << rebuilt.error().message;
  EXPECT_EQ(rebuilt->events, store->head());
  EXPECT_EQ(rebuilt->head, store->head());
  EXPECT_EQ(rebuilt->live_sandboxes, store->live_sandbox_count());
  auto other = open_store((scratch / "a").string());
  auto diff = compare_projections(*store, *other);
  ASSERT_TRUE(diff) << diff.error().message;
  EXPECT_TRUE(diff->empty()) << (*diff)[0].projection << " " << (*diff)[0].key;

  // A non-empty scratch directory is refused.
  auto again = rebuild_projections(*store, (scratch / "a").string());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
}

TEST(Rebuild, FindsDriftedProjections) {
  TempDir dir, scratch;
  std::string victim, expiring_victim;
  {
    auto store = open_store(dir.str());
    testing::Workload w(*store, 23);
    for (int i = 0; i < 1500; ++i) (void)w.step();
    auto exp = store->expiring(INT64_MAX, 1);
    ASSERT_FALSE(exp->empty());
    expiring_victim = (*exp)[0].second;
    for (const auto& s : store->list_sandboxes()) {
      if (s->id != expiring_victim) victim = s->id;
    }
  }
  {
    // Damage the projections behind the store's back: a wrong state, a lost expiry entry.
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    std::string json;
    ASSERT_TRUE((*raw)
                    ->db()
                    ->Get(rocksdb::ReadOptions(), (*raw)->cf(layout::kSandboxes), victim, &json)
                    .ok());
    auto sb = decode_sandbox(json);
    ASSERT_TRUE(sb);
    sb->status_message = "tampered";
    ASSERT_TRUE((*raw)
                    ->db()
                    ->Put(rocksdb::WriteOptions(), (*raw)->cf(layout::kSandboxes), victim,
                          encode_sandbox(*sb))
                    .ok());
    std::unique_ptr<rocksdb::Iterator> it(
        (*raw)->db()->NewIterator(rocksdb::ReadOptions(), (*raw)->cf(layout::kExpiry)));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    ASSERT_TRUE(
        (*raw)->db()->Delete(rocksdb::WriteOptions(), (*raw)->cf(layout::kExpiry), it->key()).ok());
  }
  auto live = open_store(dir.str(), /*read_only=*/true);
  auto verify = verify_projections(*live, (scratch / "r").string());
  ASSERT_TRUE(verify) << verify.error().message;
  std::set<std::string> projections;
  for (const auto& d : verify->differences) projections.insert(d.projection + ":" + d.key);
  EXPECT_TRUE(projections.count("sandboxes:" + victim)) << verify->differences.size();
  EXPECT_TRUE(projections.count("memory:" + victim));
  bool expiry_found = false;
  for (const auto& d : verify->differences) {
    if (d.projection == "expiry") {
      expiry_found = true;
      EXPECT_EQ(d.live, "<missing>");
      EXPECT_NE(d.key.find(expiring_victim), std::string::npos);
    }
  }
  EXPECT_TRUE(expiry_found);
  EXPECT_EQ(verify->differences.size(), 3u);
}

TEST(Rebuild, WorksOnASecondaryOfARunningPrimary) {
  TempDir dir, scratch;
  auto primary = open_store(dir.str());
  testing::Workload w(*primary, 31);
  for (int i = 0; i < 500; ++i) (void)w.step();
  auto secondary = open_store(dir.str(), /*read_only=*/true);
  for (int i = 0; i < 500; ++i) (void)w.step();  // the primary keeps writing
  ASSERT_TRUE(secondary->catch_up());
  EXPECT_EQ(secondary->head(), primary->head());
  auto verify = verify_projections(*secondary, (scratch / "s").string());
  ASSERT_TRUE(verify) << verify.error().message;
  EXPECT_EQ(verify->rebuild.events, primary->head());
  EXPECT_TRUE(verify->differences.empty());
}

// A schema-3 idempotency record as that schema wrote it: expires_at (i64, sign bit flipped),
// HTTP status (u32), sandbox id.
std::string v3_idempotency_value(Micros expires_at, std::uint32_t http_status,
                                 const std::string& sandbox_id) {
  std::string v;
  keys::put_micros(v, expires_at);
  keys::put_u32(v, http_status);
  v += sandbox_id;
  return v;
}

void put_raw(const std::string& path, std::string_view cf, const std::string& key,
             const std::string& value) {
  auto raw = layout::RawDb::open(path, false);
  ASSERT_TRUE(raw) << raw.error().message;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  ASSERT_TRUE((*raw)->db()->Put(wo, (*raw)->cf(cf), key, value).ok());
}

TEST(Migrations, Step4RewritesIdempotencyRecordsToHoldTheOutcome) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions to3;
  to3.target_version = 3;
  ASSERT_TRUE(migrate(dir.str(), clock, to3));
  const Micros live_until = clock.now() + 3600 * kMicrosPerSecond;
  const Micros expired_at = clock.now() - kMicrosPerSecond;
  put_raw(dir.str(), layout::kIdempotency, "key-live", v3_idempotency_value(live_until, 202, "sb-1"));
  put_raw(dir.str(), layout::kIdempotency, "key-old", v3_idempotency_value(expired_at, 202, "sb-2"));

  auto report = migrate(dir.str(), clock);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->applied.size(), 3u);
  EXPECT_EQ(report->applied[0].version, 4);
  EXPECT_EQ(report->applied[1].version, 5);
  EXPECT_EQ(report->applied[2].version, 6);
  EXPECT_EQ(*schema_version_of(dir.str()), 6);

  auto store = open_store(dir.str());
  ASSERT_NE(store, nullptr);
  auto live = store->idempotency("key-live", clock.now());
  ASSERT_TRUE(live) << live.error().message;
  ASSERT_TRUE(live->has_value());
  EXPECT_EQ((*live)->sandbox_id, "sb-1");
  EXPECT_EQ((*live)->outcome, RequestOutcome::kAccepted);
  EXPECT_EQ((*live)->expires_at, live_until);
  // Expired records are rewritten too (and still read as absent once expired).
  auto old = store->idempotency("key-old", expired_at - 1);
  ASSERT_TRUE(old && old->has_value());
  EXPECT_EQ((*old)->sandbox_id, "sb-2");
  EXPECT_FALSE(store->idempotency("key-old", clock.now())->has_value());
  // Stored in the current encoding: the outcome byte, no HTTP status.
  const auto& raw = store_internal::Access::raw(*store);
  std::string value;
  ASSERT_TRUE(raw.db()->Get(rocksdb::ReadOptions(), raw.cf(layout::kIdempotency), "key-live", &value).ok());
  EXPECT_EQ(value, keys::idempotency_value({"key-live", "sb-1", RequestOutcome::kAccepted, live_until}));
  auto recorded = migration_events(*store);
  ASSERT_EQ(recorded.size(), 6u);
  EXPECT_EQ(recorded[3].schema_version, 4);
}

TEST(Migrations, Step4RefusesARecordSandboxdNeverWroteAndChangesNothing) {
  TempDir dir;
  ManualClock clock;
  MigrateOptions to3;
  to3.target_version = 3;
  ASSERT_TRUE(migrate(dir.str(), clock, to3));
  put_raw(dir.str(), layout::kIdempotency, "key-good", v3_idempotency_value(clock.now(), 202, "a"));
  put_raw(dir.str(), layout::kIdempotency, "key-bad", v3_idempotency_value(clock.now(), 500, "b"));
  auto report = migrate(dir.str(), clock);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(report.error().message.find("key-bad"), std::string::npos) << report.error().message;
  EXPECT_EQ(*schema_version_of(dir.str()), 3);
  auto raw = layout::RawDb::open(dir.str(), false);
  ASSERT_TRUE(raw);
  std::string value;
  ASSERT_TRUE((*raw)->db()->Get(rocksdb::ReadOptions(), (*raw)->cf(layout::kIdempotency), "key-good", &value).ok());
  EXPECT_EQ(value, v3_idempotency_value(clock.now(), 202, "a"));  // not half-migrated
}

}  // namespace
}  // namespace sbx
