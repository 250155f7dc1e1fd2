#include "store/event_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "src/common/uuid.h"
#include "store/internal.h"
#include "store/keys.h"
#include "store/layout.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::make_event;
using testing::TempDir;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

std::unique_ptr<EventStore> open_store(const std::string& path, bool sync = true) {
  StoreOptions o;
  o.path = path;
  o.sync = sync;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

AppendRequest system_append(ExpectedVersion ex, int n, const std::string& kind = "died") {
  AppendRequest r;
  r.stream = std::string(kSystemStream);
  r.expected = ex;
  for (int i = 0; i < n; ++i) {
    r.events.push_back(
        make_event(ReconcileFinding{kind, "sb-" + std::to_string(i), "detail"}, kT0 + i));
  }
  return r;
}

AppendRequest create_request(const std::string& id, std::optional<Micros> expires_at,
                             Micros t = kT0) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "img:1";
  r.expires_at = expires_at;
  r.metadata = {{"team", "a"}};
  AppendRequest a;
  a.stream = stream_of(id);
  a.expected = ExpectedVersion::no_stream();
  a.events.push_back(make_event(r, t));
  return a;
}

AppendRequest sandbox_append(const std::string& id, std::uint64_t version, EventData data,
                             Micros t = kT0 + 10) {
  AppendRequest a;
  a.stream = stream_of(id);
  a.expected = ExpectedVersion::exactly(version);
  a.events.push_back(make_event(std::move(data), t));
  return a;
}

TEST(EventStore, AppendReturnsTheSandboxAsTheProjectionFoldedIt) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto created = store->append(create_request("s1", kT0 + 60'000'000));
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_NE(created->sandbox, nullptr);
  EXPECT_EQ(created->sandbox->id, "s1");
  EXPECT_EQ(created->sandbox->state, SandboxState::kPending);
  EXPECT_EQ(created->sandbox->version, 1u);
  // The very record the projection serves, not a copy of it.
  EXPECT_EQ(created->sandbox, store->get_sandbox("s1"));

  // Several events in one append: the state after the last one.
  AppendRequest two = sandbox_append("s1", 1, SandboxStarted{"c1"});
  two.events.push_back(make_event(PauseRequested{}, kT0 + 11));
  auto paused = store->append(std::move(two));
  ASSERT_TRUE(paused);
  ASSERT_NE(paused->sandbox, nullptr);
  EXPECT_EQ(paused->sandbox->state, SandboxState::kPausing);
  EXPECT_EQ(paused->sandbox->runtime_id, "c1");
  EXPECT_EQ(paused->sandbox->version, 3u);
  EXPECT_EQ(*paused->sandbox, *store->get_sandbox("s1"));
}

TEST(EventStore, AppendThatEndsASandboxReturnsItsFinalStateWhichNoReadServes) {
  TempDir dir;
  auto store = open_store(dir.str());
  ASSERT_TRUE(store->append(create_request("s1", std::nullopt)));
  auto ended = store->append(sandbox_append("s1", 1, SandboxTerminated{std::nullopt, ""}));
  ASSERT_TRUE(ended) << ended.error().message;
  ASSERT_NE(ended->sandbox, nullptr);
  EXPECT_EQ(ended->sandbox->state, SandboxState::kTerminated);
  EXPECT_EQ(store->get_sandbox("s1"), nullptr);
  // Events after the end change no projection: no sandbox.
  auto after = store->append(
      sandbox_append("s1", 2, MetadataPatched{{{"k", "v"}}, {}}));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->sandbox, nullptr);
}

TEST(EventStore, AppendToANonSandboxStreamOrADeduplicatedAppendReturnsNoSandbox) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sys = store->append(system_append(ExpectedVersion::any(), 2));
  ASSERT_TRUE(sys);
  EXPECT_EQ(sys->sandbox, nullptr);
  AppendRequest req = create_request("s1", std::nullopt);
  req.events[0].event_id = "fixed-id";
  AppendRequest retry = req;
  ASSERT_TRUE(store->append(std::move(req)));
  auto dedup = store->append(std::move(retry));
  ASSERT_TRUE(dedup);
  EXPECT_TRUE(dedup->deduplicated);
  EXPECT_EQ(dedup->sandbox, nullptr);
}

