// The snapshot routes over real HTTP (port 0) against a real store and the fake worker,
// which commits and removes snapshot images at once: both prefixes, the reference's codes,
// paging and filters, hostile bodies, auth, the Kubernetes refusal, create from a snapshot.
#include <gtest/gtest.h>

#include <functional>

#include "events/snapshot.h"
#include "src/common/uuid.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

void expect_error(const HttpResponse& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_FALSE(j.value("message", "").empty()) << r.body;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

class SnapshotApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string p(std::string_view path) const { return GetParam() + std::string(path); }
  std::string sandbox(ApiHarness& h) {
    HttpClient c(h.port());
    auto r = c.post(p("/sandboxes"), create_body());
    EXPECT_EQ(r.status, 202) << r.body;
    const std::string id = body_json(r).value("id", "");
    EXPECT_TRUE(eventually([&] {
      auto sb = h.store().get_sandbox(id);
      return sb && sb->state == SandboxState::kRunning;
    }));
    return id;
  }
  json snapshot(ApiHarness& h, const std::string& sandbox_id, const json& body = json::object()) {
    HttpClient c(h.port());
    auto r = c.post(p("/sandboxes/" + sandbox_id + "/snapshots"), body.dump());
    EXPECT_EQ(r.status, 202) << r.body;
    auto j = body_json(r);
    EXPECT_EQ(r.header("Location"), GetParam() + "/snapshots/" + j.value("id", ""));
    return j;
  }
  bool ready(ApiHarness& h, const std::string& id) {
    return eventually([&] {
      auto s = h.store().get_snapshot(id);
      return s && s->state == SnapshotState::kReady;
    });
  }
};

INSTANTIATE_TEST_SUITE_P(Prefixes, SnapshotApiTest, ::testing::Values("", "/v1"),
                         [](const auto& info) { return info.param.empty() ? "Root" : "V1"; });

TEST_P(SnapshotApiTest, CreateAnswers202WithTheSnapshotThenGetShowsItReady) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string sb = sandbox(h);
  auto j = snapshot(h, sb, {{"name", "before upgrade"}});
  const std::string id = j["id"];
  EXPECT_TRUE(is_uuid(id));
  EXPECT_EQ(j["sandboxId"], sb);
  EXPECT_EQ(j["name"], "before upgrade");
  EXPECT_EQ(j["status"]["state"], "Creating");
  EXPECT_EQ(j["status"]["reason"], "snapshot_accepted");
  EXPECT_TRUE(parse_rfc3339(j["createdAt"].get<std::string>()).has_value());
  EXPECT_TRUE(parse_rfc3339(j["status"]["lastTransitionAt"].get<std::string>()).has_value());
  ASSERT_TRUE(ready(h, id));
  auto g = c.get(p("/snapshots/" + id));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(body_json(g)["status"]["state"], "Ready");
  EXPECT_FALSE(body_json(g).contains("imageRef"));  // not part of the reference's Snapshot

  // No body and an empty object are both "no name".
  auto bare = c.post(p("/sandboxes/" + sb + "/snapshots"), "");
  ASSERT_EQ(bare.status, 202) << bare.body;
  EXPECT_FALSE(body_json(bare).contains("name"));
}

