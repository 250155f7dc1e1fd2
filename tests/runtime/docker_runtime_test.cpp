// DockerRuntime specifics against the private engine: networking (only 127.0.0.1 is ever
// addressed), execd injection, the container's configuration, image errors, an engine
// that cannot be reached, and API version negotiation (with a scripted transport).
#include "src/runtime/docker/docker_runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "tests/runtime/docker_test_util.h"

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::ContainerState;
using sbx::ErrorCode;

class DockerRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    host_ = host;
    auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    auto http = sbx::HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
  }

  void TearDown() override {
    for (const auto& id : created_) {
      auto r = rt_->remove(id);
      EXPECT_TRUE(r) << "cleanup " << id << ": " << r.error().message;
    }
  }

  ContainerSpec spec(const std::string& network_mode = "bridge") {
    ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    created_.insert(s.sandbox_id);
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = network_mode;
    return s;
  }

  json raw_inspect(const std::string& sandbox_id) {
    auto r = http_->send({.target = "/containers/sandbox-" + sandbox_id + "/json"});
    EXPECT_TRUE(r && r->status == 200);
    return r && r->status == 200 ? json::parse(r->body) : json::object();
  }

  std::string host_;
  std::unique_ptr<sbx::DockerRuntime> rt_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> created_;
};

TEST_F(DockerRuntimeTest, NegotiatesTheServersApiVersion) {
  auto v = rt_->api_version();
  ASSERT_TRUE(v) << v.error().message;
  auto ping = http_->send({.target = "/_ping"});
  ASSERT_TRUE(ping);
  std::string server(ping->header("API-Version").value_or(""));
  ASSERT_FALSE(server.empty());
  if (sbx::docker_api_version_less(sbx::kMaxDockerApiVersion, server)) {
    EXPECT_EQ(*v, sbx::kMaxDockerApiVersion);
  } else {
    EXPECT_EQ(*v, server);
  }
}

TEST_F(DockerRuntimeTest, BridgeModePublishesPortsOnLoopbackAndExecdAnswers) {
  auto s = spec("bridge");
  const std::uint16_t execd_port = sbx::testing::free_port();
  s.ports = {{sbx::testing::kExecdPort, execd_port}};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;

  EXPECT_EQ(sbx::testing::poll_http_status(execd_port, "/ping"), 200);
  EXPECT_EQ(sbx::testing::poll_http_status(execd_port, "/proxy/44772/ping"), 200);

  json j = raw_inspect(s.sandbox_id);
  const json& binding = j["HostConfig"]["PortBindings"]["44772/tcp"][0];
  EXPECT_EQ(binding["HostIp"], "127.0.0.1");
  EXPECT_EQ(binding["HostPort"], std::to_string(execd_port));
  EXPECT_TRUE(j["Config"]["ExposedPorts"].contains("44772/tcp"));
  EXPECT_EQ(j["HostConfig"]["NetworkMode"], "bridge");
}

TEST_F(DockerRuntimeTest, HostModeSharesTheHostsNetwork) {
  auto s = spec("host");
  s.image_uri = sbx::testing::kTestExecdImage;  // has /www
  const std::uint16_t port = sbx::testing::free_port();
  s.entrypoint = {"httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"};
  s.ports = {{8080, 1}};  // ignored in host mode
  // Without execd: in host mode it would hold the host's port 44772, which a concurrently
  // running end-to-end test may need.
  auto opts = sbx::testing::test_docker_options(host_);
  opts.execd_image.clear();
  auto no_execd = sbx::DockerRuntime::create(opts);
  ASSERT_TRUE(no_execd);
  auto started = (*no_execd)->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  // Nothing is published: the user's process listens on the host's loopback directly.
  EXPECT_EQ(sbx::testing::poll_http_status(port, "/ping"), 200);
  json j = raw_inspect(s.sandbox_id);
  EXPECT_EQ(j["HostConfig"]["NetworkMode"], "host");
  EXPECT_TRUE(j["HostConfig"]["PortBindings"].is_null() || j["HostConfig"]["PortBindings"].empty());
}

