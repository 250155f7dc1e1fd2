// The claim path of SandboxService::create with extensions.poolRef (issue 14): a warm
// member is taken with one conditional append, a cold create falls back to the template,
// unclaimed members stay invisible to clients. Real RocksDB in a temp dir; members are
// made Running by recording the runtime outcome, as the provisioner would.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "tests/support/pool_fixture.h"

namespace sbx {
namespace {

const RequestContext& kUser = testing::kPoolUser;
const RequestContext kWorker{"", "worker:provisioner"};
const RequestContext kKeeper{"", "worker:pool-keeper"};

class PoolClaimTest : public testing::PoolFixture {
 protected:
  void SetUp() override {
    ServiceOptions o = testing::bridge_service_options(30000, 39999);
    o.max_sandbox_timeout_seconds = 86400;
    open_services(std::move(o));
  }
  void TearDown() override { close_services(); }

  // A pool holding up to `size` members, all of them kept warm.
  void make_pool(const std::string& name, std::int64_t size) {
    ASSERT_TRUE(PoolFixture::make_pool(name, PoolCapacity{size, size, 0, size}));
  }

  // `n` members of pool `name`, Running (as the provisioner would record them).
  std::vector<std::string> members(const std::string& name, int n, bool running = true) {
    std::vector<std::string> ids;
    auto pool = store_->get_pool(name);
    EXPECT_TRUE(pool);
    for (int i = 0; i < n; ++i) {
      auto m = pools_->create_member(*pool, kKeeper);
      EXPECT_TRUE(m) << m.error().message;
      if (!m) break;
      if (running) {
        auto r = sandboxes_->execute(m->id, RecordStarted{"c-" + m->id, "", {}}, kWorker);
        EXPECT_TRUE(r) << r.error().message;
      }
      ids.push_back(m->id);
      clock_.advance(1000);
    }
    return ids;
  }
};

TEST_F(PoolClaimTest, UnclaimedMembersAreInvisibleToClients) {
  make_pool("p", 2);
  const auto ids = members("p", 1);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(sandboxes_->get(ids[0]), nullptr);
  EXPECT_NE(store_->get_sandbox(ids[0]), nullptr);
  EXPECT_EQ(sandboxes_->list(ListQuery{}).total_items, 0u);
  auto del = sandboxes_->execute(ids[0], DeleteSandbox{Reason::kUser}, kUser);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, ErrorCode::kNotFound);
  auto pause = sandboxes_->execute(ids[0], PauseSandbox{}, kUser);
  ASSERT_FALSE(pause);
  EXPECT_EQ(pause.error().code, ErrorCode::kNotFound);
  auto endpoint = sandboxes_->endpoint(ids[0], 44772);
  ASSERT_FALSE(endpoint);
  EXPECT_EQ(endpoint.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->get_sandbox(ids[0])->state, SandboxState::kRunning);
}

TEST_F(PoolClaimTest, AWarmClaimIsOneEventAndTheSandboxIsRunningAtOnce) {
  make_pool("p", 2);
  const auto ids = members("p", 2);
  const std::uint64_t head = store_->head();
  auto c = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "warm");
  EXPECT_EQ(c->sandbox.id, ids[0]);  // the oldest member first
  EXPECT_EQ(c->sandbox.state, SandboxState::kRunning);
  EXPECT_EQ(c->sandbox.metadata.at("team"), "ml");
  ASSERT_TRUE(c->sandbox.expires_at);
  EXPECT_EQ(*c->sandbox.expires_at, clock_.now() + 600 * kMicrosPerSecond);
  ASSERT_TRUE(c->sandbox.claimed_at);
  // The client's createdAt is the claim, not the member's warm-up.
  EXPECT_EQ(*c->sandbox.claimed_at, clock_.now());
  EXPECT_LT(c->sandbox.created_at, clock_.now());
  EXPECT_EQ(c->sandbox.client_created_at(), clock_.now());
  EXPECT_EQ(store_->head(), head + 1);
  auto events = store_->read_stream(stream_of(ids[0]));
  ASSERT_TRUE(events);
  ASSERT_TRUE(std::holds_alternative<SandboxClaimed>(events->back().data));
  EXPECT_EQ(events->back().actor, "api:key");
  EXPECT_EQ(events->back().request_id, "req-1");
  // Now an ordinary sandbox: visible, listed, due to expire.
  ASSERT_NE(sandboxes_->get(ids[0]), nullptr);
  EXPECT_EQ(sandboxes_->list(ListQuery{}).total_items, 1u);
  auto due = store_->expiring(clock_.now() + 601 * kMicrosPerSecond, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].second, ids[0]);
  // The create's extensions replace the member's (renew-on-access reads them).
  EXPECT_EQ(c->sandbox.spec.extensions_json, R"({"poolRef":"p"})");
  EXPECT_EQ(sandboxes_->pool_claims().warm, 1u);
  const PoolCounts counts = pools_->counts(*store_->get_pool("p"));
  EXPECT_EQ(counts.available, 1);
  EXPECT_EQ(counts.allocated, 1);
  EXPECT_EQ(counts.total, 2);
}

