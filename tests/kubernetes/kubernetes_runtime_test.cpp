// KubernetesRuntime behaviour beyond the Runtime contract, against a real kube-apiserver:
// the workload's own expiry follows renewals, and registry credentials become a pull Secret
// owned by the workload that goes with it. Cluster-managed warm pools (issue 14, provider
// batchsandbox): the Pool CR follows apply_pool/delete_pool, list_pools reports the (simulated)
// pool controller's status, and a create with pool_ref takes a pool pod, which the runtime
// labels as the sandbox's (also when it restarted while the allocation was pending).
#include "src/runtime/kubernetes/kubernetes_runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "src/common/uuid.h"
#include "tests/kubernetes/kube_test_util.h"

namespace sbx::testing {
namespace {

class KubernetesRuntimeTest : public ::testing::TestWithParam<KubernetesProvider> {
 protected:
  void SetUp() override {
    SBX_REQUIRE_KUBECONFIG(kubeconfig);
    cluster_ = KubeCluster::create(kubeconfig, "sbx-runtime");
    ASSERT_TRUE(cluster_);
    auto credentials = load_kubeconfig(kubeconfig);
    ASSERT_TRUE(credentials);
    KubernetesRuntimeOptions o;
    o.client.credentials = *credentials;
    o.namespace_ = cluster_->ns();
    o.provider = GetParam();
    o.instance_id = "runtime-test";
    o.workload.execd_image = "sandboxd-test/execd:1";
    auto rt = KubernetesRuntime::create(std::move(o));
    ASSERT_TRUE(rt) << rt.error().message;
    runtime_ = std::move(*rt);
  }

  std::string workload_path(const std::string& id) const {
    switch (GetParam()) {
      case KubernetesProvider::kBatchSandbox:
        return "/apis/sandbox.opensandbox.io/v1alpha1/namespaces/" + cluster_->ns() +
               "/batchsandboxes/sandbox-" + id;
      case KubernetesProvider::kAgentSandbox:
        return "/apis/agents.x-k8s.io/v1alpha1/namespaces/" + cluster_->ns() +
               "/sandboxes/sandbox-" + id;
      case KubernetesProvider::kPod:
        break;
    }
    return cluster_->path("pods", "sandbox-" + id);
  }

  std::unique_ptr<KubeCluster> cluster_;
  std::unique_ptr<KubernetesRuntime> runtime_;
};

TEST_P(KubernetesRuntimeTest, TheWorkloadsExpiryFollowsRenewalsAndThePullSecretGoesWithIt) {
  const std::string id = sbx::new_uuid();
  ContainerSpec spec;
  spec.sandbox_id = id;
  spec.image_uri = "registry.internal.test:5000/team/app:1";
  spec.entrypoint = {"sleep", "3600"};
  spec.auth = RegistryAuth{"robot", "pw-8Hq"};
  const Micros first = 1'900'000'000LL * kMicrosPerSecond;  // 2030-03-17T17:46:40Z
  spec.expires_at = first;
  auto created = runtime_->create_and_start(spec);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_FALSE(created->ready);

  auto workload = cluster_->call("GET", workload_path(id));
  ASSERT_TRUE(workload) << "status " << cluster_->last_status();
  const char* field = GetParam() == KubernetesProvider::kBatchSandbox   ? "expireTime"
                      : GetParam() == KubernetesProvider::kAgentSandbox ? "shutdownTime"
                                                                        : nullptr;
  if (field != nullptr) {
    EXPECT_EQ((*workload)["spec"][field], "2030-03-17T17:46:40Z") << workload->dump();
  }
  const Micros later = first + 3600 * kMicrosPerSecond;
  ASSERT_TRUE(runtime_->renew(id, later));
  workload = cluster_->call("GET", workload_path(id));
  ASSERT_TRUE(workload);
  if (field != nullptr) {
    EXPECT_EQ((*workload)["spec"][field], "2030-03-17T18:46:40Z") << workload->dump();
  }

  // The pull secret: dockerconfigjson for the image's registry, owned by the workload.
  auto secret = cluster_->call("GET", cluster_->path("secrets", "sandbox-" + id + "-pull"));
  ASSERT_TRUE(secret) << "status " << cluster_->last_status();
  EXPECT_EQ((*secret)["type"], "kubernetes.io/dockerconfigjson");
  const auto decoded = decode_base64((*secret)["data"][".dockerconfigjson"].get<std::string>());
  ASSERT_TRUE(decoded);
  EXPECT_NE(decoded->find("registry.internal.test:5000"), std::string::npos) << *decoded;
  ASSERT_TRUE((*secret)["metadata"].contains("ownerReferences")) << secret->dump();
  EXPECT_EQ((*secret)["metadata"]["ownerReferences"][0]["uid"], (*workload)["metadata"]["uid"]);
  EXPECT_EQ(workload->dump().find("pw-8Hq"), std::string::npos) << "a password in the workload";

  ASSERT_TRUE(runtime_->remove(id));
  EXPECT_FALSE(cluster_->call("GET", workload_path(id)));
  EXPECT_FALSE(cluster_->call("GET", cluster_->path("secrets", "sandbox-" + id + "-pull")));
  // Renewing a removed sandbox is not an error (the contract: absent is success).
  EXPECT_TRUE(runtime_->renew(id, later));
}

INSTANTIATE_TEST_SUITE_P(Providers, KubernetesRuntimeTest,
                         ::testing::Values(KubernetesProvider::kPod,
                                           KubernetesProvider::kBatchSandbox,
                                           KubernetesProvider::kAgentSandbox),
                         [](const auto& info) {
                           std::string n(to_string(info.param));
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

// --- cluster-managed warm pools ---------------------------------------------------------

// Waits (bounded) until `done()`; false on timeout.
template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return done();
}

class KubernetesPoolRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_KUBECONFIG(kubeconfig);
    kubeconfig_ = kubeconfig;
    cluster_ = KubeCluster::create(kubeconfig, "sbx-kpool");
    ASSERT_TRUE(cluster_);
    runtime_ = make_runtime(KubernetesProvider::kBatchSandbox);
    ASSERT_TRUE(runtime_);
  }