TEST(EventStore, AppendAssignsGapFreePositionsAndReadsBack) {
  TempDir dir;
  auto store = open_store(dir.str());
  EXPECT_EQ(store->head(), 0u);
  auto a = store->append(system_append(ExpectedVersion::no_stream(), 3));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->first_position, 1u);
  EXPECT_EQ(a->last_position, 3u);
  EXPECT_EQ(a->stream_version, 3u);
  EXPECT_FALSE(a->deduplicated);
  auto b = store->append(create_request("s1", std::nullopt));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_position, 4u);
  EXPECT_EQ(b->stream_version, 1u);
  EXPECT_EQ(store->head(), 4u);

  auto all = store->read(1, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  for (std::size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].position, i + 1);
  EXPECT_EQ((*all)[0].stream, "system");
  EXPECT_EQ((*all)[2].version, 3u);
  EXPECT_EQ((*all)[3].stream, "sandbox-s1");
  EXPECT_EQ((*all)[3].type(), "SandboxRequested");

  auto part = store->read(2, 2);
  ASSERT_TRUE(part);
  ASSERT_EQ(part->size(), 2u);
  EXPECT_EQ((*part)[0].position, 2u);
  EXPECT_EQ((*part)[1].position, 3u);
  EXPECT_TRUE(store->read(5, 10)->empty());

  auto sys = store->read_stream("system", 2);
  ASSERT_TRUE(sys);
  ASSERT_EQ(sys->size(), 2u);
  EXPECT_EQ((*sys)[0].version, 2u);
  EXPECT_EQ(std::get<ReconcileFinding>((*sys)[1].data).sandbox_id, "sb-2");
  EXPECT_TRUE(store->read_stream("nope")->empty());
  EXPECT_TRUE(store->read_stream("syste")->empty());  // a prefix is another stream
  EXPECT_EQ(store->stream_version("system"), 3u);
  EXPECT_EQ(store->stream_version("sandbox-s1"), 1u);
  EXPECT_EQ(store->stream_version("nope"), 0u);
}

TEST(EventStore, ExpectedVersionConflictsWriteNothing) {
  TempDir dir;
  auto store = open_store(dir.str());
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::no_stream(), 2)));
  auto c1 = store->append(system_append(ExpectedVersion::no_stream(), 1));
  ASSERT_FALSE(c1);
  EXPECT_EQ(c1.error().code, ErrorCode::kConflict);
  auto c2 = store->append(system_append(ExpectedVersion::exactly(1), 1));
  ASSERT_FALSE(c2);
  EXPECT_EQ(c2.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store->head(), 2u);
  auto ok = store->append(system_append(ExpectedVersion::exactly(2), 1));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first_position, 3u);
  EXPECT_EQ(ok->stream_version, 3u);
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::any(), 1)));
  EXPECT_EQ(store->stream_version("system"), 4u);
  auto e = store->append(sandbox_append("missing", 0, SandboxStarted{"c"}));
  ASSERT_TRUE(e);  // exactly(0) on a missing stream is a valid expectation
  EXPECT_EQ(store->get_sandbox("missing"), nullptr);  // not started by SandboxRequested
}

TEST(EventStore, ConflictInAGroupDoesNotStopTheOthers) {
  TempDir dir;
  auto store = open_store(dir.str());
  std::vector<AppendRequest> rs;
  rs.push_back(create_request("a", std::nullopt));
  rs.push_back(create_request("a", std::nullopt));  // conflicts with the first (same group)
  rs.push_back(create_request("b", std::nullopt));
  rs.push_back(sandbox_append("a", 1, SandboxStarted{"c-a"}));  // sees the first
  rs.push_back(sandbox_append("b", 5, SandboxStarted{"c-b"}));  // wrong version
  auto out = store->append_all(std::move(rs));
  ASSERT_EQ(out.size(), 5u);
  ASSERT_TRUE(out[0]);
  ASSERT_FALSE(out[1]);
  EXPECT_EQ(out[1].error().code, ErrorCode::kConflict);
  ASSERT_TRUE(out[2]);
  ASSERT_TRUE(out[3]);
  ASSERT_FALSE(out[4]);
  EXPECT_EQ(out[0]->first_position, 1u);
  EXPECT_EQ(out[2]->first_position, 2u);
  EXPECT_EQ(out[3]->first_position, 3u);
  EXPECT_EQ(out[3]->stream_version, 2u);
  EXPECT_EQ(store->head(), 3u);
  EXPECT_EQ(store->get_sandbox("a")->state, SandboxState::kRunning);
  EXPECT_EQ(store->get_sandbox("b")->state, SandboxState::kPending);
  auto log = store->read(1, 10);
  ASSERT_EQ(log->size(), 3u);
}

