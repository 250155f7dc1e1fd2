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

// --- cluster-managed warm pools (issue 14, provider batchsandbox) ---------------------------
// A pool is the upstream Pool custom resource (sandbox.opensandbox.io/v1alpha1, plural pools)
// kept by the OpenSandbox pool controller; a sandbox taken from it is a BatchSandbox with
// spec.poolRef, and the pod the controller allocates to it is labelled with the sandbox's id
// by the runtime (KubernetesRuntime), after which it is the sandbox's pod like any other.
inline constexpr std::string_view kPoolPlural = "pools";
inline constexpr std::string_view kPoolKind = "Pool";
// On the Pool CR and on every pod of its template: the pool's name / generation.
inline constexpr std::string_view kPoolLabel = "sandboxd.io/pool";
inline constexpr std::string_view kPoolGenerationLabel = "sandboxd.io/pool-generation";
// What the pool controller writes on a BatchSandbox with spec.poolRef once it gave it a pod:
// the annotation {"poolRef": <pool>, "pods": [<pod name>...]}, the finalizer, and the pod IPs
// (a JSON array) in the endpoints annotation. While no pod is free, the BatchSandbox's
// status.conditions has PoolAllocationPending True.
inline constexpr std::string_view kAllocStatusAnnotation = "sandbox.opensandbox.io/alloc-status";
inline constexpr std::string_view kEndpointsAnnotation = "sandbox.opensandbox.io/endpoints";
inline constexpr std::string_view kPoolAllocationFinalizer =
    "pool.sandbox.opensandbox.io/pool-allocation";
inline constexpr std::string_view kPoolAllocationPendingCondition = "PoolAllocationPending";

// "<name>-pool-pull": the image pull Secret of a pool whose template has registry
// credentials (labelled kPoolLabel = name, + instance; never a sandbox's "sandbox-<id>-pull").
std::string pool_pull_secret_name(std::string_view pool_name);

// The pod template of pool `spec`: pod_template() of spec.template_spec (image, command with
// the bootstrap, env, limits, execd injection, probes, security context: exactly a sandbox's
// pod), but without the kSandboxIdLabel (a free pool pod belongs to no sandbox: sandboxd's pod
// informer does not see it), with kPoolLabel = name and kPoolGenerationLabel = generation, and
// imagePullSecrets = pool_pull_secret_name(name) when the template has credentials.
nlohmann::json pool_pod_template(const RuntimePoolSpec& spec,
                                 const KubernetesWorkloadOptions& options);

// The Pool CR of `spec`: named spec.name in options.namespace_, labelled kInstanceLabel (when
// options.instance_id is non-empty) and kPoolGenerationLabel; spec {template:
// pool_pod_template(), capacitySpec {bufferMax, bufferMin, poolMax, poolMin}}.
nlohmann::json pool_manifest(const RuntimePoolSpec& spec, const KubernetesWorkloadOptions& options);
// {bufferMax, bufferMin, poolMax, poolMin} of `capacity` (the CR's spec.capacitySpec).
nlohmann::json pool_capacity_json(const PoolCapacity& capacity);

// The pull Secret of a pool (as pull_secret_manifest(), named pool_pull_secret_name(), labelled
// kPoolLabel + instance instead of a sandbox id); nullopt as there.
std::optional<nlohmann::json> pool_pull_secret_manifest(const RuntimePoolSpec& spec,
                                                        const KubernetesWorkloadOptions& options);

// POSIX shell quoting of one word (what `sh -c` reads back as exactly `word`): unchanged when it
// is non-empty and only of [A-Za-z0-9_@%+=:,./-], else in single quotes with each ' as '"'"'.
std::string shell_quote(std::string_view word);

// The BatchSandbox of a sandbox taken from pool spec.pool_ref: named workload_name(id),
// labelled as a sandbox's pod (sandboxd.io/id, + instance, and the user's valid labels; the
// user labels Kubernetes refuses as values go to annotations); spec {replicas: 1, poolRef,
// taskTemplate: {spec: {process: {command: ["/bin/sh", "-c", "exec <bootstrap> <quoted
// entrypoint>"] (without execd: "exec <quoted entrypoint>"), env: spec.env sorted by name
// (with execd the user's EXECD replaced by EXECD=<execd path>), then OPENSANDBOX_ID = id (the
// user's own OPENSANDBOX_ID is dropped)}}}, expireTime (as batchsandbox_manifest) when set}.
// No template: the pod is the pool's.
nlohmann::json pooled_batchsandbox_manifest(const ContainerSpec& spec,
                                            const KubernetesWorkloadOptions& options);

// The pod the pool controller confirmed for `batchsandbox` (a BatchSandbox with spec.poolRef):
// its first pod name when spec.poolRef is non-empty, the object is not being deleted, it has
// kPoolAllocationFinalizer, and kAllocStatusAnnotation parses as {"poolRef": spec.poolRef,
// "pods": [names...]} with a non-empty list of distinct DNS-1123 subdomain names. nullopt
// otherwise (not allocated yet, or evidence that does not hold together).
std::optional<std::string> confirmed_pool_pod(const nlohmann::json& batchsandbox);

}  // namespace sbx
