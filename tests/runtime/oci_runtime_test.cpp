// secure_runtime.docker_runtime on the private engine: DockerOptions::oci_runtime becomes the
// container's HostConfig.Runtime, and check_oci_runtime() asks the engine's GET /info.
// scripts/docker-env.sh registers runc a second time as kTestRuntime for this.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "src/common/uuid.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/runtime/docker_test_util.h"

namespace {

using json = nlohmann::json;
using sbx::ErrorCode;

constexpr char kTestRuntime[] = "sandboxd-test-runc";

class OciRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    host_ = host;
    auto http = sbx::HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
    auto info = http_->send({.target = "/info"});
    ASSERT_TRUE(info && info->status == 200);
    ASSERT_TRUE(json::parse(info->body)["Runtimes"].contains(kTestRuntime))
        << "the test engine has no runtime " << kTestRuntime
        << ": restart it with scripts/docker-env.sh (stop, then start), which registers it";
  }

  void TearDown() override {
    if (!http_) return;
    for (const auto& id : created_) {
      auto r = http_->send(
          {.method = "DELETE", .target = "/containers/sandbox-" + id + "?force=1&v=1"});
      EXPECT_TRUE(r && (r->status == 204 || r->status == 404)) << "cleanup " << id;
    }
  }

  std::unique_ptr<sbx::DockerRuntime> runtime(const std::string& oci_runtime) {
    auto o = sbx::testing::test_docker_options(host_);
    o.oci_runtime = oci_runtime;
    auto rt = sbx::DockerRuntime::create(o);
    EXPECT_TRUE(rt) << rt.error().message;
    return rt ? std::move(*rt) : nullptr;
  }

  sbx::ContainerSpec spec() {
    sbx::ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    created_.insert(s.sandbox_id);
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = "bridge";
    return s;
  }

  std::string host_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> created_;
};

TEST_F(OciRuntimeTest, SandboxRunsWithTheConfiguredRuntime) {
  auto rt = runtime(kTestRuntime);
  ASSERT_TRUE(rt->check_oci_runtime());
  auto s = spec();
  auto r = rt->create_and_start(s);
  ASSERT_TRUE(r) << r.error().message;
  auto inspected = http_->send({.target = "/containers/sandbox-" + s.sandbox_id + "/json"});
  ASSERT_TRUE(inspected && inspected->status == 200);
  const json j = json::parse(inspected->body);
  EXPECT_EQ(j["HostConfig"]["Runtime"], kTestRuntime);
  EXPECT_TRUE(j["State"]["Running"].get<bool>());
}

TEST_F(OciRuntimeTest, WithoutTheOptionTheEngineDefaultIsUsed) {
  auto rt = runtime("");
  ASSERT_TRUE(rt->check_oci_runtime());  // nothing to check
  auto s = spec();
  ASSERT_TRUE(rt->create_and_start(s));
  auto inspected = http_->send({.target = "/containers/sandbox-" + s.sandbox_id + "/json"});
  ASSERT_TRUE(inspected && inspected->status == 200);
  const json j = json::parse(inspected->body);
  EXPECT_NE(j["HostConfig"]["Runtime"], kTestRuntime);
}

TEST_F(OciRuntimeTest, AMissingRuntimeIsNamedWithTheEnginesRuntimesAndNothingIsCreated) {
  auto rt = runtime("sandboxd-no-such-runtime");
  auto ok = rt->check_oci_runtime();
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ok.error().field, "secure_runtime.docker_runtime");
  EXPECT_EQ(sbx::runtime_error_code(ok.error()), sbx::kRuntimeNotAvailableCode);
  EXPECT_NE(ok.error().message.find("\"sandboxd-no-such-runtime\" is not a runtime of the Docker "
                                    "engine at " + host_),
            std::string::npos)
      << ok.error().message;
  EXPECT_NE(ok.error().message.find(kTestRuntime), std::string::npos) << ok.error().message;
  EXPECT_NE(ok.error().message.find("runc"), std::string::npos) << ok.error().message;
  // A create is refused the same way, before any container exists.
  auto s = spec();
  auto r = rt->create_and_start(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(sbx::runtime_error_code(r.error()), sbx::kRuntimeNotAvailableCode);
  auto st = rt->inspect(s.sandbox_id);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->has_value());
}

}  // namespace
