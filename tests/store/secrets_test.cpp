// Registry credentials stay out of the log and the projections (store/FORMAT.md "secrets").
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "store/event_store.h"
#include "store/internal.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/secrets.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;
// No 4 bytes of either appear elsewhere in the store, so that table-file compression
// (Snappy back-references) keeps them literal for the byte scans.
constexpr std::string_view kPassword = "Qx7vKp2Zt9WmJ4";
constexpr std::string_view kUser = "u5Rb8NcYh3";

std::unique_ptr<EventStore> open_store(const std::string& path) {
  StoreOptions o;
  o.path = path;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

// --- credentials --------------------------------------------------------------------------

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every key and value of every column family but `secrets` that holds `needle`, as
// "cf: key".
std::vector<std::string> leaks_in_column_families(const layout::RawDb& raw,
                                                  std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& name : layout::column_families_of(kStoreSchemaVersion)) {
    if (name == "secrets") continue;
    auto* cf = raw.cf(name);
    EXPECT_NE(cf, nullptr) << name;
    if (cf == nullptr) continue;
    std::unique_ptr<rocksdb::Iterator> it(raw.db()->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (contains(it->key().ToStringView(), needle) ||
          contains(it->value().ToStringView(), needle)) {
        out.push_back(name + ": " + it->key().ToString());
      }
    }
  }
  return out;
}

// The WAL files and the SST files of every column family but `secrets` that hold `needle`.
std::vector<std::string> leaks_in_files(const std::string& path, std::string_view needle) {
  std::vector<std::string> out;
  auto raw = layout::RawDb::open(path, false);
  EXPECT_TRUE(raw.has_value());
  if (!raw) return out;
  std::vector<rocksdb::LiveFileMetaData> files;
  (*raw)->db()->GetLiveFilesMetaData(&files);
  EXPECT_FALSE(files.empty());
  for (const auto& f : files) {
    if (f.column_family_name == "secrets") continue;
    const auto p = std::filesystem::path(path) / std::filesystem::path(f.name).filename();
    if (contains(file_bytes(p), needle)) out.push_back(f.column_family_name + ": " + p.string());
  }
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() != ".log") continue;  // the WAL
    if (contains(file_bytes(entry.path()), needle)) out.push_back("WAL: " + entry.path().string());
  }
  return out;
}

AppendRequest create_with_auth(const std::string& id) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "registry.invalid/private:1";
  r.spec.image_auth_provided = true;
  AppendRequest a;
  a.stream = stream_of(id);
  a.expected = ExpectedVersion::no_stream();
  a.events.push_back(make_event(r, kT0));
  a.secrets = SandboxSecrets{ImageAuth{std::string(kUser), std::string(kPassword)}};
  return a;
}

AppendRequest outcome(const std::string& id, std::uint64_t version, EventData data) {
  AppendRequest a;
  a.stream = stream_of(id);
  a.expected = ExpectedVersion::exactly(version);
  a.events.push_back(make_event(std::move(data), kT0 + 10));
  return a;
}

const SandboxSecrets kSecrets{ImageAuth{std::string(kUser), std::string(kPassword)}};

std::optional<SandboxSecrets> secrets_of(const EventStore& store, const std::string& id) {
  auto s = store.sandbox_secrets(id);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? *s : std::nullopt;
}

TEST(Secrets, NoColumnFamilyButSecretsAndNoLogOrTableFileHoldsTheCredentials) {
  TempDir dir;
  const std::string path = (dir / "data").string();
  {
    auto store = open_store(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->append(create_with_auth("sb1")));
    for (std::string_view needle : {kPassword, kUser}) {
      EXPECT_EQ(leaks_in_column_families(store_internal::Access::raw(*store), needle),
                std::vector<std::string>{})
          << needle;
    }
    // The event and the projection record only that credentials were given.
    auto sb = store->get_sandbox("sb1");
    ASSERT_NE(sb, nullptr);
    EXPECT_TRUE(sb->spec.image_auth_provided);
    auto events = store->read_stream(stream_of("sb1"));
    ASSERT_TRUE(events && events->size() == 1u);
    EXPECT_TRUE(std::get<SandboxRequested>(events->front().data).spec.image_auth_provided);
    // The provisioner's view.
    EXPECT_EQ(secrets_of(*store, "sb1"), kSecrets);
  }
  // Closed: every memtable is flushed into table files and the WAL is gone.
  for (std::string_view needle : {kPassword, kUser}) {
    EXPECT_EQ(leaks_in_files(path, needle), std::vector<std::string>{}) << needle;
  }
  // The credentials survive the restart (they are durable with the create).
  auto store = open_store(path);
  EXPECT_EQ(secrets_of(*store, "sb1"), kSecrets);
}

