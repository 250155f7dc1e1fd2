// container_create_body: what a sandbox container looks like to the engine, without an
// engine. Each test builds the body for a representative spec and asserts the JSON.
#include "src/runtime/docker/container_body.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace {

using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::DockerOptions;
using sbx::ErrorCode;

ContainerSpec spec(const std::string& network_mode = "bridge") {
  ContainerSpec s;
  s.sandbox_id = "abc";
  s.image_uri = "busybox:1.36";
  s.entrypoint = {"sleep", "3600"};
  s.network_mode = network_mode;
  return s;
}

json body_of(const ContainerSpec& s, const DockerOptions& o = {}, std::string_view seccomp = "",
             std::string_view volume = "") {
  auto b = sbx::container_create_body(s, o, seccomp, volume);
  EXPECT_TRUE(b) << b.error().message;
  return b ? b->body : json();
}

TEST(ContainerBody, BridgeModeExposesAndBindsEveryPortOnTheBindIp) {
  auto s = spec("bridge");
  s.ports = {{44772, 40001}, {8080, 40002}};
  DockerOptions o;
  o.port_bind_ip = "127.0.0.1";
  const json b = body_of(s, o);
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "bridge");
  EXPECT_EQ(b["ExposedPorts"], (json{{"44772/tcp", json::object()}, {"8080/tcp", json::object()}}));
  EXPECT_EQ(b["HostConfig"]["PortBindings"],
            (json{{"44772/tcp", {{{"HostIp", "127.0.0.1"}, {"HostPort", "40001"}}}},
                  {"8080/tcp", {{{"HostIp", "127.0.0.1"}, {"HostPort", "40002"}}}}}));
}

TEST(ContainerBody, HostModeAndAUserNetworkWithoutPortsPublishNothing) {
  auto host = spec("host");
  host.ports = {{8080, 40000}};  // meaningless on the host's network
  json b = body_of(host);
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "host");
  EXPECT_FALSE(b.contains("ExposedPorts")) << b.dump();
  EXPECT_FALSE(b["HostConfig"].contains("PortBindings")) << b.dump();

  b = body_of(spec("team-net"));
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "team-net");
  EXPECT_FALSE(b.contains("ExposedPorts"));
  EXPECT_FALSE(b["HostConfig"].contains("PortBindings"));
}

TEST(ContainerBody, ResourceLimitsBecomeNanoCpusAndMemoryBytes) {
  auto s = spec();
  s.limits = {.cpu = "500m", .memory = "512Mi"};
  json b = body_of(s);
  EXPECT_EQ(b["HostConfig"]["NanoCpus"], 500'000'000);
  EXPECT_EQ(b["HostConfig"]["Memory"], 512LL * 1024 * 1024);

  s.limits = {.cpu = "2", .memory = ""};
  b = body_of(s);
  EXPECT_EQ(b["HostConfig"]["NanoCpus"], 2'000'000'000);
  EXPECT_FALSE(b["HostConfig"].contains("Memory"));

  s.limits = {};
  b = body_of(s);
  EXPECT_FALSE(b["HostConfig"].contains("NanoCpus"));
  EXPECT_FALSE(b["HostConfig"].contains("Memory"));
}

TEST(ContainerBody, AnUnparsableLimitIsInvalidNotACrash) {
  auto s = spec();
  s.limits.memory = "lots";
  auto b = sbx::container_create_body(s, DockerOptions{}, "", "");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(b.error().field, "memory");
}

TEST(ContainerBody, DefaultHardeningDropsCapabilitiesLimitsPidsAndForbidsNewPrivileges) {
  const json b = body_of(spec());
  const json& h = b["HostConfig"];
  EXPECT_EQ(h["PidsLimit"], 4096);
  EXPECT_EQ(h["CapDrop"], json(DockerOptions{}.drop_capabilities));
  EXPECT_EQ(h["SecurityOpt"], json::array({"no-new-privileges:true"}));
}

TEST(ContainerBody, AppArmorAndSeccompJoinSecurityOptInOrder) {
  DockerOptions o;
  o.apparmor_profile = "sandboxd-default";
  const json b = body_of(spec(), o, R"(seccomp={"defaultAction":"SCMP_ACT_ERRNO"})");
  EXPECT_EQ(b["HostConfig"]["SecurityOpt"],
            json::array({"no-new-privileges:true", "apparmor=sandboxd-default",
                         R"(seccomp={"defaultAction":"SCMP_ACT_ERRNO"})"}));
}

TEST(ContainerBody, HardeningSwitchedOffLeavesTheKeysOut) {
  DockerOptions o;
  o.no_new_privileges = false;
  o.drop_capabilities.clear();
  o.pids_limit = 0;
  json b = body_of(spec(), o);
  EXPECT_FALSE(b["HostConfig"].contains("SecurityOpt")) << b.dump();
  EXPECT_FALSE(b["HostConfig"].contains("CapDrop"));
  EXPECT_FALSE(b["HostConfig"].contains("PidsLimit"));
  o.pids_limit = -1;
  b = body_of(spec(), o);
  EXPECT_FALSE(b["HostConfig"].contains("PidsLimit"));
}

TEST(ContainerBody, TheOciRuntimeIsSetOnlyWhenConfigured) {
  EXPECT_FALSE(body_of(spec())["HostConfig"].contains("Runtime"));
  DockerOptions o;
  o.oci_runtime = "runsc";
  const json b = body_of(spec("host"), o);
  EXPECT_EQ(b["HostConfig"]["Runtime"], "runsc");
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "host");
}

