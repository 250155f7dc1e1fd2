#include "events/pool_decider.h"

#include <gtest/gtest.h>

#include <string>

namespace sbx {
namespace {

constexpr Micros kNow = 1'780'000'000'000'000;
constexpr std::int64_t kMax = 256;

Event ev(std::uint64_t version, EventData data, Micros t = kNow) {
  Event e;
  e.stream = "pool-web";
  e.version = version;
  e.time = t;
  e.data = std::move(data);
  return e;
}

// Folds the events of `decide` into `state`, as the store would (the stream's version goes on
// across a deletion: `*version` is the stream version).
std::optional<Pool> fold(std::optional<Pool> state, const PoolCommand& c, std::uint64_t* version,
                         Micros t = kNow) {
  auto events = decide_pool(state, c, t);
  EXPECT_TRUE(events) << events.error().message;
  if (!events) return state;
  for (auto& d : *events) state = evolve_pool(state, ev(++*version, d, t));
  return state;
}

PoolCapacity cap(std::int64_t bmin, std::int64_t bmax, std::int64_t pmin, std::int64_t pmax) {
  return PoolCapacity{bmin, bmax, pmin, pmax};
}

CreatePool create_web(PoolCapacity c = cap(1, 2, 0, 4)) {
  CreatePool cp;
  cp.name = "web";
  cp.template_spec.image_uri = "busybox:1";
  cp.template_spec.entrypoint = {"sleep", "1000"};
  cp.template_json = R"({"image":{"uri":"busybox:1"}})";
  cp.capacity = c;
  cp.max_members = kMax;
  return cp;
}

Error error_of(const Result<std::vector<EventData>>& r) {
  EXPECT_FALSE(r);
  return r ? Error{} : r.error();
}

TEST(PoolName, AcceptsKubernetesResourceNames) {
  EXPECT_TRUE(is_valid_pool_name("web"));
  EXPECT_TRUE(is_valid_pool_name("a"));
  EXPECT_TRUE(is_valid_pool_name("0"));
  EXPECT_TRUE(is_valid_pool_name("py-3-12"));
  EXPECT_TRUE(is_valid_pool_name(std::string(kMaxPoolNameLength, 'a')));
}

TEST(PoolName, RefusesEverythingElse) {
  EXPECT_FALSE(is_valid_pool_name(""));
  EXPECT_FALSE(is_valid_pool_name(std::string(kMaxPoolNameLength + 1, 'a')));
  EXPECT_FALSE(is_valid_pool_name("-web"));
  EXPECT_FALSE(is_valid_pool_name("web-"));
  EXPECT_FALSE(is_valid_pool_name("Web"));
  EXPECT_FALSE(is_valid_pool_name("we_b"));
  EXPECT_FALSE(is_valid_pool_name("we.b"));
  EXPECT_FALSE(is_valid_pool_name("we/b"));
  EXPECT_FALSE(is_valid_pool_name("we b"));
  EXPECT_FALSE(is_valid_pool_name(std::string("we\0b", 4)));
  EXPECT_FALSE(is_valid_pool_name("w\xc3\xa9"));
}

TEST(PoolCapacityRules, AcceptsValuesWithinTheBoundsAndOrder) {
  EXPECT_TRUE(validate_pool_capacity(cap(0, 0, 0, 0), kMax));
  EXPECT_TRUE(validate_pool_capacity(cap(1, 2, 0, 4), kMax));
  EXPECT_TRUE(validate_pool_capacity(cap(2, 2, 4, 4), kMax));
  EXPECT_TRUE(validate_pool_capacity(cap(kMax, kMax, kMax, kMax), kMax));
  // pool_min may exceed buffer_max (members are made while total < pool_min).
  EXPECT_TRUE(validate_pool_capacity(cap(0, 1, 3, 3), kMax));
}

TEST(PoolCapacityRules, NamesTheFieldOutOfRange) {
  struct Case {
    PoolCapacity c;
    std::string field;
  } cases[] = {
      {cap(-1, 2, 0, 4), "capacitySpec.bufferMin"},
      {cap(1, -2, 0, 4), "capacitySpec.bufferMax"},
      {cap(1, 2, -1, 4), "capacitySpec.poolMin"},
      {cap(1, 2, 0, -4), "capacitySpec.poolMax"},
      {cap(kMax + 1, 2, 0, 4), "capacitySpec.bufferMin"},
      {cap(1, 2, 0, kMax + 1), "capacitySpec.poolMax"},
      {cap(1, 2, 0, INT64_MAX), "capacitySpec.poolMax"},
      {cap(INT64_MIN, 2, 0, 4), "capacitySpec.bufferMin"},
  };
  for (const auto& k : cases) {
    auto r = validate_pool_capacity(k.c, kMax);
    ASSERT_FALSE(r) << k.field;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, k.field);
    EXPECT_NE(r.error().message.find(k.field), std::string::npos) << r.error().message;
  }
}

TEST(PoolCapacityRules, NamesTheFieldThatBreaksTheOrder) {
  auto r = validate_pool_capacity(cap(3, 2, 0, 4), kMax);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "capacitySpec.bufferMin");
  r = validate_pool_capacity(cap(1, 2, 5, 4), kMax);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "capacitySpec.poolMin");
  r = validate_pool_capacity(cap(1, 5, 0, 4), kMax);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "capacitySpec.bufferMax");
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(PoolDecider, CreateOpensThePoolWithGenerationOfItsVersion) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "web");
  EXPECT_EQ(p->version, 1u);
  EXPECT_EQ(p->generation, 1u);
  EXPECT_EQ(p->template_spec.image_uri, "busybox:1");
  EXPECT_EQ(p->template_json, R"({"image":{"uri":"busybox:1"}})");
  EXPECT_EQ(p->capacity, cap(1, 2, 0, 4));
  EXPECT_EQ(p->created_at, kNow);
  EXPECT_EQ(p->updated_at, kNow);
  EXPECT_FALSE(p->deleted);
}

