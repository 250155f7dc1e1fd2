// adopt_sandboxes: reference server sandboxes recorded as SandboxAdopted on a real store:
// projected Running/Paused at once, never twice, metadata cut to the API's rules, expired
// ones adopted for the expirer, and their host ports held by the service's allocator.
#include "src/service/adoption.h"

#include <gtest/gtest.h>

#include <set>

#include "events/decider.h"
#include "src/common/clock.h"
#include "src/service/sandbox_service.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

constexpr char kA[] = "0f8e2d7c-1b3a-4c5d-9e6f-7a8b9c0d1e2f";
constexpr char kB[] = "1a2b3c4d-1b3a-4c5d-9e6f-7a8b9c0d1e2f";

SandboxAdopted candidate(const std::string& id, SandboxState state, std::map<int, int> ports,
                         std::optional<Micros> expires_at) {
  SandboxAdopted a;
  a.sandbox_id = id;
  a.runtime_id = "c-" + id.substr(0, 8);
  a.spec.image_uri = "busybox:latest";
  a.spec.entrypoint = {"sleep", "3600"};
  a.spec.network_mode = "bridge";
  a.spec.ports = std::move(ports);
  a.metadata = {{"team", "ml"}};
  a.expires_at = expires_at;
  a.state = state;
  a.created_at = 1'000'000;
  a.source = "opensandbox-server";
  return a;
}

class AdoptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
  }
  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(AdoptionTest, CandidatesAreProjectedInTheirStateAndNeverAdoptedTwice) {
  const Micros now = clock_.now();
  std::vector<SandboxAdopted> batch = {
      candidate(kA, SandboxState::kRunning, {{44772, 42000}, {8080, 42001}}, now + 600'000'000),
      candidate(kB, SandboxState::kPaused, {}, std::nullopt)};
  auto out = adopt_sandboxes(*store_, batch, now, {});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result, AdoptionResult::kAdopted) << out[0].detail;
  EXPECT_EQ(out[1].result, AdoptionResult::kAdopted) << out[1].detail;
  EXPECT_FALSE(out[0].expired);

  auto a = store_->get_sandbox(kA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, SandboxState::kRunning);
  EXPECT_EQ(a->runtime_id, "c-0f8e2d7c");
  EXPECT_EQ(a->expires_at, now + 600'000'000);
  EXPECT_EQ(a->created_at, 1'000'000);
  EXPECT_EQ(store_->get_sandbox(kB)->state, SandboxState::kPaused);
  EXPECT_EQ(store_->next_expiry(), now + 600'000'000) << "the expirer sees the deadline";

  const std::uint64_t head = store_->head();
  auto again = adopt_sandboxes(*store_, batch, now, {});
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].result, AdoptionResult::kAlreadyKnown);
  EXPECT_EQ(again[1].result, AdoptionResult::kAlreadyKnown);
  EXPECT_EQ(store_->head(), head) << "nothing appended the second time";
}

TEST_F(AdoptionTest, RefusedAndExpiredCandidates) {
  const Micros now = clock_.now();
  SandboxAdopted exited = candidate(kA, SandboxState::kTerminated, {}, std::nullopt);
  SandboxAdopted no_id = candidate("", SandboxState::kRunning, {}, std::nullopt);
  SandboxAdopted late = candidate(kB, SandboxState::kRunning, {}, now - 1);
  auto out = adopt_sandboxes(*store_, {exited, no_id, late}, now, {});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].result, AdoptionResult::kRefused);
  EXPECT_NE(out[0].detail.find("Terminated"), std::string::npos) << out[0].detail;
  EXPECT_EQ(out[1].result, AdoptionResult::kRefused);
  EXPECT_EQ(store_->get_sandbox(kA), nullptr);
  // Adopted all the same: the expirer deletes it through its ordinary path.
  EXPECT_EQ(out[2].result, AdoptionResult::kAdopted);
  EXPECT_TRUE(out[2].expired);
  EXPECT_EQ(store_->next_expiry(), now - 1);
}

TEST_F(AdoptionTest, MetadataIsCutToWhatTheApiAccepts) {
  SandboxAdopted a = candidate(kA, SandboxState::kRunning, {}, std::nullopt);
  a.metadata = {{"good", "yes"}, {"bad key!", "v"}, {"k", "bad value!"}};
  for (int i = 0; i < 70; ++i) a.metadata.emplace("m" + std::to_string(100 + i), "v");
  AdoptionOptions o;
  o.metadata_key_problem = [](std::string_view k) {
    return k.find(' ') == std::string_view::npos ? std::string() : std::string("has a space");
  };
  o.metadata_value_problem = [](std::string_view v) {
    return v.find('!') == std::string_view::npos ? std::string() : std::string("has a !");
  };
  auto out = adopt_sandboxes(*store_, {a}, clock_.now(), o);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, AdoptionResult::kAdopted);
  EXPECT_NE(out[0].detail.find("\"bad key!\" left out: has a space"), std::string::npos)
      << out[0].detail;
  EXPECT_NE(out[0].detail.find("\"k\" left out: has a !"), std::string::npos) << out[0].detail;
  const auto sb = store_->get_sandbox(kA);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->metadata.size(), kMaxMetadataEntries);
  EXPECT_EQ(sb->metadata.at("good"), "yes");
  EXPECT_FALSE(sb->metadata.contains("bad key!"));
}

TEST_F(AdoptionTest, AdoptedHostPortsAreHeldByTheServiceAllocator) {
  ServiceOptions o;
  o.network_mode = "bridge";
  o.port_range_low = 42000;
  o.port_range_high = 42003;  // room for two sandboxes of two ports
  o.probe_host_ports = false;
  o.mutation_threads = 2;
  auto out = adopt_sandboxes(
      *store_, {candidate(kA, SandboxState::kRunning, {{44772, 42000}, {8080, 42001}}, {})},
      clock_.now(), {});
  ASSERT_EQ(out[0].result, AdoptionResult::kAdopted);
  SandboxService svc(*store_, clock_, o);
  EXPECT_TRUE(svc.ports().in_use(42000));
  EXPECT_TRUE(svc.ports().in_use(42001));
  CreateRequest r;
  r.spec.image_uri = "busybox:latest";
  r.spec.entrypoint = {"sleep", "infinity"};
  r.timeout_seconds = 3600;
  auto created = svc.create(r, RequestContext{"req", "api"});
  ASSERT_TRUE(created.has_value()) << created.error().message;
  std::set<int> hosts;
  for (const auto& [container, host] : created->sandbox.spec.ports) hosts.insert(host);
  EXPECT_EQ(hosts, (std::set<int>{42002, 42003})) << "never an adopted sandbox's port";
  auto full = svc.create(r, RequestContext{"req2", "api"});
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace sbx
