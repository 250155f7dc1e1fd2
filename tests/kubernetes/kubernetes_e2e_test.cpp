// sandboxd on Kubernetes, end to end: the real binary, over HTTP on 127.0.0.1, against a real
// kube-apiserver (scripts/kube-env.sh), with the test playing the kubelet (pod status) — there
// is no scheduler or kubelet. Each test has a namespace of its own.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/child_process.h"
#include "tests/kubernetes/kube_test_util.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

class KubernetesE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_KUBECONFIG(kubeconfig);
    kubeconfig_ = kubeconfig;
    cluster_ = KubeCluster::create(kubeconfig_, "sbx-e2e");
    ASSERT_TRUE(cluster_);
    dir_ = std::make_unique<TempDir>("sandboxd-k8s-e2e");
  }

  void TearDown() override {
    for (auto* s : {sandboxd_.get(), second_.get()}) {
      if (s == nullptr) continue;
      if (s->running()) {
        EXPECT_TRUE(s->stop());
      }
      if (HasFailure()) std::cerr << s->all_logs() << std::endl;
    }
    sandboxd_.reset();
    second_.reset();
    kubelet_.reset();
  }

  std::string runtime_toml(const std::string& provider = "pod",
                           const std::string& more = "") const {
    return "[runtime]\ntype = \"kubernetes\"\nexecd_image = \"sandboxd-test/execd:1\"\n\n"
           "[kubernetes]\nkubeconfig_path = \"" +
           kubeconfig_ + "\"\nnamespace = \"" + cluster_->ns() +
           "\"\nworkload_provider = \"" + provider +
           "\"\nlease_duration_seconds = 4\npending_timeout_seconds = 20\n" + more;
  }

  SandboxdOptions options(const std::string& provider = "pod", const std::string& more = "",
                          const std::string& extra_toml = "") const {
    SandboxdOptions o;
    o.runtime_toml = runtime_toml(provider, more);
    o.extra_toml = extra_toml;
    o.reconcile_interval_seconds = 1;
    return o;
  }

  void start_sandboxd(SandboxdOptions o, const std::string& subdir = "a") {
    std::filesystem::create_directories(dir_->path() / subdir);
    sandboxd_ = std::make_unique<Sandboxd>(dir_->path() / subdir, std::move(o));
    ASSERT_TRUE(sandboxd_->start());
    // Until it holds the lease it serves reads only: wait for the first lease.
    ASSERT_TRUE(wait_serving(*sandboxd_, 15s)) << sandboxd_->log_tail(40);
  }

  // Mutations are served once the instance holds the lease: /health says so.
  static bool wait_serving(Sandboxd& s, std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      Reply h = s.api().get("/health");
      Json j = h.json();
      if (h.status == 200 && j.is_object() && j.contains("lease") &&
          j["lease"].value("held", false)) {
        return true;
      }
      sleep_ms(100);
    }
    return false;
  }

  const Http& api() const { return sandboxd_->api(); }

  std::string create(const Json& request, int expect_status = 202) {
    Reply r = api().post("/v1/sandboxes", request);
    EXPECT_EQ(r.status, expect_status) << r.describe();
    return r.str("id");
  }

  std::string kubeconfig_;
  std::unique_ptr<KubeCluster> cluster_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Kubelet> kubelet_;
  std::unique_ptr<Sandboxd> sandboxd_;
  std::unique_ptr<Sandboxd> second_;
};