TEST(ContainerBody, ReservedUserLabelsAreDroppedAndReportedSandboxdsOwnAreSet) {
  auto s = spec();
  s.labels = {{"sandboxd.io/helper", "execd"},
              {"sandboxd.io/instance", "someone-else"},
              {"SandboxD.IO/id", "x"},
              {"team.sandboxd.io/owner", "x"},
              {"team", "blue"},
              {"example.com/sandboxd.io", "kept"},
              {"notsandboxd.io/kept", "kept"}};
  DockerOptions o;
  o.instance_id = "inst-1";
  auto b = sbx::container_create_body(s, o, "", "");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->body["Labels"], (json{{"sandboxd.io/id", "abc"},
                                     {"sandboxd.io/instance", "inst-1"},
                                     {"team", "blue"},
                                     {"example.com/sandboxd.io", "kept"},
                                     {"notsandboxd.io/kept", "kept"}}));
  EXPECT_EQ(b->dropped_labels,
            (std::vector<std::string>{"SandboxD.IO/id", "sandboxd.io/helper",
                                      "sandboxd.io/instance", "team.sandboxd.io/owner"}));
}

TEST(ContainerBody, AnUnscopedRuntimeSetsNoInstanceLabel) {
  const json b = body_of(spec());
  EXPECT_EQ(b["Labels"], (json{{"sandboxd.io/id", "abc"}}));
}

TEST(ContainerBody, WithExecdBootstrapRunsTheUserCommandAndOwnsExecdInEnv) {
  auto s = spec();
  s.env = {{"GREETING", "hello"}, {"EXECD", "/overridden"}};
  s.entrypoint = {"sh", "-c", "sleep 3600"};
  const json b = body_of(s, DockerOptions{}, "", "sandboxd-execd-0123");
  EXPECT_EQ(b["Image"], "busybox:1.36");
  EXPECT_EQ(b["Entrypoint"], json::array({"/opt/opensandbox/bootstrap.sh"}));
  EXPECT_EQ(b["Cmd"], json::array({"sh", "-c", "sleep 3600"}));
  EXPECT_EQ(b["Env"], json::array({"GREETING=hello", "EXECD=/opt/opensandbox/execd"}));
  EXPECT_EQ(b["HostConfig"]["Mounts"], json::array({{{"Type", "volume"},
                                                      {"Source", "sandboxd-execd-0123"},
                                                      {"Target", "/opt/opensandbox"},
                                                      {"ReadOnly", true}}}));
}

TEST(ContainerBody, ExecdCopiedInInsteadOfAVolumeMountsNothing) {
  const json b = body_of(spec(), DockerOptions{}, "", "");
  EXPECT_EQ(b["Entrypoint"], json::array({"/opt/opensandbox/bootstrap.sh"}));
  EXPECT_FALSE(b["HostConfig"].contains("Mounts")) << b.dump();
}

TEST(ContainerBody, WithoutExecdTheUserEntrypointRunsAsIsAndEnvIsUntouched) {
  auto s = spec();
  s.env = {{"EXECD", "/mine"}};
  DockerOptions o;
  o.execd_image.clear();
  const json b = body_of(s, o);
  EXPECT_EQ(b["Entrypoint"], json::array({"sleep", "3600"}));
  EXPECT_EQ(b["Cmd"], json::array());
  EXPECT_EQ(b["Env"], json::array({"EXECD=/mine"}));
}

