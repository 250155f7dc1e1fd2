// Two sandboxd on one Docker engine (the private one of scripts/docker-env.sh; skipped
// without it, failed under CI=true): each has its own store, hence its own identity, and
// its reconciler must never take the other's containers for orphans. Also containers made
// by a version before identities (no sandboxd.io/instance label): adopted when the log
// knows their sandbox, left alone otherwise.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/workers/reconciler.h"
#include "store/event_store.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"
#include "tests/workers/worker_test_support.h"

namespace sbx::testing {
namespace {

using json = nlohmann::json;

// One sandboxd's parts: its store and the Docker runtime scoped to the store's identity
// (as the composition root builds them).
struct Instance {
  std::unique_ptr<EventStore> store;
  std::unique_ptr<DockerRuntime> runtime;
};

class ReconcilerDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    host_ = host;
    auto http = HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
    a_ = make_instance("a");
    b_ = make_instance("b");
    ASSERT_TRUE(a_.store && a_.runtime && b_.store && b_.runtime);
    ASSERT_NE(a_.store->instance_id(), b_.store->instance_id());
  }

  void TearDown() override {
    for (const auto& id : ids_) (void)remove_container("sandbox-" + id);
    // The execd volumes of the two instances (one per instance; nothing else removes them).
    for (Instance* in : {&a_, &b_}) {
      if (!in->store || !http_) continue;
      const std::string filters =
          json{{"label", {"sandboxd.io/instance=" + in->store->instance_id()}}}.dump();
      auto r = http_->send({.target = "/volumes?filters=" + url_encoded(filters)});
      if (!r || r->status != 200) continue;
      const json body = json::parse(r->body);
      if (!body.contains("Volumes") || !body["Volumes"].is_array()) continue;
      for (const auto& v : body["Volumes"]) {
        (void)http_->send(
            {.method = "DELETE", .target = "/volumes/" + v.value("Name", std::string())});
      }
    }
  }

  static std::string url_encoded(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }

  DockerOptions docker_options(const std::string& instance_id) const {
    DockerOptions o;
    o.host = host_;
    o.api_timeout = std::chrono::seconds(60);
    o.execd_image = kTestExecdImage;
    o.port_bind_ip = "127.0.0.1";
    o.instance_id = instance_id;
    return o;
  }

  Instance make_instance(const std::string& name) {
    Instance in;
    StoreOptions so;
    so.path = (dir_ / name).string();
    auto store = EventStore::open(so);
    EXPECT_TRUE(store) << store.error().message;
    if (!store) return in;
    in.store = std::move(*store);
    auto rt = DockerRuntime::create(docker_options(in.store->instance_id()));
    EXPECT_TRUE(rt) << rt.error().message;
    if (rt) in.runtime = std::move(*rt);
    return in;
  }

  // A sandbox of `in`, Running with a real container made by `runtime` (the provisioner's
  // work, done directly), then Paused when asked.
  std::string running_sandbox(Instance& in, DockerRuntime& runtime, bool paused = false) {
    const std::string id = new_uuid();
    ids_.insert(id);
    SandboxSpec spec = basic_spec();
    spec.network_mode = "bridge";
    EXPECT_TRUE(execute(*in.store, clock_, id, CreateSandbox{id, spec, {}, std::nullopt}));
    ContainerSpec cs;
    cs.sandbox_id = id;
    cs.image_uri = spec.image_uri;
    cs.entrypoint = {"sleep", "3600"};
    cs.network_mode = "bridge";
    auto info = runtime.create_and_start(cs);
    EXPECT_TRUE(info) << info.error().message;
    if (!info) return id;
    EXPECT_TRUE(execute(*in.store, clock_, id, RecordStarted{info->runtime_id}));
    if (paused) {
      EXPECT_TRUE(execute(*in.store, clock_, id, PauseSandbox{}));
      EXPECT_TRUE(runtime.pause(id));
      EXPECT_TRUE(execute(*in.store, clock_, id, RecordPaused{}));
    }
    return id;
  }

  // The container's labels and state, or nullopt when it is gone.
  std::optional<json> container(const std::string& sandbox_id) {
    auto r = http_->send({.target = "/containers/sandbox-" + sandbox_id + "/json"});
    EXPECT_TRUE(r && (r->status == 200 || r->status == 404));
    if (!r || r->status != 200) return std::nullopt;
    return json::parse(r->body);
  }
  bool remove_container(const std::string& name) {
    auto r = http_->send({.method = "DELETE", .target = "/containers/" + name + "?force=1&v=1"});
    return r && (r->status == 204 || r->status == 404);
  }

  std::vector<Event> system_events(EventStore& store) {
    auto r = store.read_stream(kSystemStream);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<Event>{};
  }

