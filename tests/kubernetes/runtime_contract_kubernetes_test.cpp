// The Runtime contract (tests/runtime/runtime_contract.h) against a real kube-apiserver, once
// per workload provider: pod, batchsandbox, agent-sandbox. The test plays the kubelet (pod
// status) and, for the two custom resources, their controllers (tests/kubernetes/
// kube_test_util.h). Skipped without SANDBOXD_TEST_KUBECONFIG, failed under CI=true.
#include <gtest/gtest.h>

#include "src/runtime/kubernetes/kubernetes_runtime.h"
#include "tests/kubernetes/kube_test_util.h"
#include "tests/runtime/runtime_contract.h"

namespace sbx::contract {
namespace {

using sbx::testing::Controllers;
using sbx::testing::KubeCluster;

class KubernetesHarness final : public Harness {
 public:
  static std::unique_ptr<KubernetesHarness> create(const std::string& kubeconfig,
                                                   KubernetesProvider provider) {
    auto h = std::unique_ptr<KubernetesHarness>(new KubernetesHarness);
    h->cluster_ = KubeCluster::create(kubeconfig, "sbx-contract");
    if (!h->cluster_) return nullptr;
    auto credentials = load_kubeconfig(kubeconfig);
    if (!credentials) return nullptr;
    KubernetesRuntimeOptions o;
    o.client.credentials = *credentials;
    o.namespace_ = h->cluster_->ns();
    o.provider = provider;
    o.instance_id = "contract-" + sbx::testing::random_suffix();
    o.workload.execd_image = "sandboxd-test/execd:1";
    auto rt = KubernetesRuntime::create(std::move(o));
    EXPECT_TRUE(rt) << rt.error().message;
    if (!rt) return nullptr;
    h->runtime_ = std::move(*rt);
    if (provider != KubernetesProvider::kPod) {
      h->controllers_ = std::make_unique<Controllers>(*h->cluster_);
    }
    return h;
  }

  ~KubernetesHarness() override {
    controllers_.reset();
    if (runtime_) {
      for (const auto& id : created_) {
        auto r = runtime_->remove(id);
        EXPECT_TRUE(r) << "cleanup of sandbox " << id << ": " << r.error().message;
      }
    }
    runtime_.reset();
  }

  sbx::Runtime& runtime() override { return *runtime_; }
  ContainerSpec long_running(const std::string& id) override {
    created_.insert(id);
    ContainerSpec s;
    s.sandbox_id = id;
    s.image_uri = "sandboxd-test/busybox:1";
    s.entrypoint = {"sleep", "3600"};
    s.limits = {.cpu = "500m", .memory = "64Mi"};
    s.labels = {{"sandboxd-test/suite", "contract"}};
    return s;
  }
  ContainerSpec short_lived(const std::string& id) override {
    auto s = long_running(id);
    s.entrypoint = {"sh", "-c", "sleep 1"};
    return s;
  }
  void make_ready(const std::string& id) override {
    auto pod = cluster_->wait_pod_of(id);
    ASSERT_TRUE(pod) << "no pod for sandbox " << id << " within 15 s";
    ASSERT_TRUE(cluster_->mark_ready((*pod)["metadata"]["name"], "10.244.0." + std::to_string(++ips_)));
    wait_for(id, [](const ContainerStatus& s) { return s.ready; }, "ready");
  }
  void let_it_exit(const std::string& id) override {
    auto pod = cluster_->pod_of(id);
    ASSERT_TRUE(pod) << "no pod for sandbox " << id;
    ASSERT_TRUE(cluster_->mark_ended((*pod)["metadata"]["name"], 0));
    wait_for(id, [](const ContainerStatus& s) { return s.state == ContainerState::kExited; },
             "exited");
  }
  std::string add_unlabelled_container() override {
    const std::string name = "unlabelled-" + sbx::testing::random_suffix();
    nlohmann::json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec",
         {{"containers", nlohmann::json::array({{{"name", "main"},
                                                 {"image", "sandboxd-test/busybox:1"}}})}}}};
    auto created = cluster_->call("POST", cluster_->path("pods"), pod);
    EXPECT_TRUE(created) << "status " << cluster_->last_status();
    return created ? (*created)["metadata"]["uid"].get<std::string>() : std::string();
  }
  bool can_pause() const override { return false; }
  bool can_restart() const override { return false; }

 private:
  KubernetesHarness() = default;
  void wait_for(const std::string& id, const std::function<bool(const ContainerStatus&)>& done,
                const char* what) {
    for (int i = 0; i < 300; ++i) {
      auto s = runtime_->inspect(id);
      if (s && *s && done(**s)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the runtime did not see sandbox " << id << " " << what << " within 6 s";
  }

  std::unique_ptr<KubeCluster> cluster_;
  std::unique_ptr<KubernetesRuntime> runtime_;
  std::unique_ptr<Controllers> controllers_;
  std::set<std::string> created_;
  int ips_ = 0;
};

}  // namespace

std::unique_ptr<Harness> make_contract_harness(const std::string& name) {
  std::unique_ptr<Harness> out;
  [&] {
    SBX_REQUIRE_KUBECONFIG(kubeconfig);
    const KubernetesProvider provider = name == "pod"            ? KubernetesProvider::kPod
                                        : name == "batchsandbox" ? KubernetesProvider::kBatchSandbox
                                                                 : KubernetesProvider::kAgentSandbox;
    out = KubernetesHarness::create(kubeconfig, provider);
  }();
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kubernetes, RuntimeContract,
                         ::testing::Values("pod", "batchsandbox", "agent_sandbox"),
                         [](const auto& info) { return info.param; });

}  // namespace sbx::contract