TEST(SeccompOption, EmptyUnconfinedAndAProfileFile) {
  EXPECT_EQ(sbx::seccomp_security_option("").value(), "");
  EXPECT_EQ(sbx::seccomp_security_option("unconfined").value(), "seccomp=unconfined");

  sbx::testing::TempDir dir;
  const std::string path = dir.str() + "/profile.json";
  std::ofstream(path) << "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n";
  EXPECT_EQ(sbx::seccomp_security_option(path).value(),
            R"(seccomp={"defaultAction":"SCMP_ACT_ALLOW"})");

  std::ofstream(path, std::ios::trunc) << "not json";
  auto bad = sbx::seccomp_security_option(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "docker.seccomp_profile");

  auto missing = sbx::seccomp_security_option(dir.str() + "/absent.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "docker.seccomp_profile");
}

}  // namespace

// --- volumes, GPUs, sandbox-wide env and binds (issue 12) ---------------------------------

namespace {

using sbx::ResolvedMount;

TEST(ContainerBodyVolumes, MountsFollowTheExecdVolumeWithReadOnlyAndSubpath) {
  auto s = spec();
  json b = body_of(s, {}, "", "sandboxd-execd-x");
  std::vector<ResolvedMount> mounts = {
      {ResolvedMount::Type::kBind, "/srv/data/team", "/data", false, ""},
      {ResolvedMount::Type::kBind, "/srv/ro", "/ro", true, ""},
      {ResolvedMount::Type::kVolume, "cache", "/cache", false, "a/b"},
  };
  ASSERT_TRUE(sbx::add_volumes_and_devices(b, s, {}, mounts));
  const json& m = b["HostConfig"]["Mounts"];
  ASSERT_EQ(m.size(), 4u) << m.dump();
  EXPECT_EQ(m[0]["Source"], "sandboxd-execd-x");
  EXPECT_EQ(m[1], json({{"Type", "bind"}, {"Source", "/srv/data/team"}, {"Target", "/data"},
                        {"ReadOnly", false}}));
  EXPECT_EQ(m[2]["ReadOnly"], true);
  EXPECT_EQ(m[3]["Type"], "volume");
  EXPECT_EQ(m[3]["Source"], "cache");
  EXPECT_EQ(m[3]["VolumeOptions"]["Subpath"], "a/b");
  EXPECT_FALSE(b["HostConfig"].contains("Binds"));
  EXPECT_FALSE(b["HostConfig"].contains("DeviceRequests"));
}

TEST(ContainerBodyVolumes, NoVolumesNoExecdVolumeLeavesMountsOut) {
  auto s = spec();
  json b = body_of(s);
  ASSERT_TRUE(sbx::add_volumes_and_devices(b, s, {}, {}));
  EXPECT_FALSE(b["HostConfig"].contains("Mounts"));
}

TEST(ContainerBodyVolumes, SandboxBindsAndEnvAreAppliedAndTheOperatorsEnvWins) {
  auto s = spec();
  s.env = {{"TEAM", "red"}, {"MINE", "1"}};
  DockerOptions o;
  o.sandbox_env = {{"TEAM", "blue"}, {"PROXY", "http://127.0.0.1:3128"}};
  o.sandbox_binds = {"/etc/ssl/certs:/etc/ssl/certs:ro"};
  json b = body_of(sbx::with_sandbox_env(s, o), o);
  ASSERT_TRUE(sbx::add_volumes_and_devices(b, s, o, {}));
  EXPECT_EQ(b["HostConfig"]["Binds"], json::array({"/etc/ssl/certs:/etc/ssl/certs:ro"}));
  const json& env = b["Env"];
  auto has = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  EXPECT_TRUE(has("TEAM=blue")) << env.dump();
  EXPECT_FALSE(has("TEAM=red")) << env.dump();
  EXPECT_TRUE(has("MINE=1"));
  EXPECT_TRUE(has("PROXY=http://127.0.0.1:3128"));
}

TEST(ContainerBodyVolumes, GpuBecomesADeviceRequest) {
  auto s = spec();
  s.gpu = "all";
  json b = body_of(s);
  ASSERT_TRUE(sbx::add_volumes_and_devices(b, s, {}, {}));
  EXPECT_EQ(b["HostConfig"]["DeviceRequests"],
            json::parse(R"([{"Driver":"","Count":-1,"Capabilities":[["gpu"]]}])"));
  s.gpu = "2";
  b = body_of(s);
  ASSERT_TRUE(sbx::add_volumes_and_devices(b, s, {}, {}));
  EXPECT_EQ(b["HostConfig"]["DeviceRequests"][0]["Count"], 2);
  for (const char* bad : {"0", "-1", "two", "2x", ""}) {
    s.gpu = bad;
    b = body_of(s);
    auto r = sbx::add_volumes_and_devices(b, s, {}, {});
    if (std::string(bad).empty()) {
      EXPECT_TRUE(r);
      EXPECT_FALSE(b["HostConfig"].contains("DeviceRequests"));
      continue;
    }
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, "resourceLimits.gpu");
  }
}

}  // namespace
