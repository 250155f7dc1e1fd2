// The pools projection (store/FORMAT.md "pools"): staged in the append's batch, served from
// memory, loaded at open, removed by PoolDeleted and started again by a later PoolCreated.
// And what a claim of a pool member needs from the sandbox projection: the deadline of a
// SandboxClaimed in the expiry index, an idempotency record on an existing stream.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "events/pool.h"
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

PoolCreated created(const std::string& name, PoolCapacity c = {1, 2, 0, 4},
                    std::string image = "busybox:1") {
  PoolCreated e;
  e.name = name;
  e.template_spec.image_uri = std::move(image);
  e.template_spec.entrypoint = {"sleep", "1000"};
  e.template_json = R"({"image":{"uri":"busybox:1"}})";
  e.capacity = c;
  return e;
}

AppendRequest pool_append(const std::string& name, ExpectedVersion ex, std::vector<EventData> data,
                          Micros t = kT0) {
  AppendRequest r;
  r.stream = pool_stream_of(name);
  r.expected = ex;
  for (auto& d : data) r.events.push_back(make_event(std::move(d), t));
  return r;
}

Result<AppendResult> append(EventStore& store, const std::string& name, ExpectedVersion ex,
                            EventData data, Micros t = kT0) {
  return store.append(pool_append(name, ex, {std::move(data)}, t));
}

TEST(PoolProjection, FollowsTheStreamAndSurvivesAReopen) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    auto a = append(*store, "web", ExpectedVersion::no_stream(), created("web"));
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_NE(a->pool, nullptr);
    EXPECT_EQ(a->sandbox, nullptr);
    EXPECT_EQ(a->snapshot, nullptr);
    EXPECT_EQ(a->pool->name, "web");
    EXPECT_EQ(a->pool->generation, 1u);
    EXPECT_EQ(store->get_pool("web"), a->pool);  // the very record memory serves
    EXPECT_EQ(store->get_sandbox("web"), nullptr);
    auto b = append(*store, "web", ExpectedVersion::exactly(1),
                    PoolCapacityChanged{PoolCapacity{2, 3, 1, 8}}, kT0 + 10);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->pool->capacity, (PoolCapacity{2, 3, 1, 8}));
    EXPECT_EQ(b->pool->version, 2u);
    ASSERT_TRUE(append(*store, "api", ExpectedVersion::no_stream(), created("api")));
    EXPECT_EQ(store->list_pools().size(), 2u);
  }
  auto store = open_store(dir.str());
  auto p = store->get_pool("web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->capacity, (PoolCapacity{2, 3, 1, 8}));
  EXPECT_EQ(p->version, 2u);
  EXPECT_EQ(p->generation, 1u);
  EXPECT_EQ(p->created_at, kT0);
  EXPECT_EQ(p->updated_at, kT0 + 10);
  EXPECT_EQ(p->template_spec.entrypoint, (std::vector<std::string>{"sleep", "1000"}));
  EXPECT_EQ(p->template_json, R"({"image":{"uri":"busybox:1"}})");
  EXPECT_EQ(store->list_pools().size(), 2u);
  // The stream version is known after the reopen (the next append's expected version).
  EXPECT_TRUE(append(*store, "web", ExpectedVersion::exactly(2), PoolDeleted{}));
}