TEST_F(DockerRuntimeTest, ContainerCarriesExecdLimitsLabelsAndHardening) {
  auto s = spec("bridge");
  s.limits = {.cpu = "500m", .memory = "64Mi"};
  s.env = {{"GREETING", "hello"}, {"EXECD", "/overridden"}};
  s.labels = {{"team", "blue"}};
  s.entrypoint = {"sh", "-c", "sleep 3600"};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;

  json j = raw_inspect(s.sandbox_id);
  EXPECT_EQ(j["Name"], "/sandbox-" + s.sandbox_id);
  EXPECT_EQ(j["Config"]["Labels"]["sandboxd.io/id"], s.sandbox_id);
  EXPECT_EQ(j["Config"]["Labels"]["team"], "blue");
  EXPECT_EQ(j["Config"]["Entrypoint"], json::array({"/opt/opensandbox/bootstrap.sh"}));
  EXPECT_EQ(j["Config"]["Cmd"], json::array({"sh", "-c", "sleep 3600"}));
  std::set<std::string> env(j["Config"]["Env"].begin(), j["Config"]["Env"].end());
  EXPECT_TRUE(env.contains("EXECD=/opt/opensandbox/execd"));
  EXPECT_TRUE(env.contains("GREETING=hello"));
  EXPECT_FALSE(env.contains("EXECD=/overridden"));
  EXPECT_EQ(j["HostConfig"]["NanoCpus"], 500'000'000);
  EXPECT_EQ(j["HostConfig"]["Memory"], 64 * 1024 * 1024);
  EXPECT_EQ(j["HostConfig"]["PidsLimit"], 4096);
  std::set<std::string> drop(j["HostConfig"]["CapDrop"].begin(), j["HostConfig"]["CapDrop"].end());
  EXPECT_TRUE(drop.contains("NET_RAW") || drop.contains("CAP_NET_RAW"));
  EXPECT_TRUE(drop.contains("SYS_ADMIN") || drop.contains("CAP_SYS_ADMIN"));
  std::set<std::string> sec(j["HostConfig"]["SecurityOpt"].begin(),
                            j["HostConfig"]["SecurityOpt"].end());
  EXPECT_TRUE(sec.contains("no-new-privileges:true") || sec.contains("no-new-privileges"));

  // execd comes from the shared execd volume, mounted read-only.
  std::string volume;
  for (const auto& m : j["Mounts"]) {
    if (m.value("Destination", "") == "/opt/opensandbox") {
      EXPECT_EQ(m.value("Type", ""), "volume");
      EXPECT_FALSE(m.value("RW", true)) << "the execd volume must be read-only";
      volume = m.value("Name", "");
    }
  }
  EXPECT_TRUE(volume.starts_with("sandboxd-execd-")) << j["Mounts"].dump();

  // execd and bootstrap.sh are there, executable.
  for (const char* path : {"/opt/opensandbox/execd", "/opt/opensandbox/bootstrap.sh"}) {
    auto head = http_->send(
        {.method = "HEAD",
         .target = "/containers/sandbox-" + s.sandbox_id + "/archive?path=" + std::string(path)});
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200) << path;
    auto stat = head->header("X-Docker-Container-Path-Stat");
    ASSERT_TRUE(stat.has_value()) << path;
  }
  // And the process runs (bootstrap exec'ed the user's command).
  std::this_thread::sleep_for(300ms);
  auto st = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(st && st->has_value());
  EXPECT_EQ((*st)->state, ContainerState::kRunning);
}

TEST_F(DockerRuntimeTest, ACreatedButNeverStartedContainerIsCompletedOnRetry) {
  // As if a worker crashed between create and start: the container exists, without execd.
  auto s = spec("bridge");
  json body = {{"Image", s.image_uri},
               {"Entrypoint", json::array({"/opt/opensandbox/bootstrap.sh"})},
               {"Cmd", s.entrypoint},
               {"Env", json::array({"EXECD=/opt/opensandbox/execd"})},
               {"Labels", {{"sandboxd.io/id", s.sandbox_id}}}};
  auto r = http_->send({.method = "POST",
                        .target = "/containers/create?name=sandbox-" + s.sandbox_id,
                        .headers = {{"Content-Type", "application/json"}},
                        .body = body.dump()});
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
  auto before = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(before && before->has_value());
  EXPECT_EQ((*before)->state, ContainerState::kCreated);

  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(started->runtime_id, (*before)->runtime_id);
  std::this_thread::sleep_for(500ms);
  auto after = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->state, ContainerState::kRunning) << "execd must have been injected";
}