TEST_F(KubernetesE2e, PodLifecycleOverHttp) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{.delay = 300ms});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));

  Json request = create_request(600, {{"team", "blue"}});
  request["image"]["uri"] = "registry.internal.test:5000/team/app:1";  // credentials need a host
  request["env"] = {{"GREETING", "hello"}};
  request["image"]["auth"] = {{"username", "robot"}, {"password", "pw-Zq81"}};
  const auto t0 = SteadyClock::now();
  const std::string id = create(request);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running")
      << api().get(sandbox_path(id)).describe();
  std::cerr << "[timing] create -> Running " << seconds_since(t0) << " s\n";

  // The pod sandboxd made.
  auto pod = cluster_->pod_of(id);
  ASSERT_TRUE(pod);
  const Json& spec = (*pod)["spec"];
  EXPECT_EQ((*pod)["metadata"]["name"], "sandbox-" + id);
  EXPECT_EQ((*pod)["metadata"]["labels"]["team"], "blue");
  EXPECT_EQ(spec["restartPolicy"], "Never");
  ASSERT_EQ(spec["initContainers"].size(), 1u);
  EXPECT_EQ(spec["initContainers"][0]["image"], "sandboxd-test/execd:1");
  const Json& main = spec["containers"][0];
  EXPECT_EQ(main["image"], "registry.internal.test:5000/team/app:1");
  EXPECT_EQ(main["readinessProbe"]["httpGet"]["path"], "/ping");
  EXPECT_EQ(main["readinessProbe"]["httpGet"]["port"], 44772);
  EXPECT_EQ(main["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(main["resources"]["limits"]["cpu"], "500m");
  bool has_env = false;
  for (const auto& e : main["env"]) has_env |= e["name"] == "GREETING" && e["value"] == "hello";
  EXPECT_TRUE(has_env) << main["env"].dump();
  ASSERT_TRUE(spec.contains("imagePullSecrets"));
  const std::string secret = spec["imagePullSecrets"][0]["name"];
  EXPECT_TRUE(cluster_->call("GET", cluster_->path("secrets", secret)));
  EXPECT_EQ(pod->dump().find("pw-Zq81"), std::string::npos) << "a password in the pod spec";
  // Credentials for an image without a registry host cannot be filed: 400 at once.
  Json hostless = create_request();
  hostless["image"]["auth"] = {{"username", "robot"}, {"password", "pw"}};
  Reply refused = api().post("/v1/sandboxes", hostless);
  EXPECT_EQ(refused.status, 400) << refused.describe();
  EXPECT_NE(refused.body.find("image.auth"), std::string::npos) << refused.describe();

  // The informer and the Lease show in /metrics; the runtime calls are counted too.
  Reply metrics = api().get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("\nsandboxd_kubernetes_lease_held 1\n"), std::string::npos)
      << metrics.body.substr(0, 3000);
  EXPECT_NE(metrics.body.find("\nsandboxd_kubernetes_informer_healthy 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nsandboxd_kubernetes_pods_cached 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find(
                "sandboxd_runtime_call_duration_seconds_count{operation=\"create_and_start\"} 1"),
            std::string::npos);

  // Direct endpoints are the pod IP the kubelet gave.
  const std::string ip = kubelet_->ip_of(id);
  ASSERT_FALSE(ip.empty());
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  EXPECT_EQ(ep.str("endpoint"), ip + ":44772");
  EXPECT_EQ(api().get(sandbox_path(id) + "/endpoints/8080").str("endpoint"), ip + ":8080");

  // Renew works; pause cannot be done on Kubernetes and says so.
  Reply renew = api().post(sandbox_path(id) + "/renew-expiration",
                           {{"expiresAt", format_rfc3339(wall_now() + 3600 * kMicrosPerSecond)}});
  EXPECT_EQ(renew.status, 200) << renew.describe();
  Reply pause = api().post(sandbox_path(id) + "/pause");
  EXPECT_EQ(pause.status, 501) << pause.describe();
  EXPECT_EQ(pause.str("code"), "KUBERNETES::PAUSE_NOT_SUPPORTED") << pause.describe();

  // The history names the pod's address; no credential anywhere in it.
  Reply history = api().get(sandbox_path(id) + "/events");
  ASSERT_EQ(history.status, 200) << history.describe();
  EXPECT_NE(history.body.find(ip), std::string::npos);
  EXPECT_EQ(history.body.find("pw-Zq81"), std::string::npos);

  // Delete: the pod and its pull secret go.
  Reply del = api().del(sandbox_path(id));
  EXPECT_EQ(del.status, 204) << del.describe();
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !cluster_->pod_of(id) && !cluster_->call("GET", cluster_->path("secrets", secret));
    if (!gone) sleep_ms(50);
  }
  EXPECT_TRUE(gone) << "pod or secret still there 10 s after the delete";
  EXPECT_EQ(state_of(api(), id), "NotFound");
}