  std::unique_ptr<KubernetesRuntime> make_runtime(KubernetesProvider provider,
                                                  const std::string& instance = "pool-test",
                                                  const std::string& ns = "") {
    auto credentials = load_kubeconfig(kubeconfig_);
    EXPECT_TRUE(credentials);
    if (!credentials) return nullptr;
    KubernetesRuntimeOptions o;
    o.client.credentials = *credentials;
    o.namespace_ = ns.empty() ? cluster_->ns() : ns;
    o.provider = provider;
    o.instance_id = instance;
    o.workload.execd_image = "sandboxd-test/execd:1";
    auto rt = KubernetesRuntime::create(std::move(o));
    EXPECT_TRUE(rt) << rt.error().message;
    return rt ? std::move(*rt) : nullptr;
  }

  std::string api(const std::string& plural, const std::string& name = "") const {
    std::string p =
        "/apis/sandbox.opensandbox.io/v1alpha1/namespaces/" + cluster_->ns() + "/" + plural;
    return name.empty() ? p : p + "/" + name;
  }

  static RuntimePoolSpec pool(const std::string& name, std::uint64_t generation,
                              PoolCapacity capacity) {
    RuntimePoolSpec p;
    p.name = name;
    p.generation = generation;
    p.template_spec.image_uri = "sandboxd-test/busybox:1";
    p.template_spec.entrypoint = {"sleep", "infinity"};
    p.template_spec.env = {{"POOL_ENV", "1"}};
    p.template_spec.limits = ResourceLimits{"250m", "128Mi"};
    p.capacity = capacity;
    return p;
  }

  ContainerSpec pooled(const std::string& pool_name) {
    ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    s.image_uri = "sandboxd-test/busybox:1";
    s.entrypoint = {"python", "-c", "print('hi')"};
    s.env = {{"TASK", "a b"}};
    s.labels = {{"team", "ml"}};
    s.pool_ref = pool_name;
    s.expires_at = 1'900'000'000LL * kMicrosPerSecond;
    return s;
  }

