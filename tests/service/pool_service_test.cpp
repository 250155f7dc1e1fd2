#include "src/service/pool_service.h"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "events/pool.h"
#include "tests/support/pool_fixture.h"

namespace sbx {
namespace {

const RequestContext& kUser = testing::kPoolUser;
const RequestContext kKeeper{"", "worker:pool-keeper"};
const RequestContext kWorker{"", "worker:provisioner"};

class PoolServiceTest : public testing::PoolFixture {
 protected:
  void SetUp() override { start(PoolOptions{}); }
  void TearDown() override { close_services(); }

  void start(PoolOptions pool_options, ServiceOptions o = {}) {
    const ServiceOptions bridge = testing::bridge_service_options(43000, 43999);
    o.network_mode = bridge.network_mode;
    o.port_range_low = bridge.port_range_low;
    o.port_range_high = bridge.port_range_high;
    o.probe_host_ports = bridge.probe_host_ports;
    open_services(std::move(o), std::move(pool_options));
  }

  static CreatePoolRequest request(const std::string& name, PoolCapacity c = {1, 2, 0, 4}) {
    return testing::pool_request(name, c);
  }

  std::shared_ptr<const Pool> make_pool(const std::string& name, PoolCapacity c = {1, 2, 0, 4}) {
    return PoolFixture::make_pool(name, c);
  }

  // A member of `pool` moved to `state`; claimed (by a client's create) when `claimed`.
  std::string member(const Pool& pool, SandboxState state, bool claimed = false) {
    auto m = pools_->create_member(pool, kKeeper);
    EXPECT_TRUE(m) << m.error().message;
    if (!m) return "";
    const std::string id = m->id;
    if (state == SandboxState::kPending) return id;
    if (state == SandboxState::kFailed) {
      EXPECT_TRUE(sandboxes_->execute(id, RecordProvisioningFailed{"DOCKER::X", "no"}, kWorker));
      return id;
    }
    EXPECT_TRUE(sandboxes_->execute(id, RecordStarted{"c-" + id, "", {}}, kWorker));
    if (claimed) {
      auto c = sandboxes_->execute(id, ClaimSandbox{{{"owner", "alice"}}, std::nullopt}, kUser);
      EXPECT_TRUE(c) << c.error().message;
    }
    if (state == SandboxState::kPaused) {
      EXPECT_TRUE(sandboxes_->execute(id, PauseSandbox{}, kUser));
      EXPECT_TRUE(sandboxes_->execute(id, RecordPaused{}, kWorker));
    } else if (state == SandboxState::kStopping) {
      EXPECT_TRUE(sandboxes_->execute(id, DeleteSandbox{Reason::kReconcile}, kWorker));
    } else if (state == SandboxState::kTerminated) {
      EXPECT_TRUE(sandboxes_->execute(id, DeleteSandbox{Reason::kReconcile}, kWorker));
      EXPECT_TRUE(sandboxes_->execute(id, RecordTerminated{0, "removed"}, kWorker));
    }
    return id;
  }

  void expect_refused(const Result<PoolView>& r, ErrorCode code, const std::string& field) {
    ASSERT_FALSE(r) << "expected " << field;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_EQ(r.error().field, field) << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
};

TEST_F(PoolServiceTest, CreateRecordsThePoolAndReadsServeIt) {
  CreatePoolRequest r = request("web");
  r.template_request.spec.extensions_json = R"({"x":"1"})";
  r.template_request.metadata = {{"ignored", "yes"}};
  r.template_request.timeout_seconds = 5;  // ignored: no check, not recorded
  auto v = pools_->create(r, kUser);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->pool->name, "web");
  EXPECT_EQ(v->pool->generation, 1u);
  EXPECT_EQ(v->pool->version, 1u);
  EXPECT_EQ(v->pool->capacity, (PoolCapacity{1, 2, 0, 4}));
  EXPECT_EQ(v->pool->template_json, R"({"image":{"uri":"busybox:latest"}})");
  EXPECT_EQ(v->pool->created_at, clock_.now());
  EXPECT_EQ(v->counts, PoolCounts{});
  // The template keeps what makes a member, nothing else.
  const SandboxSpec& t = v->pool->template_spec;
  EXPECT_EQ(t.image_uri, "busybox:latest");
  EXPECT_EQ(t.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(t.env, (std::map<std::string, std::string>{{"LANG", "C.UTF-8"}, {"MODE", "warm"}}));
  EXPECT_EQ(t.resource_limits,
            (std::map<std::string, std::string>{{"cpu", "500m"}, {"memory", "256Mi"}}));
  EXPECT_TRUE(t.extensions_json.empty());
  EXPECT_FALSE(t.timeout_seconds);
  EXPECT_TRUE(t.ports.empty());
  EXPECT_TRUE(t.network_mode.empty());
  auto events = store_->read_stream(pool_stream_of("web"));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actor, "api:key");
  EXPECT_EQ((*events)[0].request_id, "req-1");
  EXPECT_EQ((*events)[0].reason, Reason::kUser);
  EXPECT_TRUE(std::holds_alternative<PoolCreated>((*events)[0].data));