TEST_F(PoolClaimTest, AClaimedSandboxIsListedByItsClaimTimeAmongOthers) {
  make_pool("p", 1);
  const auto ids = members("p", 1);
  CreateRequest cold;
  cold.spec.image_uri = "busybox:latest";
  cold.spec.entrypoint = {"sleep", "infinity"};
  cold.timeout_seconds = 600;
  auto first = sandboxes_->create(std::move(cold), kUser);
  ASSERT_TRUE(first) << first.error().message;
  clock_.advance(1000);
  auto claimed = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->sandbox.id, ids[0]);
  // The member was made before the cold sandbox, but the client created it after: newest
  // first, it leads.
  const auto page = sandboxes_->list(ListQuery{});
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0]->id, ids[0]);
  EXPECT_EQ(page.items[1]->id, first->sandbox.id);
}

TEST_F(PoolClaimTest, PendingMembersAreNotClaimedAndAnEmptyPoolCreatesColdFromTheTemplate) {
  make_pool("p", 2);
  members("p", 1, /*running=*/false);
  auto c = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cold");
  EXPECT_EQ(c->sandbox.state, SandboxState::kPending);
  EXPECT_EQ(c->sandbox.spec.image_uri, "busybox:latest");
  EXPECT_EQ(c->sandbox.spec.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(c->sandbox.spec.env.at("MODE"), "warm");
  EXPECT_EQ(c->sandbox.spec.resource_limits.at("memory"), "256Mi");
  EXPECT_TRUE(c->sandbox.spec.pool_name.empty());  // not a member: never counted by the pool
  EXPECT_EQ(sandboxes_->pool_claims().cold, 1u);
}

TEST_F(PoolClaimTest, WarmOnlyOnAnEmptyPoolIsRefusedAndAppendsNothing) {
  make_pool("p", 1);
  const std::uint64_t head = store_->head();
  CreateRequest r = pool_create("p");
  r.pool_warm_only = true;
  auto c = sandboxes_->create(r, kUser);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(c.error().field, "poolRef");
  EXPECT_EQ(store_->head(), head);
  EXPECT_EQ(sandboxes_->pool_claims().exhausted, 1u);
}

TEST_F(PoolClaimTest, UnknownPoolAndFieldsAMemberCannotHonourAreRefusedNamingTheField) {
  make_pool("p", 1);
  members("p", 1);
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
    EXPECT_NE(c.error().message.find("pool 'p'"), std::string::npos) << c.error().message;
  }
  EXPECT_EQ(store_->head(), head);
  // What the template already says may be repeated.
  CreateRequest same = pool_create("p");
  same.spec.image_uri = "busybox:latest";
  same.spec.env = {{"MODE", "warm"}};
  auto ok = sandboxes_->create(same, kUser);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->pool_claim, "warm");
}

TEST_F(PoolClaimTest, ConcurrentCreatesNeverGetTheSameMemberAndTheRestStartCold) {
  make_pool("p", 50);
  const auto ids = members("p", 50);
  ASSERT_EQ(ids.size(), 50u);
  std::vector<Result<CreateResult>> results(100, fail(ErrorCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 100; i += 10) results[i] = sandboxes_->create(pool_create("p"), kUser);
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> warm;
  int cold = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message;
    if (r->pool_claim == "warm") {
      EXPECT_TRUE(warm.insert(r->sandbox.id).second) << "member given twice: " << r->sandbox.id;
      EXPECT_EQ(r->sandbox.state, SandboxState::kRunning);
    } else {
      EXPECT_EQ(r->pool_claim, "cold");
      ++cold;
    }
  }
  EXPECT_EQ(warm.size(), 50u);
  EXPECT_EQ(cold, 50);
  EXPECT_EQ(warm, std::set<std::string>(ids.begin(), ids.end()));
  // One SandboxClaimed per member, no more.
  for (const auto& id : ids) {
    auto events = store_->read_stream(stream_of(id));
    ASSERT_TRUE(events);
    EXPECT_EQ(std::count_if(events->begin(), events->end(),
                            [](const Event& e) {
                              return std::holds_alternative<SandboxClaimed>(e.data);
                            }),
              1);
  }
}

TEST_F(PoolClaimTest, AnIdempotencyKeyReplaysTheClaimedSandbox) {
  make_pool("p", 2);
  members("p", 2);
  CreateRequest r = pool_create("p");
  r.idempotency_key = "claim-once";
  auto first = sandboxes_->create(r, kUser);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->pool_claim, "warm");
  auto again = sandboxes_->create(r, kUser);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->sandbox.id, first->sandbox.id);
  EXPECT_EQ(pools_->counts(*store_->get_pool("p")).available, 1);
}

TEST_F(PoolClaimTest, MembersOfAnOlderGenerationAreNotClaimed) {
  make_pool("p", 1);
  members("p", 1);
  ASSERT_TRUE(pools_->remove("p", kUser));
  make_pool("p", 1);
  auto c = sandboxes_->create(pool_create("p"), kUser);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool_claim, "cold");
}

TEST_F(PoolClaimTest, PoolsDisabledRefusesPoolRef) {
  ServiceOptions o;
  o.network_mode = "bridge";
  o.probe_host_ports = false;
  o.pools_enabled = false;
  SandboxService off(*store_, clock_, o);
  auto c = off.create(pool_create("p"), kUser);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(c.error().field, "runtime.pools");
  off.shutdown();
}

}  // namespace
}  // namespace sbx
