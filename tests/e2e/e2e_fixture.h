// E2eTest: the GoogleTest fixture of the Docker-backed end-to-end tests.
//
// SetUp requires the test engine (SBX_REQUIRE_DOCKER: skipped loudly without
// SANDBOXD_TEST_DOCKER_HOST, failed under CI=true), makes a temp dir and a janitor for the
// engine's labelled containers. start_sandboxd() writes the TOML file and starts the real
// binary (ASSERT it with ASSERT_NO_FATAL_FAILURE). TearDown stops sandboxd (a clean
// SIGTERM exit is part of every test), removes every container the test caused, and prints
// sandboxd's logs when the test failed.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    docker_host_ = host;
    docker_ = std::make_unique<DockerApi>(docker_host_);
    ASSERT_TRUE(docker_->answers()) << "the test engine at " << docker_host_ << " does not answer";
    janitor_ = std::make_unique<ContainerJanitor>(*docker_);
    dir_ = std::make_unique<TempDir>("sandboxd-e2e");
  }

  void TearDown() override {
    if (sandboxd_) {
      if (sandboxd_->running()) {
        EXPECT_TRUE(sandboxd_->stop());
      }
      if (HasFailure()) std::cerr << sandboxd_->all_logs() << std::endl;
    }
    sandboxd_.reset();
    if (janitor_) {
      const int removed = janitor_->cleanup();
      if (removed > 0) std::cerr << "[e2e] removed " << removed << " container(s) at teardown\n";
    }
  }

  SandboxdOptions default_options(const std::string& network_mode = "bridge") const {
    SandboxdOptions o;
    o.docker_host = docker_host_;
    o.network_mode = network_mode;
    return o;
  }

  void start_sandboxd(SandboxdOptions options) {
    sandboxd_ = std::make_unique<Sandboxd>(dir_->path(), std::move(options));
    ASSERT_TRUE(sandboxd_->start());
  }

  // POST /v1/sandboxes (waiting for the outcome, the server's default) and then polls
  // until Running. Fails the test otherwise; returns the id.
  std::string create_running(const Json& request = create_request()) {
    const auto t0 = SteadyClock::now();
    Reply r = api().post("/v1/sandboxes", request);
    EXPECT_EQ(r.status, 202) << r.describe();
    const std::string id = r.str("id");
    EXPECT_FALSE(id.empty()) << r.describe();
    if (id.empty()) return "";
    // Without `Prefer: respond-async` the create waits for the outcome: it answers Running.
    EXPECT_EQ(state_of(Reply{200, "", r.body, {}}), "Running") << r.describe();
    const std::string state = wait_for_state(api(), id, {"Running", "Failed", "NotFound"},
                                             std::chrono::milliseconds(60'000));
    EXPECT_EQ(state, "Running") << api().get(sandbox_path(id)).describe();
    std::cerr << "[timing] create -> Running " << seconds_since(t0) << " s (" << id << ")\n";
    return id;
  }

  const Http& api() const { return sandboxd_->api(); }

  std::string docker_host_;
  std::unique_ptr<DockerApi> docker_;
  std::unique_ptr<ContainerJanitor> janitor_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Sandboxd> sandboxd_;
};

}  // namespace sbx::testing
