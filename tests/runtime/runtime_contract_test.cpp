// The Runtime contract (tests/runtime/runtime_contract.h) against the in-process fake and
// the Docker engine (the private one of scripts/docker-env.sh; skipped without it, failed
// under CI=true).
#include <gtest/gtest.h>

#include "src/common/clock.h"
#include "src/runtime/fake/fake_runtime.h"
#include "tests/runtime/docker_test_util.h"
#include "tests/runtime/runtime_contract.h"

namespace sbx::contract {
namespace {

class FakeHarness final : public Harness {
 public:
  sbx::Runtime& runtime() override { return fake_; }
  ContainerSpec long_running(const std::string& id) override {
    ContainerSpec s;
    s.sandbox_id = id;
    s.image_uri = "busybox:test";
    s.entrypoint = {"sleep", "3600"};
    return s;
  }
  ContainerSpec short_lived(const std::string& id) override {
    auto s = long_running(id);
    s.entrypoint = {"sh", "-c", "sleep 1"};
    return s;
  }
  void let_it_exit(const std::string& id) override { fake_.simulate_exit(id, 0); }
  std::string add_unlabelled_container() override { return fake_.add_foreign_container(); }

 private:
  sbx::SystemClock clock_;
  sbx::FakeRuntime fake_{clock_};
};

class DockerHarness final : public Harness {
 public:
  static std::unique_ptr<DockerHarness> create(const std::string& host) {
    auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
    EXPECT_TRUE(rt) << rt.error().message;
    auto http = sbx::HttpClient::create({.endpoint = host});
    EXPECT_TRUE(http) << http.error().message;
    if (!rt || !http) return nullptr;
    auto h = std::unique_ptr<DockerHarness>(new DockerHarness);
    h->runtime_ = std::move(*rt);
    h->http_ = std::move(*http);
    return h;
  }

  ~DockerHarness() override {
    for (const auto& id : created_) {
      auto r = runtime_->remove(id);
      EXPECT_TRUE(r) << "cleanup of sandbox " << id << ": " << r.error().message;
    }
    for (const auto& id : unlabelled_) {
      auto r = http_->send({.method = "DELETE", .target = "/containers/" + id + "?force=1&v=1"});
      EXPECT_TRUE(r && (r->status == 204 || r->status == 404)) << "cleanup of " << id;
    }
  }

  sbx::Runtime& runtime() override { return *runtime_; }
  ContainerSpec long_running(const std::string& id) override {
    created_.insert(id);
    ContainerSpec s;
    s.sandbox_id = id;
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = "bridge";
    s.limits = {.cpu = "500m", .memory = "64Mi"};
    s.labels = {{"sandboxd-test/suite", "contract"}};  // sandboxd.io/ keys are reserved
    return s;
  }
  ContainerSpec short_lived(const std::string& id) override {
    auto s = long_running(id);
    s.entrypoint = {"sh", "-c", "sleep 1"};
    return s;
  }
  void let_it_exit(const std::string&) override {}
  std::string add_unlabelled_container() override {
    auto r = http_->send({.method = "POST",
                          .target = "/containers/create",
                          .headers = {{"Content-Type", "application/json"}},
                          .body = std::string("{\"Image\":\"") + sbx::testing::kTestBusyboxImage +
                                  "\",\"Cmd\":[\"sleep\",\"3600\"]}"});
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
    if (!r || r->status != 201) return {};
    auto pos = r->body.find("\"Id\":\"");
    std::string id = r->body.substr(pos + 6, 64);
    unlabelled_.push_back(id);
    return id;
  }

 private:
  DockerHarness() = default;
  std::unique_ptr<sbx::DockerRuntime> runtime_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> created_;
  std::vector<std::string> unlabelled_;
};

}  // namespace

std::unique_ptr<Harness> make_contract_harness(const std::string& name) {
  if (name == "fake") return std::make_unique<FakeHarness>();
  // SBX_REQUIRE_DOCKER returns from a void function: wrap it.
  std::unique_ptr<Harness> out;
  [&] {
    SBX_REQUIRE_DOCKER(host);
    out = DockerHarness::create(host);
  }();
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, RuntimeContract, ::testing::Values("fake", "docker"),
                         [](const auto& info) { return info.param; });

}  // namespace sbx::contract