// The diagnostics routes on Kubernetes (issue 13): inspect shows the pod, logs answers what
// the API server has for a node-less pod (no text), events and summary come from the log;
// after the delete events still answers and inspect is 404 with the runtime's code.
// Warm pools on provider pod (issue 14): members are pods sandboxd manages as on Docker; a
// claim answers Running at once with the pod's address; deleting the pool deletes the
// member pods and keeps the claimed one.
TEST_F(KubernetesE2e, WarmPoolMembersArePodsAndAClaimIsRunningAtOnce) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{.delay = 100ms});
  ASSERT_NO_FATAL_FAILURE(
      start_sandboxd(options("pod", "", "[pools]\nkeeper_interval_ms = 200\n")));
  Json pool = {{"name", "kp"},
               {"template", create_request(std::nullopt)},
               {"capacitySpec", {{"bufferMin", 2}, {"bufferMax", 2}, {"poolMin", 0}, {"poolMax", 3}}}};
  Reply created = api().post("/v1/pools", pool);
  ASSERT_EQ(created.status, 201) << created.describe();
  auto available = [&] {
    Reply r = api().get("/v1/pools/kp");
    return r.status == 200 ? r.json()["status"].value("available", -1) : -1;
  };
  ASSERT_TRUE(poll_until([&] { return available() == 2; }, 30s))
      << api().get("/v1/pools/kp").describe();
  EXPECT_EQ(cluster_->pods().size(), 2u);
  Reply list = api().get("/v1/sandboxes");
  EXPECT_TRUE(list.json()["items"].empty()) << list.describe();

  Json claim = {{"extensions", {{"poolRef", "kp"}}}, {"timeout", 600}};
  Reply c = api().post("/v1/sandboxes", claim);
  ASSERT_EQ(c.status, 202) << c.describe();
  EXPECT_EQ(c.header("X-Sandboxd-Pool").value_or(""), "warm");
  EXPECT_EQ(state_of(Reply{200, "", c.body, {}}), "Running") << c.describe();
  const std::string id = c.str("id");
  ASSERT_TRUE(cluster_->pod_of(id));
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  EXPECT_NE(ep.str("endpoint").find(kubelet_->ip_of(id)), std::string::npos) << ep.describe();

  ASSERT_TRUE(poll_until([&] { return available() == 2; }, 30s));  // refilled
  EXPECT_EQ(cluster_->pods().size(), 3u);
  ASSERT_EQ(api().request("DELETE", "/v1/pools/kp").status, 204);
  EXPECT_TRUE(poll_until([&] { return cluster_->pods().size() == 1u; }, 30s))
      << cluster_->pods().size() << " pods";
  EXPECT_TRUE(cluster_->pod_of(id));
  EXPECT_EQ(state_of(api().get(sandbox_path(id))), "Running");
}

