// PoolKeeper with cluster-managed pools (issue 14, Kubernetes provider batchsandbox): no
// members; each pass reconciles the live pools of the log onto Runtime::apply_pool /
// delete_pool and reports the cluster's counts to the PoolService. Real store; the
// FakeRuntime with manages_pools() stands for the cluster and its pool controller.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "src/runtime/fake/fake_runtime.h"
#include "src/workers/pool_keeper.h"
#include "tests/support/pool_fixture.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;

const RequestContext& kUser = testing::kPoolUser;

class ClusterPoolKeeperTest : public testing::PoolFixture {
 protected:
  void SetUp() override {
    runtime_.set_manages_pools(true);
    PoolOptions po;
    po.cluster_managed = runtime_.manages_pools();
    open_services(testing::kubernetes_service_options(), po);
    keeper_ = std::make_unique<PoolKeeper>(*store_, clock_, *pools_, *sandboxes_,
                                           PoolKeeperOptions{}, &runtime_);
  }
  void TearDown() override {
    keeper_.reset();
    close_services();
  }

  FakeRuntime runtime_{clock_};
  std::unique_ptr<PoolKeeper> keeper_;
};

TEST_F(ClusterPoolKeeperTest, AppliesEachLivePoolWithItsTemplateAndCreatesNoMembers) {
  auto pool = make_pool("web", {1, 3, 0, 5});
  ASSERT_TRUE(pool);
  keeper_->pass();
  auto spec = runtime_.pool_spec("web");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->name, "web");
  EXPECT_EQ(spec->generation, pool->generation);
  EXPECT_EQ(spec->capacity, (PoolCapacity{1, 3, 0, 5}));
  // The template as the provisioner would make a sandbox's container spec, minus the
  // per-sandbox parts.
  const ContainerSpec& t = spec->template_spec;
  EXPECT_EQ(t.sandbox_id, "");
  EXPECT_EQ(t.pool_ref, "");
  EXPECT_FALSE(t.expires_at);
  EXPECT_EQ(t.image_uri, "busybox:latest");
  EXPECT_EQ(t.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(t.env, (std::map<std::string, std::string>{{"LANG", "C.UTF-8"}, {"MODE", "warm"}}));
  EXPECT_EQ(t.limits.cpu, "500m");
  EXPECT_EQ(t.limits.memory, "256Mi");
  EXPECT_EQ(t.network_mode, "pod");
  EXPECT_TRUE(t.labels.empty());
  EXPECT_TRUE(t.ports.empty());
  // No members: the cluster's controller keeps them.
  EXPECT_TRUE(store_->list_sandboxes().empty());
  EXPECT_EQ(runtime_.calls("create_and_start"), 0);
  const auto stats = keeper_->stats();
  EXPECT_EQ(stats.pools_applied, 1u);
  EXPECT_EQ(stats.members_created, 0u);
  EXPECT_EQ(stats.errors, 0u);

  // Nothing changed: the next pass lists, applies nothing.
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 1);
  EXPECT_EQ(keeper_->stats().pools_applied, 1u);
}

TEST_F(ClusterPoolKeeperTest, ACapacityChangeIsPatchedAndANewGenerationReplacesThePool) {
  auto pool = make_pool("web", {1, 3, 0, 5});
  ASSERT_TRUE(pool);
  keeper_->pass();
  ASSERT_TRUE(runtime_.set_pool_status("web", 3, 0, 3));

  ASSERT_TRUE(pools_->update_capacity("web", PoolCapacity{0, 2, 1, 4}, kUser));
  keeper_->pass();
  auto spec = runtime_.pool_spec("web");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->capacity, (PoolCapacity{0, 2, 1, 4}));
  EXPECT_EQ(spec->generation, pool->generation);
  EXPECT_EQ(runtime_.calls("apply_pool"), 2);
  // A patch keeps the pool (and its status).
  EXPECT_EQ(pools_->counts(*store_->get_pool("web")).available, 3);

  // Deleted and made again: another generation, so the cluster's pool is replaced.
  ASSERT_TRUE(pools_->remove("web", kUser));
  auto again = make_pool("web", {2, 2, 0, 2});
  ASSERT_TRUE(again);
  ASSERT_NE(again->generation, pool->generation);
  keeper_->pass();
  spec = runtime_.pool_spec("web");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->generation, again->generation);
  EXPECT_EQ(spec->capacity, (PoolCapacity{2, 2, 0, 2}));
  EXPECT_EQ(runtime_.calls("delete_pool"), 0) << "a replacement is apply_pool's";
  // The new pool's controller has reported nothing yet.
  EXPECT_EQ(pools_->counts(*again), PoolCounts{});
  EXPECT_EQ(keeper_->stats().pools_applied, 3u);
}

