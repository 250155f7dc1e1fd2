// Snapshots through the real sandboxd binary and the private engine: snapshot -> restore
// over HTTP (the file written before the snapshot is there), and kill -9 of sandboxd right
// after a snapshot request (the commit in flight): after a restart the snapshot is Ready or
// Failed and no image labelled for it exists without a Ready record.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

class Snapshots : public E2eTest {
 protected:
  void TearDown() override {
    E2eTest::TearDown();  // containers first: an image in use cannot be removed
    Http docker(docker_host_, milliseconds(30'000));
    for (const auto& id : snapshots_) {
      (void)docker.request("DELETE", "/images/sandboxd-snapshot/" + id + ":latest?force=1");
    }
  }

  // The images labelled sandboxd.io/snapshot=<id>.
  std::vector<Json> images_of(const std::string& id) {
    Http docker(docker_host_, milliseconds(30'000));
    const std::string filters = Json({{"label", {"sandboxd.io/snapshot=" + id}}}).dump();
    Reply r = docker.get("/images/json?filters=" + url_encode(filters));
    EXPECT_EQ(r.status, 200) << r.describe();
    std::vector<Json> out;
    if (r.status == 200)
      for (const auto& i : r.json()) out.push_back(i);
    return out;
  }

  std::string snapshot_state(const std::string& id) {
    Reply r = api().get("/v1/snapshots/" + id);
    if (r.status == 404) return "NotFound";
    if (r.status != 200) return "";
    return r.json()["status"].value("state", "");
  }

  std::string wait_snapshot(const std::string& id, std::set<std::string> want,
                            milliseconds limit = milliseconds(90'000)) {
    std::string state;
    poll_until([&] { return want.contains(state = snapshot_state(id)); }, limit);
    return state;
  }

  std::vector<std::string> snapshots_;
};

TEST_F(Snapshots, RestoredSandboxSeesTheFileWrittenBeforeTheSnapshot) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  Json req = create_request();
  req["entrypoint"] = {"sh", "-c", "echo from-before > /tmp/marker && exec sleep 3600"};
  const std::string source = create_running(req);
  ASSERT_FALSE(source.empty());

  Reply s = api().post("/v1/sandboxes/" + source + "/snapshots", Json{{"name", "e2e"}});
  ASSERT_EQ(s.status, 202) << s.describe();
  const std::string id = s.str("id");
  snapshots_.push_back(id);
  EXPECT_EQ(s.header("Location").value_or(""), "/v1/snapshots/" + id);
  ASSERT_EQ(wait_snapshot(id, {"Ready", "Failed"}), "Ready")
      << api().get("/v1/snapshots/" + id).describe();
  EXPECT_EQ(images_of(id).size(), 1u);

  Json restore = {{"snapshotId", id}, {"resourceLimits", {{"cpu", "500m"}, {"memory", "256Mi"}}},
                  {"timeout", 600}};
  const std::string copy = create_running(restore);
  ASSERT_FALSE(copy.empty());
  Reply g = api().get(sandbox_path(copy));
  EXPECT_EQ(g.json().value("snapshotId", ""), id) << g.describe();
  EXPECT_EQ(g.json()["image"].value("uri", ""), "sandboxd-snapshot/" + id + ":latest");
  EXPECT_EQ(g.json()["entrypoint"], Json({"tail", "-f", "/dev/null"}));
  Http docker(docker_host_, milliseconds(30'000));
  Reply archive = docker.get("/containers/sandbox-" + copy + "/archive?path=/tmp/marker");
  ASSERT_EQ(archive.status, 200) << archive.describe();
  EXPECT_NE(archive.body.find("from-before\n"), std::string::npos);

  // The copy goes first (its container uses the image), then the snapshot and its image.
  ASSERT_EQ(api().request("DELETE", sandbox_path(copy)).status, 204);
  ASSERT_EQ(api().request("DELETE", "/v1/snapshots/" + id).status, 204);
  ASSERT_EQ(wait_snapshot(id, {"NotFound"}), "NotFound");
  EXPECT_TRUE(images_of(id).empty());
}

TEST_F(Snapshots, KillNineMidCommitEndsReadyOrFailedWithNoUnrecordedImage) {
  auto opts = default_options();
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));
  // A container with ~64 MB written, so that the commit takes a moment.
  Json req = create_request();
  req["entrypoint"] = {"sh", "-c",
                       "dd if=/dev/urandom of=/tmp/blob bs=1048576 count=64 2>/dev/null; "
                       "touch /tmp/done; exec sleep 3600"};
  const std::string source = create_running(req);
  ASSERT_FALSE(source.empty());
  Http docker(docker_host_, milliseconds(30'000));
  ASSERT_TRUE(poll_until(
      [&] {
        return docker.get("/containers/sandbox-" + source + "/archive?path=/tmp/done").status ==
               200;
      },
      milliseconds(60'000)));

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Reply s = api().post("/v1/sandboxes/" + source + "/snapshots", Json::object());
    ASSERT_EQ(s.status, 202) << s.describe();
    ids.push_back(s.str("id"));
    snapshots_.push_back(ids.back());
  }
  sleep_ms(150);
  sandboxd_->kill();
  std::cerr << "[e2e] kill -9 with " << ids.size() << " snapshot(s) requested\n";
  ASSERT_TRUE(sandboxd_->start());
  for (const auto& id : ids) {
    const std::string state = wait_snapshot(id, {"Ready", "Failed"});
    EXPECT_TRUE(state == "Ready" || state == "Failed") << id << " ended " << state;
    const auto images = images_of(id);
    if (state == "Ready") {
      EXPECT_EQ(images.size(), 1u) << id;
    } else {
      EXPECT_TRUE(images.empty()) << id << " is Failed but has an image";
      Reply r = api().get("/v1/snapshots/" + id);
      EXPECT_FALSE(r.json()["status"].value("reason", "").empty()) << r.describe();
    }
  }
  // What the worker did (the kill lands before, during or after the commits: all three
  // must end as checked above).
  std::istringstream logs(sandboxd_->all_logs());
  for (std::string line; std::getline(logs, line);) {
    if (line.find("[snapshotter]") != std::string::npos) std::cerr << "[e2e] " << line << "\n";
  }
  // The source keeps running through all of it.
  EXPECT_EQ(docker_->inspect("sandbox-" + source).second, "running");
}

}  // namespace
}  // namespace sbx::testing