// Warm pools on provider batchsandbox (issue 14), the reference server's model: a pool is
// the upstream Pool resource, kept by the OpenSandbox pool controller (played here by
// PoolController), and a create with poolRef is a BatchSandbox with spec.poolRef whose
// allocated pool pod sandboxd binds to the sandbox. Through the real binary over HTTP.
TEST_F(KubernetesE2e, BatchSandboxPoolsAreThePoolResourceAndAClaimGetsAPoolPod) {
  kubelet_ = std::make_unique<Kubelet>(
      *cluster_, Kubelet::Options{.delay = 50ms,
                                  .selectors = {"sandboxd.io/id", PoolController::kPoolNameLabel}});
  PoolController controller(*cluster_);
  ASSERT_NO_FATAL_FAILURE(
      start_sandboxd(options("batchsandbox", "", "[pools]\nkeeper_interval_ms = 200\n")));
  const std::string cr = "/apis/sandbox.opensandbox.io/v1alpha1/namespaces/" + cluster_->ns() +
                         "/pools/bp";
  Json pool = {{"name", "bp"},
               {"template", create_request(std::nullopt)},
               {"capacitySpec", {{"bufferMin", 2}, {"bufferMax", 2}, {"poolMin", 0}, {"poolMax", 3}}}};
  Reply created = api().post("/v1/pools", pool);
  ASSERT_EQ(created.status, 201) << created.describe();

  // The keeper made the Pool resource from the log; the controller fills it.
  std::optional<Json> resource;
  ASSERT_TRUE(poll_until([&] { return (resource = cluster_->call("GET", cr)).has_value(); }, 30s))
      << sandboxd_->log_tail(40);
  EXPECT_EQ((*resource)["spec"]["capacitySpec"].value("bufferMax", -1), 2) << resource->dump();
  EXPECT_FALSE((*resource)["metadata"]["labels"].value("sandboxd.io/instance", "").empty());
  auto counts = [&] {
    Reply r = api().get("/v1/pools/bp");
    return r.status == 200 ? r.json()["status"] : Json();
  };
  ASSERT_TRUE(poll_until([&] { return counts().value("available", -1) == 2; }, 30s))
      << api().get("/v1/pools/bp").describe();
  EXPECT_EQ(cluster_->pods(PoolController::kPoolNameLabel).size(), 2u);
  EXPECT_TRUE(api().get("/v1/sandboxes").json()["items"].empty());

  // A create with poolRef: an ordinary sandbox whose pod is a pool pod.
  Json claim = {{"extensions", {{"poolRef", "bp"}}}, {"timeout", 600}, {"metadata", {{"who", "e2e"}}}};
  Reply c = api().post("/v1/sandboxes", claim);
  ASSERT_EQ(c.status, 202) << c.describe();
  EXPECT_EQ(c.header("X-Sandboxd-Pool").value_or(""), "cluster");
  const std::string id = c.str("id");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running")
      << api().get(sandbox_path(id)).describe() << sandboxd_->log_tail(40);
  auto bs = cluster_->call("GET", "/apis/sandbox.opensandbox.io/v1alpha1/namespaces/" +
                                      cluster_->ns() + "/batchsandboxes/sandbox-" + id);
  ASSERT_TRUE(bs) << cluster_->last_status();
  EXPECT_EQ((*bs)["spec"].value("poolRef", ""), "bp") << bs->dump();
  EXPECT_FALSE((*bs)["spec"].value("expireTime", "").empty()) << bs->dump();
  EXPECT_FALSE((*bs)["spec"].contains("template")) << bs->dump();
  const std::string pod = controller.allocated_to("sandbox-" + id);
  ASSERT_FALSE(pod.empty());
  auto bound = cluster_->pod_of(id);
  ASSERT_TRUE(bound) << "the allocated pod was not labelled with the sandbox id";
  EXPECT_EQ((*bound)["metadata"].value("name", ""), pod);
  Reply ep = api().get(sandbox_path(id) + "/endpoints/44772");
  ASSERT_EQ(ep.status, 200) << ep.describe();
  EXPECT_NE(ep.str("endpoint").find(kubelet_->ip_of_pod(pod)), std::string::npos) << ep.describe();
  EXPECT_EQ(api().get(sandbox_path(id)).json()["metadata"].value("who", ""), "e2e");

  // PUT changes the resource's capacity in place.
  Reply put = api().request("PUT", "/v1/pools/bp",
                            Json{{"capacitySpec", {{"bufferMin", 1}, {"bufferMax", 3},
                                                   {"poolMin", 0}, {"poolMax", 4}}}}.dump());
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_TRUE(poll_until(
      [&] {
        auto r = cluster_->call("GET", cr);
        return r && (*r)["spec"]["capacitySpec"].value("bufferMax", -1) == 3;
      },
      30s));

  // Deleting the sandbox deletes its BatchSandbox and the pool pod it had (never reused).
  ASSERT_EQ(api().del(sandbox_path(id)).status, 204);
  ASSERT_EQ(wait_for_state(api(), id, {"NotFound"}, 30s), "NotFound");
  EXPECT_TRUE(poll_until([&] { return !cluster_->pod_of(id).has_value(); }, 30s));
  // Deleting the pool deletes the resource.
  ASSERT_EQ(api().request("DELETE", "/v1/pools/bp").status, 204);
  EXPECT_TRUE(poll_until(
      [&] { return !cluster_->call("GET", cr).has_value() && cluster_->last_status() == 404; },
      30s))
      << cluster_->last_status();
  EXPECT_EQ(api().get("/v1/pools/bp").status, 404);
}