TEST(EventStore, RejectsMalformedAppends) {
  TempDir dir;
  auto store = open_store(dir.str());
  AppendRequest empty;
  empty.stream = "system";
  EXPECT_EQ(store->append(empty).error().code, ErrorCode::kInvalidArgument);
  auto no_name = system_append(ExpectedVersion::any(), 1);
  no_name.stream = "";
  EXPECT_EQ(store->append(no_name).error().code, ErrorCode::kInvalidArgument);
  auto nul = system_append(ExpectedVersion::any(), 1);
  nul.stream = std::string("sys\0tem", 7);
  EXPECT_EQ(store->append(nul).error().code, ErrorCode::kInvalidArgument);
  auto twice = system_append(ExpectedVersion::any(), 2);
  twice.events[1].event_id = twice.events[0].event_id;
  EXPECT_EQ(store->append(twice).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->head(), 0u);
  auto no_id = system_append(ExpectedVersion::any(), 1);
  no_id.events[0].event_id.clear();
  ASSERT_TRUE(store->append(no_id));
  EXPECT_TRUE(is_uuid(store->read(1, 1)->at(0).event_id));
}

TEST(EventStore, DuplicateEventIdsAreWrittenOnce) {
  TempDir dir;
  auto store = open_store(dir.str());
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::any(), 1)));
  auto req = system_append(ExpectedVersion::exactly(1), 2);
  auto first = store->append(req);
  ASSERT_TRUE(first);
  // A retry (same ids, now stale expected version) answers the original positions.
  auto retry = store->append(req);
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_position, first->first_position);
  EXPECT_EQ(retry->last_position, first->last_position);
  EXPECT_EQ(retry->stream_version, 3u);
  EXPECT_EQ(store->head(), 3u);

  // Mixed old and new ids, or an id of another stream: refused.
  auto mixed = system_append(ExpectedVersion::any(), 2);
  mixed.events[0].event_id = req.events[0].event_id;
  EXPECT_EQ(store->append(mixed).error().code, ErrorCode::kInvalidArgument);
  auto other = create_request("x", std::nullopt);
  other.events[0].event_id = req.events[0].event_id;
  EXPECT_EQ(store->append(other).error().code, ErrorCode::kInvalidArgument);

  // Within one group: the second copy is deduplicated against the first.
  auto c = create_request("y", std::nullopt);
  auto out = store->append_all({c, c});
  ASSERT_TRUE(out[0]);
  ASSERT_TRUE(out[1]);
  EXPECT_FALSE(out[0]->deduplicated);
  EXPECT_TRUE(out[1]->deduplicated);
  EXPECT_EQ(out[1]->first_position, out[0]->first_position);
  EXPECT_EQ(store->head(), 4u);

  // Also after a reopen (the index is durable).
  store.reset();
  store = open_store(dir.str());
  auto again = store->append(c);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->first_position, 4u);
  EXPECT_EQ(store->head(), 4u);
}

