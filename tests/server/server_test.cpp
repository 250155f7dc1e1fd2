// The real `sandboxd` binary: starts on port 0 with a config file, answers /health (and
// says the runtime is down when no Docker engine answers), exits 0 within a second of
// SIGTERM, and its command line (--version, --help, init-config) behaves.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "src/http/http_client.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

const std::string kBinary = std::string(SANDBOXD_BINARY_DIR) + "/sandboxd";
const std::regex kListening(R"(listening on [^ ]+:(\d+))");

std::string write_config(const TempDir& dir, const std::string& extra = "") {
  const std::string path = dir.str() + "/sandboxd.toml";
  std::ofstream f(path);
  f << "[server]\nhost = \"127.0.0.1\"\nport = 0\nthreads = 2\n"
    << extra << "[store]\npath = \"" << dir.str() << "/data\"\n"
    << "[docker]\nhost = \"unix://" << dir.str() << "/no-docker.sock\"\n";
  return path;
}

HttpResponse get(int port, const std::string& target) {
  auto client = HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(client.has_value());
  auto r = (*client)->send({.method = "GET", .target = target});
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : HttpResponse{};
}

TEST(ServerBinary, StartsOnPortZeroServesHealthAndStopsOnSigterm) {
  TempDir dir;
  ChildProcess proc({kBinary, "--config", write_config(dir)}, {{"HOME", dir.str()}});
  auto m = proc.wait_for_line(kListening, 20s);
  ASSERT_TRUE(m) << proc.output();
  const int port = std::stoi((*m)[1]);
  ASSERT_GT(port, 0);

  auto health = get(port, "/health");
  EXPECT_EQ(health.status, 200);
  auto body = nlohmann::json::parse(health.body);
  EXPECT_EQ(body["status"], "healthy");
  // No engine at that socket: the runtime is reported unavailable.
  EXPECT_EQ(body["runtime"]["type"], "docker") << health.body;
  EXPECT_EQ(body["runtime"]["available"], false) << health.body;
  EXPECT_EQ(body["store"]["liveSandboxes"], 0) << health.body;
  EXPECT_TRUE(body["version"].is_string()) << health.body;
  EXPECT_TRUE(body["dockerHost"].is_string()) << health.body;

  proc.signal(SIGTERM);
  auto status = proc.wait(1000ms);
  ASSERT_TRUE(status) << "sandboxd did not exit within 1 s of SIGTERM\n" << proc.output();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0) << proc.output();
}

TEST(ServerBinary, DockerDownIsOneWarningNotAFailure) {
  TempDir dir;
  ChildProcess proc({kBinary, "--config", write_config(dir)}, {{"HOME", dir.str()}});
  ASSERT_TRUE(proc.wait_for_line(kListening, 20s)) << proc.output();
  EXPECT_NE(proc.output().find("Docker engine at unix://"), std::string::npos) << proc.output();
  proc.signal(SIGINT);
  auto status = proc.wait(2000ms);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// secure_runtime.docker_runtime cannot be checked without an engine: as with everything
// else that needs the engine, the server starts and says when it will check.
TEST(ServerBinary, DockerDownWithADockerRuntimeStartsAndDefersTheRuntimeCheck) {
  TempDir dir;
  ChildProcess proc(
      {kBinary, "--config",
       write_config(dir, "[secure_runtime]\ntype = \"gvisor\"\ndocker_runtime = \"runsc\"\n")},
      {{"HOME", dir.str()}});
  ASSERT_TRUE(proc.wait_for_line(kListening, 20s)) << proc.output();
  EXPECT_NE(proc.output().find("secure_runtime.docker_runtime = \"runsc\" could not be checked "
                               "against the Docker engine's runtimes (the engine is unreachable); "
                               "it is checked before the first create"),
            std::string::npos)
      << proc.output();
  EXPECT_NE(proc.output().find("secure_runtime.type = \"gvisor\" (informational)"),
            std::string::npos)
      << proc.output();
  proc.signal(SIGTERM);
  auto status = proc.wait(2000ms);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(ServerBinary, BadConfigExitsNonZeroNamingKeyFileAndLine) {
  TempDir dir;
  const std::string path = dir.str() + "/bad.toml";
  std::ofstream(path) << "[server]\nport = \"eighty\"\n";
  ChildProcess proc({kBinary, "--config", path});
  auto status = proc.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_NE(WEXITSTATUS(*status), 0);
  proc.drain(1s);
  EXPECT_NE(proc.output().find("server.port"), std::string::npos) << proc.output();
  EXPECT_NE(proc.output().find(path + ":2"), std::string::npos) << proc.output();
}

TEST(ServerBinary, VersionAndHelp) {
  ChildProcess version({kBinary, "--version"});
  ASSERT_TRUE(version.wait(10s));
  version.drain(1s);
  EXPECT_NE(version.output().find("sandboxd 0."), std::string::npos) << version.output();

  ChildProcess help({kBinary, "--help"});
  ASSERT_TRUE(help.wait(10s));
  help.drain(1s);
  EXPECT_NE(help.output().find("init-config"), std::string::npos) << help.output();
  EXPECT_NE(help.output().find("--config"), std::string::npos) << help.output();
}

TEST(ServerBinary, InitConfigWritesAFileThatServesAndRefusesToOverwrite) {
  TempDir dir;
  const std::string path = dir.str() + "/conf/sandbox.toml";
  ChildProcess init({kBinary, "init-config", path, "--example", "docker"});
  auto s = init.wait(10s);
  ASSERT_TRUE(s);
  EXPECT_EQ(WEXITSTATUS(*s), 0);

  ChildProcess again({kBinary, "init-config", path});
  auto s2 = again.wait(10s);
  ASSERT_TRUE(s2);
  EXPECT_NE(WEXITSTATUS(*s2), 0);
  again.drain(1s);
  EXPECT_NE(again.output().find("--force"), std::string::npos) << again.output();

  ChildProcess forced({kBinary, "init-config", path, "--force", "--example", "kubernetes"});
  auto s3 = forced.wait(10s);
  ASSERT_TRUE(s3);
  EXPECT_EQ(WEXITSTATUS(*s3), 0);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("kubernetes"), std::string::npos);
}

}  // namespace
}  // namespace sbx
