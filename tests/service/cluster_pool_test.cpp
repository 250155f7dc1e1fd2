// Cluster-managed pools (issue 14, Kubernetes provider batchsandbox): PoolService with
// PoolOptions::cluster_managed and the poolRef path of SandboxService::create that goes
// with it. Pools are events as on Docker, but members are the cluster's: no member is
// created or claimed, counts are what the keeper last reported (set_cluster_counts), and a
// create with poolRef is an ordinary SandboxRequested whose spec names the pool (pool_ref).
// Real RocksDB in a temp dir.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/pool_fixture.h"

namespace sbx {
namespace {

const RequestContext& kUser = testing::kPoolUser;
const RequestContext kKeeper{"", "worker:pool-keeper"};

class ClusterPoolTest : public testing::PoolFixture {
 protected:
  void SetUp() override {
    ServiceOptions o = testing::kubernetes_service_options();
    o.max_sandbox_timeout_seconds = 86400;
    PoolOptions po;
    po.cluster_managed = true;
    open_services(std::move(o), po);
  }
  void TearDown() override { close_services(); }

  std::shared_ptr<const Pool> make_pool(const std::string& name) {
    return PoolFixture::make_pool(name, PoolCapacity{1, 3, 0, 5});
  }

  // What the keeper would report for `pool` after reading the cluster.
  void report(const Pool& pool, std::int64_t available, std::int64_t allocated,
              std::int64_t total) {
    PoolService::ClusterCounts c;
    c.generation = pool.generation;
    c.counts = PoolCounts{available, total - allocated - available, allocated, total};
    pools_->set_cluster_counts({{pool.name, c}});
  }
};

TEST_F(ClusterPoolTest, PoolsAreEventsAsBeforeButCreateMemberIsRefused) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  EXPECT_TRUE(sandboxes_->cluster_pools());
  auto events = store_->read_stream(pool_stream_of("p"));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PoolCreated>(events->front().data));
  ASSERT_TRUE(pools_->update_capacity("p", PoolCapacity{0, 2, 0, 4}, kUser));

  const std::uint64_t head = store_->head();
  auto m = pools_->create_member(*store_->get_pool("p"), kKeeper);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(m.error().field, "pool");
  EXPECT_EQ(store_->head(), head);
  EXPECT_TRUE(store_->list_sandboxes().empty());

  ASSERT_TRUE(pools_->remove("p", kUser));
  EXPECT_FALSE(pools_->get("p"));
}

TEST_F(ClusterPoolTest, CountsAreTheClustersForTheCurrentGenerationOnly) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  // Nothing reported yet: zero.
  EXPECT_EQ(pools_->counts(*pool), PoolCounts{});
  report(*pool, 2, 1, 4);
  EXPECT_EQ(pools_->counts(*pool), (PoolCounts{2, 1, 1, 4}));
  auto view = pools_->get("p");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->counts, (PoolCounts{2, 1, 1, 4}));
  auto all = pools_->list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].counts, (PoolCounts{2, 1, 1, 4}));
  EXPECT_EQ(pools_->cluster_counts().size(), 1u);

  // The counts of an older generation say nothing about the pool made again.
  ASSERT_TRUE(pools_->remove("p", kUser));
  auto again = make_pool("p");
  ASSERT_TRUE(again);
  ASSERT_NE(again->generation, pool->generation);
  EXPECT_EQ(pools_->counts(*again), PoolCounts{});
  report(*again, 1, 0, 1);
  EXPECT_EQ(pools_->counts(*again).available, 1);
  // A report without the pool: zero again.
  pools_->set_cluster_counts({});
  EXPECT_EQ(pools_->counts(*again), PoolCounts{});
  EXPECT_TRUE(pools_->cluster_counts().empty());
}

TEST_F(ClusterPoolTest, CreateWithPoolRefIsAnOrdinaryCreateThatNamesThePool) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  report(*pool, 0, 0, 0);  // nothing available: without warm-only the create still goes on
  const std::uint64_t head = store_->head();
  auto c = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cluster");
  EXPECT_EQ(c->sandbox.state, SandboxState::kPending);
  EXPECT_EQ(store_->head(), head + 1);
  const Sandbox& sb = c->sandbox;
  EXPECT_EQ(sb.spec.pool_ref, "p");
  EXPECT_TRUE(sb.spec.pool_name.empty());  // never a member
  EXPECT_EQ(sb.spec.pool_generation, 0u);
  EXPECT_FALSE(sb.is_unclaimed_member());
  EXPECT_FALSE(sb.claimed_at);
  // The pool's template, the client's metadata, deadline and extensions.
  EXPECT_EQ(sb.spec.image_uri, "busybox:latest");
  EXPECT_EQ(sb.spec.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(sb.spec.env.at("MODE"), "warm");
  EXPECT_EQ(sb.spec.resource_limits.at("memory"), "256Mi");
  EXPECT_EQ(sb.spec.network_mode, "pod");
  EXPECT_EQ(sb.spec.extensions_json, R"({"poolRef":"p"})");
  EXPECT_EQ(sb.metadata.at("team"), "ml");
  ASSERT_TRUE(sb.expires_at);
  EXPECT_EQ(*sb.expires_at, clock_.now() + 600 * kMicrosPerSecond);
  // It is a client's sandbox at once: visible and listed.
  EXPECT_NE(sandboxes_->get(sb.id), nullptr);
  EXPECT_EQ(sandboxes_->list(ListQuery{}).total_items, 1u);
  // The log says so: one SandboxRequested with poolRef, no SandboxClaimed anywhere.
  auto events = store_->read_stream(stream_of(sb.id));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  const auto& requested = std::get<SandboxRequested>(events->front().data);
  EXPECT_EQ(requested.spec.pool_ref, "p");
  EXPECT_EQ(events->front().actor, "api:key");
  auto all = store_->read(1, 1000);
  ASSERT_TRUE(all);
  for (const auto& e : *all) EXPECT_FALSE(std::holds_alternative<SandboxClaimed>(e.data));
  const auto claims = sandboxes_->pool_claims();
  EXPECT_EQ(claims.cluster, 1u);
  EXPECT_EQ(claims.warm + claims.cold + claims.exhausted, 0u);
}