TEST_F(ClusterPoolKeeperTest, PoolsThatAreNoLivePoolOfTheLogAreDeleted) {
  ASSERT_TRUE(make_pool("web", {1, 1, 0, 1}));
  ASSERT_TRUE(make_pool("api", {1, 1, 0, 1}));
  keeper_->pass();
  // A pool of this instance the log never had (a crash between a delete and its pass, or
  // an older log): gone at the next pass too.
  RuntimePoolSpec stray;
  stray.name = "stray";
  stray.generation = 9;
  stray.template_spec.image_uri = "busybox:latest";
  ASSERT_TRUE(runtime_.apply_pool(stray));
  ASSERT_TRUE(pools_->remove("web", kUser));
  keeper_->pass();
  EXPECT_FALSE(runtime_.pool_spec("web"));
  EXPECT_FALSE(runtime_.pool_spec("stray"));
  EXPECT_TRUE(runtime_.pool_spec("api"));
  EXPECT_EQ(keeper_->stats().pools_deleted, 2u);
  const auto counts = pools_->cluster_counts();
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_TRUE(counts.contains("api"));
}

TEST_F(ClusterPoolKeeperTest, ReportsTheControllersCountsWithWarmingAsTheRest) {
  auto pool = make_pool("web", {2, 4, 0, 8});
  ASSERT_TRUE(pool);
  keeper_->pass();
  // Applied, no status yet: zero.
  EXPECT_EQ(pools_->counts(*pool), PoolCounts{});
  auto view = pools_->get("web");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->counts, PoolCounts{});

  ASSERT_TRUE(runtime_.set_pool_status("web", 6, 2, 3));
  keeper_->pass();
  EXPECT_EQ(pools_->counts(*pool), (PoolCounts{3, 1, 2, 6}));
  // A status where available + allocated exceed total: warming never goes negative.
  ASSERT_TRUE(runtime_.set_pool_status("web", 2, 2, 1));
  keeper_->pass();
  EXPECT_EQ(pools_->counts(*pool), (PoolCounts{1, 0, 2, 2}));

  // Warm-only creates follow what the keeper reported.
  CreateRequest r;
  r.pool_ref = "web";
  r.pool_warm_only = true;
  auto c = sandboxes_->create(r, kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cluster");
  ASSERT_TRUE(runtime_.set_pool_status("web", 2, 2, 0));
  keeper_->pass();
  auto refused = sandboxes_->create(r, kUser);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
}

TEST_F(ClusterPoolKeeperTest, AFailedApplyIsRetriedAfterABackoffThatDoubles) {
  ASSERT_TRUE(make_pool("web", {1, 1, 0, 1}));
  runtime_.fail_next_of("apply_pool", 2, ErrorCode::kUnavailable);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 1);
  EXPECT_EQ(keeper_->stats().errors, 1u);
  EXPECT_EQ(keeper_->stats().pools_applied, 0u);
  // Within the backoff (1 s): not tried again, even on a pass a commit caused.
  keeper_->pass();
  clock_.advance(500'000);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 1);
  // After it: tried again, fails again, and the backoff doubles to 2 s.
  clock_.advance(600'000);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 2);
  EXPECT_EQ(keeper_->stats().errors, 2u);
  clock_.advance(1'500'000);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 2);
  clock_.advance(600'000);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 3);
  EXPECT_TRUE(runtime_.pool_spec("web"));
  EXPECT_EQ(keeper_->stats().pools_applied, 1u);
  // Success resets it: a later failure waits 1 s again.
  ASSERT_TRUE(pools_->update_capacity("web", PoolCapacity{0, 1, 0, 1}, kUser));
  runtime_.fail_next_of("apply_pool", 1, ErrorCode::kUnavailable);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 4);
  clock_.advance(1'100'000);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 5);
  EXPECT_EQ(runtime_.pool_spec("web")->capacity, (PoolCapacity{0, 1, 0, 1}));
}

