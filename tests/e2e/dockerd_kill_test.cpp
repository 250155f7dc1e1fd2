// The Docker engine is SIGKILLed while sandboxd is in the middle of a create, a pause and a
// delete, then started again (issue 10, fault injection). Needs an engine of its own
// (scripts/docker-env.sh), hence root.
//
// What must hold afterwards: every sandbox converges to a state Docker agrees with (no
// sandbox stuck in Pending/Pausing/Stopping, no Running sandbox without a running
// container), the deleted one is gone from Docker, and no container is left that no live
// sandbox owns. Nothing acknowledged is lost: every id the API returned still answers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

TEST(DockerdKill, EngineKilledMidCreatePauseAndDeleteConverges) {
  if (::geteuid() != 0) {
    const char* msg = "DockerdKill needs root to run a Docker engine of its own; SKIPPED";
    std::cerr << "\n#### sandboxd e2e: " << msg << " ####\n\n";
    if (running_in_ci()) GTEST_FAIL() << msg;
    GTEST_SKIP() << msg;
  }
  SBX_REQUIRE_DOCKER(shared_host);
  (void)shared_host;

  TempDir engine_dir("sbx-e2e-kill");
  TempDir dir("sandboxd-e2e");
  PrivateEngine engine(engine_dir.path());
  ASSERT_TRUE(engine.start());
  DockerApi docker(engine.host());
  ASSERT_TRUE(docker.answers());

  SandboxdOptions opts;
  opts.docker_host = engine.host();
  opts.reconcile_interval_seconds = 2;
  Sandboxd sandboxd(dir.path(), opts);
  ASSERT_TRUE(sandboxd.start());
  const Http& api = sandboxd.api();
  LogsOnFailure log_on_failure{sandboxd};

  // Two running sandboxes: one to pause and one to delete while the engine dies.
  std::vector<std::string> running;
  for (int i = 0; i < 2; ++i) {
    Reply r = api.post("/v1/sandboxes", create_request(600));
    ASSERT_EQ(r.status, 202) << r.describe();
    running.push_back(r.str("id"));
  }
  for (const auto& id : running) {
    ASSERT_EQ(wait_for_state(api, id, {"Running", "Failed"}, milliseconds(60'000)), "Running");
  }
  const std::string to_pause = running[0];
  const std::string to_delete = running[1];

  // Answered at once (respond-async), so the workers are at work when the engine dies.
  const std::vector<HttpHeader> async = {{"Prefer", "respond-async"}};
  std::vector<std::string> created;
  for (int i = 0; i < 3; ++i) {
    Reply r = api.post("/v1/sandboxes", create_request(600), async);
    ASSERT_EQ(r.status, 202) << r.describe();
    created.push_back(r.str("id"));
  }
  Reply pause = api.post(sandbox_path(to_pause) + "/pause", Json::object(), async);
  ASSERT_EQ(pause.status, 202) << pause.describe();
  Reply del = api.request("DELETE", sandbox_path(to_delete), "", async);
  ASSERT_TRUE(del.status == 202 || del.status == 204) << del.describe();
  sleep_ms(30);  // let the provisioner threads reach the engine
  ASSERT_TRUE(engine.kill());
  std::cerr << "[e2e] dockerd SIGKILLed; states: pause " << state_of(api, to_pause) << ", delete "
            << state_of(api, to_delete) << "\n";

  // Reads answer while the engine is gone.
  EXPECT_EQ(api.get("/v1/sandboxes").status, 200);
  sleep_ms(1000);

  ASSERT_TRUE(engine.start());
  ASSERT_TRUE(docker.answers());

  std::vector<std::string> all = created;
  all.push_back(to_pause);
  all.push_back(to_delete);
  for (const auto& id : all) {
    std::string why;
    EXPECT_TRUE(poll_until([&] { return docker_agrees(api, docker, id, &why); }, milliseconds(90'000)))
        << id << ": " << why << "; " << api.get(sandbox_path(id)).describe();
    std::cerr << "[e2e] " << id << " settled: " << why << "\n";
  }
  // The delete was acknowledged: it is carried out, whatever the engine did meanwhile.
  std::string why;
  EXPECT_TRUE(poll_until(
      [&] {
        const std::string st = state_of(api, to_delete);
        return (st == "Terminated" || st == "NotFound") &&
               docker.inspect("sandbox-" + to_delete).first == 404;
      },
      milliseconds(60'000)))
      << state_of(api, to_delete);

  // No container that no live sandbox owns, after a reconcile pass.
  sleep_ms(opts.reconcile_interval_seconds * 1000 + 1500);
  auto containers = docker.labelled_containers();
  ASSERT_TRUE(containers.has_value());
  for (const auto& c : *containers) {
    const std::string st = state_of(api, c.sandbox_id);
    EXPECT_TRUE(st != "NotFound" && st != "Terminated")
        << "container " << c.name << " (" << c.state << ") has no live sandbox: " << st;
  }

  EXPECT_TRUE(sandboxd.stop());
  if (auto left = docker.labelled_containers())
    for (const auto& c : *left) docker.remove(c.id);
  const auto containerd = engine.containerd_pid();
  EXPECT_TRUE(engine.stop());
  // The adopted containerd ends with the dockerd that adopted it; if it does not, end it
  // here (it is ours: started by this test's first dockerd).
  if (containerd) {
    for (int i = 0; i < 100 && ::kill(*containerd, 0) == 0; ++i) sleep_ms(100);
    if (PrivateEngine::pid_of(engine_dir.path() / "exec" / "containerd" / "containerd.pid",
                              "containerd")) {
      std::cerr << "[e2e] containerd " << *containerd << " outlived its dockerd; ending it\n";
      ::kill(*containerd, SIGTERM);
    }
  }
  // A task the killed dockerd had under way can leave its shim behind the engine.
  if (const int shims = engine.end_leftover_shims(); shims > 0)
    std::cerr << "[e2e] ended " << shims << " containerd shim(s) the killed engine left\n";
}

}  // namespace
}  // namespace sbx::testing
