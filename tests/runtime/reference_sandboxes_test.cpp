// DockerRuntime and the reference server's containers, against the private engine:
// containers shaped as opensandbox-server leaves them (labels, names, paused, an egress
// sidecar, an unlabelled execd-cache helper), made directly through the Engine API.
// reference_sandboxes() lists only the sandboxes, with what they would be adopted as;
// list() reports them under their id; inspect/pause/resume/remove find one under another
// name by its label; remove takes its egress sidecar along and nothing else.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "src/common/uuid.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/runtime/docker_test_util.h"

namespace {

using json = nlohmann::json;
using sbx::ContainerState;

class ReferenceSandboxesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    auto http = sbx::HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
  }

  void TearDown() override {
    for (const auto& id : made_) {
      (void)http_->send({.method = "DELETE", .target = "/containers/" + id + "?force=1&v=1"});
    }
  }

  // Creates and starts a busybox `sleep 3600` container named `name` with `labels`.
  std::string run(const std::string& name, const json& labels) {
    auto r = http_->send({.method = "POST",
                          .target = "/containers/create?name=" + name,
                          .headers = {{"Content-Type", "application/json"}},
                          .body = json{{"Image", sbx::testing::kTestBusyboxImage},
                                       {"Cmd", json::array({"sleep", "3600"})},
                                       {"Labels", labels},
                                       {"NetworkDisabled", true}}
                                      .dump()});
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
    if (!r || r->status != 201) return {};
    const std::string id = json::parse(r->body).at("Id").get<std::string>();
    made_.insert(id);
    auto s = http_->send({.method = "POST", .target = "/containers/" + id + "/start"});
    EXPECT_TRUE(s && s->status == 204) << (s ? s->body : s.error().message);
    return id;
  }

  // State.Status of a container, or "absent".
  std::string state(const std::string& id) {
    auto r = http_->send({.target = "/containers/" + id + "/json"});
    if (!r || r->status != 200) return "absent";
    return json::parse(r->body)["State"].value("Status", "");
  }

  std::unique_ptr<sbx::DockerRuntime> rt_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> made_;
};

TEST_F(ReferenceSandboxesTest, OnlySandboxesAreListedAndEveryOperationFindsThem) {
  const std::string a = sbx::new_uuid(), b = sbx::new_uuid();
  // a: as the reference names it; b: under another name, found only by its label.
  const std::string ca = run("sandbox-" + a, {{"opensandbox.io/id", a},
                                              {"opensandbox.io/manual-cleanup", "true"},
                                              {"opensandbox.io/embedding-proxy-port", "30001"},
                                              {"team", "ml"}});
  const std::string cb = run("renamed-" + b, {{"opensandbox.io/id", b}});
  const std::string sidecar =
      run("sandbox-egress-" + b, {{"opensandbox.io/egress-sidecar-for", b}});
  const std::string cache = run("sandbox-execd-" + sbx::new_uuid(), json::object());
  ASSERT_FALSE(HasFailure());

  auto found = rt_->reference_sandboxes();
  ASSERT_TRUE(found) << found.error().message;
  std::set<std::string> ids;
  for (const auto& c : *found) {
    ids.insert(c.sandbox_id);
    if (c.sandbox_id == a) {
      ASSERT_TRUE(c.adopted) << c.skipped;
      EXPECT_EQ(c.adopted->runtime_id, ca);
      EXPECT_EQ(c.adopted->state, sbx::SandboxState::kRunning);
      EXPECT_EQ(c.adopted->metadata, (std::map<std::string, std::string>{{"team", "ml"}}));
      EXPECT_EQ(c.adopted->spec.ports, (std::map<int, int>{{44772, 30001}}));
      EXPECT_FALSE(c.adopted->expires_at);
    }
  }
  EXPECT_TRUE(ids.contains(a) && ids.contains(b));
  EXPECT_FALSE(ids.contains("")) << "the sidecar and the execd cache are no sandboxes";

  auto listed = rt_->list();
  ASSERT_TRUE(listed) << listed.error().message;
  std::map<std::string, sbx::ContainerStatus> by_id;
  for (const auto& c : *listed) by_id[c.sandbox_id] = c;
  ASSERT_TRUE(by_id.contains(a) && by_id.contains(b));
  EXPECT_EQ(by_id[a].runtime_id, ca);
  EXPECT_EQ(by_id[a].instance_id, "") << "the reconciler asks its log whose it is";
  EXPECT_EQ(by_id[b].state, ContainerState::kRunning);

  auto ib = rt_->inspect(b);
  ASSERT_TRUE(ib && *ib) << "found by label under another name";
  EXPECT_EQ((*ib)->runtime_id, cb);
  ASSERT_TRUE(rt_->pause(b));
  EXPECT_EQ(state(cb), "paused");
  ASSERT_TRUE(rt_->pause(b)) << "already paused: success";
  ASSERT_TRUE(rt_->resume(b));
  EXPECT_EQ(state(cb), "running");

  ASSERT_TRUE(rt_->remove(b));
  EXPECT_EQ(state(cb), "absent");
  EXPECT_EQ(state(sidecar), "absent") << "its egress sidecar goes with it";
  EXPECT_EQ(state(ca), "running") << "another sandbox is untouched";
  EXPECT_EQ(state(cache), "running") << "the reference's helper is untouched";
  auto gone = rt_->inspect(b);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  auto absent = rt_->pause(b);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, sbx::ErrorCode::kNotFound);

  ASSERT_TRUE(rt_->remove(a));
  EXPECT_EQ(state(ca), "absent");
}

}  // namespace