  // Posts a busybox pod `name` with `labels`, standing for one the pool controller made.
  bool post_pod(const std::string& name, const nlohmann::json& labels) {
    const nlohmann::json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"labels", labels}}},
        {"spec",
         {{"containers",
           nlohmann::json::array({{{"name", "sandbox"}, {"image", "sandboxd-test/busybox:1"}}})}}}};
    return cluster_->call("POST", cluster_->path("pods"), pod).has_value();
  }

  // Writes on the sandbox's BatchSandbox what the pool controller writes when it allocates
  // `pod` of pool `pool_name` to it (its finalizer and allocation annotation).
  bool allocate(const std::string& sandbox_id, const std::string& pool_name,
                const std::string& pod) {
    const nlohmann::json status = {{"poolRef", pool_name}, {"pods", {pod}}};
    const nlohmann::json alloc = {
        {"metadata",
         {{"finalizers", nlohmann::json::array({PoolController::kFinalizer})},
          {"annotations", {{PoolController::kAllocStatus, status.dump()}}}}}};
    return cluster_
        ->call("PATCH", api("batchsandboxes", "sandbox-" + sandbox_id), alloc,
               "application/merge-patch+json")
        .has_value();
  }

  // Drops the finalizer allocate() wrote (no controller runs to drop it).
  void drop_finalizers(const std::string& sandbox_id) {
    (void)cluster_->call("PATCH", api("batchsandboxes", "sandbox-" + sandbox_id),
                         nlohmann::json{{"metadata", {{"finalizers", nullptr}}}},
                         "application/merge-patch+json");
  }

  // The pool's pods (not being deleted), by name.
  std::vector<std::string> pool_pods(const std::string& pool_name) {
    std::vector<std::string> out;
    for (const auto& pod : cluster_->pods(std::string(PoolController::kPoolNameLabel) + "%3D" +
                                          pool_name)) {
      if (!pod["metadata"].contains("deletionTimestamp")) out.push_back(pod["metadata"]["name"]);
    }
    return out;
  }

  std::string kubeconfig_;
  std::unique_ptr<KubeCluster> cluster_;
  std::unique_ptr<KubernetesRuntime> runtime_;
};

Kubelet::Options pool_kubelet(std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
  Kubelet::Options o;
  o.delay = delay;
  o.selectors = {"sandboxd.io/id", PoolController::kPoolNameLabel};
  return o;
}

