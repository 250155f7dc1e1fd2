// Warm pools through the real sandboxd binary and the private engine (issue 14):
// - a pool fills, a create with extensions.poolRef answers Running at once from a member
//   whose execd answers, the pool refills, deleting the pool drains its members;
// - 100 parallel creates on a pool of 50: 50 warm, 50 cold, no member given twice;
// - kill -9 while claims are in flight: every acknowledged claim survives, no member is
//   given twice, and after the restart every container has a live sandbox.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

class Pools : public E2eTest {
 protected:
  SandboxdOptions pool_options() const {
    SandboxdOptions o = default_options();
    o.extra_toml = "[pools]\nkeeper_interval_ms = 200\n";
    return o;
  }

  Json pool_request(const std::string& name, int buffer_min, int buffer_max, int pool_min,
                    int pool_max) const {
    Json t = create_request(std::nullopt);
    t["env"] = {{"POOL", name}};
    return Json{{"name", name},
                {"template", t},
                {"capacitySpec",
                 {{"bufferMin", buffer_min},
                  {"bufferMax", buffer_max},
                  {"poolMin", pool_min},
                  {"poolMax", pool_max}}}};
  }

  Json pool_status(const std::string& name) const {
    Reply r = api().get("/v1/pools/" + name);
    if (r.status != 200) return Json();
    return r.json()["status"];
  }

  bool wait_available(const std::string& name, int n, milliseconds limit) const {
    return poll_until(
        [&] {
          Json s = pool_status(name);
          return s.is_object() && s.value("available", -1) >= n;
        },
        limit);
  }

  static Json claim_request(const std::string& pool, bool warm_only = false) {
    Json ext = {{"poolRef", pool}};
    if (warm_only) ext["poolWarmOnly"] = "true";
    return Json{{"extensions", ext}, {"timeout", 600}, {"metadata", {{"via", "pool"}}}};
  }

  void start_pool_sandboxd() {
    ASSERT_NO_FATAL_FAILURE(start_sandboxd(pool_options()));
    baseline_ = labelled();
  }

  // Sandbox ids of the engine's labelled containers that were not there when sandboxd
  // started (containers of earlier tests may still be on the engine).
  std::set<std::string> container_sandboxes() const {
    std::set<std::string> out;
    for (const auto& id : labelled())
      if (!baseline_.contains(id)) out.insert(id);
    return out;
  }

 private:
  std::set<std::string> labelled() const {
    std::set<std::string> out;
    if (auto all = docker_->labelled_containers())
      for (const auto& c : *all) out.insert(c.sandbox_id);
    return out;
  }
  std::set<std::string> baseline_;
};