// Runs `sh -c script` in a running container through the exec API; its exit code.
int exec_in(sbx::HttpClient& http, const std::string& container, const std::string& script) {
  json body = {
      {"Cmd", json::array({"sh", "-c", script})}, {"AttachStdout", true}, {"AttachStderr", true}};
  auto created = http.send({.method = "POST",
                            .target = "/containers/" + container + "/exec",
                            .headers = {{"Content-Type", "application/json"}},
                            .body = body.dump()});
  if (!created || created->status != 201) return -1;
  const std::string id = json::parse(created->body).at("Id").get<std::string>();
  auto started = http.send({.method = "POST",
                            .target = "/exec/" + id + "/start",
                            .headers = {{"Content-Type", "application/json"}},
                            .body = R"({"Detach":false,"Tty":false})"});
  if (!started || started->status != 200) return -1;
  for (int i = 0; i < 50; ++i) {  // bounded: 5 s
    auto r = http.send({.target = "/exec/" + id + "/json"});
    if (!r || r->status != 200) return -1;
    json j = json::parse(r->body);
    if (!j.value("Running", true)) return j.value("ExitCode", -1);
    std::this_thread::sleep_for(100ms);
  }
  return -1;
}

TEST_F(DockerRuntimeTest, ExecdVolumeIsReadOnlySharedAndFilledAgainWhenRemoved) {
  auto a = spec("bridge");
  auto b = spec("bridge");
  ASSERT_TRUE(rt_->create_and_start(a));
  ASSERT_TRUE(rt_->create_and_start(b));
  auto volume_of = [&](const std::string& id) {
    const json j = raw_inspect(id);
    for (const auto& m : j["Mounts"])
      if (m.value("Destination", "") == "/opt/opensandbox") return m.value("Name", "");
    return std::string();
  };
  const std::string volume = volume_of(a.sandbox_id);
  ASSERT_FALSE(volume.empty());
  EXPECT_EQ(volume_of(b.sandbox_id), volume) << "one volume serves every sandbox";

  // A sandbox cannot change the execd its neighbours run.
  const std::string ca = "sandbox-" + a.sandbox_id;
  EXPECT_EQ(exec_in(*http_, ca, "test -x /opt/opensandbox/execd"), 0);
  EXPECT_NE(exec_in(*http_, ca, "echo evil > /opt/opensandbox/execd"), 0);
  EXPECT_NE(exec_in(*http_, ca, "touch /opt/opensandbox/new"), 0);

  // Removing sandboxes keeps the volume (a cache for the next ones).
  ASSERT_TRUE(rt_->remove(a.sandbox_id));
  ASSERT_TRUE(rt_->remove(b.sandbox_id));
  auto v = http_->send({.target = "/volumes/" + volume});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);

  // Pruned behind sandboxd's back: the next create fills it again instead of mounting an
  // empty volume the engine would make up.
  auto del = http_->send({.method = "DELETE", .target = "/volumes/" + volume});
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204) << del->body;
  auto c = spec("bridge");
  auto started = rt_->create_and_start(c);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(volume_of(c.sandbox_id), volume);
  EXPECT_EQ(exec_in(*http_, "sandbox-" + c.sandbox_id,
                    "test -x /opt/opensandbox/execd && "
                    "test -x /opt/opensandbox/bootstrap.sh"),
            0);
}

TEST_F(DockerRuntimeTest, ExecdVolumesOfAnEarlierPayloadAreRemovedUnlessStillMounted) {
  // Two volumes as an earlier execd image would have left them: one unused, one still
  // mounted by a container of that time.
  const std::string tag = sbx::new_uuid().substr(24);
  const std::string unused = "sandboxd-execd-old" + tag, mounted = "sandboxd-execd-busy" + tag;
  for (const auto& name : {unused, mounted}) {
    auto r = http_->send(
        {.method = "POST",
         .target = "/volumes/create",
         .headers = {{"Content-Type", "application/json"}},
         .body = json{{"Name", name}, {"Labels", {{"sandboxd.io/helper", "execd"}}}}.dump()});
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
  }
  const std::string holder = "sandboxd-test-holder-" + tag;
  auto made = http_->send(
      {.method = "POST",
       .target = "/containers/create?name=" + holder,
       .headers = {{"Content-Type", "application/json"}},
       .body =
           json{{"Image", sbx::testing::kTestBusyboxImage},
                {"Cmd", {"true"}},
                {"HostConfig",
                 {{"Mounts",
                   json::array({{{"Type", "volume"}, {"Source", mounted}, {"Target", "/old"}}})}}}}
               .dump()});
  ASSERT_TRUE(made && made->status == 201) << (made ? made->body : made.error().message);

  auto s = spec("bridge");  // a fresh runtime: its first create fills (or finds) its volume
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  auto status_of = [&](const std::string& name) {
    auto r = http_->send({.target = "/volumes/" + name});
    return r ? r->status : -1;
  };
  EXPECT_EQ(status_of(unused), 404) << "an unused old execd volume is removed";
  EXPECT_EQ(status_of(mounted), 200) << "a volume a container still mounts stays";

  auto rm = http_->send({.method = "DELETE", .target = "/containers/" + holder + "?force=1"});
  EXPECT_TRUE(rm && rm->status == 204);
  auto rmv = http_->send({.method = "DELETE", .target = "/volumes/" + mounted});
  EXPECT_TRUE(rmv && rmv->status == 204);
}