  ASSERT_TRUE(pools_->create(request("api"), kUser));
  ASSERT_TRUE(pools_->create(request("batch"), kUser));
  auto got = pools_->get("web");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got->pool, *v->pool);
  EXPECT_FALSE(pools_->get("nope"));
  auto all = pools_->list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].pool->name, "api");
  EXPECT_EQ(all[1].pool->name, "batch");
  EXPECT_EQ(all[2].pool->name, "web");
}

TEST_F(PoolServiceTest, EveryRefusedCreateNamesItsFieldAndAppendsNothing) {
  ASSERT_TRUE(pools_->create(request("taken"), kUser));
  const std::uint64_t head = store_->head();
  for (const std::string& name :
       {std::string(""), std::string("Web"), std::string("-web"), std::string("web-"),
        std::string("we_b"), std::string("we/b"), std::string(64, 'a'), std::string("w\0b", 3),
        std::string("../x")}) {
    expect_refused(pools_->create(request(name), kUser), ErrorCode::kInvalidArgument, "name");
  }
  expect_refused(pools_->create(request("taken"), kUser), ErrorCode::kAlreadyExists, "name");
  expect_refused(pools_->create(request("p", {3, 2, 0, 4}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.bufferMin");
  expect_refused(pools_->create(request("p", {0, 2, 5, 4}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.poolMin");
  expect_refused(pools_->create(request("p", {0, 5, 0, 4}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.bufferMax");
  expect_refused(pools_->create(request("p", {-1, 2, 0, 4}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.bufferMin");
  expect_refused(pools_->create(request("p", {0, 0, 0, 257}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.poolMax");

  CreatePoolRequest no_image = request("p");
  no_image.template_request.spec.image_uri.clear();
  expect_refused(pools_->create(no_image, kUser), ErrorCode::kInvalidArgument,
                 "template.image.uri");
  CreatePoolRequest auth = request("p");
  auth.template_request.image_auth = ImageAuth{"user", "secret"};
  expect_refused(pools_->create(auth, kUser), ErrorCode::kInvalidArgument, "template.image.auth");
  CreatePoolRequest snapshot = request("p");
  snapshot.template_request.spec.snapshot_id = "0190b4a4-7b7c-7cc2-8f00-000000000000";
  expect_refused(pools_->create(snapshot, kUser), ErrorCode::kInvalidArgument,
                 "template.snapshotId");
  // The checks of a create, with the template's field names.
  CreatePoolRequest policy = request("p");
  policy.template_request.spec.network_policy_json = R"({"defaultAction":"deny"})";
  expect_refused(pools_->create(policy, kUser), ErrorCode::kInvalidArgument,
                 "template.networkPolicy");
  CreatePoolRequest volume = request("p");
  volume.template_request.spec.volumes_json =
      R"([{"name":"v","host":{"path":"/etc"},"mountPath":"/data"}])";
  auto refused_volume = pools_->create(volume, kUser);
  ASSERT_FALSE(refused_volume);
  EXPECT_TRUE(refused_volume.error().field.starts_with("template.")) << refused_volume.error().field;

  EXPECT_EQ(store_->head(), head) << "a refused create appended something";
  EXPECT_FALSE(pools_->get("p"));
  EXPECT_EQ(store_->stream_version(pool_stream_of("p")), 0u);
}

TEST_F(PoolServiceTest, ValidateTemplatePrefixesTheFieldOfTheCreateCheck) {
  CreateRequest r;
  r.spec.image_uri = "busybox:latest";
  EXPECT_TRUE(sandboxes_->validate_template(r));
  r.timeout_seconds = 10;
  auto e = sandboxes_->validate_template(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.error().field, "template.timeout");
  r.timeout_seconds.reset();
  r.secure_access = true;
  e = sandboxes_->validate_template(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "template.secureAccess");
}

TEST_F(PoolServiceTest, MaxMembersCapsEveryCapacityField) {
  start(PoolOptions{.enabled = true, .max_members = 4});
  expect_refused(pools_->create(request("p", {0, 0, 0, 5}), kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.poolMax");
  ASSERT_TRUE(pools_->create(request("p", {0, 4, 4, 4}), kUser));
  expect_refused(pools_->update_capacity("p", {5, 5, 5, 5}, kUser), ErrorCode::kInvalidArgument,
                 "capacitySpec.bufferMin");
}

TEST_F(PoolServiceTest, UpdateReplacesTheCapacityOnly) {
  auto created = make_pool("web");
  clock_.advance(3 * kMicrosPerSecond);
  auto v = pools_->update_capacity("web", {2, 3, 1, 8}, kUser);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->pool->capacity, (PoolCapacity{2, 3, 1, 8}));
  EXPECT_EQ(v->pool->version, 2u);
  EXPECT_EQ(v->pool->generation, 1u);
  EXPECT_EQ(v->pool->template_spec, created->template_spec);
  EXPECT_EQ(v->pool->updated_at, clock_.now());
  EXPECT_EQ(pools_->get("web")->pool->capacity, (PoolCapacity{2, 3, 1, 8}));
  // The same capacity again: success, nothing appended.
  const std::uint64_t head = store_->head();
  auto same = pools_->update_capacity("web", {2, 3, 1, 8}, kUser);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->pool->version, 2u);
  EXPECT_EQ(store_->head(), head);
  expect_refused(pools_->update_capacity("web", {4, 3, 1, 8}, kUser),
                 ErrorCode::kInvalidArgument, "capacitySpec.bufferMin");
  expect_refused(pools_->update_capacity("nope", {0, 0, 0, 0}, kUser), ErrorCode::kNotFound,
                 "pool");
  EXPECT_EQ(store_->head(), head);
}

TEST_F(PoolServiceTest, DeleteTakesThePoolAwayAtOnce) {
  make_pool("web");
  ASSERT_TRUE(pools_->remove("web", kUser));
  EXPECT_FALSE(pools_->get("web"));
  EXPECT_TRUE(pools_->list().empty());
  auto again = pools_->remove("web", kUser);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(again.error().field, "pool");
  auto never = pools_->remove("never", kUser);
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().field, "pool");
  expect_refused(pools_->update_capacity("web", {0, 0, 0, 0}, kUser), ErrorCode::kNotFound,
                 "pool");
}

TEST_F(PoolServiceTest, CountsComeFromTheMembersInEachState) {
  auto web = make_pool("web", {0, 8, 0, 16});
  auto other = make_pool("other");
  member(*web, SandboxState::kPending);
  member(*web, SandboxState::kPending);
  member(*web, SandboxState::kRunning);
  member(*web, SandboxState::kRunning);
  member(*web, SandboxState::kRunning);
  member(*web, SandboxState::kRunning, /*claimed=*/true);
  member(*web, SandboxState::kPaused, /*claimed=*/true);    // allocated: still live
  member(*web, SandboxState::kStopping, /*claimed=*/true);  // allocated until it ends
  member(*web, SandboxState::kTerminated, /*claimed=*/true);  // gone
  member(*web, SandboxState::kFailed);                        // not part of the pool
  member(*web, SandboxState::kStopping);                      // drained: not part of it
  member(*other, SandboxState::kRunning);
  // A sandbox that is no member (a cold create) counts nowhere.
  CreateRequest cold;
  cold.spec.image_uri = "busybox:latest";
  ASSERT_TRUE(sandboxes_->create(cold, kUser));

  const PoolCounts want{.available = 3, .warming = 2, .allocated = 3, .total = 8};
  EXPECT_EQ(pools_->counts(*web), want);
  EXPECT_EQ(pools_->get("web")->counts, want);
  auto all = pools_->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].pool->name, "web");
  EXPECT_EQ(all[1].counts, want);
  EXPECT_EQ(all[0].counts, (PoolCounts{.available = 1, .warming = 0, .allocated = 0, .total = 1}));
  // Capacity changes do not change who is a member.
  auto resized = pools_->update_capacity("web", {0, 1, 0, 1}, kUser);
  ASSERT_TRUE(resized);
  EXPECT_EQ(resized->counts, want);
}

TEST_F(PoolServiceTest, CreateMemberRecordsAPoolSandboxWithoutMetadataOrDeadline) {
  auto web = make_pool("web");
  auto m = pools_->create_member(*web, kKeeper);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->state, SandboxState::kPending);
  EXPECT_EQ(m->spec.pool_name, "web");
  EXPECT_EQ(m->spec.pool_generation, web->generation);
  EXPECT_TRUE(m->is_unclaimed_member());
  EXPECT_TRUE(m->metadata.empty());
  EXPECT_FALSE(m->expires_at);
  EXPECT_FALSE(m->spec.timeout_seconds);
  EXPECT_EQ(m->spec.image_uri, "busybox:latest");
  EXPECT_EQ(m->spec.network_mode, "bridge");
  EXPECT_EQ(m->spec.ports.size(), 2u);  // published like any sandbox's
  EXPECT_TRUE(store_->expiring(INT64_MAX, 10)->empty());
  auto events = store_->read_stream(stream_of(m->id));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actor, "worker:pool-keeper");
  EXPECT_EQ(std::get<SandboxRequested>((*events)[0].data).spec.pool_name, "web");
  // The service drops what a client's create would carry.
  CreateRequest r;
  r.spec = web->template_spec;
  r.metadata = {{"k", "v"}};
  r.timeout_seconds = 600;
  r.idempotency_key = "key-1";
  auto direct = sandboxes_->create_member(r, "web", web->generation, kKeeper);
  ASSERT_TRUE(direct) << direct.error().message;
  EXPECT_TRUE(direct->sandbox.metadata.empty());
  EXPECT_FALSE(direct->sandbox.expires_at);
  EXPECT_FALSE(store_->idempotency("key-1", clock_.now())->has_value());
  auto unnamed = sandboxes_->create_member(r, "", 1, kKeeper);
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().field, "pool");
}

TEST_F(PoolServiceTest, ARecreatedPoolIsANewGenerationAndOldMembersNoLongerCount) {
  auto old = make_pool("web");
  const std::string old_member = member(*old, SandboxState::kRunning);
  EXPECT_EQ(pools_->get("web")->counts.available, 1);
  ASSERT_TRUE(pools_->remove("web", kUser));
  // A member of the deleted pool is refused (the keeper raced the delete).
  auto late = pools_->create_member(*old, kKeeper);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(late.error().field, "pool");

  auto fresh = pools_->create(request("web", {0, 1, 0, 1}), kUser);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_GT(fresh->pool->generation, old->generation);
  EXPECT_EQ(fresh->pool->generation, 3u);  // created, deleted, created
  EXPECT_EQ(fresh->counts, PoolCounts{});
  ASSERT_NE(store_->get_sandbox(old_member), nullptr);  // still live: the keeper drains it
  // Neither the old generation's members nor a member made from a stale Pool count.
  EXPECT_FALSE(pools_->create_member(*old, kKeeper));
  member(*fresh->pool, SandboxState::kRunning);
  EXPECT_EQ(pools_->get("web")->counts,
            (PoolCounts{.available = 1, .warming = 0, .allocated = 0, .total = 1}));
}

TEST_F(PoolServiceTest, DisabledPoolsRefuseEveryMutation) {
  auto web = make_pool("web");
  start(PoolOptions{.enabled = false, .max_members = 256});
  expect_refused(pools_->create(request("p"), kUser), ErrorCode::kUnimplemented, "runtime.pools");
  expect_refused(pools_->update_capacity("web", {0, 0, 0, 0}, kUser), ErrorCode::kUnimplemented,
                 "runtime.pools");
  auto removed = pools_->remove("web", kUser);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(removed.error().field, "runtime.pools");
  auto m = pools_->create_member(*web, kKeeper);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().field, "runtime.pools");
}

TEST_F(PoolServiceTest, AFencedInstanceRefusesPoolChanges) {
  make_pool("web");
  sandboxes_->set_fence("the lease sandboxes/sandboxd is held by sandboxd-1");
  const std::uint64_t head = store_->head();
  expect_refused(pools_->create(request("p"), kUser), ErrorCode::kUnavailable, "lease");
  expect_refused(pools_->update_capacity("web", {0, 0, 0, 0}, kUser), ErrorCode::kUnavailable,
                 "lease");
  auto removed = pools_->remove("web", kUser);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().field, "lease");
  EXPECT_EQ(store_->head(), head);
  EXPECT_TRUE(pools_->get("web"));  // reads keep working
}

TEST_F(PoolServiceTest, PoolsSurviveARestart) {
  auto web = make_pool("web");
  member(*web, SandboxState::kRunning);
  ASSERT_TRUE(pools_->update_capacity("web", {0, 3, 0, 3}, kUser));
  start(PoolOptions{});
  auto got = pools_->get("web");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->pool->capacity, (PoolCapacity{0, 3, 0, 3}));
  EXPECT_EQ(got->counts.available, 1);
}

TEST_F(PoolServiceTest, AsyncFormsAnswerOnTheMutationThread) {
  std::promise<Result<PoolView>> created;
  pools_->create_async(request("web"), kUser, [&](Result<PoolView> r) { created.set_value(r); });
  auto c = created.get_future().get();
  ASSERT_TRUE(c) << c.error().message;
  std::promise<Result<PoolView>> updated;
  pools_->update_capacity_async("web", {0, 1, 0, 1}, kUser,
                                [&](Result<PoolView> r) { updated.set_value(r); });
  auto u = updated.get_future().get();
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->pool->capacity, (PoolCapacity{0, 1, 0, 1}));
  std::promise<Result<void>> removed;
  pools_->remove_async("web", kUser, [&](Result<void> r) { removed.set_value(r); });
  ASSERT_TRUE(removed.get_future().get());
  EXPECT_FALSE(pools_->get("web"));
  pools_->shutdown();
  std::promise<Result<PoolView>> late;
  pools_->create_async(request("x"), kUser, [&](Result<PoolView> r) { late.set_value(r); });
  auto l = late.get_future().get();
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace sbx

namespace sbx {
namespace {

TEST(PoolServiceLimits, MaxPoolsAndTheTemplateSizeBoundWhatPoolRequestsCanMake) {
  testing::TempDir dir;
  ManualClock clock;
  auto store = EventStore::open(StoreOptions{.path = dir.str(), .sync = false});
  ASSERT_TRUE(store.has_value()) << store.error().message;
  ServiceOptions o;
  o.network_mode = "bridge";
  o.probe_host_ports = false;
  SandboxService sandboxes(**store, clock, o);
  PoolOptions po;
  po.max_pools = 2;
  PoolService pools(**store, clock, sandboxes, po);
  const RequestContext ctx{"", "api"};
  auto req = [](const std::string& name, std::size_t template_bytes = 0) {
    CreatePoolRequest r;
    r.name = name;
    r.template_request.spec.image_uri = "busybox:latest";
    r.template_request.spec.entrypoint = {"sleep", "infinity"};
    r.template_json = template_bytes ? std::string(template_bytes, ' ') : std::string("{}");
    r.capacity = PoolCapacity{0, 1, 0, 1};
    return r;
  };
  auto big = pools.create(req("big", kMaxPoolTemplateBytes + 1), ctx);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(big.error().field, "template");
  ASSERT_TRUE(pools.create(req("a"), ctx));
  ASSERT_TRUE(pools.create(req("b"), ctx));
  const std::uint64_t head = (*store)->head();
  auto third = pools.create(req("c"), ctx);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(third.error().field, "pools.max_pools");
  EXPECT_EQ((*store)->head(), head);
  // An existing name is still "already exists", not "too many".
  auto again = pools.create(req("a"), ctx);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  ASSERT_TRUE(pools.remove("b", ctx));
  EXPECT_TRUE(pools.create(req("c"), ctx));
  pools.shutdown();
  sandboxes.shutdown();
}

}  // namespace
}  // namespace sbx