TEST(PoolProjection, PoolDeletedRemovesTheRecordAndALaterCreateStartsANewGeneration) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(append(*store, "web", ExpectedVersion::no_stream(), created("web")));
    auto gone = append(*store, "web", ExpectedVersion::exactly(1), PoolDeleted{}, kT0 + 5);
    ASSERT_TRUE(gone) << gone.error().message;
    ASSERT_NE(gone->pool, nullptr);  // its final state
    EXPECT_TRUE(gone->pool->deleted);
    EXPECT_EQ(store->get_pool("web"), nullptr);
    EXPECT_TRUE(store->list_pools().empty());
    // Events other than PoolCreated on the stream of a deleted pool project nothing.
    auto late = append(*store, "web", ExpectedVersion::exactly(2),
                       PoolCapacityChanged{PoolCapacity{0, 0, 0, 0}});
    ASSERT_TRUE(late);
    EXPECT_EQ(late->pool, nullptr);
    EXPECT_EQ(store->get_pool("web"), nullptr);
  }
  {
    auto store = open_store(dir.str());
    EXPECT_EQ(store->get_pool("web"), nullptr);
    auto again = append(*store, "web", ExpectedVersion::exactly(3),
                        created("web", {0, 1, 0, 1}, "busybox:2"), kT0 + 100);
    ASSERT_TRUE(again) << again.error().message;
    ASSERT_NE(again->pool, nullptr);
    EXPECT_EQ(again->pool->generation, 4u);
    EXPECT_EQ(again->pool->template_spec.image_uri, "busybox:2");
    EXPECT_EQ(again->pool->created_at, kT0 + 100);
  }
  auto store = open_store(dir.str());
  auto p = store->get_pool("web");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->generation, 4u);
  EXPECT_EQ(p->capacity, (PoolCapacity{0, 1, 0, 1}));
  EXPECT_EQ(store->stream_version(pool_stream_of("web")), 4u);
}

TEST(PoolProjection, AStreamThatDoesNotStartWithPoolCreatedIsNotProjected) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto r = append(*store, "odd", ExpectedVersion::no_stream(),
                  PoolCapacityChanged{PoolCapacity{1, 1, 1, 1}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pool, nullptr);
  ASSERT_TRUE(append(*store, "odd", ExpectedVersion::exactly(1), PoolDeleted{}));
  EXPECT_EQ(store->get_pool("odd"), nullptr);
  // ...until a PoolCreated comes.
  auto c = append(*store, "odd", ExpectedVersion::exactly(2), created("odd"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pool->generation, 3u);
  EXPECT_EQ(store->get_pool("odd")->generation, 3u);
  // A stream named "pool-" alone is no pool stream.
  AppendRequest bare;
  bare.stream = "pool-";
  bare.events.push_back(make_event(created("x"), kT0));
  auto b = store->append(std::move(bare));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->pool, nullptr);
  EXPECT_EQ(store->list_pools().size(), 1u);
}

TEST(PoolProjection, DeleteAndCreateInOneAppendOrOneGroupEndAsTheLastEventSays) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(append(*store, "a", ExpectedVersion::no_stream(), created("a")));
    // One append: deleted and created again.
    auto r = store->append(
        pool_append("a", ExpectedVersion::exactly(1), {PoolDeleted{}, created("a", {0, 3, 0, 3})}));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_NE(r->pool, nullptr);
    EXPECT_FALSE(r->pool->deleted);
    EXPECT_EQ(r->pool->generation, 3u);
    EXPECT_EQ(store->get_pool("a")->capacity, (PoolCapacity{0, 3, 0, 3}));
    // One group commit: several appends to two pool streams, checked one after the other.
    std::vector<AppendRequest> reqs;
    reqs.push_back(pool_append("b", ExpectedVersion::no_stream(), {created("b")}));
    reqs.push_back(pool_append("b", ExpectedVersion::exactly(1),
                               {PoolCapacityChanged{PoolCapacity{1, 1, 1, 1}}}));
    reqs.push_back(pool_append("a", ExpectedVersion::exactly(3), {PoolDeleted{}}));
    reqs.push_back(pool_append("b", ExpectedVersion::exactly(2), {PoolDeleted{}}));
    reqs.push_back(pool_append("b", ExpectedVersion::exactly(3), {created("b", {0, 2, 0, 2})}));
    auto results = store->append_all(std::move(reqs));
    ASSERT_EQ(results.size(), 5u);
    for (const auto& res : results) ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(results[1]->pool->capacity, (PoolCapacity{1, 1, 1, 1}));
    EXPECT_TRUE(results[2]->pool->deleted);
    EXPECT_TRUE(results[3]->pool->deleted);
    EXPECT_EQ(results[3]->pool->capacity, (PoolCapacity{1, 1, 1, 1}));
    EXPECT_EQ(results[4]->pool->generation, 4u);
    EXPECT_EQ(store->get_pool("a"), nullptr);
    ASSERT_NE(store->get_pool("b"), nullptr);
    EXPECT_EQ(store->get_pool("b")->capacity, (PoolCapacity{0, 2, 0, 2}));
  }
  // The column family says the same as memory did.
  auto store = open_store(dir.str());
  EXPECT_EQ(store->get_pool("a"), nullptr);
  ASSERT_NE(store->get_pool("b"), nullptr);
  EXPECT_EQ(store->get_pool("b")->generation, 4u);
  EXPECT_EQ(store->get_pool("b")->capacity, (PoolCapacity{0, 2, 0, 2}));
  EXPECT_EQ(store->list_pools().size(), 1u);
}

