// DockerRuntime volumes, sandbox-wide env and binds, and GPU requests against the private
// engine: host volumes read-write and read-only (written from inside the sandbox, read on
// the host), subPath, a symlink swapped after the create's check (refused at the mount),
// an empty allowlist, named volumes (createIfNotExists true/false, removal of only the
// volumes sandboxd created), docker.sandbox_env / docker.sandbox_binds, and a GPU request
// on an engine without GPUs (a clear failure with a code, not a hang).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "src/common/uuid.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/runtime/docker_test_util.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::ErrorCode;
using sbx::VolumeBackend;
using sbx::VolumeSpec;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DockerVolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    host_ = host;
    auto http = sbx::HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
    fs::create_directories(allowed_ / "data");
    // One fixed instance: its execd volume is made once and reused by every test here.
    instance_ = "docker-volumes-test";
    make_runtime({allowed_.str()});
  }

  void make_runtime(std::vector<std::string> allowlist, std::map<std::string, std::string> env = {},
                    std::vector<std::string> binds = {}) {
    auto o = sbx::testing::test_docker_options(host_);
    o.instance_id = instance_;
    o.allowed_host_paths = std::move(allowlist);
    o.sandbox_env = std::move(env);
    o.sandbox_binds = std::move(binds);
    auto rt = sbx::DockerRuntime::create(o);
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
  }

  void TearDown() override {
    if (!rt_) return;
    for (const auto& id : created_) (void)rt_->remove(id);
    for (const auto& v : volumes_) {
      (void)http_->send({.method = "DELETE", .target = "/volumes/" + v + "?force=1"});
    }
  }

  ContainerSpec spec() {
    ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    created_.insert(s.sandbox_id);
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = "bridge";
    return s;
  }

  static VolumeSpec host_volume(const std::string& path, const std::string& mount,
                                bool read_only = false, const std::string& sub = "") {
    VolumeSpec v;
    v.name = "v" + std::to_string(mount.size());
    v.backend = VolumeBackend::kHost;
    v.host_path = path;
    v.mount_path = mount;
    v.read_only = read_only;
    v.sub_path = sub;
    return v;
  }

  VolumeSpec pvc(const std::string& claim, const std::string& mount, bool create, bool del) {
    volumes_.insert(claim);
    VolumeSpec v;
    v.name = "p" + std::to_string(mount.size());
    v.backend = VolumeBackend::kPvc;
    v.claim_name = claim;
    v.mount_path = mount;
    v.create_if_not_exists = create;
    v.delete_on_sandbox_termination = del;
    return v;
  }

  // Runs `sh -c script` in the sandbox's container through the exec API; its exit code.
  int run_in(const std::string& sandbox_id, const std::string& script) {
    json body = {{"Cmd", json::array({"sh", "-c", script})},
                 {"AttachStdout", true},
                 {"AttachStderr", true}};
    auto created = http_->send({.method = "POST",
                                .target = "/containers/sandbox-" + sandbox_id + "/exec",
                                .headers = {{"Content-Type", "application/json"}},
                                .body = body.dump()});
    if (!created || created->status != 201) return -1;
    const std::string id = json::parse(created->body).at("Id").get<std::string>();
    auto started = http_->send({.method = "POST",
                                .target = "/exec/" + id + "/start",
                                .headers = {{"Content-Type", "application/json"}},
                                .body = R"({"Detach":false,"Tty":false})"});
    if (!started || started->status != 200) return -1;
    for (int i = 0; i < 50; ++i) {  // bounded: 5 s
      auto r = http_->send({.target = "/exec/" + id + "/json"});
      if (!r || r->status != 200) return -1;
      json j = json::parse(r->body);
      if (!j.value("Running", true)) return j.value("ExitCode", -1);
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }

  int volume_status(const std::string& name) {
    auto r = http_->send({.target = "/volumes/" + name});
    return r ? r->status : -1;
  }

  json inspect(const std::string& sandbox_id) {
    auto r = http_->send({.target = "/containers/sandbox-" + sandbox_id + "/json"});
    return r && r->status == 200 ? json::parse(r->body) : json::object();
  }

  std::string host_;
  std::string instance_;
  sbx::testing::TempDir allowed_{"sbx-vol-allowed"};
  sbx::testing::TempDir outside_{"sbx-vol-outside"};
  std::unique_ptr<sbx::DockerRuntime> rt_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> created_;
  std::set<std::string> volumes_;
};