TEST_F(ClusterPoolKeeperTest, AFailedListOrDeleteIsLoggedAndRetriedAtTheNextPass) {
  auto pool = make_pool("web", {1, 1, 0, 1});
  ASSERT_TRUE(pool);
  keeper_->pass();
  ASSERT_TRUE(runtime_.set_pool_status("web", 1, 0, 1));
  keeper_->pass();
  ASSERT_EQ(pools_->counts(*pool).available, 1);

  // A failed list changes nothing: the last counts stay, nothing is applied or deleted.
  ASSERT_TRUE(pools_->remove("web", kUser));
  runtime_.fail_next_of("list_pools", 1, ErrorCode::kUnavailable);
  keeper_->pass();
  EXPECT_EQ(keeper_->stats().errors, 1u);
  EXPECT_EQ(runtime_.calls("delete_pool"), 0);
  EXPECT_EQ(pools_->cluster_counts().size(), 1u);

  runtime_.fail_next_of("delete_pool", 1, ErrorCode::kUnavailable);
  keeper_->pass();
  EXPECT_EQ(keeper_->stats().errors, 2u);
  EXPECT_TRUE(runtime_.pool_spec("web"));
  keeper_->pass();
  EXPECT_FALSE(runtime_.pool_spec("web"));
  EXPECT_EQ(keeper_->stats().pools_deleted, 1u);
  EXPECT_TRUE(pools_->cluster_counts().empty());
}

TEST_F(ClusterPoolKeeperTest, APoolOfThatNameSomeoneElseMadeIsNeitherTakenNorDeleted) {
  runtime_.add_foreign_pool("web");
  auto pool = make_pool("web", {1, 1, 0, 1});
  ASSERT_TRUE(pool);
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("apply_pool"), 1);
  EXPECT_EQ(runtime_.calls("delete_pool"), 0);
  EXPECT_EQ(keeper_->stats().errors, 1u);
  EXPECT_EQ(keeper_->stats().pools_applied, 0u);
  EXPECT_FALSE(runtime_.pool_spec("web"));
  EXPECT_EQ(pools_->counts(*pool), PoolCounts{});
}

TEST_F(ClusterPoolKeeperTest, DoesNothingWhileFencedOrTheRuntimeIsDown) {
  ASSERT_TRUE(make_pool("web", {1, 1, 0, 1}));
  sandboxes_->set_runtime_available(false);
  keeper_->pass();
  sandboxes_->set_runtime_available(true);
  sandboxes_->set_fence("the lease sandboxes/sandboxd is held by sandboxd-1");
  keeper_->pass();
  EXPECT_EQ(runtime_.calls("list_pools"), 0);
  EXPECT_EQ(runtime_.calls("apply_pool"), 0);
  sandboxes_->set_fence(std::nullopt);
  keeper_->pass();
  EXPECT_TRUE(runtime_.pool_spec("web"));
}

TEST_F(ClusterPoolKeeperTest, TheThreadAppliesANewPoolAfterItsCommit) {
  // An interval no test waits for: only the pool's commit can cause the pass.
  PoolKeeperOptions o;
  o.interval = std::chrono::hours(1);
  keeper_ = std::make_unique<PoolKeeper>(*store_, clock_, *pools_, *sandboxes_, o, &runtime_);
  ASSERT_TRUE(keeper_->start());
  auto wait_for = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return keeper_->stats().passes >= 1; }));
  ASSERT_TRUE(make_pool("web", {1, 1, 0, 1}));
  EXPECT_TRUE(wait_for([&] { return runtime_.pool_spec("web").has_value(); }));
  ASSERT_TRUE(pools_->update_capacity("web", PoolCapacity{0, 2, 0, 2}, kUser));
  EXPECT_TRUE(wait_for([&] {
    auto spec = runtime_.pool_spec("web");
    return spec && spec->capacity == PoolCapacity{0, 2, 0, 2};
  }));
  ASSERT_TRUE(pools_->remove("web", kUser));
  EXPECT_TRUE(wait_for([&] { return !runtime_.pool_spec("web").has_value(); }));
  keeper_->stop();
}

TEST_F(ClusterPoolKeeperTest, StartNeedsTheRuntime) {
  PoolKeeper without(*store_, clock_, *pools_, *sandboxes_, PoolKeeperOptions{});
  auto started = without.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace sbx