TEST_F(KubernetesPoolRuntimeTest, ThePoolCrFollowsApplyAndDeleteAndReportsTheControllersCounts) {
  ASSERT_TRUE(runtime_->manages_pools());
  PoolController controller(*cluster_);
  Kubelet kubelet(*cluster_, pool_kubelet());

  ASSERT_TRUE(runtime_->apply_pool(pool("py-warm", 1, PoolCapacity{1, 2, 0, 5})));
  auto cr = cluster_->call("GET", api("pools", "py-warm"));
  ASSERT_TRUE(cr) << "status " << cluster_->last_status();
  EXPECT_EQ((*cr)["metadata"]["labels"]["sandboxd.io/instance"], "pool-test");
  EXPECT_EQ((*cr)["metadata"]["labels"]["sandboxd.io/pool-generation"], "1");
  EXPECT_EQ((*cr)["spec"]["capacitySpec"],
            (nlohmann::json{{"bufferMax", 2}, {"bufferMin", 1}, {"poolMax", 5}, {"poolMin", 0}}));
  const auto& tmpl = (*cr)["spec"]["template"];
  EXPECT_FALSE(tmpl["metadata"]["labels"].contains("sandboxd.io/id")) << tmpl.dump();
  EXPECT_EQ(tmpl["metadata"]["labels"]["sandboxd.io/pool"], "py-warm");
  EXPECT_EQ(tmpl["spec"]["containers"][0]["image"], "sandboxd-test/busybox:1");
  EXPECT_EQ(tmpl["spec"]["containers"][0]["resources"]["limits"]["cpu"], "250m");
  EXPECT_EQ(tmpl["spec"]["initContainers"][0]["name"], "execd-installer");
  const std::string first_uid = (*cr)["metadata"]["uid"];

  // The controller's status: 2 free pods (bufferMax), reported by list_pools. Free pool pods
  // are no sandbox's: list() does not see them.
  std::vector<RuntimePoolStatus> pools;
  ASSERT_TRUE(eventually([&] {
    auto listed = runtime_->list_pools();
    if (!listed) return false;
    pools = *listed;
    return pools.size() == 1 && pools[0].reported && pools[0].available == 2;
  })) << (pools.empty() ? "no pool" : std::to_string(pools[0].available));
  EXPECT_EQ(pools[0].name, "py-warm");
  EXPECT_EQ(pools[0].generation, 1u);
  EXPECT_EQ(pools[0].total, 2);
  EXPECT_EQ(pools[0].allocated, 0);
  EXPECT_EQ(pools[0].capacity, (PoolCapacity{1, 2, 0, 5}));
  EXPECT_FALSE(pools[0].revision.empty());
  auto listed = runtime_->list();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());

  // Same generation, new capacity: patched in place.
  ASSERT_TRUE(runtime_->apply_pool(pool("py-warm", 1, PoolCapacity{3, 3, 0, 5})));
  cr = cluster_->call("GET", api("pools", "py-warm"));
  ASSERT_TRUE(cr);
  EXPECT_EQ((*cr)["metadata"]["uid"], first_uid);
  EXPECT_EQ((*cr)["spec"]["capacitySpec"]["bufferMax"], 3);
  ASSERT_TRUE(eventually([&] { return pool_pods("py-warm").size() == 3; }));
  // Applying what is there changes nothing.
  ASSERT_TRUE(runtime_->apply_pool(pool("py-warm", 1, PoolCapacity{3, 3, 0, 5})));
  cr = cluster_->call("GET", api("pools", "py-warm"));
  ASSERT_TRUE(cr);
  EXPECT_EQ((*cr)["spec"]["capacitySpec"]["bufferMax"], 3);

  // Another generation: a new CR; the old one's free pods are gone.
  const auto old_pods = pool_pods("py-warm");
  auto next = pool("py-warm", 2, PoolCapacity{1, 1, 0, 5});
  next.template_spec.env = {{"POOL_ENV", "2"}};
  ASSERT_TRUE(runtime_->apply_pool(next));
  cr = cluster_->call("GET", api("pools", "py-warm"));
  ASSERT_TRUE(cr);
  EXPECT_NE((*cr)["metadata"]["uid"], first_uid);
  EXPECT_EQ((*cr)["metadata"]["labels"]["sandboxd.io/pool-generation"], "2");
  for (const auto& name : old_pods) {
    EXPECT_FALSE(cluster_->call("GET", cluster_->path("pods", name))) << name << " survived";
  }
  ASSERT_TRUE(eventually([&] {
    auto l = runtime_->list_pools();
    return l && l->size() == 1 && (*l)[0].generation == 2 && (*l)[0].available == 1;
  }));

  // Delete: the CR and its free pods; again is success.
  ASSERT_TRUE(runtime_->delete_pool("py-warm"));
  EXPECT_FALSE(cluster_->call("GET", api("pools", "py-warm")));
  EXPECT_EQ(cluster_->last_status(), 404);
  EXPECT_TRUE(pool_pods("py-warm").empty());
  EXPECT_TRUE(runtime_->delete_pool("py-warm"));
  auto none = runtime_->list_pools();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(KubernetesPoolRuntimeTest, APoolOfThatNameMadeBySomeoneElseIsLeftAlone) {
  nlohmann::json foreign = {
      {"apiVersion", "sandbox.opensandbox.io/v1alpha1"},
      {"kind", "Pool"},
      {"metadata", {{"name", "theirs"}}},
      {"spec",
       {{"template", {{"spec", {{"containers", nlohmann::json::array()}}}}},
        {"capacitySpec", {{"bufferMax", 1}, {"bufferMin", 0}, {"poolMax", 1}, {"poolMin", 0}}}}}};
  ASSERT_TRUE(cluster_->call("POST", api("pools"), foreign));
  auto applied = runtime_->apply_pool(pool("theirs", 1, PoolCapacity{0, 1, 0, 1}));
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, ErrorCode::kFailedPrecondition) << applied.error().message;
  // Another sandboxd's (another instance label) likewise.
  auto other = make_runtime(KubernetesProvider::kBatchSandbox, "someone-else");
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->apply_pool(pool("shared-name", 1, PoolCapacity{0, 1, 0, 1})));
  applied = runtime_->apply_pool(pool("shared-name", 1, PoolCapacity{0, 2, 0, 2}));
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, ErrorCode::kFailedPrecondition);
  // Neither is listed nor deleted by this instance.
  ASSERT_TRUE(runtime_->delete_pool("theirs"));
  ASSERT_TRUE(runtime_->delete_pool("shared-name"));
  EXPECT_TRUE(cluster_->call("GET", api("pools", "theirs")));
  auto cr = cluster_->call("GET", api("pools", "shared-name"));
  ASSERT_TRUE(cr);
  EXPECT_EQ((*cr)["spec"]["capacitySpec"]["bufferMax"], 1);
  auto mine = runtime_->list_pools();
  ASSERT_TRUE(mine);
  EXPECT_TRUE(mine->empty());
  // Bad input: nothing is made.
  auto bad = runtime_->apply_pool(pool("Bad_Name", 1, PoolCapacity{0, 1, 0, 1}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "name");
  bad = runtime_->apply_pool(pool("inverted", 1, PoolCapacity{2, 1, 0, 1}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "capacitySpec");
  EXPECT_FALSE(cluster_->call("GET", api("pools", "inverted")));
  // Where the cluster cannot take a Pool (here: no such namespace), the refusal says what to
  // check, as a precondition of the runtime's pools.
  auto nowhere = make_runtime(KubernetesProvider::kBatchSandbox, "pool-test",
                              cluster_->ns() + "-absent");
  ASSERT_TRUE(nowhere);
  auto refused = nowhere->apply_pool(pool("py-warm", 1, PoolCapacity{0, 1, 0, 1}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition) << refused.error().message;
  EXPECT_EQ(refused.error().field, "runtime.pools");
  EXPECT_NE(refused.error().message.find("Pool CRD"), std::string::npos);
}

TEST_F(KubernetesPoolRuntimeTest, APooledCreateTakesAPoolPodWhichBecomesTheSandboxsPod) {
  PoolController controller(*cluster_);
  Kubelet kubelet(*cluster_, pool_kubelet());
  ASSERT_TRUE(runtime_->apply_pool(pool("py-warm", 1, PoolCapacity{1, 1, 0, 3})));
  ASSERT_TRUE(eventually([&] {
    auto l = runtime_->list_pools();
    return l && l->size() == 1 && (*l)[0].available == 1 &&
           !kubelet.ip_of_pod("py-warm-1").empty();
  }));

  std::mutex mu;
  std::vector<RuntimeEvent> events;
  std::stop_source stop_watch;
  std::thread watcher([&] {
    (void)runtime_->watch(
        std::nullopt,
        [&](const RuntimeEvent& e) {
          std::lock_guard lock(mu);
          events.push_back(e);
        },
        stop_watch.get_token());
  });
  struct Join {
    std::stop_source& s;
    std::thread& t;
    ~Join() {
      s.request_stop();
      if (t.joinable()) t.join();
    }
  } join{stop_watch, watcher};

  const ContainerSpec s = pooled("py-warm");
  const std::string& id = s.sandbox_id;
  auto created = runtime_->create_and_start(s);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_FALSE(created->ready);
  EXPECT_EQ(created->runtime_id, "batchsandbox/sandbox-" + id);

  auto bs = cluster_->call("GET", api("batchsandboxes", "sandbox-" + id));
  ASSERT_TRUE(bs) << "status " << cluster_->last_status();
  EXPECT_EQ((*bs)["spec"]["poolRef"], "py-warm");
  EXPECT_EQ((*bs)["spec"]["replicas"], 1);
  EXPECT_EQ((*bs)["spec"]["expireTime"], "2030-03-17T17:46:40Z");
  EXPECT_FALSE((*bs)["spec"].contains("template"));
  EXPECT_EQ((*bs)["metadata"]["labels"]["sandboxd.io/id"], id);
  EXPECT_EQ((*bs)["metadata"]["labels"]["team"], "ml");
  const auto& process = (*bs)["spec"]["taskTemplate"]["spec"]["process"];
  EXPECT_EQ(process["command"][2],
            "exec /opt/opensandbox/bootstrap.sh python -c 'print('\"'\"'hi'\"'\"')'");
  EXPECT_EQ(process["env"].back(), (nlohmann::json{{"name", "OPENSANDBOX_ID"}, {"value", id}}));

  // The controller allocates the free Ready pod; the runtime labels it; the informer reports
  // it Ready with the IP the kubelet gave the pool pod.
  auto pod = cluster_->wait_pod_of(id);
  ASSERT_TRUE(pod) << "the allocated pod was never labelled";
  const std::string pod_name = (*pod)["metadata"]["name"];
  EXPECT_EQ(pod_name, "py-warm-1");
  EXPECT_EQ(controller.allocated_to("sandbox-" + id), pod_name);
  EXPECT_EQ((*pod)["metadata"]["labels"]["sandboxd.io/instance"], "pool-test");
  const std::string ip = kubelet.ip_of_pod(pod_name);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      if (e.sandbox_id == id && e.kind == RuntimeEventKind::kStarted) return true;
    }
    return false;
  })) << "no kStarted for the pooled sandbox";
  {
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      if (e.sandbox_id == id) {
        EXPECT_EQ(e.runtime_id, "batchsandbox/sandbox-" + id);
        EXPECT_EQ(e.instance_id, "pool-test");
      }
    }
  }
  auto status = runtime_->inspect(id);
  ASSERT_TRUE(status && *status);
  EXPECT_TRUE((*status)->ready);
  EXPECT_EQ((*status)->address, ip);
  // create_and_start again (a retried provisioning step): the same sandbox, ready now.
  auto again = runtime_->create_and_start(s);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->ready);
  EXPECT_EQ(again->address, ip);
  // The pool refills behind it: the taken pod is counted allocated.
  ASSERT_TRUE(eventually([&] {
    auto l = runtime_->list_pools();
    return l && l->size() == 1 && (*l)[0].allocated == 1 && (*l)[0].available == 1;
  }));

  // Remove: the BatchSandbox and the pod go; the pod never returns to the pool.
  ASSERT_TRUE(runtime_->remove(id));
  EXPECT_TRUE(eventually([&] {
    return !cluster_->call("GET", api("batchsandboxes", "sandbox-" + id)) &&
           cluster_->last_status() == 404;
  })) << "the BatchSandbox stayed";
  EXPECT_TRUE(eventually([&] {
    auto p = cluster_->call("GET", cluster_->path("pods", pod_name));
    return !p || (*p)["metadata"].contains("deletionTimestamp");
  })) << "the allocated pod stayed";
  EXPECT_TRUE(eventually([&] {
    auto st = runtime_->inspect(id);
    return st && !*st;
  }));
  ASSERT_TRUE(runtime_->delete_pool("py-warm"));
}