TEST_F(DockerVolumesTest, HostVolumeIsWritableFromTheSandboxAndReadOnlyWhenAsked) {
  fs::create_directories(allowed_ / "ro");
  std::ofstream(allowed_ / "ro" / "given.txt") << "from-host";
  auto s = spec();
  s.volumes = {host_volume((allowed_ / "data").string(), "/mnt/rw"),
               host_volume((allowed_ / "ro").string(), "/mnt/ro", /*read_only=*/true)};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;

  EXPECT_EQ(run_in(s.sandbox_id, "echo written-inside > /mnt/rw/out.txt"), 0);
  EXPECT_EQ(read_file(allowed_ / "data" / "out.txt"), "written-inside\n");
  EXPECT_EQ(run_in(s.sandbox_id, "grep -q from-host /mnt/ro/given.txt"), 0);
  EXPECT_NE(run_in(s.sandbox_id, "echo evil > /mnt/ro/given.txt"), 0);
  EXPECT_NE(run_in(s.sandbox_id, "touch /mnt/ro/new.txt"), 0);
  EXPECT_EQ(read_file(allowed_ / "ro" / "given.txt"), "from-host");
  EXPECT_FALSE(fs::exists(allowed_ / "ro" / "new.txt"));
}

TEST_F(DockerVolumesTest, HostVolumeSubPathMountsOnlyThatDirectory) {
  fs::create_directories(allowed_ / "data" / "team" / "a");
  std::ofstream(allowed_ / "data" / "secret.txt") << "not for the sandbox";
  auto s = spec();
  s.volumes = {host_volume((allowed_ / "data").string(), "/work", false, "team/a")};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(run_in(s.sandbox_id, "echo x > /work/in-a.txt"), 0);
  EXPECT_TRUE(fs::exists(allowed_ / "data" / "team" / "a" / "in-a.txt"));
  EXPECT_NE(run_in(s.sandbox_id, "test -e /work/secret.txt"), 0);
}

TEST_F(DockerVolumesTest, ASymlinkSwappedAfterTheCheckIsRefusedAtTheMount) {
  // At create time the link pointed inside the allowlist; now it points outside (TOCTOU).
  fs::create_directory_symlink(outside_.path(), allowed_ / "link");
  auto s = spec();
  s.volumes = {host_volume((allowed_ / "link").string(), "/mnt/x")};
  auto started = rt_->create_and_start(s);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::HOST_PATH_NOT_ALLOWED");
  EXPECT_NE(started.error().message.find("volumes[0].host.path"), std::string::npos);
  EXPECT_EQ(inspect(s.sandbox_id), json::object()) << "no container may have been created";
}

TEST_F(DockerVolumesTest, AnEmptyAllowlistRefusesHostVolumes) {
  make_runtime({});
  auto s = spec();
  s.volumes = {host_volume((allowed_ / "data").string(), "/mnt/x")};
  auto started = rt_->create_and_start(s);
  ASSERT_FALSE(started);
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::HOST_PATH_NOT_ALLOWED");
  EXPECT_EQ(inspect(s.sandbox_id), json::object());
}