TEST(Secrets, AreDeletedWithTheEventThatEndsPending) {
  TempDir dir;
  auto store = open_store((dir / "data").string());
  ASSERT_NE(store, nullptr);
  // Started.
  ASSERT_TRUE(store->append(create_with_auth("started")));
  ASSERT_TRUE(store->append(outcome("started", 1, ProvisioningStarted{"p-0"})));
  EXPECT_EQ(secrets_of(*store, "started"), kSecrets);  // still Pending
  ASSERT_TRUE(store->append(outcome("started", 2, SandboxStarted{"c1"})));
  EXPECT_EQ(secrets_of(*store, "started"), std::nullopt);
  // Provisioning failed.
  ASSERT_TRUE(store->append(create_with_auth("failed")));
  ASSERT_TRUE(store->append(outcome("failed", 1, ProvisioningFailed{"DOCKER::X", "no"})));
  EXPECT_EQ(store->get_sandbox("failed")->state, SandboxState::kFailed);
  EXPECT_EQ(secrets_of(*store, "failed"), std::nullopt);
  // Deleted while Pending (Stopping).
  ASSERT_TRUE(store->append(create_with_auth("deleted")));
  ASSERT_TRUE(store->append(outcome("deleted", 1, DeletionRequested{})));
  EXPECT_EQ(secrets_of(*store, "deleted"), std::nullopt);
  // Created and started in one append: the put and the delete share the batch.
  AppendRequest both = create_with_auth("one-batch");
  both.events.push_back(make_event(SandboxStarted{"c2"}, kT0 + 1));
  ASSERT_TRUE(store->append(std::move(both)));
  EXPECT_EQ(store->get_sandbox("one-batch")->state, SandboxState::kRunning);
  EXPECT_EQ(secrets_of(*store, "one-batch"), std::nullopt);
  // Nothing is left in the family but the store's egress token key (not a sandbox's).
  const auto& raw = store_internal::Access::raw(*store);
  std::unique_ptr<rocksdb::Iterator> it(
      raw.db()->NewIterator(rocksdb::ReadOptions(), raw.cf(layout::kSecrets)));
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key().ToString(), std::string(store_detail::kEgressTokenKeyName));
  it->Next();
  EXPECT_FALSE(it->Valid());
}

TEST(Secrets, OnlyACreateCarriesThemAndOnlyAReadWriteStoreReadsThem) {
  TempDir dir;
  const std::string path = (dir / "data").string();
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(create_with_auth("sb1")));
  AppendRequest later = outcome("sb1", 1, ProvisioningStarted{"p-0"});
  later.secrets = kSecrets;
  auto refused = store->append(std::move(later));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  AppendRequest system;
  system.stream = std::string(kSystemStream);
  system.expected = ExpectedVersion::no_stream();
  system.events.push_back(make_event(ServerStarted{"t", 0}, kT0));
  system.secrets = kSecrets;
  EXPECT_EQ(store->append(std::move(system)).error().code, ErrorCode::kInvalidArgument);
  AppendRequest unrecorded = create_with_auth("sb2");  // its spec does not record them
  std::get<SandboxRequested>(unrecorded.events.front().data).spec.image_auth_provided = false;
  EXPECT_EQ(store->append(std::move(unrecorded)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->head(), 1u);  // nothing of any was written

  StoreOptions o;
  o.path = path;
  o.read_only = true;
  auto secondary = EventStore::open(o);
  ASSERT_TRUE(secondary.has_value()) << secondary.error().message;
  auto read = (*secondary)->sandbox_secrets("sb1");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kFailedPrecondition);
}

TEST(Secrets, TheEgressTokenKeyIsMadeOnceKeptAcrossReopensAndNeverInTheLog) {
  TempDir dir;
  const std::string path = (dir / "data").string();
  std::string key;
  {
    auto store = open_store(path);
    ASSERT_NE(store, nullptr);
    key = store->egress_token_key();
    ASSERT_EQ(key.size(), 32u);
    EXPECT_NE(key, std::string(32, '\0'));
    ASSERT_TRUE(store->append(create_with_auth("sb1")));
    // The key's record is not a sandbox's: sandbox secrets are unaffected by it.
    auto read = store->sandbox_secrets("sb1");
    ASSERT_TRUE(read && *read);
    EXPECT_EQ((*read)->image_auth->username, kUser);
  }
  {
    auto again = open_store(path);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->egress_token_key(), key);
  }
  StoreOptions o;
  o.path = path;
  o.read_only = true;
  auto secondary = EventStore::open(o);
  ASSERT_TRUE(secondary.has_value()) << secondary.error().message;
  EXPECT_EQ((*secondary)->egress_token_key(), key);
  // Another data directory, another key.
  TempDir other;
  auto fresh = open_store((other / "data").string());
  ASSERT_NE(fresh, nullptr);
  EXPECT_NE(fresh->egress_token_key(), key);
}

TEST(Secrets, ValueEncodingRoundTrips) {
  for (const SandboxSecrets& s :
       {kSecrets, SandboxSecrets{ImageAuth{"", ""}},
        SandboxSecrets{ImageAuth{std::string("a\0b", 3), std::string("p\0", 2)}},
        SandboxSecrets{}}) {
    EXPECT_EQ(keys::parse_secrets_value(keys::secrets_value(s)), s);
  }
  EXPECT_EQ(keys::parse_secrets_value(""), std::nullopt);
  EXPECT_EQ(keys::parse_secrets_value(std::string("\x02\x01\0\0\0\0", 6)), std::nullopt);
  EXPECT_EQ(keys::parse_secrets_value(std::string("\x01\x01\0\0\0\x09" "ab", 8)), std::nullopt);
}

}  // namespace
}  // namespace sbx