TEST_F(KubernetesE2e, DiagnosticsShowThePodAndTheHistory) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{.delay = 100ms});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  Json request = create_request(600);
  request["env"] = {{"K8S_DIAG_SECRET", "k8s-e2e-hunter2"}};
  const std::string id = create(request);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running")
      << api().get(sandbox_path(id)).describe();

  Reply inspect = api().get(sandbox_path(id) + "/diagnostics/inspect");
  ASSERT_EQ(inspect.status, 200) << inspect.describe();
  EXPECT_NE(inspect.body.find("Pod Name:       sandbox-" + id), std::string::npos) << inspect.body;
  EXPECT_NE(inspect.body.find("Phase:          Running"), std::string::npos) << inspect.body;
  EXPECT_EQ(inspect.body.find("k8s-e2e-hunter2"), std::string::npos) << inspect.body;

  Reply logs = api().get(sandbox_path(id) + "/diagnostics/logs?tail=5");
  ASSERT_EQ(logs.status, 200) << logs.describe();
  EXPECT_EQ(logs.header("Deprecation").value_or(""), "true");
  EXPECT_EQ(logs.body, "(no logs)\n");

  Reply summary = api().get(sandbox_path(id) + "/diagnostics/summary");
  ASSERT_EQ(summary.status, 200) << summary.describe();
  EXPECT_NE(summary.body.find("State:          Running"), std::string::npos) << summary.body;
  EXPECT_NE(summary.body.find("Pod Name:       sandbox-" + id), std::string::npos);
  EXPECT_EQ(summary.body.find("k8s-e2e-hunter2"), std::string::npos);

  ASSERT_EQ(api().del(sandbox_path(id)).status, 204);
  ASSERT_EQ(wait_for_state(api(), id, {"NotFound"}, 30s), "NotFound");
  Reply events = api().get(sandbox_path(id) + "/diagnostics/events");
  ASSERT_EQ(events.status, 200) << events.describe();
  for (const char* type : {"SandboxRequested", "SandboxStarted", "DeletionRequested"}) {
    EXPECT_NE(events.body.find(type), std::string::npos) << type << "\n" << events.body;
  }
  Reply gone = api().get(sandbox_path(id) + "/diagnostics/inspect");
  EXPECT_EQ(gone.status, 404) << gone.describe();
  EXPECT_EQ(gone.str("code"), "KUBERNETES::SANDBOX_NOT_FOUND");
}

TEST_F(KubernetesE2e, APodThatCannotStartFailsItsSandboxWithThePodsReason) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  // A well-formed reference that the "kubelet" reports as never pullable.
  Json request = create_request();
  request["image"]["uri"] = "sandboxd-test/missing:1";
  Reply r = api().post("/v1/sandboxes", request, {{"Prefer", "respond-async"}});
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string id = r.str("id");
  kubelet_->hold(id);
  auto pod = cluster_->wait_pod_of(id);
  ASSERT_TRUE(pod);
  ASSERT_TRUE(cluster_->mark_waiting((*pod)["metadata"]["name"], "ErrImageNeverPull",
                                     "Container image is not present with pull policy of Never"));
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 15s), "Failed");
  Json status = api().get(sandbox_path(id)).json()["status"];
  EXPECT_EQ(status["reason"], "KUBERNETES::POD_FAILED") << status.dump();
  EXPECT_NE(status["message"].get<std::string>().find("ErrImageNeverPull"), std::string::npos)
      << status.dump();

  // A pod deleted behind sandboxd's back fails its Running sandbox.
  const std::string id2 = create(create_request());
  ASSERT_EQ(wait_for_state(api(), id2, {"Running", "Failed"}, 30s), "Running");
  ASSERT_TRUE(cluster_->call("DELETE", cluster_->path("pods", "sandbox-" + id2)));
  ASSERT_EQ(wait_for_state(api(), id2, {"Failed"}, 15s), "Failed");
  EXPECT_EQ(api().get(sandbox_path(id2)).json()["status"]["reason"],
            "SANDBOX::CONTAINER_VANISHED");
}

TEST_F(KubernetesE2e, GatewayEndpointsResolveAtOnceInEachRouteMode) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{});
  for (const std::string mode : {"wildcard", "uri", "header"}) {
    SCOPED_TRACE(mode);
    if (sandboxd_) {
      ASSERT_TRUE(sandboxd_->stop());
    }
    ASSERT_NO_FATAL_FAILURE(start_sandboxd(
        options("pod", "", "[ingress]\nmode = \"gateway\"\n[ingress.gateway]\naddress = "
                           "\"sandboxes.gw.test\"\n[ingress.gateway.route]\nmode = \"" +
                               mode + "\"\n"),
        mode));
    Reply r = api().post("/v1/sandboxes", create_request(), {{"Prefer", "respond-async"}});
    ASSERT_EQ(r.status, 202) << r.describe();
    const std::string id = r.str("id");
    Reply ep = api().get(sandbox_path(id) + "/endpoints/8080");
    ASSERT_EQ(ep.status, 200) << ep.describe();
    if (mode == "wildcard") {
      EXPECT_EQ(ep.str("endpoint"), id + "-8080.sandboxes.gw.test");
    } else if (mode == "uri") {
      EXPECT_EQ(ep.str("endpoint"), "sandboxes.gw.test/" + id + "/8080");
    } else {
      EXPECT_EQ(ep.str("endpoint"), "sandboxes.gw.test");
      EXPECT_EQ(ep.json()["headers"]["OpenSandbox-Ingress-To"], id + "-8080") << ep.describe();
    }
  }
}