TEST_P(SnapshotApiTest, SourceStateAndExistenceFollowTheReferenceCodes) {
  ApiHarness h;
  HttpClient c(h.port());
  expect_error(c.post(p("/sandboxes/0190b4a4-7b7c-7cc2-8f00-000000000000/snapshots"), "{}"), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
  expect_error(c.post(p("/sandboxes/not-a-uuid/snapshots"), "{}"), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
  const std::string sb = sandbox(h);
  ASSERT_EQ(c.post(p("/sandboxes/" + sb + "/pause"), "").status, 202);
  ASSERT_TRUE(eventually([&] { return h.store().get_sandbox(sb)->state == SandboxState::kPaused; }));
  const auto head = h.store().head();
  expect_error(c.post(p("/sandboxes/" + sb + "/snapshots"), "{}"), 409,
               "SNAPSHOT::INVALID_SOURCE_STATE");
  EXPECT_EQ(h.store().head(), head);
  expect_error(c.get(p("/snapshots/0190b4a4-7b7c-7cc2-8f00-000000000001")), 404,
               "SNAPSHOT::NOT_FOUND");
  expect_error(c.del(p("/snapshots/whatever")), 404, "SNAPSHOT::NOT_FOUND");
}

TEST_P(SnapshotApiTest, HostileBodiesAreRefusedAndNothingIsAppended) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string sb = sandbox(h);
  const auto head = h.store().head();
  const std::string url = p("/sandboxes/" + sb + "/snapshots");
  EXPECT_EQ(c.post(url, "{").status, 400);
  EXPECT_EQ(c.post(url, "[]").status, 422);
  EXPECT_EQ(c.post(url, R"({"name":7})").status, 422);
  EXPECT_EQ(c.post(url, R"({"name":""})").status, 422);
  EXPECT_EQ(c.post(url, json{{"name", std::string(129, 'n')}}.dump()).status, 422);
  EXPECT_EQ(c.post(url, json{{"name", "tab\there"}}.dump()).status, 422);
  EXPECT_EQ(c.post(url, R"({"name":"a\u0000b"})").status, 422);
  auto extra = c.post(url, R"({"name":"ok","image":"x"})");
  EXPECT_EQ(extra.status, 422);
  EXPECT_NE(extra.body.find("image"), std::string::npos) << extra.body;
  EXPECT_EQ(c.post(url, std::string(8192, ' ')).status, 413);
  EXPECT_EQ(c.post(url, "{}", {{"Content-Type", "text/plain"}}).status, 415);
  EXPECT_EQ(h.store().head(), head);
}

TEST_P(SnapshotApiTest, ListFiltersAndPagesLikeTheSandboxList) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string a = sandbox(h), b = sandbox(h);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(snapshot(h, i < 3 ? a : b, i == 0 ? json{{"name", "first"}} : json::object())["id"]);
  }
  for (const auto& id : ids) ASSERT_TRUE(ready(h, id));
  // A deleted snapshot leaves the list.
  ASSERT_EQ(c.del(p("/snapshots/" + ids[4])).status, 204);
  ASSERT_TRUE(eventually([&] { return !h.store().get_snapshot(ids[4]); }));

  auto all = body_json(c.get(p("/snapshots")));
  EXPECT_EQ(all["pagination"]["totalItems"], 4);
  EXPECT_EQ(all["pagination"]["pageSize"], 20);
  auto page = body_json(c.get(p("/snapshots?pageSize=3&page=2")));
  EXPECT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["pagination"]["totalPages"], 2);
  EXPECT_EQ(page["pagination"]["hasNextPage"], false);
  EXPECT_EQ(body_json(c.get(p("/snapshots?sandboxId=" + a)))["pagination"]["totalItems"], 3);
  EXPECT_EQ(body_json(c.get(p("/snapshots?name=first")))["items"][0]["id"], ids[0]);
  EXPECT_EQ(body_json(c.get(p("/snapshots?state=Ready&state=Failed")))["pagination"]["totalItems"],
            4);
  EXPECT_EQ(body_json(c.get(p("/snapshots?state=Creating")))["pagination"]["totalItems"], 0);
  EXPECT_EQ(body_json(c.get(p("/snapshots?state=Bogus")))["pagination"]["totalItems"], 0);
  EXPECT_EQ(c.get(p("/snapshots?pageSize=201")).status, 422);
  EXPECT_EQ(c.get(p("/snapshots?page=0")).status, 422);
}

