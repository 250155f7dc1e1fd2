// The Kubernetes objects of a sandbox: ContainerSpec + KubernetesWorkloadOptions -> JSON
// manifests (Pod, image pull Secret, BatchSandbox, agent-sandbox Sandbox). Pure functions
// (no I/O, no clock, no logging), so what a sandbox looks like on a cluster is tested
// without an API server (tests/runtime/kubernetes/workload_body_test.cpp). Thread-safe.
//
// The caller validates the spec first (validate_container_spec: id charset, non-empty image
// and entrypoint, parsable limits); quantities are copied as given (spec.gpu as the
// nvidia.com/gpu limit and request). Object names are
// "sandbox-<id>", so an id must also make a valid DNS-1123 name on Kubernetes (lowercase:
// a UUID is).
//
// The pod template (pod_template(); every workload carries the same one):
//   metadata.labels       sandboxd.io/id = spec id; sandboxd.io/instance = options.instance_id
//                         (when non-empty); the user's labels whose key and value are both
//                         valid Kubernetes label syntax. Reserved keys (is_reserved_label)
//                         are dropped; a user label with a valid key but a value Kubernetes
//                         refuses as a label value (too long, spaces, ...) goes to
//                         metadata.annotations under the same key instead; a key that is
//                         not a valid qualified name is dropped (annotation keys follow the
//                         same syntax). dropped_label_keys() lists what was dropped.
//   spec.restartPolicy    Never: a sandbox that exits stays exited (as with Docker).
//   spec.initContainers   with execd (options.execd_image non-empty): "execd-installer"
//                         from execd_image, running kExecdInstallCommand, which copies the
//                         image's /execd and /bootstrap.sh into the emptyDir volume
//                         "opensandbox" mounted at /opt/opensandbox — the files and paths
//                         the Docker runtime copies into its containers.
//   spec.containers[0]    "sandbox": image spec.image_uri; command
//                         [/opt/opensandbox/bootstrap.sh, entrypoint...] with execd (as the
//                         Docker body's Entrypoint + Cmd), else the entrypoint alone; env
//                         from spec.env sorted by name, and with execd the user's EXECD
//                         replaced by EXECD=/opt/opensandbox/execd (last); ports execd
//                         44772 and http 8080; the emptyDir read-only at /opt/opensandbox;
//                         resources limits = requests = spec.limits (cpu/memory as given,
//                         each only when set; the init container gets the same, which does
//                         not raise the pod's effective request); imagePullPolicy;
//                         readinessProbe GET /ping on 44772 (see kReadiness*).
//   securityContext       pod: seccompProfile RuntimeDefault. Both containers:
//                         allowPrivilegeEscalation false; the sandbox drops
//                         options.drop_capabilities (default: the Docker runtime's
//                         docker.drop_capabilities list), the installer drops ALL and has a
//                         read-only root filesystem.
//   spec.runtimeClassName options.runtime_class, when set.
//   spec.nodeSelector     kubernetes.io/os and kubernetes.io/arch from spec.platform (each
//                         when non-empty), when the platform is set.
//   spec.imagePullSecrets [{name: pull_secret_name(id)}] when spec.auth is set.
//   also                  automountServiceAccountToken false (a sandbox gets no API
//                         credentials), enableServiceLinks false (no env of every Service),
//                         terminationGracePeriodSeconds 5 (delete is quick, like Docker's
//                         kill + remove).
// Ignored on Kubernetes: spec.network_mode and spec.ports (Docker host networking and port
// publishing; a pod has its own IP and the endpoint is podIP:port or the gateway).
// No credential ever appears in the pod, the template or a custom resource: only the
// Secret's name. The Secret holds them (pull_secret_manifest()).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/runtime/runtime.h"