TEST_F(KubernetesPoolRuntimeTest, ARuntimeRestartedWhileTheAllocationWasPendingStillBindsThePod) {
  ASSERT_TRUE(runtime_->apply_pool(pool("cold-start", 1, PoolCapacity{1, 1, 0, 2})));
  const ContainerSpec s = pooled("cold-start");
  auto created = runtime_->create_and_start(s);
  ASSERT_TRUE(created) << created.error().message;
  // No controller yet: nothing is allocated, the sandbox has no pod (not an error).
  auto status = runtime_->inspect(s.sandbox_id);
  ASSERT_TRUE(status);
  EXPECT_FALSE(*status);
  runtime_.reset();  // sandboxd stops while the allocation is pending

  // The controller starts; its pods become Ready only after a while, so the BatchSandbox is
  // first marked PoolAllocationPending.
  PoolController controller(*cluster_);
  Kubelet kubelet(*cluster_, pool_kubelet(std::chrono::milliseconds(400)));
  ASSERT_TRUE(eventually([&] { return controller.pending_marked() >= 1; }));
  auto bs = cluster_->call("GET", api("batchsandboxes", "sandbox-" + s.sandbox_id));
  ASSERT_TRUE(bs);
  EXPECT_EQ((*bs)["status"]["conditions"][0]["type"], "PoolAllocationPending") << bs->dump();

  // A new runtime (same instance) finds the pending sandbox by its list and binds the pod.
  runtime_ = make_runtime(KubernetesProvider::kBatchSandbox);
  ASSERT_TRUE(runtime_);
  auto pod = cluster_->wait_pod_of(s.sandbox_id);
  ASSERT_TRUE(pod) << "the restarted runtime never labelled the allocated pod";
  EXPECT_EQ((*pod)["metadata"]["name"], controller.allocated_to("sandbox-" + s.sandbox_id));
  ASSERT_TRUE(eventually([&] {
    auto st = runtime_->inspect(s.sandbox_id);
    return st && *st && (*st)->ready;
  }));
  ASSERT_TRUE(runtime_->remove(s.sandbox_id));
  ASSERT_TRUE(runtime_->delete_pool("cold-start"));
}