TEST(PoolDecider, CreateOfAnExistingPoolFailsWithAlreadyExists) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  const Error e = error_of(decide_pool(p, create_web(), kNow));
  EXPECT_EQ(e.code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(e.field, "name");
}

TEST(PoolDecider, CreateRefusesABadNameOrCapacity) {
  CreatePool bad = create_web();
  bad.name = "Web_1";
  Error e = error_of(decide_pool(std::nullopt, bad, kNow));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.field, "name");
  e = error_of(decide_pool(std::nullopt, create_web(cap(1, 2, 0, 1)), kNow));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.field, "capacitySpec.bufferMax");
  CreatePool tight = create_web(cap(0, 0, 0, 5));
  tight.max_members = 4;
  e = error_of(decide_pool(std::nullopt, tight, kNow));
  EXPECT_EQ(e.field, "capacitySpec.poolMax");
}

TEST(PoolDecider, UpdateReplacesTheCapacityAndKeepsTheGeneration) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  p = fold(p, UpdatePoolCapacity{cap(2, 3, 1, 8), kMax}, &v, kNow + 7);
  EXPECT_EQ(p->capacity, cap(2, 3, 1, 8));
  EXPECT_EQ(p->version, 2u);
  EXPECT_EQ(p->generation, 1u);
  EXPECT_EQ(p->created_at, kNow);
  EXPECT_EQ(p->updated_at, kNow + 7);
}

TEST(PoolDecider, UpdateWithTheCurrentCapacityAppendsNothing) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  auto r = decide_pool(p, UpdatePoolCapacity{p->capacity, kMax}, kNow);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(PoolDecider, UpdateRefusesABadCapacityOrAMissingPool) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  Error e = error_of(decide_pool(p, UpdatePoolCapacity{cap(5, 2, 0, 4), kMax}, kNow));
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.field, "capacitySpec.bufferMin");
  e = error_of(decide_pool(std::nullopt, UpdatePoolCapacity{cap(1, 2, 0, 4), kMax}, kNow));
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.field, "pool");
  // A missing pool is reported before the capacity is looked at.
  e = error_of(decide_pool(std::nullopt, UpdatePoolCapacity{cap(-1, 2, 0, 4), kMax}, kNow));
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