TEST(EventStore, SandboxProjectionExpiryAndStateIndexFollowTheLog) {
  TempDir dir;
  auto store = open_store(dir.str());
  const Micros deadline = kT0 + 600 * kMicrosPerSecond;
  ASSERT_TRUE(store->append(create_request("s1", deadline)));
  ASSERT_TRUE(store->append(create_request("s2", std::nullopt, kT0 + 1)));
  auto s1 = store->get_sandbox("s1");
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->state, SandboxState::kPending);
  EXPECT_EQ(s1->version, 1u);
  EXPECT_EQ(s1->metadata.at("team"), "a");
  EXPECT_EQ(store->live_sandbox_count(), 2u);
  EXPECT_EQ(store->list_sandboxes().size(), 2u);

  auto exp = store->expiring(deadline, 10);
  ASSERT_TRUE(exp);
  ASSERT_EQ(exp->size(), 1u);  // s2 never expires
  EXPECT_EQ((*exp)[0], std::make_pair(deadline, std::string("s1")));
  EXPECT_TRUE(store->expiring(deadline - 1, 10)->empty());
  EXPECT_EQ(store->next_expiry(), deadline);
  EXPECT_EQ((*store->count_by_state())[SandboxState::kPending], 2u);
  EXPECT_EQ(*store->sandbox_ids_in_state(SandboxState::kPending),
            (std::vector<std::string>{"s1", "s2"}));  // by created_at

  // A renewal moves the entry.
  const Micros later = deadline + 3600 * kMicrosPerSecond;
  ASSERT_TRUE(store->append(sandbox_append("s1", 1, ExpirationRenewed{later})));
  exp = store->expiring(INT64_MAX, 10);
  ASSERT_EQ(exp->size(), 1u);
  EXPECT_EQ((*exp)[0].first, later);
  EXPECT_EQ(store->get_sandbox("s1")->expires_at, later);

  ASSERT_TRUE(store->append(sandbox_append("s1", 2, SandboxStarted{"c1"})));
  EXPECT_EQ(store->get_sandbox("s1")->state, SandboxState::kRunning);
  EXPECT_EQ(*store->sandbox_ids_in_state(SandboxState::kRunning), std::vector<std::string>{"s1"});
  EXPECT_EQ(*store->sandbox_ids_in_state(SandboxState::kPending), std::vector<std::string>{"s2"});

  // Stopping leaves the expiry index; Terminated leaves the projection, history stays.
  ASSERT_TRUE(store->append(sandbox_append("s1", 3, DeletionRequested{})));
  EXPECT_EQ(store->get_sandbox("s1")->state, SandboxState::kStopping);
  EXPECT_TRUE(store->expiring(INT64_MAX, 10)->empty());
  EXPECT_EQ(store->next_expiry(), std::nullopt);
  ASSERT_TRUE(store->append(sandbox_append("s1", 4, SandboxTerminated{0, "bye"})));
  EXPECT_EQ(store->get_sandbox("s1"), nullptr);
  EXPECT_EQ(store->live_sandbox_count(), 1u);
  EXPECT_TRUE(store->sandbox_ids_in_state(SandboxState::kStopping)->empty());
  EXPECT_EQ(store->count_by_state()->count(SandboxState::kTerminated), 0u);
  EXPECT_EQ(store->read_stream("sandbox-s1")->size(), 5u);
  EXPECT_EQ(store->stream_version("sandbox-s1"), 5u);

  // A late event on the removed stream changes no projection; the stream cannot restart.
  ASSERT_TRUE(store->append(sandbox_append("s1", 5, SandboxStarted{"zombie"})));
  EXPECT_EQ(store->get_sandbox("s1"), nullptr);
  EXPECT_EQ(store->append(create_request("s1", std::nullopt)).error().code, ErrorCode::kConflict);

  // Failed then deleted: removed too.
  ASSERT_TRUE(store->append(sandbox_append("s2", 1, ProvisioningFailed{"X", "boom"})));
  EXPECT_EQ(store->get_sandbox("s2")->state, SandboxState::kFailed);
  EXPECT_EQ(*store->sandbox_ids_in_state(SandboxState::kFailed), std::vector<std::string>{"s2"});
  ASSERT_TRUE(store->append(sandbox_append("s2", 2, DeletionRequested{})));
  EXPECT_EQ(store->get_sandbox("s2"), nullptr);
  EXPECT_TRUE(store->count_by_state()->empty());

  // Nothing of it comes back after a reopen.
  store.reset();
  store = open_store(dir.str());
  EXPECT_EQ(store->live_sandbox_count(), 0u);
  EXPECT_EQ(store->stream_version("sandbox-s1"), 6u);
  EXPECT_EQ(store->head(), 9u);
}

TEST(EventStore, WaitForCommitWakesOnCommitAndTimesOut) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(store->wait_for_commit(0, 50'000), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));

  std::atomic<std::uint64_t> seen{0};
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    seen = store->wait_for_commit(0, 10 * kMicrosPerSecond);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::any(), 2)));
  waiter.join();
  EXPECT_EQ(seen.load(), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(2));
  EXPECT_EQ(store->wait_for_commit(1, 10 * kMicrosPerSecond), 2u);  // already past
}

TEST(EventStore, WaitForCommitReturnsWhenTheStoreCloses) {
  TempDir dir;
  auto store = open_store(dir.str());
  std::thread waiter([&] { store->wait_for_commit(0, 60 * kMicrosPerSecond); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto t = std::chrono::steady_clock::now();
  store->close();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(5));
  auto after = store->append(system_append(ExpectedVersion::any(), 1));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store->read(1, 1).error().code, ErrorCode::kUnavailable);
}

