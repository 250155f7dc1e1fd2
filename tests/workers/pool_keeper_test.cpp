// PoolKeeper (issue 14): the capacity plan, refills, recycling, draining and replacement,
// over a real store; the provisioner's outcomes are recorded by the test.
#include "src/workers/pool_keeper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tests/support/pool_fixture.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;

const RequestContext& kUser = testing::kPoolUser;
const RequestContext kWorker{"", "worker:provisioner"};

TEST(PlanPool, RefillsToBufferMaxBelowBufferMinWithinPoolMax) {
  // {bufferMin, bufferMax, poolMin, poolMax}, {available, warming, allocated, total}
  EXPECT_EQ(plan_pool({2, 5, 0, 10}, {0, 0, 0, 0}), (PoolPlan{5, 0}));
  EXPECT_EQ(plan_pool({2, 5, 0, 10}, {1, 1, 0, 2}), (PoolPlan{0, 0}));  // at bufferMin: wait
  EXPECT_EQ(plan_pool({2, 5, 0, 10}, {1, 0, 0, 1}), (PoolPlan{4, 0}));
  EXPECT_EQ(plan_pool({2, 5, 0, 10}, {0, 0, 8, 8}), (PoolPlan{2, 0}));  // poolMax caps
  EXPECT_EQ(plan_pool({2, 5, 0, 10}, {0, 0, 10, 10}), (PoolPlan{0, 0}));
  EXPECT_EQ(plan_pool({50, 50, 0, 50}, {0, 0, 50, 50}), (PoolPlan{0, 0}));
}

TEST(PlanPool, PoolMinWinsOverTheBufferAndSurplusIsRecycledDownToBufferMax) {
  EXPECT_EQ(plan_pool({0, 1, 4, 10}, {1, 0, 0, 1}), (PoolPlan{3, 0}));
  EXPECT_EQ(plan_pool({1, 2, 0, 10}, {5, 0, 0, 5}), (PoolPlan{0, 3}));
  EXPECT_EQ(plan_pool({1, 2, 4, 10}, {5, 0, 0, 5}), (PoolPlan{0, 1}));  // not below poolMin
  EXPECT_EQ(plan_pool({0, 0, 0, 0}, {0, 0, 0, 0}), (PoolPlan{0, 0}));
}

class PoolKeeperTest : public testing::PoolFixture {
 protected:
  void SetUp() override {
    open_services(testing::bridge_service_options(30000, 39999));
    keeper_ = std::make_unique<PoolKeeper>(*store_, clock_, *pools_, *sandboxes_,
                                           PoolKeeperOptions{});
  }
  void TearDown() override {
    keeper_.reset();
    close_services();
  }

  void make_pool(const std::string& name, PoolCapacity capacity) {
    ASSERT_TRUE(PoolFixture::make_pool(name, capacity));
  }

  // Unclaimed members of `pool` in `state`.
  std::vector<std::shared_ptr<const Sandbox>> members(const std::string& pool,
                                                      std::optional<SandboxState> state = {}) {
    std::vector<std::shared_ptr<const Sandbox>> out;
    for (auto& sb : store_->list_sandboxes()) {
      if (sb->spec.pool_name == pool && sb->is_unclaimed_member() &&
          (!state || sb->state == *state)) {
        out.push_back(sb);
      }
    }
    return out;
  }

  void start_all(const std::string& pool) {
    for (const auto& sb : members(pool, SandboxState::kPending)) {
      auto r = sandboxes_->execute(sb->id, RecordStarted{"c-" + sb->id, "", {}}, kWorker);
      ASSERT_TRUE(r) << r.error().message;
    }
  }

  std::string claim(const std::string& pool) {
    CreateRequest r;
    r.pool_ref = pool;
    r.pool_warm_only = true;
    auto c = sandboxes_->create(r, kUser);
    EXPECT_TRUE(c) << c.error().message;
    return c ? c->sandbox.id : std::string();
  }

  std::unique_ptr<PoolKeeper> keeper_;
};

TEST_F(PoolKeeperTest, FillsThePoolRefillsAfterClaimsAndStopsAtPoolMax) {
  make_pool("p", {3, 3, 0, 5});
  keeper_->pass();
  EXPECT_EQ(members("p", SandboxState::kPending).size(), 3u);
  keeper_->pass();  // warming members count: nothing more
  EXPECT_EQ(members("p").size(), 3u);
  start_all("p");
  for (const auto& sb : members("p")) {
    auto events = store_->read_stream(stream_of(sb->id));
    ASSERT_TRUE(events);
    EXPECT_EQ(events->front().actor, "worker:pool-keeper");
    EXPECT_EQ(sb->spec.image_uri, "busybox:latest");
    EXPECT_FALSE(sb->expires_at);
  }

  const std::string a = claim("p");
  const std::string b = claim("p");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  keeper_->pass();  // available 1 < bufferMin 3: up to 3, but total may not pass 5
  EXPECT_EQ(members("p").size(), 3u);
  const PoolCounts c = pools_->counts(*store_->get_pool("p"));
  EXPECT_EQ(c.allocated, 2);
  EXPECT_EQ(c.available, 1);
  EXPECT_EQ(c.warming, 2);
  EXPECT_EQ(c.total, 5);
  start_all("p");
  claim("p");
  claim("p");
  claim("p");
  keeper_->pass();
  EXPECT_EQ(members("p").size(), 0u);  // 5 allocated: poolMax reached
  // A claimed sandbox that ends frees room.
  ASSERT_TRUE(sandboxes_->execute(a, DeleteSandbox{Reason::kUser}, kUser));
  ASSERT_TRUE(sandboxes_->execute(a, RecordTerminated{0, ""}, kWorker));
  keeper_->pass();
  EXPECT_EQ(members("p").size(), 1u);
  EXPECT_GE(keeper_->stats().members_created, 6u);
}