namespace sbx {

inline constexpr std::string_view kExecdInstallerName = "execd-installer";
inline constexpr std::string_view kSandboxContainerName = "sandbox";
inline constexpr std::string_view kExecdVolumeName = "opensandbox";
// The init container's command (needs /bin/sh and cp in the execd image).
inline constexpr std::string_view kExecdInstallCommand =
    "cp /execd /bootstrap.sh /opt/opensandbox/ && chmod 0755 /opt/opensandbox/execd "
    "/opt/opensandbox/bootstrap.sh";
inline constexpr int kPodExecdPort = 44772;
inline constexpr int kSandboxHttpPort = 8080;
// The readiness probe on execd's /ping: execd answers within a second of start, so a
// 1 s period puts a sandbox's Ready within ~1 s of execd listening (create latency is what
// users wait on); 3 failures in a row before not-ready, so one slow answer does not flip a
// running sandbox; a 1 s timeout (a local GET).
inline constexpr int kReadinessPeriodSeconds = 1;
inline constexpr int kReadinessTimeoutSeconds = 1;
inline constexpr int kReadinessFailureThreshold = 3;
inline constexpr int kTerminationGracePeriodSeconds = 5;

inline constexpr std::string_view kBatchSandboxApiVersion = "sandbox.opensandbox.io/v1alpha1";
inline constexpr std::string_view kAgentSandboxApiVersion = "agents.x-k8s.io/v1alpha1";

struct KubernetesWorkloadOptions {
  std::string namespace_;                          // kubernetes.namespace
  std::string execd_image;                         // runtime.execd_image ("" = no execd)
  std::string image_pull_policy = "IfNotPresent";  // kubernetes.image_pull_policy
  std::optional<std::string> runtime_class;        // secure_runtime.k8s_runtime_class
  std::string instance_id;                         // label sandboxd.io/instance ("" = none)
  // Capabilities dropped from the sandbox container (Kubernetes names, no CAP_ prefix).
  std::vector<std::string> drop_capabilities = {"AUDIT_WRITE", "MKNOD",      "NET_ADMIN",
                                                "NET_RAW",     "SYS_ADMIN",  "SYS_MODULE",
                                                "SYS_PTRACE",  "SYS_TIME",   "SYS_TTY_CONFIG"};
};

// "sandbox-<id>" (== container_name()): the name of the Pod / BatchSandbox / Sandbox.
std::string workload_name(std::string_view sandbox_id);
// "sandbox-<id>-pull": the name of the image pull Secret.
std::string pull_secret_name(std::string_view sandbox_id);

// Whether `key` is a valid Kubernetes label (and annotation) key: [prefix/]name, prefix a
// DNS-1123 subdomain of at most 253 characters, name 1..63 of [A-Za-z0-9-_.] starting and
// ending alphanumeric.
bool is_valid_label_key(std::string_view key);
// Whether `value` is a valid label value: empty, or 1..63 of [A-Za-z0-9-_.] starting and
// ending alphanumeric.
bool is_valid_label_value(std::string_view value);

// The user label keys pod_template() leaves out (reserved, or not a valid key), sorted, for
// the caller to log.
std::vector<std::string> dropped_label_keys(const ContainerSpec& spec);

// {metadata: {labels, annotations (only when non-empty)}, spec: PodSpec}, as above.
nlohmann::json pod_template(const ContainerSpec& spec, const KubernetesWorkloadOptions& options);

// A v1 Pod named workload_name(id) in options.namespace_, from pod_template().
nlohmann::json pod_manifest(const ContainerSpec& spec, const KubernetesWorkloadOptions& options);

// The v1 Secret pull_secret_name(id) of type kubernetes.io/dockerconfigjson holding
// spec.auth, labelled sandboxd.io/id (+ sandboxd.io/instance): data[".dockerconfigjson"] =
// base64 of {"auths": {<credentials_registry(image_uri)>: {username, password,
// auth: base64("username:password")}}}. std::nullopt when spec.auth is unset or the image
// has no registry host (credentials_registry() is ""): the runtime refuses such a create.
std::optional<nlohmann::json> pull_secret_manifest(const ContainerSpec& spec,
                                                   const KubernetesWorkloadOptions& options);

// A sandbox.opensandbox.io/v1alpha1 BatchSandbox named workload_name(id), labelled
// sandboxd.io/id (+ instance): spec {replicas: 1, template: pod_template(), expireTime:
// RFC 3339 UTC of spec.expires_at rounded up to the whole second (never before the
// sandbox's expiry), left out when unset}.
nlohmann::json batchsandbox_manifest(const ContainerSpec& spec,
                                     const KubernetesWorkloadOptions& options);

// An agents.x-k8s.io/v1alpha1 Sandbox named workload_name(id), labelled sandboxd.io/id
// (+ instance): spec {podTemplate: pod_template(), replicas: 1}, and when spec.expires_at
// is set shutdownTime (as expireTime above) with shutdownPolicy Delete (the expired object
// goes too, as the sandbox does).
nlohmann::json agent_sandbox_manifest(const ContainerSpec& spec,
                                      const KubernetesWorkloadOptions& options);

// RFC 3339 UTC with whole seconds, rounded up: "2026-12-05T03:00:01Z" for 03:00:00.5.
std::string kubernetes_time(Micros t);

}  // namespace sbx