TEST_F(Pools, AClaimIsRunningAtOnceThePoolRefillsAndDeletingItDrainsTheMembers) {
  ASSERT_NO_FATAL_FAILURE(start_pool_sandboxd());
  Reply created = api().post("/v1/pools", pool_request("e2e", 2, 2, 0, 4));
  ASSERT_EQ(created.status, 201) << created.describe();
  ASSERT_TRUE(wait_available("e2e", 2, milliseconds(90'000))) << api().get("/v1/pools/e2e").describe();
  // Members are not anybody's sandboxes yet.
  Reply list = api().get("/v1/sandboxes");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json()["items"].empty()) << list.describe();
  EXPECT_EQ(container_sandboxes().size(), 2u);

  const auto t0 = SteadyClock::now();
  Reply c = api().post("/v1/sandboxes", claim_request("e2e"));
  const double took = seconds_since(t0);
  ASSERT_EQ(c.status, 202) << c.describe();
  EXPECT_EQ(c.header("X-Sandboxd-Pool").value_or(""), "warm");
  EXPECT_EQ(state_of(Reply{200, "", c.body, {}}), "Running") << c.describe();
  std::cerr << "[timing] warm create -> Running " << took << " s\n";
  const std::string id = c.str("id");
  Reply g = api().get(sandbox_path(id));
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.json()["metadata"].value("via", ""), "pool");
  EXPECT_FALSE(g.json().value("expiresAt", "").empty());
  EXPECT_EQ(docker_->inspect("sandbox-" + id).second, "running");
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  std::string last;
  EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(10'000), &last)) << last;

  // Refilled: two available again, one allocated.
  ASSERT_TRUE(wait_available("e2e", 2, milliseconds(90'000)));
  Json s = pool_status("e2e");
  EXPECT_EQ(s.value("allocated", -1), 1) << s.dump();
  EXPECT_EQ(s.value("total", -1), 3) << s.dump();

  // Deleting the pool drains the members; the claimed sandbox stays.
  Reply del = api().request("DELETE", "/v1/pools/e2e");
  ASSERT_EQ(del.status, 204) << del.describe();
  EXPECT_EQ(api().get("/v1/pools/e2e").status, 404);
  EXPECT_TRUE(poll_until([&] { return container_sandboxes() == std::set<std::string>{id}; },
                         milliseconds(60'000)))
      << container_sandboxes().size() << " containers";
  EXPECT_EQ(api().get(sandbox_path(id)).status, 200);
  // The claimed sandbox is an ordinary one: deleted like any other.
  EXPECT_EQ(api().request("DELETE", sandbox_path(id)).status, 204);
  EXPECT_TRUE(poll_until([&] { return container_sandboxes().empty(); }, milliseconds(60'000)));
}

TEST_F(Pools, HundredParallelCreatesOnAPoolOfFiftyAreFiftyWarmAndFiftyCold) {
  ASSERT_NO_FATAL_FAILURE(start_pool_sandboxd());
  Reply created = api().post("/v1/pools", pool_request("big", 50, 50, 0, 50));
  ASSERT_EQ(created.status, 201) << created.describe();
  ASSERT_TRUE(wait_available("big", 50, milliseconds(300'000)))
      << api().get("/v1/pools/big").describe();

  std::mutex mu;
  std::map<std::string, int> by_kind;
  std::vector<std::string> warm_ids;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 20; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        // respond-async: the cold ones answer Pending at once instead of waiting.
        Reply r = api().post("/v1/sandboxes", claim_request("big"),
                             {{"Prefer", "respond-async"}});
        std::lock_guard lock(mu);
        if (r.status != 202) {
          failures.push_back(r.describe());
          continue;
        }
        const std::string kind = r.header("X-Sandboxd-Pool").value_or("");
        by_kind[kind] += 1;
        if (kind == "warm") warm_ids.push_back(r.str("id"));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_EQ(by_kind["warm"], 50);
  EXPECT_EQ(by_kind["cold"], 50);
  EXPECT_EQ(std::set<std::string>(warm_ids.begin(), warm_ids.end()).size(), warm_ids.size())
      << "a member was given twice";
  Json s = pool_status("big");
  EXPECT_EQ(s.value("allocated", -1), 50) << s.dump();
  EXPECT_EQ(s.value("available", -1), 0) << s.dump();
  Reply metrics = api().get("/metrics");
  EXPECT_NE(metrics.body.find("sandboxd_pool_claims_total{result=\"warm\"} 50"), std::string::npos);
}

TEST_F(Pools, KillNineDuringClaimsLosesNoAcknowledgedClaimAndLeavesNoOwnerlessContainer) {
  ASSERT_NO_FATAL_FAILURE(start_pool_sandboxd());
  Reply created = api().post("/v1/pools", pool_request("k9", 20, 20, 0, 30));
  ASSERT_EQ(created.status, 201) << created.describe();
  ASSERT_TRUE(wait_available("k9", 20, milliseconds(180'000)));

  // Four clients claim in a loop; the fifth answer kills sandboxd on the spot, so the kill
  // lands while the other clients' claims are in flight.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        Reply r = api().post("/v1/sandboxes", claim_request("k9", /*warm_only=*/true));
        if (r.status == 202) {
          std::lock_guard lock(mu);
          acknowledged.push_back(r.str("id"));
        }
        if (answered.fetch_add(1) + 1 == 5) sandboxd_->kill();
      }
    });
  }
  for (auto& th : threads) th.join();
  std::cerr << "[e2e] kill -9 after " << acknowledged.size() << " acknowledged claim(s)\n";
  EXPECT_GE(acknowledged.size(), 5u);
  ASSERT_TRUE(sandboxd_->start());

  // Every acknowledged claim is a live, visible, Running sandbox; none was given twice.
  EXPECT_EQ(std::set<std::string>(acknowledged.begin(), acknowledged.end()).size(),
            acknowledged.size());
  for (const auto& id : acknowledged) {
    Reply g = api().get(sandbox_path(id));
    EXPECT_EQ(g.status, 200) << id << " " << g.describe();
    EXPECT_EQ(state_of(g), "Running") << g.describe();
    EXPECT_EQ(g.json()["metadata"].value("via", ""), "pool");
  }
  // The pool survived the restart, and its counts add up.
  Reply p = api().get("/v1/pools/k9");
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json()["capacitySpec"].value("poolMax", -1), 30);
  // Settled: every container belongs to a live sandbox (member or claimed), and the
  // pool's total is what the engine runs.
  ASSERT_TRUE(wait_available("k9", 1, milliseconds(120'000)));
  EXPECT_TRUE(poll_until(
      [&] {
        Json s = pool_status("k9");
        return s.is_object() && s.value("warming", 1) == 0 &&
               static_cast<std::size_t>(s.value("total", -1)) == container_sandboxes().size();
      },
      milliseconds(120'000)))
      << api().get("/v1/pools/k9").describe() << " vs " << container_sandboxes().size()
      << " containers";
  Json s = pool_status("k9");
  EXPECT_GE(s.value("allocated", -1), static_cast<int>(acknowledged.size())) << s.dump();
  EXPECT_EQ(s.value("total", -1),
            s.value("available", 0) + s.value("warming", 0) + s.value("allocated", 0));
}

}  // namespace
}  // namespace sbx::testing