TEST(PoolProjection, AConflictingAppendChangesNoPool) {
  TempDir dir;
  auto store = open_store(dir.str());
  ASSERT_TRUE(append(*store, "web", ExpectedVersion::no_stream(), created("web")));
  auto again = append(*store, "web", ExpectedVersion::no_stream(), created("web", {0, 0, 0, 0}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  auto stale = append(*store, "web", ExpectedVersion::exactly(0), PoolDeleted{});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  ASSERT_NE(store->get_pool("web"), nullptr);
  EXPECT_EQ(store->get_pool("web")->capacity, (PoolCapacity{1, 2, 0, 4}));
}

TEST(PoolProjection, ConcurrentAppendsToManyPoolsFoldInOrder) {
  TempDir dir;
  auto store = open_store(dir.str());
  constexpr int kThreads = 8;
  constexpr int kPools = 15;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPools; ++i) {
        const std::string name = "p-" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(append(*store, name, ExpectedVersion::no_stream(), created(name)));
        ASSERT_TRUE(append(*store, name, ExpectedVersion::exactly(1),
                           PoolCapacityChanged{PoolCapacity{0, i % 4, 0, 4}}));
        if (i % 3 == 0) {
          ASSERT_TRUE(append(*store, name, ExpectedVersion::exactly(2), PoolDeleted{}));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto check = [&](const EventStore& s) {
    std::size_t live = 0;
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kPools; ++i) {
        auto p = s.get_pool("p-" + std::to_string(t) + "-" + std::to_string(i));
        if (i % 3 == 0) {
          EXPECT_EQ(p, nullptr);
          continue;
        }
        ++live;
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(p->capacity, (PoolCapacity{0, i % 4, 0, 4}));
        EXPECT_EQ(p->version, 2u);
      }
    }
    EXPECT_EQ(s.list_pools().size(), live);
  };
  check(*store);
  const std::string path = dir.str();
  store.reset();
  check(*open_store(path));
}

TEST(PoolProjection, AReadOnlySecondarySeesPoolsAfterCatchUp) {
  TempDir dir;
  auto primary = open_store(dir.str());
  ASSERT_TRUE(append(*primary, "web", ExpectedVersion::no_stream(), created("web")));
  ASSERT_TRUE(append(*primary, "gone", ExpectedVersion::no_stream(), created("gone")));
  StoreOptions o;
  o.path = dir.str();
  o.read_only = true;
  auto ro = EventStore::open(o);
  ASSERT_TRUE(ro) << ro.error().message;
  EXPECT_NE((*ro)->get_pool("gone"), nullptr);
  ASSERT_TRUE(append(*primary, "web", ExpectedVersion::exactly(1),
                     PoolCapacityChanged{PoolCapacity{0, 4, 0, 4}}));
  ASSERT_TRUE(append(*primary, "gone", ExpectedVersion::exactly(1), PoolDeleted{}));
  ASSERT_TRUE(append(*primary, "new", ExpectedVersion::no_stream(), created("new")));
  EXPECT_EQ((*ro)->get_pool("web")->capacity, (PoolCapacity{1, 2, 0, 4}));  // frozen
  ASSERT_TRUE((*ro)->catch_up());
  EXPECT_EQ((*ro)->get_pool("web")->capacity, (PoolCapacity{0, 4, 0, 4}));
  EXPECT_EQ((*ro)->get_pool("gone"), nullptr);
  EXPECT_NE((*ro)->get_pool("new"), nullptr);
}

// --- what the claim of a pool member needs from the sandbox projection -------------------

AppendRequest member_request(const std::string& id, Micros t) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "busybox:1";
  r.spec.pool_name = "web";
  r.spec.pool_generation = 1;
  return {stream_of(id), ExpectedVersion::no_stream(), {make_event(r, t)}};
}