// ---- several sandboxd on one engine: instance labels ------------------------------------

// A runtime scoped to `instance` on the test engine (what sandboxd builds from its store).
std::unique_ptr<sbx::DockerRuntime> scoped_runtime(const std::string& host,
                                                   const std::string& instance) {
  auto o = sbx::testing::test_docker_options(host);
  o.instance_id = instance;
  auto rt = sbx::DockerRuntime::create(o);
  EXPECT_TRUE(rt) << rt.error().message;
  return rt ? std::move(*rt) : nullptr;
}

// Creates (never starts) a container of the execd image with `labels`, as a helper in
// flight looks; its id ("" on failure).
std::string create_raw_container(sbx::HttpClient& http, const json& labels) {
  auto r = http.send({.method = "POST",
                      .target = "/containers/create",
                      .headers = {{"Content-Type", "application/json"}},
                      .body = json{{"Image", sbx::testing::kTestExecdImage},
                                   {"Entrypoint", json::array({"/execd"})},
                                   {"Labels", labels},
                                   {"NetworkDisabled", true}}
                                  .dump()});
  EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
  if (!r || r->status != 201) return {};
  return json::parse(r->body).at("Id").get<std::string>();
}

bool container_exists(sbx::HttpClient& http, const std::string& id) {
  auto r = http.send({.target = "/containers/" + id + "/json"});
  EXPECT_TRUE(r && (r->status == 200 || r->status == 404));
  return r && r->status == 200;
}

void remove_raw_container(sbx::HttpClient& http, const std::string& id) {
  auto r = http.send({.method = "DELETE", .target = "/containers/" + id + "?force=1&v=1"});
  EXPECT_TRUE(r && (r->status == 204 || r->status == 404));
}

TEST_F(DockerRuntimeTest, ContainersOfAScopedRuntimeCarryItsInstanceLabel) {
  const std::string instance = sbx::new_random_uuid();
  auto rt = scoped_runtime(host_, instance);
  ASSERT_TRUE(rt);
  auto s = spec("bridge");
  ASSERT_TRUE(rt->create_and_start(s));
  json j = raw_inspect(s.sandbox_id);
  EXPECT_EQ(j["Config"]["Labels"]["sandboxd.io/instance"], instance);
  EXPECT_EQ(j["Config"]["Labels"]["sandboxd.io/id"], s.sandbox_id);
  auto st = rt->inspect(s.sandbox_id);
  ASSERT_TRUE(st && st->has_value());
  EXPECT_EQ((*st)->instance_id, instance);
  auto all = rt->list();
  ASSERT_TRUE(all) << all.error().message;
  bool listed = false;
  for (const auto& c : *all) {
    if (c.sandbox_id == s.sandbox_id) {
      listed = true;
      EXPECT_EQ(c.instance_id, instance);
    }
  }
  EXPECT_TRUE(listed);

  // Its execd volume is its own: named after the instance, labelled with it.
  std::string volume;
  for (const auto& m : j["Mounts"])
    if (m.value("Destination", "") == "/opt/opensandbox") volume = m.value("Name", "");
  EXPECT_TRUE(volume.starts_with("sandboxd-execd-") && volume.ends_with("-" + instance)) << volume;
  auto v = http_->send({.target = "/volumes/" + volume});
  ASSERT_TRUE(v && v->status == 200);
  const json labels = json::parse(v->body)["Labels"];
  EXPECT_EQ(labels.value("sandboxd.io/instance", ""), instance);
  EXPECT_EQ(labels.value("sandboxd.io/helper", ""), "execd");

  ASSERT_TRUE(rt->remove(s.sandbox_id));
  created_.erase(s.sandbox_id);
  auto del = http_->send({.method = "DELETE", .target = "/volumes/" + volume});
  EXPECT_TRUE(del && del->status == 204);
}

