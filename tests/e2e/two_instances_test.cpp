// Two sandboxd, each with its own data directory, on one Docker engine (the reported
// failure: the second one's reconciler removed a paused sandbox of the first within
// 200 ms). Each labels its containers with its store's identity and reconciles only those.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <thread>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

// The store identity a sandboxd logged at start ("... instance <uuid>").
std::string logged_instance(const Sandboxd& s) {
  static const std::regex kInstance(R"(live sandboxes, instance ([0-9a-f-]{36}))");
  std::smatch m;
  const std::string log = s.all_logs(1000);
  return std::regex_search(log, m, kInstance) ? m[1].str() : "";
}

class TwoInstances : public E2eTest {};

TEST_F(TwoInstances, ASecondSandboxdOnTheSameEngineLeavesTheFirstOnesSandboxesAlone) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  const std::string running = create_running();
  const std::string paused = create_running();
  ASSERT_FALSE(running.empty());
  ASSERT_FALSE(paused.empty());
  ASSERT_EQ(api().post(sandbox_path(paused) + "/pause").status, 202);
  ASSERT_EQ(state_of(api(), paused), "Paused");
  const std::string instance_a = logged_instance(*sandboxd_);
  ASSERT_FALSE(instance_a.empty()) << sandboxd_->log_tail();

  // B: its own directory, the same engine, a reconcile pass every second.
  TempDir dir_b("sandboxd-e2e-b");
  SandboxdOptions ob = default_options();
  ob.reconcile_interval_seconds = 1;
  Sandboxd b(dir_b.path(), ob);
  ASSERT_TRUE(b.start());
  const std::string instance_b = logged_instance(b);
  ASSERT_FALSE(instance_b.empty()) << b.log_tail();
  EXPECT_NE(instance_a, instance_b);
  // Its first pass runs at start; give it several more, and events (pause/unpause of A's).
  std::this_thread::sleep_for(milliseconds(1500));
  ASSERT_EQ(api().post(sandbox_path(paused) + "/resume").status, 202);
  ASSERT_EQ(api().post(sandbox_path(paused) + "/pause").status, 202);
  std::this_thread::sleep_for(milliseconds(2500));

  for (const std::string& id : {running, paused}) {
    auto [status, state] = docker_->inspect("sandbox-" + id);
    EXPECT_EQ(status, 200) << "B removed A's sandbox " << id << "\n" << b.all_logs();
  }
  EXPECT_EQ(docker_->inspect("sandbox-" + paused).second, "paused");
  EXPECT_EQ(state_of(api(), running), "Running");
  EXPECT_EQ(state_of(api(), paused), "Paused");
  EXPECT_EQ(b.all_logs(1000).find("orphan"), std::string::npos) << b.all_logs();
  // B lists none of A's sandboxes.
  Reply list = b.api().get("/v1/sandboxes");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(running), std::string::npos);

  // Every container of A carries A's identity.
  auto containers = docker_->labelled_containers("sandboxd.io/instance=" + instance_a);
  ASSERT_TRUE(containers.has_value());
  std::set<std::string> ids;
  for (const auto& c : *containers) ids.insert(c.sandbox_id);
  EXPECT_TRUE(ids.contains(running) && ids.contains(paused));
  EXPECT_TRUE(b.stop());
}

}  // namespace
}  // namespace sbx::testing