TEST_F(ClusterPoolTest, AClientCannotSetPoolRefInTheSpecItself) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  CreateRequest r;
  r.spec.image_uri = "busybox:latest";
  r.spec.entrypoint = {"sleep", "1"};
  r.spec.pool_ref = "p";  // only extensions.poolRef (CreateRequest::pool_ref) may name it
  auto c = sandboxes_->create(r, kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "");
  EXPECT_EQ(c->sandbox.spec.pool_ref, "");
}

TEST_F(ClusterPoolTest, WarmOnlyFollowsTheClustersAvailableCount) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  CreateRequest r = pool_create("p");
  r.pool_warm_only = true;

  // Never reported, then reported with nothing available: refused, nothing appended.
  for (int round = 0; round < 2; ++round) {
    if (round == 1) report(*pool, 0, 3, 3);
    const std::uint64_t head = store_->head();
    auto c = sandboxes_->create(r, kUser);
    ASSERT_FALSE(c) << round;
    EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
    EXPECT_EQ(c.error().field, "poolRef");
    EXPECT_NE(c.error().message.find("'p'"), std::string::npos) << c.error().message;
    EXPECT_EQ(store_->head(), head);
  }
  EXPECT_EQ(sandboxes_->pool_claims().exhausted, 2u);

  // Counts of another generation do not count.
  PoolService::ClusterCounts stale;
  stale.generation = pool->generation + 7;
  stale.counts.available = 5;
  stale.counts.total = 5;
  pools_->set_cluster_counts({{"p", stale}});
  ASSERT_FALSE(sandboxes_->create(r, kUser));

  report(*pool, 1, 2, 3);
  auto c = sandboxes_->create(r, kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cluster");
  EXPECT_EQ(c->sandbox.spec.pool_ref, "p");
  EXPECT_EQ(sandboxes_->pool_claims().cluster, 1u);
}

TEST_F(ClusterPoolTest, TheFieldRefusalsOfAPoolCreateStayAndAppendNothing) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  report(*pool, 3, 0, 3);
  const std::uint64_t head = store_->head();
  {
    auto c = sandboxes_->create(pool_create("nope"), kUser);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(c.error().field, "poolRef");
  }
  for (const auto& k : testing::refused_pool_fields()) {
    CreateRequest r = pool_create("p");
    k.apply(r);
    auto c = sandboxes_->create(r, kUser);
    ASSERT_FALSE(c) << k.field;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << k.field;
    EXPECT_EQ(c.error().field, k.field);
  }
  EXPECT_EQ(store_->head(), head);
  EXPECT_EQ(sandboxes_->pool_claims().cluster, 0u);
}

TEST_F(ClusterPoolTest, AnIdempotencyKeyReplaysTheSandboxAndRecordsOneCreate) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  report(*pool, 1, 0, 1);
  CreateRequest r = pool_create("p");
  r.pool_warm_only = true;
  r.idempotency_key = "cluster-once";
  auto first = sandboxes_->create(r, kUser);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->pool_claim, "cluster");
  // Even when the cluster has nothing left, the replay answers the same sandbox.
  report(*pool, 0, 1, 1);
  const std::uint64_t head = store_->head();
  auto again = sandboxes_->create(r, kUser);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->sandbox.id, first->sandbox.id);
  EXPECT_EQ(store_->head(), head);
  EXPECT_EQ(sandboxes_->pool_claims().cluster, 1u);
}

TEST_F(ClusterPoolTest, SetClusterCountsIsSafeWhileCreatesReadThem) {
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000 && !stop.load(); ++i) report(*pool, i % 2, 0, 1);
  });
  int created = 0;
  for (int i = 0; i < 50; ++i) {
    CreateRequest r = pool_create("p");
    r.pool_warm_only = true;
    auto c = sandboxes_->create(r, kUser);
    if (c) {
      ++created;
    } else {
      EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
    }
    (void)pools_->get("p");
  }
  stop = true;
  writer.join();
  EXPECT_EQ(sandboxes_->pool_claims().cluster + sandboxes_->pool_claims().exhausted, 50u);
  EXPECT_EQ(static_cast<std::uint64_t>(created), sandboxes_->pool_claims().cluster);
}

TEST_F(ClusterPoolTest, WithoutTheClusterPoolServiceTheClaimPathIsTheMembersOne) {
  // The PoolService takes its hook back when it goes: creates claim members again
  // (none here), so an empty pool falls back to a cold create without pool_ref.
  auto pool = make_pool("p");
  ASSERT_TRUE(pool);
  pools_.reset();
  EXPECT_FALSE(sandboxes_->cluster_pools());
  auto c = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cold");
  EXPECT_EQ(c->sandbox.spec.pool_ref, "");
}

}  // namespace
}  // namespace sbx
