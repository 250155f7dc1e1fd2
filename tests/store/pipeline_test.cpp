// The writer pipeline (group N+1 staged while group N is written) and write failures.
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "store/event_store.h"
#include "store/internal.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

AppendRequest create(const std::string& id) { return testing::create_append(id, kT0); }

AppendRequest renew(const std::string& id, std::uint64_t expected, Micros at) {
  return {stream_of(id),
          ExpectedVersion::exactly(expected),
          {make_event(ExpirationRenewed{at}, kT0 + 1)}};
}

TEST(WriterPipeline, GroupsStagedOnTopOfInFlightGroupsSeeTheirChanges) {
  TempDir dir;
  StoreOptions o;
  o.path = dir.str();
  o.max_batch_events = 1;  // one append per group: many groups in flight
  auto store = EventStore::open(o);
  ASSERT_TRUE(store);
  std::vector<AppendRequest> rs;
  rs.push_back(create("p"));
  for (std::uint64_t v = 1; v < 40; ++v) rs.push_back(renew("p", v, kT0 + 1000 + v));
  rs.push_back(renew("p", 3, kT0));  // stale: conflicts
  rs.push_back(rs[5]);               // a retry of an append probably still in flight
  rs.push_back(create("p"));         // the stream exists by now
  rs.push_back(
      {stream_of("p"), ExpectedVersion::exactly(40), {make_event(DeletionRequested{}, kT0)}});
  rs.push_back(
      {stream_of("p"), ExpectedVersion::exactly(41), {make_event(SandboxTerminated{0, ""}, kT0)}});
  rs.push_back(renew("p", 42, kT0));  // after termination: no projection change
  auto out = (*store)->append_all(rs);
  ASSERT_EQ(out.size(), rs.size());
  for (std::uint64_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(out[i]) << i << ": " << out[i].error().message;
    EXPECT_EQ(out[i]->first_position, i + 1);
    EXPECT_EQ(out[i]->stream_version, i + 1);
  }
  ASSERT_FALSE(out[40]);
  EXPECT_EQ(out[40].error().code, ErrorCode::kConflict);
  ASSERT_TRUE(out[41]);
  EXPECT_TRUE(out[41]->deduplicated);
  EXPECT_EQ(out[41]->first_position, 6u);
  EXPECT_EQ(out[42].error().code, ErrorCode::kConflict);
  ASSERT_TRUE(out[43]);
  ASSERT_TRUE(out[44]);
  ASSERT_TRUE(out[45]);
  EXPECT_EQ(out[45]->first_position, 43u);
  EXPECT_EQ((*store)->head(), 43u);
  EXPECT_EQ((*store)->get_sandbox("p"), nullptr);
  EXPECT_TRUE((*store)->expiring(INT64_MAX, 10)->empty());
  auto log = (*store)->read(1, 100);
  ASSERT_EQ(log->size(), 43u);
  auto live = testing::replay_live(*log);
  EXPECT_TRUE(live.empty());
}

TEST(WriterPipeline, ConcurrentWorkloadWithTinyGroupsMatchesAReplay) {
  TempDir dir;
  StoreOptions o;
  o.path = dir.str();
  o.sync = false;
  o.max_batch_events = 2;
  auto store = EventStore::open(o);
  ASSERT_TRUE(store);
  std::vector<std::thread> ts;
  for (int t = 0; t < 6; ++t) {
    ts.emplace_back([&, t] {
      testing::Workload w(**store, 500 + t);
      for (int i = 0; i < 400; ++i) (void)w.step();
    });
  }
  for (auto& t : ts) t.join();
  auto log = (*store)->read(1, SIZE_MAX);
  ASSERT_EQ(log->size(), (*store)->head());
  auto live = testing::replay_live(*log);
  ASSERT_EQ(live.size(), (*store)->live_sandbox_count());
  for (const auto& [id, s] : live) EXPECT_EQ(*(*store)->get_sandbox(id), s);
  EXPECT_EQ(*(*store)->expiring(INT64_MAX, SIZE_MAX), testing::expected_expiry(live));
}