TEST_F(KubernetesPoolRuntimeTest, APodOfAnotherSandboxOrNotOfThePoolIsNeverTakenNorDeleted) {
  // No controller: the test writes an allocation naming a pod that is another sandbox's.
  const ContainerSpec s = pooled("any-pool");
  ASSERT_TRUE(runtime_->create_and_start(s));
  const std::string other = sbx::new_uuid();
  ASSERT_TRUE(post_pod("any-pool-9", {{"sandboxd.io/id", other},
                                      {"sandboxd.io/instance", "pool-test"},
                                      {"sandboxd.io/pool", "any-pool"}}));
  ASSERT_TRUE(allocate(s.sandbox_id, "any-pool", "any-pool-9"));
  // The binder (polling while the sandbox waits) reads the allocation and gives
  // the pod up.
  ASSERT_TRUE(eventually([&] { return runtime_->binder_given_up() == 1; }));
  auto p = cluster_->call("GET", cluster_->path("pods", "any-pool-9"));
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)["metadata"]["labels"]["sandboxd.io/id"], other);
  auto status = runtime_->inspect(s.sandbox_id);
  ASSERT_TRUE(status);
  EXPECT_FALSE(*status);

  // An allocation naming a pod that is not the pool's (no sandboxd.io/pool = poolRef): the
  // pod is neither labelled nor, on remove, deleted.
  const ContainerSpec s2 = pooled("any-pool");
  ASSERT_TRUE(runtime_->create_and_start(s2));
  ASSERT_TRUE(post_pod("stranger", {{"app", "not-a-sandbox"}}));
  ASSERT_TRUE(allocate(s2.sandbox_id, "any-pool", "stranger"));
  ASSERT_TRUE(eventually([&] { return runtime_->binder_given_up() == 2; }));
  p = cluster_->call("GET", cluster_->path("pods", "stranger"));
  ASSERT_TRUE(p);
  EXPECT_FALSE((*p)["metadata"]["labels"].contains("sandboxd.io/id")) << p->dump();

  // remove() leaves both pods alone; the test drops the finalizers it wrote.
  ASSERT_TRUE(runtime_->remove(s.sandbox_id));
  ASSERT_TRUE(runtime_->remove(s2.sandbox_id));
  for (const char* name : {"any-pool-9", "stranger"}) {
    p = cluster_->call("GET", cluster_->path("pods", name));
    ASSERT_TRUE(p) << name;
    EXPECT_FALSE((*p)["metadata"].contains("deletionTimestamp")) << name;
  }
  for (const auto& id : {s.sandbox_id, s2.sandbox_id}) drop_finalizers(id);
}