TEST_F(PoolKeeperTest, SurplusIsRecycledOldestFirstAndClaimedSandboxesAreNeverTouched) {
  make_pool("p", {4, 4, 0, 10});
  keeper_->pass();
  start_all("p");
  const std::string claimed = claim("p");
  keeper_->pass();
  start_all("p");
  ASSERT_EQ(members("p", SandboxState::kRunning).size(), 4u);
  auto oldest = members("p", SandboxState::kRunning);
  std::sort(oldest.begin(), oldest.end(),
            [](const auto& x, const auto& y) {
              return x->created_at != y->created_at ? x->created_at < y->created_at
                                                    : x->id < y->id;
            });

  ASSERT_TRUE(pools_->update_capacity("p", {1, 1, 0, 10}, kUser));
  keeper_->pass();
  EXPECT_EQ(members("p", SandboxState::kRunning).size(), 1u);
  EXPECT_EQ(members("p", SandboxState::kStopping).size(), 3u);
  const auto last = store_->read_stream(stream_of(oldest[0]->id));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->back().type(), "DeletionRequested");
  EXPECT_EQ(last->back().reason, Reason::kReconcile);
  EXPECT_EQ(last->back().actor, "worker:pool-keeper");
  EXPECT_EQ(store_->get_sandbox(claimed)->state, SandboxState::kRunning);
  EXPECT_EQ(keeper_->stats().members_recycled, 3u);
}

TEST_F(PoolKeeperTest, DeletingThePoolDrainsItsUnclaimedMembersOnly) {
  make_pool("p", {2, 2, 0, 4});
  keeper_->pass();
  start_all("p");
  const std::string claimed = claim("p");
  keeper_->pass();  // refill the claimed one
  ASSERT_TRUE(pools_->remove("p", kUser));
  keeper_->pass();
  for (const auto& sb : members("p")) EXPECT_EQ(sb->state, SandboxState::kStopping) << sb->id;
  EXPECT_EQ(members("p").size(), 2u);
  EXPECT_EQ(store_->get_sandbox(claimed)->state, SandboxState::kRunning);
  EXPECT_EQ(keeper_->stats().members_drained, 2u);
}

TEST_F(PoolKeeperTest, AFailedMemberIsReplacedAfterABackoff) {
  make_pool("p", {1, 1, 0, 2});
  keeper_->pass();
  auto m = members("p");
  ASSERT_EQ(m.size(), 1u);
  ASSERT_TRUE(sandboxes_->execute(
      m[0]->id, RecordProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "no such image"}, kWorker));
  keeper_->pass();  // the failed record is removed, the replacement waits
  EXPECT_EQ(store_->get_sandbox(m[0]->id), nullptr);
  EXPECT_EQ(members("p").size(), 0u);
  EXPECT_EQ(keeper_->stats().members_replaced, 1u);
  clock_.advance(1100 * 1000);
  keeper_->pass();
  EXPECT_EQ(members("p", SandboxState::kPending).size(), 1u);
}

TEST_F(PoolKeeperTest, TheThreadReactsToCommitsWithoutWaitingForTheInterval) {
  PoolKeeperOptions o;
  o.interval = 60s;
  PoolKeeper keeper(*store_, clock_, *pools_, *sandboxes_, o);
  ASSERT_TRUE(keeper.start());
  make_pool("p", {2, 2, 0, 2});
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (members("p").size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(members("p").size(), 2u);
  keeper.stop();
}

TEST_F(PoolKeeperTest, NothingIsDoneWhileFencedOrTheRuntimeIsDown) {
  make_pool("p", {2, 2, 0, 2});
  sandboxes_->set_fence("the lease sandboxes/sandboxd is held by other");
  keeper_->pass();
  EXPECT_EQ(members("p").size(), 0u);
  sandboxes_->set_fence(std::nullopt);
  sandboxes_->set_runtime_available(false);
  keeper_->pass();
  EXPECT_EQ(members("p").size(), 0u);
  sandboxes_->set_runtime_available(true);
  keeper_->pass();
  EXPECT_EQ(members("p").size(), 2u);
}

}  // namespace
}  // namespace sbx