TEST_F(DockerVolumesTest, NamedVolumeIsCreatedLabelledAndRemovedOnlyWhenSandboxdCreatedIt) {
  const std::string mine = "sbx-test-mine-" + sbx::new_uuid().substr(0, 8);
  const std::string theirs = "sbx-test-theirs-" + sbx::new_uuid().substr(0, 8);
  volumes_.insert(theirs);
  auto made = http_->send({.method = "POST",
                           .target = "/volumes/create",
                           .headers = {{"Content-Type", "application/json"}},
                           .body = json{{"Name", theirs}}.dump()});
  ASSERT_TRUE(made && made->status == 201);

  auto s = spec();
  s.volumes = {pvc(mine, "/mnt/mine", true, true), pvc(theirs, "/mnt/theirs", true, true)};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(started->created_volumes, std::vector<std::string>{mine});

  auto r = http_->send({.target = "/volumes/" + mine});
  ASSERT_TRUE(r && r->status == 200);
  json labels = json::parse(r->body)["Labels"];
  EXPECT_EQ(labels.value("sandboxd.io/volume-of", ""), s.sandbox_id);
  EXPECT_EQ(labels.value("sandboxd.io/instance", ""), instance_);
  EXPECT_EQ(run_in(s.sandbox_id, "echo kept > /mnt/mine/f && echo kept > /mnt/theirs/f"), 0);

  // A retried create (the container exists) still knows which volume it made.
  auto again = rt_->create_and_start(s);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->created_volumes, std::vector<std::string>{mine});

  ASSERT_TRUE(rt_->remove(s.sandbox_id));
  // Asked to remove both, it removes only the one it created for this sandbox.
  auto removed = rt_->remove_volumes(s.sandbox_id, {mine, theirs});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(volume_status(mine), 404);
  EXPECT_EQ(volume_status(theirs), 200);
  // Another sandbox's id does not match the label either.
  auto s2 = spec();
  s2.volumes = {pvc(mine, "/mnt/mine", true, true)};
  ASSERT_TRUE(rt_->create_and_start(s2));
  ASSERT_TRUE(rt_->remove(s2.sandbox_id));
  ASSERT_TRUE(rt_->remove_volumes(s.sandbox_id, {mine}));
  EXPECT_EQ(volume_status(mine), 200);
}

TEST_F(DockerVolumesTest, NamedVolumeWithoutCreateIfNotExistsMustExist) {
  const std::string absent = "sbx-test-absent-" + sbx::new_uuid().substr(0, 8);
  auto s = spec();
  s.volumes = {pvc(absent, "/mnt/x", /*create=*/false, false)};
  auto started = rt_->create_and_start(s);
  ASSERT_FALSE(started);
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::PVC_NOT_FOUND");
  EXPECT_NE(started.error().message.find("volumes[0].pvc.claimName"), std::string::npos);
  EXPECT_EQ(volume_status(absent), 404) << "nothing may have been created";
  EXPECT_EQ(inspect(s.sandbox_id), json::object());
}

TEST_F(DockerVolumesTest, SandboxdsOwnExecdVolumeCannotBeMounted) {
  // The first sandbox makes the execd volume; a second one asking for it by name is refused.
  auto first = spec();
  ASSERT_TRUE(rt_->create_and_start(first));
  json c = inspect(first.sandbox_id);
  std::string execd;
  for (const auto& m : c["Mounts"]) {
    if (m.value("Destination", "") == "/opt/opensandbox") execd = m.value("Name", "");
  }
  ASSERT_FALSE(execd.empty()) << c["Mounts"].dump();
  auto s = spec();
  VolumeSpec v;
  v.name = "evil";
  v.backend = VolumeBackend::kPvc;
  v.claim_name = execd;
  v.mount_path = "/mnt/execd";
  s.volumes = {v};
  auto started = rt_->create_and_start(s);
  ASSERT_FALSE(started);
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::INVALID_PVC_NAME");
  EXPECT_EQ(inspect(s.sandbox_id), json::object());
}

TEST_F(DockerVolumesTest, AFailedCreateRemovesTheVolumesItMadeForDeletion) {
  // The first volume is made, the second must exist and does not: the create fails for
  // good and the volume made for it (deleteOnSandboxTermination) does not stay behind;
  // one made without that flag is the user's to keep.
  const std::string scratch = "sbx-test-scratch-" + sbx::new_uuid().substr(0, 8);
  const std::string kept = "sbx-test-kept-" + sbx::new_uuid().substr(0, 8);
  const std::string absent = "sbx-test-absent-" + sbx::new_uuid().substr(0, 8);
  auto s = spec();
  s.volumes = {pvc(scratch, "/a", true, true), pvc(kept, "/b", true, false),
               pvc(absent, "/c", false, false)};
  auto started = rt_->create_and_start(s);
  ASSERT_FALSE(started);
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::PVC_NOT_FOUND");
  EXPECT_EQ(volume_status(scratch), 404);
  EXPECT_EQ(volume_status(kept), 200);
  EXPECT_EQ(volume_status(absent), 404);
}