TEST(EventStore, ListenersSeeCommittedEventsAfterTheProjection) {
  TempDir dir;
  auto store = open_store(dir.str());
  std::vector<std::uint64_t> positions;
  std::vector<bool> visible;
  EventStore* s = store.get();
  int id = store->add_commit_listener([&](const std::vector<Event>& evs, const CommitStats& st) {
    EXPECT_GE(st.appends, 1u);
    EXPECT_EQ(st.events, evs.size());
    for (const auto& e : evs) {
      positions.push_back(e.position);
      if (e.stream.starts_with("sandbox-")) visible.push_back(s->get_sandbox("l1") != nullptr);
      EXPECT_LE(e.position, s->head());
    }
  });
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::any(), 2)));
  ASSERT_TRUE(store->append(create_request("l1", std::nullopt)));
  auto conflict = store->append(create_request("l1", std::nullopt));
  ASSERT_FALSE(conflict);
  EXPECT_EQ(positions, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(visible, std::vector<bool>{true});
  store->remove_commit_listener(id);
  ASSERT_TRUE(store->append(system_append(ExpectedVersion::any(), 1)));
  EXPECT_EQ(positions.size(), 3u);
}

TEST(EventStore, CheckpointsPersist) {
  TempDir dir;
  auto store = open_store(dir.str());
  EXPECT_EQ(*store->checkpoint("provisioner"), 0u);
  ASSERT_TRUE(store->save_checkpoint("provisioner", 42));
  ASSERT_TRUE(store->save_checkpoint("expirer", 7));
  ASSERT_TRUE(store->save_checkpoint("provisioner", 43));
  EXPECT_EQ(*store->checkpoint("provisioner"), 43u);
  EXPECT_FALSE(store->save_checkpoint("", 1));
  store.reset();
  store = open_store(dir.str());
  EXPECT_EQ(*store->checkpoint("provisioner"), 43u);
  EXPECT_EQ(*store->checkpoint("expirer"), 7u);
}

TEST(EventStore, IdempotencyRecordsAreWrittenWithTheAppendAndExpire) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto req = create_request("i1", std::nullopt);
  req.idempotency = IdempotencyRecord{"key-1", "i1", RequestOutcome::kAccepted, kT0 + 100};
  ASSERT_TRUE(store->append(req));
  auto rec = store->idempotency("key-1", kT0);
  ASSERT_TRUE(rec);
  ASSERT_TRUE(rec->has_value());
  EXPECT_EQ((*rec)->sandbox_id, "i1");
  EXPECT_EQ((*rec)->outcome, RequestOutcome::kAccepted);
  EXPECT_EQ((*rec)->expires_at, kT0 + 100);
  EXPECT_EQ((*rec)->key, "key-1");
  EXPECT_FALSE(store->idempotency("key-1", kT0 + 100)->has_value());  // expired
  EXPECT_FALSE(store->idempotency("key-2", kT0)->has_value());

  // A conflicting append writes no record.
  auto dup = create_request("i1", std::nullopt);
  dup.idempotency = IdempotencyRecord{"key-3", "i1", RequestOutcome::kAccepted, kT0 + 100};
  ASSERT_FALSE(store->append(dup));
  EXPECT_FALSE(store->idempotency("key-3", kT0)->has_value());
  store.reset();
  store = open_store(dir.str());
  EXPECT_TRUE(store->idempotency("key-1", kT0)->has_value());
}

TEST(EventStore, UnsyncedStoreWorksAndReopensWithEverything) {
  TempDir dir;
  {
    auto store = open_store(dir.str(), /*sync=*/false);
    EXPECT_FALSE(store->options().sync);
    testing::Workload w(*store, 7);
    for (int i = 0; i < 300; ++i) (void)w.step();
    ASSERT_TRUE(store->save_checkpoint("c", store->head()));
  }
  auto store = open_store(dir.str());
  auto log = store->read(1, SIZE_MAX);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->size(), store->head());
  EXPECT_EQ(*store->checkpoint("c"), store->head());
  auto live = testing::replay_live(*log);
  EXPECT_EQ(live.size(), store->live_sandbox_count());
  for (const auto& [id, s] : live) {
    auto got = store->get_sandbox(id);
    ASSERT_NE(got, nullptr) << id;
    EXPECT_EQ(*got, s);
    EXPECT_EQ(store->stream_version(stream_of(id)), s.version);
  }
}

