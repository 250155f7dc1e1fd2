// KubernetesRuntime::describe and ::container_logs against the real kube-apiserver. There is
// no kubelet: describe follows the pod as the test plays the kubelet; the pod-log call shows
// what the API server answers for a node-less pod (200, no text) and its refusal path.
#include <gtest/gtest.h>

#include "src/common/uuid.h"
#include "src/runtime/kubernetes/kubernetes_runtime.h"
#include "tests/kubernetes/kube_test_util.h"

namespace sbx::testing {
namespace {

class KubernetesDiagnosticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_KUBECONFIG(kubeconfig);
    cluster_ = KubeCluster::create(kubeconfig, "sbx-diag");
    ASSERT_TRUE(cluster_);
    auto credentials = load_kubeconfig(kubeconfig);
    ASSERT_TRUE(credentials);
    KubernetesRuntimeOptions o;
    o.client.credentials = *credentials;
    o.namespace_ = cluster_->ns();
    o.instance_id = "diag-test";
    o.workload.execd_image = "sandboxd-test/execd:1";
    auto rt = KubernetesRuntime::create(std::move(o));
    ASSERT_TRUE(rt) << rt.error().message;
    runtime_ = std::move(*rt);
  }

  // Waits (bounded) until the informer has the sandbox's pod.
  bool wait_inspect(const std::string& id) {
    for (int i = 0; i < 150; ++i) {
      auto st = runtime_->inspect(id);
      if (st && *st) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::unique_ptr<KubeCluster> cluster_;
  std::unique_ptr<KubernetesRuntime> runtime_;
};

TEST_F(KubernetesDiagnosticsTest, DescribeFollowsThePodAndNeverShowsEnv) {
  const std::string id = sbx::new_uuid();
  ContainerSpec spec;
  spec.sandbox_id = id;
  spec.image_uri = "sandboxd-test/busybox:1";
  spec.entrypoint = {"sleep", "3600"};
  spec.env = {{"K8S_SECRET", "kube-hunter2"}};
  spec.limits = {"500m", "256Mi"};
  ASSERT_TRUE(runtime_->create_and_start(spec));
  ASSERT_TRUE(wait_inspect(id));

  auto d = runtime_->describe(id);
  ASSERT_TRUE(d && *d) << (d ? "absent" : d.error().message);
  EXPECT_NE((*d)->find(std::string("Pod Name:       sandbox-") + id), std::string::npos) << **d;
  EXPECT_NE((*d)->find(std::string("Namespace:      ") + cluster_->ns()), std::string::npos) << **d;
  EXPECT_NE((*d)->find("Phase:          Pending"), std::string::npos) << **d;
  EXPECT_NE((*d)->find(std::string("sandboxd.io/id=") + id), std::string::npos) << **d;
  EXPECT_NE((*d)->find("Limits:   cpu=500m, memory=256Mi"), std::string::npos) << **d;
  EXPECT_EQ((*d)->find("kube-hunter2"), std::string::npos) << **d;

  ASSERT_TRUE(cluster_->mark_ready(std::string("sandbox-") + id, "10.9.8.7"));
  for (int i = 0; i < 100; ++i) {
    d = runtime_->describe(id);
    if (d && *d && (*d)->find("Phase:          Running") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(d && *d);
  EXPECT_NE((*d)->find("Phase:          Running"), std::string::npos) << **d;
  EXPECT_NE((*d)->find("Pod IP:         10.9.8.7"), std::string::npos) << **d;
  EXPECT_NE((*d)->find("State:          Running (since"), std::string::npos) << **d;
  EXPECT_NE((*d)->find("Ready: True"), std::string::npos) << **d;
  ASSERT_TRUE(runtime_->remove(id));
}

// Without a kubelet the API server answers the log of a node-less pod with 200 and no text:
// the query (container, tailLines, limitBytes, timestamps) is accepted and the answer is
// empty, never made up.
TEST_F(KubernetesDiagnosticsTest, ThePodLogOfANodelessPodIsEmpty) {
  const std::string id = sbx::new_uuid();
  ContainerSpec spec;
  spec.sandbox_id = id;
  spec.image_uri = "sandboxd-test/busybox:1";
  spec.entrypoint = {"sleep", "3600"};
  ASSERT_TRUE(runtime_->create_and_start(spec));
  ASSERT_TRUE(wait_inspect(id));
  auto logs = runtime_->container_logs(id, LogLimits{.tail = 10, .since = 1'000'000});
  ASSERT_TRUE(logs) << logs.error().message;
  ASSERT_TRUE(logs->has_value());
  EXPECT_EQ((*logs)->text, "");
  EXPECT_FALSE((*logs)->truncated);
  ASSERT_TRUE(runtime_->remove(id));
}

// The error path of the log call against the real API server: a labelled pod without a
// "sandbox" container is refused with 400, which is kFailedPrecondition (field "runtime",
// the API's 409 LOGS_NOT_AVAILABLE) carrying the API server's message.
TEST_F(KubernetesDiagnosticsTest, ARefusedLogCallIsAFailedPreconditionWithTheServersMessage) {
  const std::string id = sbx::new_uuid();
  const nlohmann::json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", "sandbox-" + id},
        {"labels", {{"sandboxd.io/id", id}, {"sandboxd.io/instance", "diag-test"}}}}},
      {"spec",
       {{"containers", {{{"name", "other"}, {"image", "sandboxd-test/busybox:1"}}}}}}};
  ASSERT_TRUE(cluster_->call("POST", cluster_->path("pods"), pod))
      << "status " << cluster_->last_status();
  ASSERT_TRUE(wait_inspect(id));
  const auto t0 = std::chrono::steady_clock::now();
  auto logs = runtime_->container_logs(id, LogLimits{.tail = 10});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  ASSERT_FALSE(logs) << "the pod has no container named sandbox";
  EXPECT_EQ(logs.error().code, ErrorCode::kFailedPrecondition) << logs.error().message;
  EXPECT_EQ(logs.error().field, "runtime");
  EXPECT_NE(logs.error().message.find("KUBERNETES::API_ERROR"), std::string::npos)
      << logs.error().message;
  EXPECT_NE(logs.error().message.find("sandbox"), std::string::npos) << logs.error().message;
  ASSERT_TRUE(runtime_->remove(id));
}

TEST_F(KubernetesDiagnosticsTest, AnAbsentSandboxIsNulloptForBoth) {
  const std::string id = sbx::new_uuid();
  auto d = runtime_->describe(id);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_FALSE(*d);
  auto logs = runtime_->container_logs(id, {});
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_FALSE(*logs);
}

}  // namespace
}  // namespace sbx::testing
