// Volumes end to end: the sandboxd binary on the private engine, driven over HTTP.
//   - a host volume outside storage.allowed_host_paths, through a symlink that escapes it,
//     or missing: 400 with its VOLUME::* code at once, nothing recorded or created;
//   - a host volume inside it: the sandbox writes, the host reads;
//   - pvc: createIfNotExists false on an absent volume fails the sandbox with
//     VOLUME::PVC_NOT_FOUND; deleteOnSandboxTermination removes the volume sandboxd made
//     when the sandbox is deleted, and never one that existed before.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "src/common/uuid.h"
#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class VolumesE2e : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    engine_ = std::make_unique<Http>(docker_host_, milliseconds(30'000));
    fs::create_directories(allowed_ / "data");
    auto opts = default_options("bridge");
    opts.extra_toml = "[storage]\nallowed_host_paths = [\"" + allowed_.str() + "\"]\n";
    ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));
  }
  void TearDown() override {
    E2eTest::TearDown();
    for (const auto& v : volumes_) {
      if (engine_) (void)engine_->del("/volumes/" + v + "?force=1");
    }
  }

  Json with_volumes(Json volumes, std::vector<std::string> entrypoint = {"sleep", "3600"}) {
    Json r = create_request();
    r["entrypoint"] = entrypoint;
    r["volumes"] = std::move(volumes);
    return r;
  }
  static Json host(const std::string& name, const std::string& path, const std::string& mount) {
    return {{"name", name}, {"mountPath", mount}, {"host", {{"path", path}}}};
  }
  Json pvc(const std::string& claim, const std::string& mount, bool create, bool del) {
    volumes_.push_back(claim);
    return {{"name", "v" + std::to_string(volumes_.size())},
            {"mountPath", mount},
            {"pvc", {{"claimName", claim}, {"createIfNotExists", create},
                     {"deleteOnSandboxTermination", del}}}};
  }
  int volume_status(const std::string& name) { return engine_->get("/volumes/" + name).status; }

  TempDir allowed_{"sbx-e2e-allowed"};
  TempDir outside_{"sbx-e2e-outside"};
  std::unique_ptr<Http> engine_;
  std::vector<std::string> volumes_;
};

TEST_F(VolumesE2e, BadHostVolumesAreRefusedAtOnceWithTheirCode) {
  fs::create_directory_symlink(outside_.path(), allowed_ / "escape");
  // What the engine held before (another test's leftovers are not this test's business).
  const auto before = docker_->labelled_containers();
  ASSERT_TRUE(before);
  struct Case {
    std::string path;
    int status;
    std::string code;
  };
  for (const Case& c : {Case{outside_.str(), 400, "VOLUME::HOST_PATH_NOT_ALLOWED"},
                        Case{(allowed_ / "escape").string(), 400, "VOLUME::HOST_PATH_NOT_ALLOWED"},
                        Case{(allowed_ / "missing").string(), 400, "VOLUME::HOST_PATH_NOT_FOUND"}}) {
    SCOPED_TRACE(c.path);
    Reply r = api().post("/v1/sandboxes", with_volumes({host("d", c.path, "/d")}));
    EXPECT_EQ(r.status, c.status) << r.describe();
    EXPECT_EQ(r.json().value("code", ""), c.code) << r.describe();
    EXPECT_NE(r.json().value("message", "").find("volumes[0].host.path"), std::string::npos)
        << r.describe();
  }
  Reply ossfs = api().post(
      "/v1/sandboxes",
      with_volumes({{{"name", "o"}, {"mountPath", "/o"}, {"ossfs", {{"bucket", "b"}}}}}));
  EXPECT_EQ(ossfs.status, 501) << ossfs.describe();
  EXPECT_EQ(ossfs.json().value("code", ""), "VOLUME::UNSUPPORTED_BACKEND");
  Reply list = api().get("/v1/sandboxes");
  EXPECT_TRUE(list.json()["items"].empty()) << list.describe();
  // Refused at once: not one container was made.
  auto containers = docker_->labelled_containers();
  ASSERT_TRUE(containers);
  std::set<std::string> made;
  for (const auto& c : *containers) made.insert(c.id);
  for (const auto& c : *before) made.erase(c.id);
  EXPECT_TRUE(made.empty()) << made.size() << " container(s) appeared";
}

TEST_F(VolumesE2e, TheSandboxWritesIntoAnAllowedHostVolume) {
  const std::string id = create_running(with_volumes(
      {host("d", (allowed_ / "data").string(), "/mnt/d")},
      {"sh", "-c", "echo from-sandbox > /mnt/d/out.txt; exec sleep 3600"}));
  ASSERT_FALSE(id.empty());
  std::string text;
  poll_until(
      [&] {
        std::ifstream in(allowed_ / "data" / "out.txt");
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
        return !text.empty();
      },
      milliseconds(10'000), milliseconds(100));
  EXPECT_EQ(text, "from-sandbox\n");
  EXPECT_EQ(api().del(sandbox_path(id)).status, 204);
}

TEST_F(VolumesE2e, AnAbsentPvcWithoutCreateIfNotExistsFailsTheSandboxWithItsCode) {
  const std::string absent = "sbx-e2e-absent-" + new_uuid().substr(0, 8);
  Reply r = api().post("/v1/sandboxes", with_volumes({pvc(absent, "/x", false, false)}));
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string id = r.str("id");
  EXPECT_EQ(wait_for_state(api(), id, {"Failed"}, milliseconds(30'000)), "Failed");
  Json got = api().get(sandbox_path(id)).json();
  EXPECT_EQ(got["status"].value("reason", ""), "VOLUME::PVC_NOT_FOUND") << got.dump();
  EXPECT_EQ(volume_status(absent), 404);
}

TEST_F(VolumesE2e, DeleteOnSandboxTerminationRemovesOnlyTheVolumeSandboxdCreated) {
  const std::string made = "sbx-e2e-made-" + new_uuid().substr(0, 8);
  const std::string existing = "sbx-e2e-existing-" + new_uuid().substr(0, 8);
  Reply pre = engine_->post("/volumes/create", Json{{"Name", existing}});
  ASSERT_EQ(pre.status, 201) << pre.describe();
  const std::string id = create_running(with_volumes(
      {pvc(made, "/made", true, true), pvc(existing, "/existing", true, true)},
      {"sh", "-c", "echo x > /made/f && echo y > /existing/f; exec sleep 3600"}));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(volume_status(made), 200);

  // The log says which one sandboxd created.
  Json events = events_of(api().get(sandbox_path(id) + "/events"));
  bool recorded = false;
  for (const auto& e : events) {
    if (e.value("type", "") == "SandboxStarted") {
      recorded = e["data"].value("createdVolumes", Json::array()) == Json::array({made});
    }
  }
  EXPECT_TRUE(recorded) << events.dump();

  EXPECT_EQ(api().del(sandbox_path(id)).status, 204);
  EXPECT_NE(wait_for_state(api(), id, {"NotFound", "Terminated"}, milliseconds(30'000)), "");
  bool gone = poll_until([&] { return volume_status(made) == 404; }, milliseconds(20'000),
                         milliseconds(100));
  EXPECT_TRUE(gone) << "the volume sandboxd created must be removed with the sandbox";
  EXPECT_EQ(volume_status(existing), 200) << "a volume that existed before must stay";
}

}  // namespace
}  // namespace sbx::testing