TEST_P(SnapshotApiTest, CreateFromAReadySnapshotStartsFromItsImage) {
  auto o = default_harness_options();
  ApiHarness h(o);
  HttpClient c(h.port());
  const std::string sb = sandbox(h);
  // Appended directly, with no worker to finish it: stays Creating.
  auto creating = h.snapshots().create(sb, "", RequestContext{"", "test"});
  ASSERT_TRUE(creating);
  ASSERT_TRUE(ready(h, creating->id));
  auto restored = c.post(p("/sandboxes"), json{{"snapshotId", creating->id},
                                              {"resourceLimits", {{"cpu", "1"}}}}
                                              .dump());
  ASSERT_EQ(restored.status, 202) << restored.body;
  const std::string rid = body_json(restored)["id"];
  auto g = body_json(c.get(p("/sandboxes/" + rid)));
  EXPECT_EQ(g["snapshotId"], creating->id);
  EXPECT_EQ(g["image"]["uri"], snapshot_image_ref(creating->id));
  EXPECT_EQ(g["entrypoint"], json({"tail", "-f", "/dev/null"}));
  expect_error(c.post(p("/sandboxes"), json{{"snapshotId", "0190b4a4-7b7c-7cc2-8f00-00000000000f"},
                                            {"resourceLimits", {{"cpu", "1"}}}}
                                            .dump()),
               404, "SNAPSHOT::NOT_FOUND");
}

TEST_P(SnapshotApiTest, ACreatingSnapshotCanNeitherBeDeletedNorRestored) {
  auto o = default_harness_options();
  o.worker = false;  // nothing commits: snapshots stay Creating
  ApiHarness h(o);
  HttpClient c(h.port());
  ASSERT_TRUE(h.service().create(
      [] {
        CreateRequest r;
        r.spec.image_uri = "busybox:latest";
        r.spec.entrypoint = {"sleep", "1"};
        return r;
      }(),
      RequestContext{}));
  const std::string sb = h.store().list_sandboxes().front()->id;
  ASSERT_TRUE(h.service().execute(sb, RecordStarted{"c", "", {}}, RequestContext{}));
  auto s = snapshot(h, sb);
  expect_error(c.del(p("/snapshots/" + s["id"].get<std::string>())), 409, "SNAPSHOT::INVALID_STATE");
  expect_error(c.post(p("/sandboxes"), json{{"snapshotId", s["id"]},
                                            {"resourceLimits", {{"cpu", "1"}}}}
                                            .dump()),
               409, "SNAPSHOT::NOT_READY");
}

TEST_P(SnapshotApiTest, KubernetesRefusesSnapshotsWith501BeforeAnyAppend) {
  auto o = default_harness_options();
  o.service.runtime_type = "kubernetes";
  o.service.pause_supported = false;
  o.service.snapshots_supported = false;
  o.service.network_mode = "bridge";
  ApiHarness h(o);
  HttpClient c(h.port());
  const auto head = h.store().head();
  expect_error(c.post(p("/sandboxes/0190b4a4-7b7c-7cc2-8f00-000000000000/snapshots"), "{}"), 501,
               "SNAPSHOT::NOT_SUPPORTED");
  expect_error(c.post(p("/sandboxes"), json{{"snapshotId", "x"}, {"resourceLimits", {{"cpu", "1"}}}}
                                           .dump()),
               501, "SNAPSHOT::NOT_SUPPORTED");
  EXPECT_EQ(h.store().head(), head);
  EXPECT_EQ(c.get(p("/snapshots")).status, 200);  // reads still answer (empty)
}

TEST_P(SnapshotApiTest, TheApiKeyGuardsEverySnapshotRoute) {
  auto o = default_harness_options();
  o.api.api_key = "k3y";
  ApiHarness h(o);
  HttpClient c(h.port());
  expect_error(c.get(p("/snapshots")), 401, "MISSING_API_KEY");
  expect_error(c.get(p("/snapshots/x")), 401, "MISSING_API_KEY");
  expect_error(c.del(p("/snapshots/x")), 401, "MISSING_API_KEY");
  expect_error(c.post(p("/sandboxes/0190b4a4-7b7c-7cc2-8f00-000000000000/snapshots"), "{}"), 401,
               "MISSING_API_KEY");
  EXPECT_EQ(c.get(p("/snapshots"), {{"OPEN-SANDBOX-API-KEY", "k3y"}}).status, 200);
}

}  // namespace
}  // namespace sbx::testing
