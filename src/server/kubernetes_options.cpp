#include "src/server/kubernetes_options.h"

#include <algorithm>

namespace sbx {

namespace {

KubernetesProvider provider_from(WorkloadProvider p) {
  switch (p) {
    case WorkloadProvider::kPod:
      return KubernetesProvider::kPod;
    case WorkloadProvider::kBatchSandbox:
      return KubernetesProvider::kBatchSandbox;
    case WorkloadProvider::kAgentSandbox:
      return KubernetesProvider::kAgentSandbox;
  }
  return KubernetesProvider::kPod;
}

}  // namespace

Result<KubeClientOptions> kube_client_options_from(const Config& c, const EnvMap& env) {
  Result<KubeCredentials> credentials =
      c.kubernetes.kubeconfig_path ? load_kubeconfig(*c.kubernetes.kubeconfig_path)
                                   : load_in_cluster(env);
  if (!credentials) {
    Error e = credentials.error();
    if (e.field.empty()) e.field = "kubernetes.kubeconfig_path";
    return std::unexpected(std::move(e));
  }
  KubeClientOptions o;
  o.credentials = std::move(*credentials);
  o.qps = c.kubernetes.qps;
  o.burst = static_cast<int>(c.kubernetes.burst);
  o.request_timeout = std::chrono::seconds(c.kubernetes.request_timeout_seconds);
  return o;
}

Result<KubernetesRuntimeOptions> kubernetes_options_from(const Config& c,
                                                         const std::string& instance_id,
                                                         const EnvMap& env) {
  auto client = kube_client_options_from(c, env);
  if (!client) return std::unexpected(client.error());
  KubernetesRuntimeOptions o;
  o.client = std::move(*client);
  o.namespace_ = c.kubernetes.namespace_;
  o.provider = provider_from(c.kubernetes.workload_provider);
  o.instance_id = instance_id;
  o.workload.execd_image = c.runtime.execd_image;
  o.workload.image_pull_policy = std::string(to_string(c.kubernetes.image_pull_policy));
  o.workload.runtime_class = c.secure_runtime.k8s_runtime_class;
  o.workload.drop_capabilities = c.docker.drop_capabilities;
  return o;
}

LeaseOptions lease_options_from(const Config& c, const std::string& identity) {
  LeaseOptions o;
  o.namespace_ = c.kubernetes.namespace_;
  o.name = c.kubernetes.lease_name;
  o.identity = identity;
  o.duration = std::chrono::seconds(c.kubernetes.lease_duration_seconds);
  o.renew_interval = std::max(std::chrono::milliseconds(500), o.duration / 3);
  o.retry_interval = std::max(std::chrono::milliseconds(500), o.duration / 5);
  return o;
}

std::string describe_kubernetes(const Config& c) {
  std::string where = c.kubernetes.kubeconfig_path
                          ? "kubeconfig " + *c.kubernetes.kubeconfig_path
                          : std::string("in-cluster credentials");
  return "Kubernetes API (" + where + "), namespace " + c.kubernetes.namespace_ + ", provider " +
         std::string(to_string(c.kubernetes.workload_provider));
}

}  // namespace sbx