TEST_F(DockerRuntimeTest, ReservedUserLabelsAreDroppedSoTheHelperSweepNeverTakesASandbox) {
  // Metadata {"sandboxd.io/helper": "execd"} used to become a container label, and the
  // next list() force-removed the sandbox as a stale execd helper.
  auto s = spec("bridge");
  s.labels = {{"sandboxd.io/helper", "execd"},
              {"sandboxd.io/instance", "someone-else"},
              {"SandboxD.IO/id", "x"},
              {"team.sandboxd.io/owner", "x"},
              {"team", "blue"},
              {"example.com/sandboxd.io", "kept"},
              {"notsandboxd.io/kept", "kept"}};
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  const json labels = raw_inspect(s.sandbox_id)["Config"]["Labels"];
  EXPECT_FALSE(labels.contains("sandboxd.io/helper")) << labels.dump();
  EXPECT_FALSE(labels.contains("sandboxd.io/instance")) << "an unscoped runtime sets none";
  EXPECT_FALSE(labels.contains("SandboxD.IO/id"));
  EXPECT_FALSE(labels.contains("team.sandboxd.io/owner"));
  EXPECT_EQ(labels.value("sandboxd.io/id", ""), s.sandbox_id);
  EXPECT_EQ(labels.value("team", ""), "blue");
  EXPECT_EQ(labels.value("example.com/sandboxd.io", ""), "kept");
  EXPECT_EQ(labels.value("notsandboxd.io/kept", ""), "kept");

  auto listed = rt_->list();  // runs the helper sweep
  ASSERT_TRUE(listed) << listed.error().message;
  auto st = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(st && st->has_value()) << "the sweep removed a sandbox";
  EXPECT_EQ((*st)->state, ContainerState::kRunning);
}

TEST_F(DockerRuntimeTest, AContainerWithASandboxIdIsNeverSweptAsAHelper) {
  // As an earlier version created a sandbox whose metadata said sandboxd.io/helper.
  const std::string id = sbx::new_uuid();
  const std::string c =
      create_raw_container(*http_, {{"sandboxd.io/id", id}, {"sandboxd.io/helper", "execd"}});
  ASSERT_FALSE(c.empty());
  ASSERT_TRUE(rt_->list());
  EXPECT_TRUE(container_exists(*http_, c)) << "a sandbox was swept as a helper";
  remove_raw_container(*http_, c);
}

TEST_F(DockerRuntimeTest, TheHelperSweepRemovesOnlyItsOwnInstancesHelpers) {
  const std::string a = sbx::new_random_uuid(), b = sbx::new_random_uuid();
  auto rt_b = scoped_runtime(host_, b);
  ASSERT_TRUE(rt_b);
  // A's execd helper, in flight while B lists; B's own stale one (B crashed mid-fill).
  const std::string helper_a =
      create_raw_container(*http_, {{"sandboxd.io/helper", "execd"}, {"sandboxd.io/instance", a}});
  const std::string helper_b =
      create_raw_container(*http_, {{"sandboxd.io/helper", "execd"}, {"sandboxd.io/instance", b}});
  ASSERT_FALSE(helper_a.empty());
  ASSERT_FALSE(helper_b.empty());

  auto listed = rt_b->list();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(container_exists(*http_, helper_a)) << "B swept A's helper";
  EXPECT_FALSE(container_exists(*http_, helper_b)) << "B's own stale helper is swept";

  // A's sweep takes A's.
  auto rt_a = scoped_runtime(host_, a);
  ASSERT_TRUE(rt_a);
  ASSERT_TRUE(rt_a->list());
  EXPECT_FALSE(container_exists(*http_, helper_a));
  remove_raw_container(*http_, helper_a);
  remove_raw_container(*http_, helper_b);
}