// open() loads the sandboxes column family in key ranges on several threads: every record
// must land exactly once, whatever the ids look like (UUIDs, short, long, sharing long
// prefixes, bytes below '0'), and a record whose key is not its sandbox's id keeps its key.
TEST(EventStore, ReopenLoadsEverySandboxWhateverItsId) {
  TempDir dir;
  std::vector<std::string> ids;
  for (int i = 0; i < 3000; ++i) ids.push_back(new_uuid());
  for (const char* id : {"0", "00", "A", "Z", "a", "zz", "~~~", "!", "-", "a-b"}) ids.push_back(id);
  for (int i = 0; i < 50; ++i) ids.push_back("prefix-" + std::string(40, 'p') + std::to_string(i));
  ids.push_back(std::string(200, 'L'));
  std::map<std::string, Sandbox> expected;
  {
    auto store = open_store(dir.str(), /*sync=*/false);
    std::vector<AppendRequest> creates;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      creates.push_back(create_request(ids[i], kT0 + 1000 + static_cast<Micros>(i)));
    }
    // A create whose payload names another sandbox than its stream (the store does not
    // forbid it): the projection is stored under the stream's id.
    AppendRequest renamed = create_request("payload-id", std::nullopt);
    renamed.stream = stream_of("stream-id");
    creates.push_back(std::move(renamed));
    for (auto& r : store->append_all(std::move(creates))) ASSERT_TRUE(r) << r.error().message;
    // Some leave the projection again, so the column family has tombstones between ranges.
    for (std::size_t i = 0; i < 3000; i += 7) {
      ASSERT_TRUE(store->append(sandbox_append(ids[i], 1, DeletionRequested{})));
      ASSERT_TRUE(store->append(sandbox_append(ids[i], 2, SandboxTerminated{0, "gone"})));
    }
    for (const auto& sb : store->list_sandboxes()) expected.emplace(sb->id, *sb);
    ASSERT_EQ(expected.size(), store->live_sandbox_count());
    ASSERT_NE(store->get_sandbox("stream-id"), nullptr);
  }
  auto store = open_store(dir.str());
  EXPECT_EQ(store->live_sandbox_count(), expected.size());
  for (const auto& [id, sb] : expected) {
    const std::string key = id == "payload-id" ? "stream-id" : id;
    auto got = store->get_sandbox(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(*got, sb) << key;
  }
  EXPECT_EQ(store->get_sandbox("payload-id"), nullptr);
  EXPECT_EQ(store->get_sandbox(ids[0]), nullptr);  // terminated
  ASSERT_NE(store->get_sandbox(ids[1]), nullptr);
}

// A record that does not decode no longer stops open (issue 10 item 8): it is rebuilt from
// its stream, here one that does not exist, so the record is dropped; the other records,
// loaded by several threads, are all there.
TEST(EventStore, OpenRebuildsARecordThatDoesNotDecodeInsteadOfFailing) {
  TempDir dir;
  {
    auto store = open_store(dir.str(), /*sync=*/false);
    std::vector<AppendRequest> creates;
    for (int i = 0; i < 500; ++i) creates.push_back(create_request(new_uuid(), std::nullopt));
    for (auto& r : store->append_all(std::move(creates))) ASSERT_TRUE(r);
  }
  {
    auto raw = layout::RawDb::open(dir.str(), /*create_if_missing=*/false);
    ASSERT_TRUE(raw) << raw.error().message;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(
        (*raw)->db()->Put(wo, (*raw)->cf(layout::kSandboxes), "broken-record", "{\"id\":").ok());
  }
  StoreOptions o;
  o.path = dir.str();
  {
    auto s = EventStore::open(o);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->live_sandbox_count(), 500u);
    EXPECT_EQ((*s)->get_sandbox("broken-record"), nullptr);
    EXPECT_EQ((*s)->projection_records_rebuilt(), 1u);
  }
  auto s = EventStore::open(o);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->projection_records_rebuilt(), 0u);  // the record was deleted
  EXPECT_EQ((*s)->live_sandbox_count(), 500u);
}