// A member created, started and (optionally) claimed; returns the claim's result.
Result<AppendResult> running_member(EventStore& store, const std::string& id) {
  auto c = store.append(member_request(id, kT0));
  if (!c) return c;
  AppendRequest started{stream_of(id), ExpectedVersion::exactly(1),
                        {make_event(SandboxStarted{"c-" + id}, kT0 + 1, Reason::kRuntime)}};
  return store.append(std::move(started));
}

TEST(PoolMemberClaim, AClaimWithADeadlineEntersTheExpiryIndexAndOneWithoutDoesNot) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(running_member(*store, "m1"));
    ASSERT_TRUE(running_member(*store, "m2"));
    EXPECT_TRUE(store->expiring(INT64_MAX, 10)->empty()) << "members have no deadline";
    EXPECT_EQ(store->next_expiry(), std::nullopt);
    const Micros deadline = kT0 + 600 * kMicrosPerSecond;
    auto claim = store->append({stream_of("m1"), ExpectedVersion::exactly(2),
                                {make_event(SandboxClaimed{{{"team", "ml"}}, deadline}, kT0 + 2)}});
    ASSERT_TRUE(claim) << claim.error().message;
    ASSERT_NE(claim->sandbox, nullptr);
    EXPECT_EQ(claim->sandbox->claimed_at, kT0 + 2);
    EXPECT_EQ(claim->sandbox->expires_at, deadline);
    auto manual = store->append({stream_of("m2"), ExpectedVersion::exactly(2),
                                 {make_event(SandboxClaimed{{}, std::nullopt}, kT0 + 3)}});
    ASSERT_TRUE(manual) << manual.error().message;
    const auto due = store->expiring(INT64_MAX, 10);
    ASSERT_TRUE(due);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ(due->front(), std::make_pair(deadline, std::string("m1")));
    EXPECT_EQ(store->next_expiry(), deadline);
  }
  auto store = open_store(dir.str());
  EXPECT_EQ(store->expiring(INT64_MAX, 10)->size(), 1u);
  auto m1 = store->get_sandbox("m1");
  ASSERT_NE(m1, nullptr);
  EXPECT_EQ(m1->claimed_at, kT0 + 2);
  EXPECT_EQ(m1->spec.pool_name, "web");
  EXPECT_EQ(m1->metadata, (std::map<std::string, std::string>{{"team", "ml"}}));
  EXPECT_FALSE(m1->is_unclaimed_member());
}

TEST(PoolMemberClaim, AnIdempotencyRecordIsWrittenWithAnAppendToAnExistingStream) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(running_member(*store, "m1"));
    AppendRequest claim{stream_of("m1"), ExpectedVersion::exactly(2),
                        {make_event(SandboxClaimed{{}, kT0 + kMicrosPerSecond}, kT0 + 2)}};
    claim.idempotency = IdempotencyRecord{"key-1", "m1", RequestOutcome::kAccepted,
                                          kT0 + 3600 * kMicrosPerSecond};
    auto r = store->append(std::move(claim));
    ASSERT_TRUE(r) << r.error().message;
    auto rec = store->idempotency("key-1", kT0);
    ASSERT_TRUE(rec) << rec.error().message;
    ASSERT_TRUE(rec->has_value());
    EXPECT_EQ((*rec)->sandbox_id, "m1");
    EXPECT_EQ((*rec)->outcome, RequestOutcome::kAccepted);
    // A claim that conflicts writes no record.
    AppendRequest late{stream_of("m1"), ExpectedVersion::exactly(2),
                       {make_event(SandboxClaimed{{}, std::nullopt}, kT0 + 3)}};
    late.idempotency = IdempotencyRecord{"key-2", "m1", RequestOutcome::kAccepted,
                                         kT0 + 3600 * kMicrosPerSecond};
    auto conflict = store->append(std::move(late));
    ASSERT_FALSE(conflict);
    EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
    EXPECT_FALSE(store->idempotency("key-2", kT0)->has_value());
  }
  auto store = open_store(dir.str());
  auto rec = store->idempotency("key-1", kT0);
  ASSERT_TRUE(rec && rec->has_value());
  EXPECT_EQ((*rec)->sandbox_id, "m1");
}

}  // namespace
}  // namespace sbx