TEST_F(KubernetesPoolRuntimeTest, RemovingAPooledSandboxDeletesItsAllocatedPodEvenUnlabelled) {
  // No controller: the test allocates a free pool pod itself and removes the sandbox at once
  // (whether or not the binder labelled the pod meanwhile, it must not survive).
  const ContainerSpec s = pooled("any-pool");
  ASSERT_TRUE(runtime_->create_and_start(s));
  ASSERT_TRUE(post_pod("any-pool-3", {{"sandboxd.io/pool", "any-pool"}}));
  ASSERT_TRUE(allocate(s.sandbox_id, "any-pool", "any-pool-3"));
  ASSERT_TRUE(runtime_->remove(s.sandbox_id));
  auto left = cluster_->call("GET", cluster_->path("pods", "any-pool-3"));
  EXPECT_TRUE(!left || (*left)["metadata"].contains("deletionTimestamp")) << left->dump();
  drop_finalizers(s.sandbox_id);
}

TEST_F(KubernetesPoolRuntimeTest, APoolWithRegistryCredentialsHasAPullSecretThatGoesWithIt) {
  auto p = pool("private", 1, PoolCapacity{0, 1, 0, 1});
  p.template_spec.image_uri = "registry.internal.test:5000/team/app:1";
  p.template_spec.auth = RegistryAuth{"robot", "pw-Pool7"};
  ASSERT_TRUE(runtime_->apply_pool(p));
  auto secret = cluster_->call("GET", cluster_->path("secrets", "private-pool-pull"));
  ASSERT_TRUE(secret) << "status " << cluster_->last_status();
  EXPECT_EQ((*secret)["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ((*secret)["metadata"]["labels"]["sandboxd.io/pool"], "private");
  auto cr = cluster_->call("GET", api("pools", "private"));
  ASSERT_TRUE(cr);
  EXPECT_EQ((*cr)["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"], "private-pool-pull");
  EXPECT_EQ(cr->dump().find("pw-Pool7"), std::string::npos) << "a password in the Pool";
  // Applying again (new credentials) updates the one secret.
  p.template_spec.auth = RegistryAuth{"robot", "pw-Pool8"};
  ASSERT_TRUE(runtime_->apply_pool(p));
  secret = cluster_->call("GET", cluster_->path("secrets", "private-pool-pull"));
  ASSERT_TRUE(secret);
  const auto decoded = decode_base64((*secret)["data"][".dockerconfigjson"].get<std::string>());
  ASSERT_TRUE(decoded);
  EXPECT_NE(decoded->find("pw-Pool8"), std::string::npos);
  ASSERT_TRUE(runtime_->delete_pool("private"));
  EXPECT_FALSE(cluster_->call("GET", cluster_->path("secrets", "private-pool-pull")));
  EXPECT_EQ(cluster_->last_status(), 404);
}

// Time from create_and_start to the kStarted event, pooled (a Ready pool pod is bound) and
// from a template (the controller makes the pod, the kubelet marks it Ready), in one run
// with the same simulated kubelet. Printed (and recorded as test properties) for the
// report; the test asserts only that every sandbox starts.
TEST_F(KubernetesPoolRuntimeTest, StartLatencyPooledAndFromATemplate) {
  constexpr int kRounds = 8;
  PoolController pools(*cluster_);
  Controllers controllers(*cluster_);
  Kubelet kubelet(*cluster_, pool_kubelet());
  ASSERT_TRUE(runtime_->apply_pool(pool("lat", 1, PoolCapacity{kRounds, kRounds, 0, 2 * kRounds})));
  ASSERT_TRUE(eventually([&] {
    auto l = runtime_->list_pools();
    if (!l || l->size() != 1 || (*l)[0].available != kRounds) return false;
    int ready = 0;
    for (const auto& name : pool_pods("lat")) ready += kubelet.ip_of_pod(name).empty() ? 0 : 1;
    return ready == kRounds;
  }));
  std::mutex mu;
  std::map<std::string, std::chrono::steady_clock::time_point> started;
  std::stop_source stop_watch;
  std::thread watcher([&] {
    (void)runtime_->watch(
        std::nullopt,
        [&](const RuntimeEvent& e) {
          if (e.kind != RuntimeEventKind::kStarted) return;
          std::lock_guard lock(mu);
          started.emplace(e.sandbox_id, std::chrono::steady_clock::now());
        },
        stop_watch.get_token());
  });
  struct Join {
    std::stop_source& s;
    std::thread& t;
    ~Join() {
      s.request_stop();
      if (t.joinable()) t.join();
    }
  } join{stop_watch, watcher};
  auto measure = [&](bool pooled_create) {
    std::vector<double> ms;
    for (int i = 0; i < kRounds; ++i) {
      ContainerSpec s = pooled("lat");
      if (!pooled_create) s.pool_ref.clear();
      const auto t0 = std::chrono::steady_clock::now();
      auto created = runtime_->create_and_start(s);
      EXPECT_TRUE(created) << created.error().message;
      if (!created) return ms;
      const bool ok = eventually([&] {
        std::lock_guard lock(mu);
        return started.contains(s.sandbox_id);
      });
      EXPECT_TRUE(ok) << (pooled_create ? "pooled " : "template ") << s.sandbox_id;
      if (!ok) return ms;
      std::lock_guard lock(mu);
      ms.push_back(std::chrono::duration<double, std::milli>(started[s.sandbox_id] - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms;
  };
  const auto template_ms = measure(false);
  const auto pooled_ms = measure(true);
  ASSERT_EQ(template_ms.size(), static_cast<std::size_t>(kRounds));
  ASSERT_EQ(pooled_ms.size(), static_cast<std::size_t>(kRounds));
  auto p50 = [](const std::vector<double>& v) { return v[v.size() / 2]; };
  std::printf("create -> kStarted over %d rounds: template p50 %.1f ms max %.1f ms; pooled p50 "
              "%.1f ms max %.1f ms (simulated kubelet and controllers, polling 10-50 ms)\n",
              kRounds, p50(template_ms), template_ms.back(), p50(pooled_ms), pooled_ms.back());
  RecordProperty("template_p50_ms", std::to_string(p50(template_ms)));
  RecordProperty("pooled_p50_ms", std::to_string(p50(pooled_ms)));
}

TEST_F(KubernetesPoolRuntimeTest, ProvidersWithoutPoolsRefuseAPoolRef) {
  for (KubernetesProvider provider :
       {KubernetesProvider::kPod, KubernetesProvider::kAgentSandbox}) {
    auto rt = make_runtime(provider);
    ASSERT_TRUE(rt);
    EXPECT_FALSE(rt->manages_pools());
    const ContainerSpec s = pooled("py-warm");
    auto created = rt->create_and_start(s);
    ASSERT_FALSE(created) << to_string(provider);
    EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(created.error().field, "extensions.poolRef");
    EXPECT_FALSE(cluster_->pod_of(s.sandbox_id));
    auto applied = rt->apply_pool(pool("py-warm", 1, PoolCapacity{0, 1, 0, 1}));
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::kUnimplemented);
    EXPECT_EQ(applied.error().field, "runtime.pools");
  }
  EXPECT_FALSE(cluster_->call("GET", api("pools", "py-warm")));
  // Provider batchsandbox refuses a pool name that is not one, before anything is posted.
  ContainerSpec bad = pooled("Not_A_Pool");
  auto created = runtime_->create_and_start(bad);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().field, "extensions.poolRef");
  EXPECT_FALSE(cluster_->call("GET", api("batchsandboxes", "sandbox-" + bad.sandbox_id)));
}

}  // namespace
}  // namespace sbx::testing
