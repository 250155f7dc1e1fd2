// The Config -> options mappings of the Kubernetes runtime and its Lease (the composition
// root's; nothing below src/server sees the Config for these).
//
// Credentials: kubernetes.kubeconfig_path when set (its current context; a namespace in the
// context is not used: kubernetes.namespace is), else in-cluster (the service-account files
// and KUBERNETES_SERVICE_HOST/PORT from `env`).
//
// Errors: those of load_kubeconfig()/load_in_cluster() (kInvalidArgument naming the file
// and the key; field "kubernetes.kubeconfig_path"). Thread-safe (reads files).
#pragma once

#include <map>
#include <string>

#include "events/result.h"
#include "src/config/config.h"
#include "src/runtime/kubernetes/kubernetes_runtime.h"
#include "src/runtime/kubernetes/lease_elector.h"

namespace sbx {

Result<KubeClientOptions> kube_client_options_from(const Config& c, const EnvMap& env);

// [kubernetes] + runtime.execd_image + secure_runtime.k8s_runtime_class.
Result<KubernetesRuntimeOptions> kubernetes_options_from(const Config& c,
                                                         const std::string& instance_id,
                                                         const EnvMap& env);

// The Lease that fences a second sandboxd on the same namespace: kubernetes.lease_name in
// kubernetes.namespace, held for kubernetes.lease_duration_seconds and renewed every third
// of it. `identity`: who holds it (host name and store identity).
LeaseOptions lease_options_from(const Config& c, const std::string& identity);

// "Kubernetes API (kubeconfig FILE | in-cluster), namespace NS, provider P": for log lines.
std::string describe_kubernetes(const Config& c);

}  // namespace sbx