TEST(PoolDecider, DeleteMarksThePoolDeletedAndLaterCommandsFindNothing) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  p = fold(p, DeletePool{}, &v, kNow + 9);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->deleted);
  EXPECT_EQ(p->version, 2u);
  EXPECT_EQ(p->updated_at, kNow + 9);
  for (const PoolCommand& c : {PoolCommand{DeletePool{}},
                               PoolCommand{UpdatePoolCapacity{cap(0, 0, 0, 0), kMax}}}) {
    Error e = error_of(decide_pool(p, c, kNow));
    EXPECT_EQ(e.code, ErrorCode::kNotFound);
    EXPECT_EQ(e.field, "pool");
  }
  Error e = error_of(decide_pool(std::nullopt, DeletePool{}, kNow));
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

TEST(PoolDecider, CreateAfterDeleteStartsAFreshPoolOfANewGeneration) {
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  p = fold(p, UpdatePoolCapacity{cap(2, 3, 1, 8), kMax}, &v);
  p = fold(p, DeletePool{}, &v);
  CreatePool again = create_web(cap(0, 1, 0, 1));
  again.template_spec.image_uri = "busybox:2";
  // On the deleted state (the stream went on) and on nullopt (the projection dropped it).
  auto fresh = fold(p, again, &v, kNow + 100);
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->deleted);
  EXPECT_EQ(fresh->version, 4u);
  EXPECT_EQ(fresh->generation, 4u);
  EXPECT_EQ(fresh->template_spec.image_uri, "busybox:2");
  EXPECT_EQ(fresh->capacity, cap(0, 1, 0, 1));
  EXPECT_EQ(fresh->created_at, kNow + 100);
  const Pool from_nothing = evolve_pool(std::nullopt, ev(4, PoolCreated{"web", again.template_spec,
                                                                        again.template_json,
                                                                        again.capacity},
                                                         kNow + 100));
  EXPECT_EQ(from_nothing, *fresh);
}

TEST(PoolDecider, EvolveIgnoresEventsThatDoNotApply) {
  // A second PoolCreated on a live pool changes only the version.
  std::uint64_t v = 0;
  auto p = fold(std::nullopt, create_web(), &v);
  const Pool again = evolve_pool(p, ev(2, PoolCreated{"web", {}, "{}", cap(0, 0, 0, 0)}, kNow + 1));
  EXPECT_EQ(again.version, 2u);
  EXPECT_EQ(again.generation, 1u);
  EXPECT_EQ(again.capacity, p->capacity);
  EXPECT_EQ(again.updated_at, kNow);
  // Events before any PoolCreated leave an unnamed pool (which the store does not project).
  const Pool orphan = evolve_pool(std::nullopt, ev(1, PoolCapacityChanged{cap(1, 1, 1, 1)}));
  EXPECT_TRUE(orphan.name.empty());
  EXPECT_EQ(orphan.capacity, PoolCapacity{});
  const Pool gone = evolve_pool(std::nullopt, ev(1, PoolDeleted{}));
  EXPECT_TRUE(gone.name.empty());
  EXPECT_FALSE(gone.deleted);
  // A capacity change after the deletion does not revive the pool.
  auto deleted = fold(p, DeletePool{}, &v);
  const Pool still = evolve_pool(deleted, ev(3, PoolCapacityChanged{cap(1, 1, 1, 1)}));
  EXPECT_TRUE(still.deleted);
  EXPECT_EQ(still.capacity, cap(1, 2, 0, 4));
}

TEST(PoolDecider, OnlyPoolCreatedOpensAStream) {
  EXPECT_TRUE(opens_pool_stream(PoolCreated{}));
  EXPECT_FALSE(opens_pool_stream(PoolCapacityChanged{}));
  EXPECT_FALSE(opens_pool_stream(PoolDeleted{}));
  EXPECT_FALSE(opens_pool_stream(SandboxClaimed{}));
}

TEST(PoolStream, NamesRoundTrip) {
  EXPECT_EQ(pool_stream_of("web"), "pool-web");
  EXPECT_EQ(pool_name_of("pool-web"), "web");
  EXPECT_EQ(pool_name_of("pool-"), "");
  EXPECT_EQ(pool_name_of("sandbox-web"), "");
}

}  // namespace
}  // namespace sbx