  std::string host_;
  SystemClock clock_;
  TempDir dir_{"sandboxd-reconciler-docker"};
  std::unique_ptr<HttpClient> http_;
  Instance a_;
  Instance b_;
  std::set<std::string> ids_;
};

TEST_F(ReconcilerDockerTest, AnotherInstancesReconcilerLeavesOurSandboxesAlone) {
  // The reported failure: B removed A's paused sandbox within 200 ms of its first pass.
  const std::string running = running_sandbox(a_, *a_.runtime);
  const std::string paused = running_sandbox(a_, *a_.runtime, /*paused=*/true);
  ASSERT_EQ(a_.store->get_sandbox(paused)->state, SandboxState::kPaused);
  auto labels = container(paused)->at("Config").at("Labels");
  EXPECT_EQ(labels.value("sandboxd.io/instance", ""), a_.store->instance_id());

  WorkerOptions options = fast_options();
  options.orphan_grace = 0;
  Reconciler b(*b_.store, *b_.runtime, clock_, make_recorder(*b_.store, clock_), options);
  auto found = b.reconcile_once();
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, 0u);
  EXPECT_EQ(*b.reconcile_sandbox(paused), 0u);  // what B's event watch would do
  for (const auto& id : {running, paused}) {
    auto c = container(id);
    ASSERT_TRUE(c.has_value()) << "B removed A's sandbox " << id;
  }
  EXPECT_EQ(container(paused)->at("State").value("Status", ""), "paused");
  for (const auto& e : system_events(*b_.store)) {
    EXPECT_FALSE(std::holds_alternative<OrphanRemoved>(e.data)) << e.type();
    EXPECT_FALSE(std::holds_alternative<ReconcileFinding>(e.data)) << e.type();
  }

  // A still sees its own sandboxes as they are, and B's own orphan is still B's to remove.
  Reconciler a(*a_.store, *a_.runtime, clock_, make_recorder(*a_.store, clock_), options);
  EXPECT_EQ(*a.reconcile_once(), 0u);
  EXPECT_EQ(a_.store->get_sandbox(paused)->state, SandboxState::kPaused);
  const std::string b_orphan = new_uuid();
  ids_.insert(b_orphan);
  ContainerSpec cs;
  cs.sandbox_id = b_orphan;
  cs.image_uri = kTestBusyboxImage;
  cs.entrypoint = {"sleep", "3600"};
  cs.network_mode = "bridge";
  ASSERT_TRUE(b_.runtime->create_and_start(cs));
  EXPECT_EQ(*a.reconcile_once(), 0u);
  EXPECT_TRUE(container(b_orphan).has_value()) << "A removed B's container";
  EXPECT_EQ(*b.reconcile_once(), 1u);
  EXPECT_FALSE(container(b_orphan).has_value()) << "B removes its own orphan";
}

TEST_F(ReconcilerDockerTest, LegacyContainersAreAdoptedOnlyWhenTheLogKnowsThem) {
  // A runtime without an identity makes containers as versions before identities did.
  auto legacy = DockerRuntime::create(docker_options(""));
  ASSERT_TRUE(legacy) << legacy.error().message;
  const std::string ours = running_sandbox(a_, **legacy);
  const std::string stranger = new_uuid();  // in no log of ours
  ids_.insert(stranger);
  ContainerSpec cs;
  cs.sandbox_id = stranger;
  cs.image_uri = kTestBusyboxImage;
  cs.entrypoint = {"sleep", "3600"};
  cs.network_mode = "bridge";
  ASSERT_TRUE((*legacy)->create_and_start(cs));
  for (const auto& id : {ours, stranger}) {
    ASSERT_FALSE(container(id)->at("Config").at("Labels").contains("sandboxd.io/instance"));
  }

  WorkerOptions options = fast_options();
  options.orphan_grace = 0;
  Reconciler a(*a_.store, *a_.runtime, clock_, make_recorder(*a_.store, clock_), options);
  EXPECT_EQ(*a.reconcile_once(), 0u);
  EXPECT_EQ(*a.reconcile_sandbox(stranger), 0u);
  EXPECT_TRUE(container(stranger).has_value()) << "a legacy container not in the log was removed";
  EXPECT_TRUE(container(ours).has_value());

  // Adopted = tracked like ours: paused behind sandboxd's back, it is unpaused.
  auto paused = http_->send({.method = "POST", .target = "/containers/sandbox-" + ours + "/pause"});
  ASSERT_TRUE(paused && paused->status == 204);
  EXPECT_EQ(*a.reconcile_once(), 1u);
  EXPECT_EQ(container(ours)->at("State").value("Status", ""), "running");
  EXPECT_EQ(a_.store->get_sandbox(ours)->state, SandboxState::kRunning);
  EXPECT_TRUE(container(stranger).has_value());
}

}  // namespace
}  // namespace sbx::testing