TEST(EventStore, ProjectionsEqualAReplayAfterAConcurrentRandomWorkload) {
  TempDir dir;
  auto store = open_store(dir.str(), /*sync=*/false);
  constexpr int kThreads = 4;
  constexpr int kSteps = 1500;
  std::atomic<int> appended{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      testing::Workload w(*store, 1000 + t);
      for (int i = 0; i < kSteps; ++i) {
        auto r = w.step();
        if (!r) continue;
        if (*r) {
          ++appended;
        } else {
          EXPECT_EQ(r->error().code, ErrorCode::kConflict) << r->error().message;
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(appended.load(), 2000);

  auto check = [&](EventStore& s) {
    auto log = s.read(1, SIZE_MAX);
    ASSERT_TRUE(log);
    ASSERT_EQ(log->size(), s.head());
    for (std::size_t i = 0; i < log->size(); ++i) ASSERT_EQ((*log)[i].position, i + 1);
    auto live = testing::replay_live(*log);
    ASSERT_EQ(live.size(), s.live_sandbox_count());
    std::map<SandboxState, std::size_t> counts;
    for (const auto& [id, sb] : live) {
      auto got = s.get_sandbox(id);
      ASSERT_NE(got, nullptr) << id;
      EXPECT_EQ(*got, sb);
      ++counts[sb.state];
    }
    EXPECT_EQ(*s.expiring(INT64_MAX, SIZE_MAX), testing::expected_expiry(live));
    EXPECT_EQ(*s.count_by_state(), counts);
  };
  check(*store);
  store.reset();
  store = open_store(dir.str());
  check(*store);
}

TEST(EventStore, RefusesANewerSchema) {
  TempDir dir;
  { open_store(dir.str()); }
  {
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    rocksdb::WriteBatch b;
    (*raw)->put_schema_version(b, kStoreSchemaVersion + 1);
    ASSERT_TRUE((*raw)->db()->Write(rocksdb::WriteOptions(), &b).ok());
  }
  StoreOptions o;
  o.path = dir.str();
  auto s = EventStore::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.error().message, "data directory schema 7 is newer than this binary (6)");
}

TEST(EventStore, InstanceIdIsMadeOnceAndKeptAcrossReopens) {
  TempDir dir_a;
  TempDir dir_b;
  std::string a;
  {
    auto store = open_store(dir_a.str());
    ASSERT_NE(store, nullptr);
    a = store->instance_id();
  }
  EXPECT_TRUE(is_uuid(a)) << a;
  EXPECT_EQ(a[14], '4') << "a random (version 4) UUID: " << a;
  {
    auto again = open_store(dir_a.str());
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->instance_id(), a) << "a reopened store keeps its identity";
  }
  auto other = open_store(dir_b.str());
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(is_uuid(other->instance_id()));
  EXPECT_NE(other->instance_id(), a) << "two stores have two identities";

  // It is in the meta column family under instance_id.
  other.reset();
  auto raw = layout::RawDb::open(dir_a.str(), false);
  ASSERT_TRUE(raw);
  std::string stored;
  ASSERT_TRUE((*raw)->db()->Get(rocksdb::ReadOptions(), (*raw)->cf(layout::kMeta),
                               keys::kInstanceIdKey, &stored).ok());
  EXPECT_EQ(stored, a);
}

TEST(EventStore, ADirectoryWithoutAnInstanceIdGetsOneOnItsFirstReadWriteOpen) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(store->append(create_request("s1", std::nullopt)));
  }
  {  // as an earlier version left it: no meta/instance_id
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    ASSERT_TRUE((*raw)->db()
                    ->Delete(rocksdb::WriteOptions(), (*raw)->cf(layout::kMeta),
                             keys::kInstanceIdKey)
                    .ok());
  }
  {  // a read-only open never writes it
    StoreOptions o;
    o.path = dir.str();
    o.read_only = true;
    auto ro = EventStore::open(o);
    ASSERT_TRUE(ro) << ro.error().message;
    EXPECT_EQ((*ro)->instance_id(), "");
  }
  std::string id;
  {
    auto store = open_store(dir.str());
    ASSERT_NE(store, nullptr);
    id = store->instance_id();
    EXPECT_TRUE(is_uuid(id)) << id;
    EXPECT_NE(store->get_sandbox("s1"), nullptr);
    EXPECT_EQ(store->head(), 1u) << "the identity is meta, not an event";
  }
  auto again = open_store(dir.str());
  EXPECT_EQ(again->instance_id(), id) << "written once";
  // A read-only (secondary) open of the running store reads the same identity.
  StoreOptions o;
  o.path = dir.str();
  o.read_only = true;
  auto ro = EventStore::open(o);
  ASSERT_TRUE(ro) << ro.error().message;
  EXPECT_EQ((*ro)->instance_id(), id);
}

TEST(EventStore, AnInstanceIdThatIsNotAUuidIsDataLoss) {
  TempDir dir;
  { open_store(dir.str()); }
  {
    auto raw = layout::RawDb::open(dir.str(), false);
    ASSERT_TRUE(raw);
    ASSERT_TRUE((*raw)->db()
                    ->Put(rocksdb::WriteOptions(), (*raw)->cf(layout::kMeta),
                          keys::kInstanceIdKey, "not-a-uuid")
                    .ok());
  }
  StoreOptions o;
  o.path = dir.str();
  auto s = EventStore::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kDataLoss);
}