TEST_F(DockerRuntimeTest, OldExecdVolumesOfAnotherInstanceAreNotPruned) {
  const std::string mine = sbx::new_random_uuid(), theirs = sbx::new_random_uuid();
  const std::string tag = sbx::new_uuid().substr(24);
  const std::string their_old = "sandboxd-execd-old" + tag + "-" + theirs;
  const std::string my_old = "sandboxd-execd-old" + tag + "-" + mine;
  for (const auto& [name, instance] : {std::pair{their_old, theirs}, std::pair{my_old, mine}}) {
    auto r = http_->send({.method = "POST",
                          .target = "/volumes/create",
                          .headers = {{"Content-Type", "application/json"}},
                          .body = json{{"Name", name},
                                       {"Labels",
                                        {{"sandboxd.io/helper", "execd"},
                                         {"sandboxd.io/instance", instance}}}}
                                      .dump()});
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
  }
  auto rt = scoped_runtime(host_, mine);
  ASSERT_TRUE(rt);
  auto s = spec("bridge");
  auto started = rt->create_and_start(s);  // fills its volume, then prunes its old ones
  ASSERT_TRUE(started) << started.error().message;
  auto status_of = [&](const std::string& name) {
    auto r = http_->send({.target = "/volumes/" + name});
    return r ? r->status : -1;
  };
  EXPECT_EQ(status_of(their_old), 200) << "another instance's volume is theirs to prune";
  EXPECT_EQ(status_of(my_old), 404) << "its own unused old volume is pruned";

  std::string volume;
  const json inspected = raw_inspect(s.sandbox_id);
  for (const auto& m : inspected["Mounts"])
    if (m.value("Destination", "") == "/opt/opensandbox") volume = m.value("Name", "");
  ASSERT_TRUE(rt->remove(s.sandbox_id));
  created_.erase(s.sandbox_id);
  for (const auto& name : {their_old, volume}) {
    auto del = http_->send({.method = "DELETE", .target = "/volumes/" + name});
    EXPECT_TRUE(del && del->status == 204) << name;
  }
}

TEST_F(DockerRuntimeTest, MissingImageFailsFastWithImageNotFound) {
  auto s = spec("bridge");
  // A registry on loopback where nothing listens: the pull fails at once, no traffic leaves.
  s.image_uri = "127.0.0.1:1/sandboxd-test/missing:1";
  auto t0 = std::chrono::steady_clock::now();
  auto r = rt_->create_and_start(s);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error().message;
  EXPECT_EQ(sbx::runtime_error_code(r.error()), sbx::kImageNotFoundCode) << r.error().message;
  EXPECT_NE(r.error().message.find(s.image_uri), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().field, "image.uri");
  EXPECT_LT(elapsed, 15s);
  auto st = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->has_value());
}

TEST_F(DockerRuntimeTest, EntrypointThatCannotStartFailsAndLeavesNothing) {
  auto s = spec("bridge");
  s.entrypoint = {"/no/such/binary"};
  auto opts = sbx::testing::test_docker_options(host_);
  opts.execd_image.clear();  // the user's entrypoint is the container's entrypoint
  auto raw = sbx::DockerRuntime::create(opts);
  ASSERT_TRUE(raw);
  auto r = (*raw)->create_and_start(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  auto st = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->has_value()) << "a container that failed to start is removed";
}

TEST_F(DockerRuntimeTest, ConcurrentCreatesOfOneSandboxMakeOneContainer) {
  auto s = spec("bridge");
  std::vector<std::string> ids(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto r = rt_->create_and_start(s);
      EXPECT_TRUE(r) << r.error().message;
      if (r) ids[i] = r->runtime_id;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(rt_->inspect(s.sandbox_id)->value().state, ContainerState::kRunning);
}

TEST_F(DockerRuntimeTest, OutOfMemoryIsReportedByWatchAndInspect) {
  auto s = spec("bridge");
  s.limits.memory = "16Mi";
  s.entrypoint = {"sh", "-c", "x=0123456789; while true; do x=\"$x$x\"; done"};
  std::mutex mu;
  std::set<sbx::RuntimeEventKind> kinds;
  std::stop_source stop;
  sbx::SystemClock clock;
  const sbx::Micros since = clock.now() - sbx::kMicrosPerSecond;
  std::thread watcher([&] {
    auto r = rt_->watch(
        since,
        [&](const sbx::RuntimeEvent& e) {
          if (e.sandbox_id != s.sandbox_id) return;
          std::lock_guard lock(mu);
          kinds.insert(e.kind);
          if (kinds.contains(sbx::RuntimeEventKind::kDied)) stop.request_stop();
        },
        stop.get_token());
    EXPECT_TRUE(r) << r.error().message;
  });
  auto started = rt_->create_and_start(s);
  ASSERT_TRUE(started) << started.error().message;
  for (int i = 0; i < 300 && !stop.stop_requested(); ++i) std::this_thread::sleep_for(100ms);
  stop.request_stop();
  watcher.join();
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(kinds.contains(sbx::RuntimeEventKind::kDied)) << "no die within 30 s";
    EXPECT_TRUE(kinds.contains(sbx::RuntimeEventKind::kOomKilled)) << "no oom event";
  }
  auto st = rt_->inspect(s.sandbox_id);
  ASSERT_TRUE(st && st->has_value());
  EXPECT_EQ((*st)->state, ContainerState::kExited);
  EXPECT_TRUE((*st)->oom_killed);
  EXPECT_EQ((*st)->exit_code, 137);
}

