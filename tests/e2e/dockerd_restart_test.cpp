// The Docker engine goes away under a running sandboxd and comes back. Needs an engine of
// its own (scripts/docker-env.sh start/stop on a temp dir), hence root: without root the
// test is skipped loudly, and fails under CI=true.
//
// While the engine is down: lifecycle changes answer 503 DOCKER::INITIALIZATION_ERROR and
// reads keep answering. After it is back: the containers that the daemon stopped on its
// way down (the default restart policy does not start them again) are recorded by the
// reconciler, the API and Docker agree on every sandbox, nothing is orphaned, and new
// sandboxes can be created again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

// Whether /health says the runtime is reachable ({"runtime":{"available":bool}});
// nullopt when it does not say.
std::optional<bool> runtime_up(const Json& health) {
  if (!health.is_object() || !health.contains("runtime")) return std::nullopt;
  const Json& rt = health["runtime"];
  if (rt.is_object() && rt.contains("available") && rt["available"].is_boolean())
    return rt["available"].get<bool>();
  return std::nullopt;
}

// Polls GET /health until the runtime is reported `up` (or not).
bool wait_runtime_health(const Http& api, bool up, milliseconds timeout, std::string* last) {
  return poll_until(
      [&] {
        Reply r = api.get("/health");
        *last = r.describe();
        return runtime_up(r.json()) == up;
      },
      timeout, milliseconds(250));
}

TEST(DockerdRestart, EngineDownThenBack) {
  if (::geteuid() != 0) {
    const char* msg =
        "DockerdRestart needs root to run a Docker engine of its own "
        "(scripts/docker-env.sh); SKIPPED";
    std::cerr << "\n#### sandboxd e2e: " << msg << " ####\n\n";
    if (running_in_ci()) GTEST_FAIL() << msg;
    GTEST_SKIP() << msg;
  }
  // Only with the rest of the Docker-backed tests (same switch), so a plain run without an
  // engine does not start one behind the user's back.
  SBX_REQUIRE_DOCKER(shared_host);
  (void)shared_host;

  TempDir engine_dir("sbx-e2e-engine");
  TempDir dir("sandboxd-e2e");
  PrivateEngine engine(engine_dir.path());
  const auto t_start = SteadyClock::now();
  ASSERT_TRUE(engine.start());
  std::cerr << "[timing] private engine up in " << seconds_since(t_start) << " s\n";
  DockerApi docker(engine.host());
  ASSERT_TRUE(docker.answers());

  SandboxdOptions opts;
  opts.docker_host = engine.host();
  opts.reconcile_interval_seconds = 2;
  Sandboxd sandboxd(dir.path(), opts);
  ASSERT_TRUE(sandboxd.start());
  const Http& api = sandboxd.api();
  LogsOnFailure log_on_failure{sandboxd};

  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    Reply r = api.post("/v1/sandboxes", create_request(600));
    ASSERT_EQ(r.status, 202) << r.describe();
    ids.push_back(r.str("id"));
  }
  for (const auto& id : ids) {
    ASSERT_EQ(wait_for_state(api, id, {"Running", "Failed"}, milliseconds(60'000)), "Running");
  }

  // Engine down.
  const auto t_stop = SteadyClock::now();
  ASSERT_TRUE(engine.stop());
  std::cerr << "[timing] engine stopped in " << seconds_since(t_stop) << " s\n";
  std::string last;
  ASSERT_TRUE(wait_runtime_health(api, false, milliseconds(20'000), &last))
      << "sandboxd did not notice the engine is gone: " << last;
  std::cerr << "[timing] /health says runtime down " << seconds_since(t_stop)
            << " s after the stop began\n";

  // Mutations are refused with the runtime's code; reads keep answering.
  Reply create = api.post("/v1/sandboxes", create_request(600));
  EXPECT_EQ(create.status, 503) << create.describe();
  EXPECT_EQ(create.str("code"), "DOCKER::INITIALIZATION_ERROR") << create.describe();
  Reply pause = api.post(sandbox_path(ids[0]) + "/pause");
  EXPECT_EQ(pause.status, 503) << pause.describe();
  EXPECT_EQ(pause.str("code"), "DOCKER::INITIALIZATION_ERROR") << pause.describe();
  Reply del = api.del(sandbox_path(ids[1]));
  EXPECT_EQ(del.status, 503) << del.describe();
  EXPECT_EQ(del.str("code"), "DOCKER::INITIALIZATION_ERROR") << del.describe();
  for (const auto& id : ids) {
    Reply got = api.get(sandbox_path(id));
    EXPECT_EQ(got.status, 200) << got.describe();
    EXPECT_EQ(api.get(sandbox_path(id) + "/endpoints/44772").status, 200);
  }
  Reply list = api.get("/v1/sandboxes");
  EXPECT_EQ(list.status, 200) << list.describe();

  // Engine back (same data root: images and the stopped containers are still there).
  const auto t_back = SteadyClock::now();
  ASSERT_TRUE(engine.start());
  ASSERT_TRUE(wait_runtime_health(api, true, milliseconds(20'000), &last))
      << "sandboxd did not notice the engine is back: " << last;
  std::cerr << "[timing] /health says runtime up " << seconds_since(t_back)
            << " s after the engine start began\n";

  // API and Docker converge on every sandbox.
  for (const auto& id : ids) {
    std::string why;
    EXPECT_TRUE(poll_until([&] { return docker_agrees(api, docker, id, &why); }, milliseconds(30'000)))
        << id << ": " << why << "; " << api.get(sandbox_path(id)).describe();
    Json status = api.get(sandbox_path(id)).json()["status"];
    std::cerr << "[e2e] " << id << " after the engine restart: " << why << " "
              << (status.is_null() ? "" : status.dump()) << "\n";
  }
  std::cerr << "[timing] converged " << seconds_since(t_back) << " s after the engine start\n";

  // No orphans after a reconcile interval: every labelled container's sandbox is known
  // to the API.
  sleep_ms(opts.reconcile_interval_seconds * 1000 + 1000);
  auto containers = docker.labelled_containers();
  ASSERT_TRUE(containers.has_value());
  for (const auto& c : *containers) {
    EXPECT_NE(state_of(api, c.sandbox_id), "NotFound")
        << "orphan container " << c.name << " (" << c.state << ")";
  }

  // Lifecycle changes work again.
  Reply again = api.post("/v1/sandboxes", create_request(600));
  EXPECT_EQ(again.status, 202) << again.describe();
  if (again.status == 202) {
    const std::string id = again.str("id");
    EXPECT_EQ(wait_for_state(api, id, {"Running", "Failed"}, milliseconds(60'000)), "Running");
    std::string ping_last;
    Reply ep = api.get(sandbox_path(id) + "/endpoints/44772");
    EXPECT_TRUE(ping_execd(ep.str("endpoint"), milliseconds(30'000), &ping_last)) << ping_last;
  }

  EXPECT_TRUE(sandboxd.stop());
  if (auto all = docker.labelled_containers())
    for (const auto& c : *all) docker.remove(c.id);
  EXPECT_TRUE(engine.stop());
  std::cerr << "[timing] whole test " << seconds_since(t_start) << " s\n";
}

}  // namespace
}  // namespace sbx::testing