TEST(EventStore, ReadOnlySecondaryFollowsThePrimary) {
  TempDir dir;
  auto primary = open_store(dir.str());
  ASSERT_TRUE(primary->append(create_request("r1", kT0 + kMicrosPerSecond)));
  StoreOptions o;
  o.path = dir.str();
  o.read_only = true;
  auto ro = EventStore::open(o);
  ASSERT_TRUE(ro) << ro.error().message;
  auto& secondary = **ro;
  EXPECT_EQ(secondary.head(), 1u);
  ASSERT_NE(secondary.get_sandbox("r1"), nullptr);
  EXPECT_EQ(secondary.append(create_request("r9", std::nullopt)).error().code,
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(secondary.save_checkpoint("x", 1).error().code, ErrorCode::kFailedPrecondition);

  std::vector<std::uint64_t> seen;
  secondary.add_commit_listener([&](const std::vector<Event>& evs, const CommitStats&) {
    for (const auto& e : evs) seen.push_back(e.position);
  });
  ASSERT_TRUE(primary->append(sandbox_append("r1", 1, SandboxStarted{"c"})));
  ASSERT_TRUE(primary->append(create_request("r2", std::nullopt)));
  ASSERT_TRUE(primary->append(sandbox_append("r1", 2, DeletionRequested{})));
  ASSERT_TRUE(primary->append(sandbox_append("r1", 3, SandboxTerminated{})));
  EXPECT_EQ(secondary.head(), 1u);  // frozen until catch_up
  std::thread waiter([&] { EXPECT_EQ(secondary.wait_for_commit(1, 10 * kMicrosPerSecond), 5u); });
  ASSERT_TRUE(secondary.catch_up());
  waiter.join();
  EXPECT_EQ(secondary.head(), 5u);
  EXPECT_EQ(secondary.get_sandbox("r1"), nullptr);
  ASSERT_NE(secondary.get_sandbox("r2"), nullptr);
  EXPECT_EQ(secondary.read(1, 10)->size(), 5u);
  EXPECT_EQ(secondary.stream_version("sandbox-r1"), 4u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{2, 3, 4, 5}));
  EXPECT_TRUE(secondary.expiring(INT64_MAX, 10)->empty());
  EXPECT_GT(secondary.size_on_disk(), 0u);
}

TEST(EventStore, ReadOnlyOpenOfAMissingStoreFails) {
  TempDir dir;
  StoreOptions o;
  o.path = (dir / "nothing").string();
  o.read_only = true;
  auto s = EventStore::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

// The reference server's SQLite database may sit at a store.path copied from its config:
// an existing file is never opened (read-write or read-only) nor turned into a store.
TEST(EventStore, AnExistingFileAtThePathIsNeverOpenedAsAStore) {
  TempDir dir;
  const auto file = dir / "opensandbox.db";
  const std::string contents = std::string("SQLite format 3") + '\0' + "not ours";
  { std::ofstream(file, std::ios::binary) << contents; }
  for (bool read_only : {false, true}) {
    StoreOptions o;
    o.path = file.string();
    o.read_only = read_only;
    auto s = EventStore::open(o);
    ASSERT_FALSE(s) << "read_only=" << read_only;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().field, "store.path");
    EXPECT_NE(s.error().message.find("is an existing file"), std::string::npos);
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream now;
  now << in.rdbuf();
  EXPECT_EQ(now.str(), contents);
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
  // A symlink to a directory is a directory.
  std::filesystem::create_directory(dir / "real");
  std::filesystem::create_directory_symlink(dir / "real", dir / "link");
  StoreOptions o;
  o.path = (dir / "link").string();
  EXPECT_TRUE(EventStore::open(o));
}

TEST(EventStore, ManyConcurrentAppendersAreGroupCommitted) {
  TempDir dir;
  auto store = open_store(dir.str());
  std::atomic<std::size_t> max_group{0};
  store->add_commit_listener([&](const std::vector<Event>&, const CommitStats& st) {
    std::size_t cur = max_group.load();
    while (st.appends > cur && !max_group.compare_exchange_weak(cur, st.appends)) {
    }
  });
  constexpr int kThreads = 16, kEach = 20;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = store->append(system_append(ExpectedVersion::any(), 1));
        ASSERT_TRUE(r);
        got[t].push_back(r->first_position);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::uint64_t> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i + 1);
  EXPECT_GT(max_group.load(), 1u);
  EXPECT_GT(store->size_on_disk(), 0u);
}

}  // namespace
}  // namespace sbx