// A group stays open until its turn and then takes in what was queued meanwhile, which may
// change streams it already staged (and whose projection entries it already encoded). Eight
// threads drive four shared sandboxes through pause/resume (exact expected versions,
// retrying conflicts) and renewals (any version), synced so that groups wait on each other;
// afterwards the memory, the persisted projection (after a reopen), the expiry index and the
// by_state index all equal a replay of the log.
TEST(WriterPipeline, GroupsThatTakeInLateAppendsToTheirOwnStreamsMatchAReplay) {
  TempDir dir;
  StoreOptions o;
  o.path = dir.str();
  o.sync = true;
  auto store = EventStore::open(o);
  ASSERT_TRUE(store);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back("shared-" + std::to_string(i));
    ASSERT_TRUE((*store)->append(create(ids.back())));
    AppendRequest started{stream_of(ids.back()),
                          ExpectedVersion::exactly(1),
                          {make_event(SandboxStarted{"c"}, kT0 + 1, Reason::kRuntime)}};
    ASSERT_TRUE((*store)->append(std::move(started)));
  }
  std::atomic<int> conflicts{0}, appended{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(77 + t);
      for (int i = 0; i < 120; ++i) {
        const std::string& id = ids[rng() % ids.size()];
        for (int attempt = 0; attempt < 200; ++attempt) {
          auto sb = (*store)->get_sandbox(id);
          ASSERT_TRUE(sb);
          EventData d;
          const Micros at = kT0 + static_cast<Micros>(rng() % 1'000'000) * kMicrosPerSecond;
          // Renewals go in with any expected version, like a retried outcome: they may
          // land in a group that already holds an event of the same sandbox.
          const bool renew_now = rng() % 2 == 0;
          if (renew_now) {
            d = ExpirationRenewed{at};
          } else {
            switch (sb->state) {
              case SandboxState::kRunning:
                d = PauseRequested{};
                break;
              case SandboxState::kPausing:
                d = SandboxPaused{};
                break;
              case SandboxState::kPaused:
                d = ResumeRequested{};
                break;
              case SandboxState::kResuming:
                d = SandboxResumed{};
                break;
              default:
                FAIL() << "unexpected state";
            }
          }
          AppendRequest r{
              stream_of(id),
              renew_now ? ExpectedVersion::any() : ExpectedVersion::exactly(sb->version),
              {make_event(std::move(d), kT0 + 2 + i)}};
          auto got = (*store)->append(std::move(r));
          if (got) {
            ++appended;
            break;
          }
          ASSERT_EQ(got.error().code, ErrorCode::kConflict) << got.error().message;
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(appended.load(), 8 * 120);
  EXPECT_GT(conflicts.load(), 0) << "the threads never raced; the test shows nothing";

  auto check = [&](EventStore& s, const char* when) {
    SCOPED_TRACE(when);
    auto log = s.read(1, SIZE_MAX);
    ASSERT_TRUE(log);
    ASSERT_EQ(log->size(), s.head());
    auto live = testing::replay_live(*log);
    ASSERT_EQ(live.size(), s.live_sandbox_count());
    for (const auto& [id, sb] : live) EXPECT_EQ(*s.get_sandbox(id), sb);
    EXPECT_EQ(*s.expiring(INT64_MAX, SIZE_MAX), testing::expected_expiry(live));
    std::map<SandboxState, std::vector<std::string>> by_state;
    for (const auto& [id, sb] : live) by_state[sb.state].push_back(id);
    for (SandboxState st : {SandboxState::kRunning, SandboxState::kPausing, SandboxState::kPaused,
                            SandboxState::kResuming}) {
      auto listed = s.sandbox_ids_in_state(st);
      ASSERT_TRUE(listed);
      std::vector<std::string> got = *listed;
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, by_state[st]) << to_string(st);
    }
  };
  check(**store, "live");
  (*store)->close();
  store = EventStore::open(o);
  ASSERT_TRUE(store);
  check(**store, "after reopen");
}

// Fails every write and sync of WAL files while `fail` is set.
class FailingWalEnv : public rocksdb::EnvWrapper {
 public:
  FailingWalEnv() : rocksdb::EnvWrapper(rocksdb::Env::Default()) {}
  const char* Name() const override { return "FailingWalEnv"; }
  std::atomic<bool> fail{false};
  std::atomic<int> failures{0};

  rocksdb::Status NewWritableFile(const std::string& name,
                                  std::unique_ptr<rocksdb::WritableFile>* result,
                                  const rocksdb::EnvOptions& options) override {
    auto s = target()->NewWritableFile(name, result, options);
    if (s.ok() && name.ends_with(".log"))
      *result = std::make_unique<File>(std::move(*result), this);
    return s;
  }

 private:
  class File : public rocksdb::WritableFileWrapper {
   public:
    File(std::unique_ptr<rocksdb::WritableFile> f, FailingWalEnv* env)
        : rocksdb::WritableFileWrapper(f.get()), owned_(std::move(f)), env_(env) {}
    rocksdb::Status Append(const rocksdb::Slice& data) override {
      if (env_->fail) return injected();
      return rocksdb::WritableFileWrapper::Append(data);
    }
    rocksdb::Status Sync() override {
      if (env_->fail) return injected();
      return rocksdb::WritableFileWrapper::Sync();
    }
    rocksdb::Status Fsync() override {
      if (env_->fail) return injected();
      return rocksdb::WritableFileWrapper::Fsync();
    }

   private:
    rocksdb::Status injected() {
      ++env_->failures;
      return rocksdb::Status::IOError("injected WAL failure");
    }
    std::unique_ptr<rocksdb::WritableFile> owned_;
    FailingWalEnv* env_;
  };
};

TEST(WriteFailure, FailsTheBatchLeavesMemoryUnchangedAndRecovers) {
  TempDir dir;
  FailingWalEnv env;
  StoreOptions o;
  o.path = dir.str();
  o.max_batch_events = 1;  // the failed group has successors staged on top of it
  {
    auto opened = store_internal::Access::open(o, &env);
    ASSERT_TRUE(opened) << opened.error().message;
    auto& store = **opened;
    ASSERT_TRUE(store.append(create("a")));
    std::vector<Event> heard;
    store.add_commit_listener([&](const std::vector<Event>& evs, const CommitStats&) {
      heard.insert(heard.end(), evs.begin(), evs.end());
    });

    env.fail = true;
    auto failed = store.append_all({create("b"), renew("a", 1, kT0 + 99), create("c")});
    for (const auto& r : failed) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
    }
    EXPECT_GT(env.failures.load(), 0);
    EXPECT_EQ(store.head(), 1u);
    EXPECT_EQ(store.get_sandbox("b"), nullptr);
    EXPECT_EQ(store.get_sandbox("a")->version, 1u);
    EXPECT_EQ(store.get_sandbox("a")->expires_at, kT0 + kMicrosPerSecond);
    EXPECT_EQ(store.stream_version("sandbox-a"), 1u);
    EXPECT_TRUE(heard.empty());

    env.fail = false;
    // RocksDB does not resume after a failed WAL write: the store keeps refusing writes
    // (nothing half-written gets acknowledged) until it is reopened.
    auto refused = store.append(create("b"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(store.head(), 1u);
    EXPECT_EQ(store.get_sandbox("a")->version, 1u);  // reads keep working
    EXPECT_TRUE(heard.empty());
  }
  {
    auto opened = store_internal::Access::open(o, &env);
    ASSERT_TRUE(opened) << opened.error().message;
    auto& store = **opened;
    EXPECT_EQ(store.head(), 1u);
    auto retried = store.append(create("b"));
    ASSERT_TRUE(retried) << retried.error().message;
    EXPECT_EQ(retried->first_position, 2u);  // no gap where the failed batch was
    ASSERT_TRUE(store.append(renew("a", 1, kT0 + 99)));
    EXPECT_EQ(store.get_sandbox("a")->expires_at, kT0 + 99);
  }
  StoreOptions plain;
  plain.path = dir.str();
  auto reopened = EventStore::open(plain);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto log = (*reopened)->read(1, 100);
  ASSERT_EQ(log->size(), 3u);
  for (std::size_t i = 0; i < log->size(); ++i) EXPECT_EQ((*log)[i].position, i + 1);
  EXPECT_EQ((*reopened)->get_sandbox("c"), nullptr);
  EXPECT_EQ((*reopened)->live_sandbox_count(), 2u);
  EXPECT_EQ((*reopened)->get_sandbox("a")->expires_at, kT0 + 99);
}

}  // namespace
}  // namespace sbx