TEST_F(KubernetesE2e, KillDuringConcurrentCreatesLeavesOnePodPerSandboxAndNoOrphans) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{.delay = 200ms});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  std::mutex mu;
  std::vector<std::string> accepted;
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int i = 0; i < 20; ++i) {
    clients.emplace_back([&] {
      Reply r = api().request("POST", "/v1/sandboxes", create_request().dump(),
                              {{"Prefer", "respond-async"}});
      ++answered;
      if (r.status == 202) {
        std::lock_guard lock(mu);
        accepted.push_back(r.str("id"));
      }
    });
  }
  // Kill while the creates are in flight: after the first answers, most are still queued.
  for (int i = 0; i < 2000 && answered.load() < 1; ++i) sleep_ms(1);
  sandboxd_->kill();
  for (auto& t : clients) t.join();
  std::cerr << "[kill] " << accepted.size() << " creates acknowledged before the kill\n";
  ASSERT_TRUE(sandboxd_->start());
  ASSERT_TRUE(wait_serving(*sandboxd_, 15s));

  // Every acknowledged sandbox ends Running (the kubelet marks every pod) or Failed with a
  // reason; none is lost.
  for (const auto& id : accepted) {
    const std::string state = wait_for_state(api(), id, {"Running", "Failed"}, 40s);
    EXPECT_TRUE(state == "Running" || state == "Failed") << id << ": " << state;
    if (state == "Failed") {
      EXPECT_FALSE(api().get(sandbox_path(id)).json()["status"]["reason"].get<std::string>().empty());
    }
  }
  // Exactly one pod per live sandbox, and no pod without one.
  Reply list = api().get("/v1/sandboxes?pageSize=200");
  ASSERT_EQ(list.status, 200);
  std::set<std::string> live;
  const Json listed = list.json();  // kept: iterating a temporary's member would dangle
  for (const auto& s : listed["items"]) live.insert(s["id"].get<std::string>());
  for (const auto& id : accepted) {
    EXPECT_TRUE(live.contains(id)) << "lost " << id << "; listed: " << list.body.substr(0, 600);
  }
  std::map<std::string, int> pods_per_sandbox;
  for (const auto& p : cluster_->pods()) {
    if (p["metadata"].contains("deletionTimestamp")) continue;
    ++pods_per_sandbox[p["metadata"]["labels"]["sandboxd.io/id"].get<std::string>()];
  }
  for (const auto& [id, n] : pods_per_sandbox) {
    EXPECT_EQ(n, 1) << id;
    EXPECT_TRUE(live.contains(id)) << "orphan pod of " << id;
  }
  for (const auto& id : live) {
    const std::string state = state_of(api(), id);
    if (state == "Running") {
      EXPECT_EQ(pods_per_sandbox[id], 1) << id;
    }
  }
}

TEST_F(KubernetesE2e, ExpiryDeletesThePodAlsoAcrossARestart) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  const std::string id = create(create_request());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running");
  const Micros deadline = wall_now() + 3 * kMicrosPerSecond;
  Reply renew =
      api().post(sandbox_path(id) + "/renew-expiration", {{"expiresAt", format_rfc3339(deadline)}});
  ASSERT_EQ(renew.status, 200) << renew.describe();
  ASSERT_TRUE(sandboxd_->stop());
  std::this_thread::sleep_for(std::chrono::microseconds(deadline - wall_now()) + 500ms);
  ASSERT_TRUE(cluster_->pod_of(id)) << "the pod must outlive a stopped sandboxd";
  ASSERT_TRUE(sandboxd_->start());
  ASSERT_EQ(wait_for_state(api(), id, {"NotFound"}, 15s), "NotFound");
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !cluster_->pod_of(id);
    if (!gone) sleep_ms(50);
  }
  EXPECT_TRUE(gone) << "the expired sandbox's pod is still there";
}