TEST(DockerUnreachable, BogusSocketIsUnavailableQuickly) {
  sbx::DockerOptions o;
  o.host = "unix:///nonexistent/sandboxd-test/docker.sock";
  auto rt = sbx::DockerRuntime::create(o);
  ASSERT_TRUE(rt) << rt.error().message;
  auto t0 = std::chrono::steady_clock::now();
  auto p = (*rt)->ping();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(p.error().message.find("unavailable"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("/nonexistent/sandboxd-test/docker.sock"), std::string::npos);
  ContainerSpec s;
  s.sandbox_id = "x";
  s.image_uri = "img";
  s.entrypoint = {"sleep"};
  auto c = (*rt)->create_and_start(s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ((*rt)->list().error().code, ErrorCode::kUnavailable);
  EXPECT_EQ((*rt)
                ->watch(
                    std::nullopt, [](const auto&) {}, std::stop_token())
                .error()
                .code,
            ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(DockerOptionsCheck, BadHostAndUnreadableSeccompProfileAreInvalid) {
  sbx::DockerOptions o;
  o.host = "ssh://somewhere";
  auto a = sbx::DockerRuntime::create(o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(a.error().field, "docker.host");
  o.host = "unix:///var/run/docker.sock";
  o.seccomp_profile = "/nonexistent/profile.json";
  auto b = sbx::DockerRuntime::create(o);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().field, "docker.seccomp_profile");
}

// A transport that answers /_ping with a chosen API-Version and records targets.
class ScriptedTransport final : public sbx::HttpTransport {
 public:
  explicit ScriptedTransport(std::string version) : version_(std::move(version)) {}
  sbx::Result<sbx::HttpResponse> send(const sbx::HttpRequest& req) override {
    targets.push_back(req.target);
    sbx::HttpResponse r;
    r.status = 200;
    if (req.target == "/_ping") {
      r.headers.push_back({"Api-Version", version_});
      r.body = "OK";
    } else {
      r.body = "[]";
    }
    return r;
  }
  sbx::Result<sbx::HttpResponse> stream(const sbx::HttpRequest&, const ChunkHandler&,
                                        std::stop_token) override {
    return sbx::fail(ErrorCode::kUnavailable, "no stream");
  }
  std::deque<std::string> targets;

 private:
  std::string version_;
};

TEST(DockerApiVersion, UsesTheServersVersionCappedAtOurMaximum) {
  struct Case {
    const char* server;
    const char* want;  // nullptr: refused
  };
  for (Case c : {Case{"1.41", "1.41"}, Case{"1.44", "1.44"}, Case{"1.52", "1.52"},
                 Case{"1.60", "1.52"}, Case{"2.0", "1.52"}, Case{"1.40", nullptr}}) {
    auto transport = std::make_unique<ScriptedTransport>(c.server);
    auto* t = transport.get();
    auto rt = sbx::DockerRuntime::create(sbx::DockerOptions{}, std::move(transport));
    ASSERT_TRUE(rt);
    auto v = (*rt)->api_version();
    if (c.want == nullptr) {
      ASSERT_FALSE(v) << c.server;
      EXPECT_EQ(v.error().code, ErrorCode::kFailedPrecondition);
      continue;
    }
    ASSERT_TRUE(v) << c.server << ": " << v.error().message;
    EXPECT_EQ(*v, c.want) << c.server;
    ASSERT_TRUE((*rt)->list());
    EXPECT_TRUE(t->targets.back().starts_with(std::string("/v") + c.want + "/containers/json"))
        << t->targets.back();
  }
  EXPECT_TRUE(sbx::docker_api_version_less("1.9", "1.41"));
  EXPECT_FALSE(sbx::docker_api_version_less("1.44", "1.44"));
}

}  // namespace
