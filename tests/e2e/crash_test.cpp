// kill -9 of sandboxd in the middle of 20 concurrent creates, then a restart on the same
// data directory. Whatever was acknowledged (202) must end Running or Failed with a
// reason; Docker must hold exactly one container per live sandbox, no container that
// belongs to no live sandbox and no leftover execd helper container; every Running sandbox
// has its own host ports and execd answers there.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

constexpr int kCreates = 20;

class Crash : public E2eTest {};

TEST_F(Crash, KillNineDuringConcurrentCreates) {
  auto opts = default_options();
  opts.reconcile_interval_seconds = 2;
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));

  // 20 creates spread over ~0.5 s (answered as soon as each request is durable), and
  // kill -9 once half of them were answered and the first container exists: the other
  // requests are then still in flight or not sent, and the provisioner is half-way
  // through the accepted ones.
  std::mutex mu;
  std::vector<std::string> accepted;
  std::vector<std::string> other;  // anything but a 202 (the kill cuts some off)
  std::atomic<bool> go{false};
  std::atomic<int> answered{0};
  const Http& http = api();
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      sleep_ms(25 * i);
      Reply r = http.post("/v1/sandboxes", create_request(600, {{"e2e-crash", std::to_string(i)}}),
                          {{"Prefer", "respond-async"}});
      std::lock_guard lock(mu);
      if (r.status == 202 && !r.str("id").empty()) {
        accepted.push_back(r.str("id"));
        EXPECT_EQ(state_of(Reply{200, "", r.body, {}}), "Pending") << r.describe();
      } else {
        other.push_back(r.describe());
      }
      answered.fetch_add(1);
    });
  }
  go = true;
  std::size_t at_kill = 0;
  poll_until(
      [&] {
        auto fresh = janitor_->new_containers();
        at_kill = fresh ? fresh->size() : 0;
        return at_kill > 0 && answered.load() >= kCreates / 2;
      },
      milliseconds(5'000), milliseconds(10));
  sandboxd_->kill();
  for (auto& t : threads) t.join();
  std::cerr << "[e2e] " << accepted.size() << " creates acknowledged before kill -9, "
            << other.size() << " not\n";
  for (const auto& o : other) {
    // A request cut off by the kill has no answer; any HTTP answer must have been a 202.
    EXPECT_NE(o.rfind("no answer", 0), std::string::npos) << o;
  }
  ASSERT_FALSE(accepted.empty());
  std::cerr << "[e2e] " << at_kill << " container(s) existed at the kill\n";

  // Restart on the same data directory.
  ASSERT_TRUE(sandboxd_->start());
  const auto t_restart = SteadyClock::now();

  // Every acknowledged sandbox settles: Running, or Failed with a reason.
  for (const auto& id : accepted) {
    const std::string state =
        wait_for_state(api(), id, {"Running", "Failed", "NotFound"}, milliseconds(90'000));
    EXPECT_TRUE(state == "Running" || state == "Failed")
        << id << " ended " << state << ": " << api().get(sandbox_path(id)).describe();
    if (state == "Failed") {
      Reply r = api().get(sandbox_path(id));
      EXPECT_FALSE(r.json()["status"].value("reason", "").empty()) << r.describe();
    }
  }
  std::cerr << "[timing] all acknowledged sandboxes settled " << seconds_since(t_restart)
            << " s after the restart\n";

  // Everything the store knows (acknowledged or not) settles too.
  Json items;
  EXPECT_TRUE(poll_until(
      [&] {
        Reply list = api().get("/v1/sandboxes?pageSize=200");
        if (list.status != 200) return false;
        items = list.json()["items"];
        for (const auto& it : items) {
          const std::string s = it["status"].value("state", "");
          if (s != "Running" && s != "Failed") return false;
        }
        return true;
      },
      milliseconds(60'000)))
      << items.dump();
  std::map<std::string, std::string> live;  // id -> state
  for (const auto& it : items) live[it.value("id", "")] = it["status"].value("state", "");
  for (const auto& id : accepted) EXPECT_TRUE(live.contains(id)) << id << " is not listed";
  EXPECT_LE(live.size(), static_cast<std::size_t>(kCreates));

  // Give the reconciler a full interval, then compare with Docker.
  sleep_ms(static_cast<int>(opts.reconcile_interval_seconds) * 1000 + 1000);
  auto containers = janitor_->new_containers();
  ASSERT_TRUE(containers.has_value());
  std::map<std::string, std::vector<ContainerInfo>> by_sandbox;
  for (const auto& c : *containers) by_sandbox[c.sandbox_id].push_back(c);
  for (const auto& [sid, cs] : by_sandbox) {
    // No orphans: each labelled container belongs to a live sandbox.
    EXPECT_TRUE(live.contains(sid)) << "orphan container " << cs.front().name << " of " << sid;
    // No duplicates.
    EXPECT_EQ(cs.size(), 1u) << sid << " has " << cs.size() << " containers";
  }
  // Nor any helper container that the runtime copies execd out of (a kill -9 between its
  // create and its removal must not leave it behind for good).
  auto helpers = janitor_->new_containers(kHelperLabel);
  ASSERT_TRUE(helpers.has_value());
  for (const auto& h : *helpers)
    ADD_FAILURE() << "leftover execd helper container " << h.name << " (" << h.state << ")";

  int running = 0;
  std::set<int> execd_ports;
  for (const auto& [sid, state] : live) {
    if (state != "Running") continue;
    ++running;
    ASSERT_EQ(by_sandbox[sid].size(), 1u) << "Running sandbox " << sid << " has no container";
    EXPECT_EQ(by_sandbox[sid].front().name, "sandbox-" + sid);
    EXPECT_EQ(by_sandbox[sid].front().state, "running") << sid;
    Reply ep = api().get(sandbox_path(sid) + "/endpoints/44772");
    ASSERT_EQ(ep.status, 200) << ep.describe();
    auto parts = split_endpoint(ep.str("endpoint"));
    ASSERT_TRUE(parts.has_value()) << ep.describe();
    EXPECT_TRUE(execd_ports.insert(parts->port).second)
        << "host port " << parts->port << " handed out twice";
    std::string last;
    EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(10'000), &last)) << sid << ": " << last;
  }
  std::cerr << "[e2e] after restart: " << running << " Running, " << live.size() - running
            << " Failed, " << containers->size() << " containers\n";
}

}  // namespace
}  // namespace sbx::testing