TEST_F(KubernetesE2e, ASecondInstanceOnTheNamespaceIsFencedUntilTheLeaseIsFree) {
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  std::filesystem::create_directories(dir_->path() / "b");
  second_ = std::make_unique<Sandboxd>(dir_->path() / "b", options());
  ASSERT_TRUE(second_->start());
  // The second serves reads, and refuses mutations while the first holds the lease.
  sleep_ms(1500);
  EXPECT_EQ(second_->api().get("/v1/sandboxes").status, 200);
  Reply fenced = second_->api().post("/v1/sandboxes", create_request());
  EXPECT_EQ(fenced.status, 503) << fenced.describe();
  EXPECT_EQ(fenced.str("code"), "KUBERNETES::LEASE_NOT_HELD") << fenced.describe();
  const std::string id = create(create_request());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running");

  // The holder dies without releasing: the second takes over within the lease duration.
  const auto t0 = SteadyClock::now();
  sandboxd_->kill();
  ASSERT_TRUE(wait_serving(*second_, 15s)) << second_->log_tail(40);
  const double took = seconds_since(t0);
  std::cerr << "[lease] taken over " << took << " s after the holder was killed\n";
  EXPECT_LT(took, 4.0 + 3.0) << "lease duration 4 s (+ renew/retry slack)";
  Reply created = second_->api().post("/v1/sandboxes", create_request());
  EXPECT_EQ(created.status, 202) << created.describe();
  // The first's sandbox is another instance's: the second leaves its pod alone.
  sleep_ms(2500);
  EXPECT_TRUE(cluster_->pod_of(id)) << "the second instance removed another instance's pod";
}

// The API server goes away for 30 s (scripts/kube-env.sh apiserver-stop/apiserver-start on
// the test cluster: same port, same data): reads keep working, mutations answer 503 with a
// Kubernetes code, and everything converges once it is back.
TEST_F(KubernetesE2e, AnApiServerOutageDegradesThenConverges) {
  const std::string kube_dir = std::filesystem::path(kubeconfig_).parent_path().string();
  const std::string script = source_dir() + "/scripts/kube-env.sh";
  kubelet_ = std::make_unique<Kubelet>(*cluster_, Kubelet::Options{});
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(options()));
  const std::string id = create(create_request());
  ASSERT_EQ(wait_for_state(api(), id, {"Running", "Failed"}, 30s), "Running");

  ChildProcess down({"/bin/bash", script, "apiserver-stop", kube_dir});
  auto st = down.wait(std::chrono::milliseconds(60'000));
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << down.output();
  bool restarted = false;
  auto bring_back = [&] {
    if (restarted) return;
    restarted = true;
    ChildProcess up({"/bin/bash", script, "apiserver-start", kube_dir});
    auto s2 = up.wait(std::chrono::milliseconds(120'000));
    ASSERT_TRUE(s2 && WIFEXITED(*s2) && WEXITSTATUS(*s2) == 0) << up.output();
  };
  const auto down_at = SteadyClock::now();
  // Mutations are refused with a Kubernetes code once the health check has noticed.
  Reply refused;
  for (int i = 0; i < 200; ++i) {
    refused = api().post("/v1/sandboxes", create_request());
    if (refused.status == 503) break;
    sleep_ms(100);
  }
  EXPECT_EQ(refused.status, 503) << refused.describe();
  EXPECT_EQ(refused.str("code").rfind("KUBERNETES::", 0), 0u) << refused.describe();
  // Reads are served from memory all along.
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_EQ(api().get("/v1/sandboxes").status, 200);
  EXPECT_EQ(api().get("/health").status, 200);
  while (seconds_since(down_at) < 30) {
    EXPECT_EQ(state_of(api(), id), "Running");
    sleep_ms(1000);
  }
  ASSERT_NO_FATAL_FAILURE(bring_back());

  // Back: mutations are served again and a new sandbox runs; the old one is untouched.
  Reply created;
  for (int i = 0; i < 300; ++i) {
    created = api().post("/v1/sandboxes", create_request(), {{"Prefer", "respond-async"}});
    if (created.status == 202) break;
    sleep_ms(100);
  }
  ASSERT_EQ(created.status, 202) << created.describe();
  EXPECT_EQ(wait_for_state(api(), created.str("id"), {"Running", "Failed"}, 30s), "Running");
  EXPECT_EQ(state_of(api(), id), "Running");
  EXPECT_TRUE(cluster_->pod_of(id));
}

}  // namespace
}  // namespace sbx::testing
