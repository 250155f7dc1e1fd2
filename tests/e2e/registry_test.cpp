// sandboxd end to end with a private registry (scripts/registry-env.sh: docker-registry with
// htpasswd auth on 127.0.0.1) and with a secure runtime (secure_runtime.docker_runtime):
//   - docker.image_pull_policy = "Always": once the image is on the engine, a create with a
//     wrong password (or none) still fails with DOCKER::IMAGE_PULL_UNAUTHORIZED; the same
//     create under "IfNotPresent" runs (why Always exists). The password never reaches
//     sandboxd's log nor its event log (API history and sandbox-events dump).
//   - secure_runtime.docker_runtime = the alias runtime that scripts/docker-env.sh registers:
//     the sandbox container runs with it; a runtime the engine lacks refuses the start.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/registry_env.h"

namespace sbx::testing {
namespace {

constexpr char kAliasRuntime[] = "sandboxd-test-runc";

// The [runtime] and [docker] tables of the harness plus the keys of this test.
std::string runtime_tables(const SandboxdOptions& o, const std::string& docker_extra) {
  return std::string("[runtime]\ntype = \"docker\"\nexecd_image = \"") + kTestExecdImage +
         "\"\n\n[docker]\nhost = \"" + o.docker_host + "\"\nnetwork_mode = \"bridge\"\n" +
         "port_bind_ip = \"127.0.0.1\"\nhost_ip = \"127.0.0.1\"\n" + "port_range = \"" +
         std::to_string(o.port_low) + "-" + std::to_string(o.port_high) + "\"\n" + docker_extra;
}

// E2eTest with the engine's API at hand and options for the [docker] keys of a test.
class DockerKeysE2e : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    engine_ = std::make_unique<Http>(docker_host_);
  }

  SandboxdOptions options(const std::string& docker_extra, const std::string& extra = "") {
    SandboxdOptions o = default_options("bridge");
    std::tie(o.port_low, o.port_high) = random_port_window();
    o.runtime_toml = runtime_tables(o, docker_extra);
    o.extra_toml = extra;
    return o;
  }

  std::unique_ptr<Http> engine_;
};

class SecureRuntimeE2e : public DockerKeysE2e {};

class RegistryE2e : public DockerKeysE2e {
 protected:
  void SetUp() override {
    DockerKeysE2e::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ASSERT_TRUE(registry_.start(source_dir(), docker_host_)) << registry_.error();
    remove_image();
  }

  void TearDown() override {
    DockerKeysE2e::TearDown();
    if (engine_ && !registry_.image().empty()) remove_image();
  }

  void remove_image() {
    Reply r = engine_->request("DELETE", "/images/" + registry_.image() + "?force=1");
    EXPECT_TRUE(r.status == 200 || r.status == 404) << r.describe();
  }

  Json create_with(const std::optional<std::string>& password) const {
    Json body = create_request();
    body["image"] = {{"uri", registry_.image()}};
    if (password) body["image"]["auth"] = {{"username", registry_.user()}, {"password", *password}};
    return body;
  }

  // POST /v1/sandboxes waits for the outcome: the state reached and its reason.
  std::pair<std::string, std::string> create(const std::optional<std::string>& password,
                                             std::string* id = nullptr) {
    Reply r = api().post("/v1/sandboxes", create_with(password));
    EXPECT_EQ(r.status, 202) << r.describe();
    Json j = r.json();
    if (id != nullptr) *id = r.str("id");
    ids_.push_back(r.str("id"));
    if (!j.is_object() || !j.contains("status")) return {"", ""};
    return {j["status"].value("state", ""), j["status"].value("reason", "")};
  }

  TestRegistry registry_;
  std::vector<std::string> ids_;
};