TEST_F(DockerVolumesTest, NamedVolumeSubPathNeedsApi145) {
  auto version = rt_->api_version();
  ASSERT_TRUE(version);
  auto s = spec();
  auto v = pvc("sbx-test-sub-" + sbx::new_uuid().substr(0, 8), "/mnt/x", true, true);
  v.sub_path = "a";
  s.volumes = {v};
  auto started = rt_->create_and_start(s);
  if (sbx::docker_api_version_less(*version, "1.45")) {
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().code, ErrorCode::kUnimplemented);
    EXPECT_EQ(sbx::runtime_error_code(started.error()), "VOLUME::PVC_SUBPATH_UNSUPPORTED");
    EXPECT_NE(started.error().message.find(*version), std::string::npos);
    EXPECT_EQ(volume_status(v.claim_name), 404) << "refused before creating anything";
  } else {
    // A newer engine mounts the subdirectory (which must exist in the volume).
    EXPECT_TRUE(started || sbx::runtime_error_code(started.error()).empty());
  }
}

TEST_F(DockerVolumesTest, SandboxEnvWinsAndSandboxBindsAreMounted) {
  fs::create_directories(outside_ / "policy");
  std::ofstream(outside_ / "policy" / "motd") << "operator";
  // Binds are operator policy: not subject to the allowlist (outside_ is not in it).
  make_runtime({allowed_.str()}, {{"TEAM", "blue"}, {"PROXY", "http://127.0.0.1:3128"}},
               {(outside_ / "policy").string() + ":/etc/policy:ro"});
  auto s = spec();
  s.env = {{"TEAM", "red"}, {"USER_VAR", "u"}};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(run_in(s.sandbox_id, "test \"$TEAM\" = blue"), 0) << "operator env must win";
  EXPECT_EQ(run_in(s.sandbox_id, "test \"$USER_VAR\" = u"), 0);
  EXPECT_EQ(run_in(s.sandbox_id, "test \"$PROXY\" = http://127.0.0.1:3128"), 0);
  EXPECT_EQ(run_in(s.sandbox_id, "grep -q operator /etc/policy/motd"), 0);
  EXPECT_NE(run_in(s.sandbox_id, "touch /etc/policy/x"), 0) << ":ro must be honoured";
}

TEST_F(DockerVolumesTest, GpuRequestOnAnEngineWithoutGpusFailsWithACode) {
  auto s = spec();
  s.gpu = "all";
  const auto begin = std::chrono::steady_clock::now();
  auto started = rt_->create_and_start(s);
  const auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_FALSE(started) << "this machine has no GPU";
  EXPECT_EQ(started.error().code, ErrorCode::kFailedPrecondition) << started.error().message;
  EXPECT_EQ(sbx::runtime_error_code(started.error()), "DOCKER::GPU_UNAVAILABLE")
      << started.error().message;
  EXPECT_LT(took, 30s);
  EXPECT_EQ(inspect(s.sandbox_id), json::object()) << "the failed container is removed";
}

// platform reaches the engine (create query; the pull too when the image is missing): the
// engine's own platform runs, another one is not silently run on the local image.
TEST_F(DockerVolumesTest, PlatformIsHonouredByTheEngine) {
  auto v = http_->send({.target = "/version"});
  ASSERT_TRUE(v && v->status == 200);
  const json version = json::parse(v->body);
  auto s = spec();
  s.platform = sbx::Platform{version.value("Os", "linux"), version.value("Arch", "amd64")};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;

  // A local image of another platform: the engine refuses it for the create, sandboxd then
  // pulls for the platform asked, from a loopback registry that is not there: a failure
  // with a code, never the local image of the wrong platform.
  const std::string other = "127.0.0.1:9/sandboxd-platform-test";
  auto tagged = http_->send({.method = "POST",
                             .target = "/images/" + std::string(sbx::testing::kTestBusyboxImage) +
                                       "/tag?repo=" + other + "&tag=1"});
  ASSERT_TRUE(tagged && tagged->status == 201) << (tagged ? tagged->body : "no answer");
  auto s2 = spec();
  s2.image_uri = other + ":1";
  s2.platform = sbx::Platform{"linux", version.value("Arch", "") == "s390x" ? "arm64" : "s390x"};
  auto refused = rt_->create_and_start(s2);
  (void)http_->send({.method = "DELETE", .target = "/images/" + other + ":1"});
  ASSERT_FALSE(refused) << "a container of the wrong platform was created";
  EXPECT_EQ(sbx::runtime_error_code(refused.error()), "DOCKER::IMAGE_NOT_FOUND")
      << refused.error().message;
  EXPECT_EQ(inspect(s2.sandbox_id), json::object());
}

}  // namespace
