// KubernetesRuntime behaviour beyond the Runtime contract, against a real kube-apiserver:
// the workload's own expiry follows renewals, and registry credentials become a pull Secret
// owned by the workload that goes with it.
#include "src/runtime/kubernetes/kubernetes_runtime.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sbx::testing