TEST_F(RegistryE2e, AlwaysRefusesAWrongPasswordForAPresentImageIfNotPresentRunsIt) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options("image_pull_policy = \"Always\"\n")));
  const std::string wrong = "wrong-" + registry_.password();
  EXPECT_EQ(create(registry_.password()).first, "Running");  // pulls the image
  auto [state, reason] = create(wrong);
  EXPECT_EQ(state, "Failed");
  EXPECT_EQ(reason, "DOCKER::IMAGE_PULL_UNAUTHORIZED");
  std::tie(state, reason) = create(std::nullopt);
  EXPECT_EQ(state, "Failed");
  EXPECT_EQ(reason, "DOCKER::IMAGE_PULL_UNAUTHORIZED");
  EXPECT_EQ(create(registry_.password()).first, "Running");  // only the digest is checked

  // The same server under IfNotPresent: the present image runs for a wrong password.
  ASSERT_TRUE(sandboxd_->stop());
  std::string shown = read_text(dir_->path() / "sandboxd-1.log");  // the next run reuses the name
  ASSERT_NE(shown.find("listening on"), std::string::npos);
  sandboxd_ = std::make_unique<Sandboxd>(dir_->path(), options(""));
  ASSERT_TRUE(sandboxd_->start());
  EXPECT_EQ(create(wrong).first, "Running");
  EXPECT_EQ(create(std::nullopt).first, "Running");

  // Neither password appears in what sandboxd wrote or shows: its logs, the history of
  // every sandbox over the API, and the whole event log (sandbox-events dump).
  for (const auto& id : ids_) {
    Reply history = api().get(sandbox_path(id) + "/events");
    EXPECT_EQ(history.status, 200) << history.describe();
    shown += history.body;
  }
  ASSERT_TRUE(sandboxd_->stop());
  shown += read_text(dir_->path() / "sandboxd-1.log");
  ChildProcess dump({std::string(SANDBOXD_BINARY_DIR) + "/sandbox-events", "--data",
                     (dir_->path() / "data").string(), "dump"});
  dump.drain(std::chrono::milliseconds(60'000));
  auto status = dump.wait(std::chrono::milliseconds(10'000));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << dump.output();
  ASSERT_NE(dump.output().find("SandboxRequested"), std::string::npos) << dump.output();
  shown += dump.output();
  EXPECT_NE(shown.find("IMAGE_PULL_UNAUTHORIZED"), std::string::npos);
  EXPECT_EQ(shown.find(registry_.password()), std::string::npos)
      << "the registry password appears in sandboxd's logs or events";
  EXPECT_EQ(shown.find(wrong), std::string::npos);
}

TEST_F(SecureRuntimeE2e, SandboxesRunWithTheConfiguredDockerRuntime) {
  Reply info = engine_->get("/info");
  ASSERT_EQ(info.status, 200);
  ASSERT_TRUE(info.json()["Runtimes"].contains(kAliasRuntime))
      << "the test engine has no runtime " << kAliasRuntime
      << ": restart it with scripts/docker-env.sh, which registers it";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options(
      "", std::string("[secure_runtime]\ntype = \"gvisor\"\ndocker_runtime = \"") +
              kAliasRuntime + "\"\n")));
  const std::string id = create_running();
  ASSERT_FALSE(id.empty());
  Reply c = engine_->get("/containers/sandbox-" + id + "/json");
  ASSERT_EQ(c.status, 200) << c.describe();
  EXPECT_EQ(c.json()["HostConfig"]["Runtime"], kAliasRuntime);
  EXPECT_NE(sandboxd_->log_tail(200).find("secure_runtime.type = \"gvisor\" (informational)"),
            std::string::npos)
      << sandboxd_->log_tail(200);
}

TEST_F(SecureRuntimeE2e, AMissingDockerRuntimeRefusesToStartAndNamesTheEnginesRuntimes) {
  sandboxd_ = std::make_unique<Sandboxd>(
      dir_->path(),
      options("", "[secure_runtime]\ndocker_runtime = \"sandboxd-no-such-runtime\"\n"));
  auto started = sandboxd_->start();
  ASSERT_FALSE(started) << "sandboxd started with a runtime the engine lacks";
  EXPECT_FALSE(sandboxd_->running());
  const std::string log = sandboxd_->log_tail(40);
  EXPECT_NE(log.find("secure_runtime.docker_runtime = \"sandboxd-no-such-runtime\" is not a "
                     "runtime of the Docker engine"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("runc"), std::string::npos) << log;
  // Refused before anything was recorded: the log holds no ServerStarted.
  ChildProcess dump({std::string(SANDBOXD_BINARY_DIR) + "/sandbox-events", "--data",
                     (dir_->path() / "data").string(), "dump"});
  dump.drain(std::chrono::milliseconds(60'000));
  (void)dump.wait(std::chrono::milliseconds(10'000));
  EXPECT_EQ(dump.output().find("ServerStarted"), std::string::npos) << dump.output();
  sandboxd_.reset();
}

}  // namespace
}  // namespace sbx::testing
