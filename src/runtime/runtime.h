// Runtime: what sandboxd needs from a container engine (Docker, Kubernetes, the fake).
//
// A sandbox `<id>` is one container named `sandbox-<id>` labelled `sandboxd.io/id=<id>` and,
// when the runtime was given the store's identity, `sandboxd.io/instance=<identity>`: several
// sandboxd (each with its own store) may share one engine, and each must touch only its own
// containers (the reconciler decides by ContainerStatus/RuntimeEvent::instance_id; containers
// of versions before identities have none). Labels under `sandboxd.io/` (or a
// `*.sandboxd.io/` subdomain) are written only by sandboxd: user labels there are dropped.
// Every operation is idempotent and addressed by sandbox id, so a worker that crashed
// mid-operation can simply redo it:
//   create_and_start  exists and running/paused -> success; exists but created/exited ->
//                     (re)start it; absent -> pull the image if needed, create, start
//   pause / resume    already paused / already running -> success
//   remove            kill and remove with volumes; absent -> success
//                     (with an egress sidecar, the sidecar too: the two are one unit for
//                     pause, resume, remove, inspect and watch; see EgressSpec)
//   inspect           absent -> std::nullopt (not an error)
//   container_logs, describe  (diagnostics) absent -> std::nullopt, like inspect
//   list              only containers carrying the `sandboxd.io/id` label (of every
//                     instance: each status says whose it is)
//   watch             blocking stream of lifecycle events of labelled containers (of every
//                     instance, likewise)
//
// Thread-safety: every implementation is thread-safe; watch() blocks its caller (the
// reconciler runs it on its own thread) until `stop` is requested or the stream breaks.
//
// Errors (Result):
//   kUnavailable       the engine cannot be reached (the message says so); retry later
//   kDeadlineExceeded  the engine did not answer within the configured timeout
//   kNotFound          pause/resume of an absent container; an image that is not present
//                      and cannot be pulled (message starts with kImageNotFoundCode)
//   kInvalidArgument   a bad spec (empty id, bad quantity, ...; `field` names it)
//   kFailedPrecondition pause/resume of a container that is not running (e.g. exited)
//   kInternal          anything else the engine reports
// Messages of provisioning failures that map to an OpenSandbox error code start with
// that code and ": " (e.g. "DOCKER::IMAGE_NOT_FOUND: ..."); runtime_error_code() reads it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "events/pool.h"
#include "events/result.h"
#include "events/sandbox.h"  // Platform {os, arch}
#include "events/time.h"
#include "events/volume.h"

namespace sbx {

inline constexpr std::string_view kSandboxIdLabel = "sandboxd.io/id";
// The identity of the store of the sandboxd that created a container, helper or volume.
inline constexpr std::string_view kInstanceLabel = "sandboxd.io/instance";
// Marks execd helper containers and execd volumes (value "execd").
inline constexpr std::string_view kHelperLabel = "sandboxd.io/helper";
inline constexpr std::string_view kImageNotFoundCode = "DOCKER::IMAGE_NOT_FOUND";
// The configured OCI runtime (secure_runtime.docker_runtime) is not one of the engine's.
inline constexpr std::string_view kRuntimeNotAvailableCode = "DOCKER::RUNTIME_NOT_AVAILABLE";
// On a named volume sandboxd created for a sandbox (pvc with createIfNotExists): its id.
inline constexpr std::string_view kVolumeOfLabel = "sandboxd.io/volume-of";
inline constexpr std::string_view kPvcNotFoundCode = "VOLUME::PVC_NOT_FOUND";
inline constexpr std::string_view kPvcSubPathUnsupportedCode = "VOLUME::PVC_SUBPATH_UNSUPPORTED";
inline constexpr std::string_view kGpuUnavailableCode = "DOCKER::GPU_UNAVAILABLE";
// Marks a sandbox's egress sidecar (value: the sandbox id). A sidecar never carries
// kSandboxIdLabel (list() would see two containers for one sandbox); it carries this and
// kInstanceLabel.
inline constexpr std::string_view kEgressOfLabel = "sandboxd.io/egress-of";
// The create failed because the sidecar never answered /healthz within its readiness
// timeout (both containers were removed).
inline constexpr std::string_view kEgressNotReadyCode = "DOCKER::EGRESS_NOT_READY";
// The sidecar's network policy, mode and token in its environment (the upstream egress
// sidecar's variable names).
inline constexpr std::string_view kEgressRulesEnv = "OPENSANDBOX_EGRESS_RULES";
inline constexpr std::string_view kEgressModeEnv = "OPENSANDBOX_EGRESS_MODE";
inline constexpr std::string_view kEgressTokenEnv = "OPENSANDBOX_EGRESS_TOKEN";
inline constexpr std::string_view kEgressSandboxIdEnv = "OPENSANDBOX_EGRESS_SANDBOX_ID";

// "sandbox-<id>": the deterministic container name of a sandbox.
std::string container_name(std::string_view sandbox_id);
// "sandbox-egress-<id>": the deterministic container name of a sandbox's egress sidecar.
std::string egress_container_name(std::string_view sandbox_id);

// Whether a label key is in sandboxd's own namespace: its prefix (before the first '/') is
// `sandboxd.io` or ends with `.sandboxd.io` (case-insensitive). Such labels are written only
// by sandboxd; a runtime never copies a user label with such a key onto a container.
bool is_reserved_label(std::string_view key);

// The OpenSandbox error code at the start of an error message ("DOCKER::X: ..."), or "".
std::string_view runtime_error_code(const Error& error);

struct RegistryAuth {
  std::string username;
  std::string password;
};

struct ResourceLimits {
  std::string cpu;     // Kubernetes quantity, e.g. "500m", "2"; empty = unlimited
  std::string memory;  // Kubernetes quantity, e.g. "512Mi", "2Gi", "1G"; empty = unlimited
};

// The egress sidecar of a sandbox with a network policy (Docker, bridge-type networks
// only). The sidecar `sandbox-egress-<id>` is created and started first from `image`; it
// publishes every port of ContainerSpec::ports (the service allocates one for 18080, its
// policy API), has NET_ADMIN (it installs the DNS/nftables rules), IPv6 switched off by
// sysctl when `disable_ipv6`, and gets OPENSANDBOX_EGRESS_RULES=<policy_json>,
// OPENSANDBOX_EGRESS_MODE=<mode>, OPENSANDBOX_EGRESS_TOKEN=<token> and
// OPENSANDBOX_EGRESS_SANDBOX_ID=<id>. The runtime waits up to `readiness_timeout` for its
// GET /healthz (with the OPENSANDBOX-EGRESS-AUTH token header) through its published 18080
// port to answer 2xx; then the sandbox container joins its network namespace
// (NetworkMode container:sandbox-egress-<id>), publishes nothing and never has NET_ADMIN.
// The token is a secret: it is never logged.
struct EgressSpec {
  std::string image;
  std::string policy_json;  // the NetworkPolicy as the create gave it (JSON object)
  std::string mode = "dns";  // "dns" | "dns+nft"
  bool disable_ipv6 = true;
  std::string token;
  std::chrono::milliseconds readiness_timeout{30'000};
};

struct ContainerSpec {
  std::string sandbox_id;  // [A-Za-z0-9_.-], non-empty (a UUID in practice)
  std::string image_uri;
  std::optional<RegistryAuth> auth;
  std::vector<std::string> entrypoint;  // the user's command; the runtime prefixes bootstrap
  std::map<std::string, std::string> env;
  ResourceLimits limits;
  std::map<std::string, std::string> labels;     // user metadata (reserved keys dropped);
                                                 // kSandboxIdLabel, kInstanceLabel are added
  std::string network_mode = "host";             // "host", "bridge" or a user network name
  std::map<std::uint16_t, std::uint16_t> ports;  // container port -> host port (not host mode)
  std::optional<Platform> platform;
  // When the sandbox expires (the lifecycle's expiry). Runtimes that can hand expiry to the
  // cluster use it (BatchSandbox spec.expireTime, agent-sandbox spec.shutdownTime), so the
  // workload is removed even while sandboxd is down; unset = no expiry. Docker ignores it.
  std::optional<Micros> expires_at;

  // --- volumes and GPUs (issue 12) ---
  // The create's volumes (host and pvc; ossfs is refused before a spec is made). Host paths
  // are as the client gave them: a runtime resolves them again against its allowlist right
  // before the mount (resolve_allowed_host_path, src/common/host_path.h) and mounts the
  // resolved path. Docker: pvc = a named volume `claim_name`.
  std::vector<VolumeSpec> volumes;
  // resourceLimits.gpu: "" = none, "all", or a positive count (Docker: DeviceRequests with
  // the "gpu" capability; Kubernetes: the nvidia.com/gpu limit).
  std::string gpu;
  // A network policy enforced by an egress sidecar (see EgressSpec); unset = none.
  // Runtimes that cannot run one refuse the spec (kInvalidArgument, field networkPolicy).
  std::optional<EgressSpec> egress;

  // --- cluster-managed warm pools (issue 14, runtimes with manages_pools()) ---
  // Non-empty: the sandbox is taken from the runtime's pool of this name (see apply_pool)
  // instead of being made from the image: Kubernetes provider batchsandbox posts a
  // BatchSandbox with spec.poolRef = pool_ref, replicas 1, a taskTemplate that runs
  // `entrypoint` with `env` in the pool pod, and spec.expireTime = expires_at; the pod the
  // pool controller allocates is the sandbox's pod. image_uri and limits are still set (the
  // pool's template) and checked, but the pod's image and limits are the pool's. Runtimes
  // without manages_pools() refuse a non-empty pool_ref (kInvalidArgument, field
  // "extensions.poolRef").
  std::string pool_ref;
};

// A warm pool whose members the runtime's own controller keeps (manages_pools()): the
// Kubernetes Pool custom resource (sandbox.opensandbox.io/v1alpha1, plural pools) of
// provider batchsandbox.
struct RuntimePoolSpec {
  std::string name;              // the pool's name: a DNS-1123 label (the service checked it)
  std::uint64_t generation = 0;  // the pool's generation (events/pool.h), recorded on the CR
  // What a member runs: the pool's template as a container spec (sandbox_id empty, no
  // pool_ref, no expires_at). The runtime builds the pool's pod template from it the way it
  // builds a sandbox's workload, without the per-sandbox id label.
  ContainerSpec template_spec;
  PoolCapacity capacity;
};

// What the runtime's pool controller reports about one pool this instance made.
struct RuntimePoolStatus {
  std::string name;
  std::uint64_t generation = 0;  // as recorded on the CR by apply_pool
  PoolCapacity capacity;         // as the CR's spec has it now
  bool reported = false;         // false: the controller has not written a status yet
  std::int64_t total = 0;        // the CR's status.total / allocated / available / revision
  std::int64_t allocated = 0;
  std::int64_t available = 0;
  std::string revision;
};

// The checks every implementation applies before acting (kInvalidArgument, `field` set):
// sandbox id charset, non-empty image and entrypoint and network mode, parsable limits,
// non-zero ports; with egress: an image, a token, a positive readiness timeout, a
// bridge-type network mode (not "host", not "container:...") and the 18080 port published;
// with pool_ref: a DNS-1123 label (field "extensions.poolRef"), no egress (networkPolicy)
// and no volumes (volumes), as the reference refuses them in pool mode.
Result<void> validate_container_spec(const ContainerSpec& spec);

struct RuntimeInfo {
  std::string runtime_id;  // the engine's container id (Kubernetes: "pod/sandbox-<id>")
  // Whether the sandbox is ready now. Docker: always (a started container is Running).
  // Runtimes that report readiness (reports_readiness()) answer false while the workload
  // is not Ready yet: the sandbox then stays Pending and the reconciler records the start
  // when the runtime reports it (ContainerStatus::ready, RuntimeEventKind::kStarted).
  bool ready = true;
  std::string address;  // the workload's IP when ready (Kubernetes: the pod IP); "" else
  // Named volumes this runtime created for the sandbox (not ones that existed before),
  // recorded in SandboxStarted.createdVolumes so the removal can be decided from the log.
  std::vector<std::string> created_volumes;
};

enum class ContainerState { kCreated, kRunning, kPaused, kRestarting, kRemoving, kExited, kDead };
std::string_view to_string(ContainerState state);
std::optional<ContainerState> parse_container_state(std::string_view s);  // Docker's words

struct ContainerStatus {
  std::string runtime_id;
  std::string sandbox_id;
  // The kInstanceLabel value: the identity of the sandboxd that created it; "" when the
  // container has none (created by a version before identities, or by an unscoped runtime).
  std::string instance_id;
  ContainerState state = ContainerState::kCreated;
  // Exit details. inspect() always fills them; list() may leave them unset.
  std::optional<int> exit_code;  // set once the container has exited
  bool oom_killed = false;
  std::optional<Micros> started_at;
  std::optional<Micros> finished_at;
  // Runtimes that report readiness (Kubernetes) only: whether the workload passes its
  // readiness check (the pod's Ready condition), its address (pod IP, "" until assigned),
  // and why it is not running as asked ("ImagePullBackOff", "Unschedulable", "Evicted",
  // "OOMKilled", ...) with the runtime's message. `permanent` marks a reason that never
  // clears by itself (an invalid image name): the sandbox fails at once instead of after
  // the pending timeout.
  bool ready = false;
  std::string address;
  std::string reason;
  std::string message;
  bool permanent = false;
  // Docker, inspect() of a running or paused container only: its network namespace file
  // (NetworkSettings.SandboxKey, a path on the engine's host); "" otherwise. The server
  // proxy connects from inside it (proxy.connect_in_netns).
  std::string network_namespace;
};

enum class RuntimeEventKind { kStarted, kDied, kOomKilled, kDestroyed, kPaused, kUnpaused };
std::string_view to_string(RuntimeEventKind kind);

struct RuntimeEvent {
  RuntimeEventKind kind = RuntimeEventKind::kDied;
  std::string sandbox_id;
  std::string runtime_id;
  std::optional<int> exit_code;  // kDied only
  Micros time = 0;
  std::string instance_id;  // the container's kInstanceLabel, as in ContainerStatus
};

// --- diagnostics (issue 13): GET /sandboxes/{id}/diagnostics/logs|inspect ---------------
// What container_logs() reads: the last `tail` lines (1..10000) of the sandbox container's
// stdout and stderr (interleaved in the order the engine recorded them: two pipes, so a
// stderr line may land a little before or after the stdout lines written around it), from
// `since` on (nullopt: all), each line prefixed with its RFC 3339 time when `timestamps`.
// At most `max_bytes` bytes of output are read: the rest is left unread
// (ContainerLogs::truncated), so a sandbox that printed gigabytes never makes sandboxd
// buffer them.
struct LogLimits {
  int tail = 100;
  std::optional<Micros> since;
  std::size_t max_bytes = std::size_t{1} << 20;
  bool timestamps = true;
};
struct ContainerLogs {
  std::string text;        // at most LogLimits::max_bytes bytes, in the engine's order
  bool truncated = false;  // max_bytes was reached before the end of the log
};

// A snapshot image as the runtime lists it (Runtime::list_snapshot_images).
inline constexpr std::string_view kSnapshotLabel = "sandboxd.io/snapshot";
struct SnapshotImage {
  std::string snapshot_id;  // its kSnapshotLabel
  std::string image_id;     // "sha256:…"
  std::vector<std::string> refs;  // its tags ("sandboxd-snapshot/<id>:latest")
};

class Runtime {
 public:
  using EventCallback = std::function<void(const RuntimeEvent&)>;

  virtual ~Runtime() = default;

  virtual Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) = 0;
  virtual Result<void> pause(const std::string& sandbox_id) = 0;
  virtual Result<void> resume(const std::string& sandbox_id) = 0;
  virtual Result<void> remove(const std::string& sandbox_id) = 0;
  virtual Result<std::optional<ContainerStatus>> inspect(const std::string& sandbox_id) = 0;
  virtual Result<std::vector<ContainerStatus>> list() = 0;
  virtual Result<void> ping() = 0;

  // Whether create_and_start() may answer before the sandbox is ready (RuntimeInfo::ready
  // false) and readiness then comes from inspect()/list() (ContainerStatus::ready) and
  // kStarted events. Docker: false (a started container is Running).
  virtual bool reports_readiness() const { return false; }
  // Whether pause()/resume() can work at all (Kubernetes: no).
  virtual bool supports_pause() const { return true; }
  // Tells the runtime a sandbox's new expiry (after a renewal), for workloads that carry
  // their own expiry (the BatchSandbox's expireTime, so the cluster expires it even when
  // sandboxd is down). Absent sandbox: success. Default: nothing to do.
  virtual Result<void> renew(const std::string& sandbox_id, Micros expires_at) {
    (void)sandbox_id;
    (void)expires_at;
    return {};
  }

  // Removes the named volumes `names` that this runtime created for `sandbox_id` (labelled
  // kVolumeOfLabel = the id and, when scoped, kInstanceLabel = its instance); a name that
  // is absent or not labelled so is left alone (success). A volume still in use by a
  // container is kFailedPrecondition. Default: nothing to do.
  virtual Result<void> remove_volumes(const std::string& sandbox_id,
                                      const std::vector<std::string>& names) {
    (void)sandbox_id;
    (void)names;
    return {};
  }

  // --- diagnostics (issue 13) -----------------------------------------------------------
  // The output of the sandbox's container (Docker: GET /containers/{id}/logs, stdout and
  // stderr demultiplexed from the engine's 8-byte frame headers; Kubernetes: the pod log of
  // its "sandbox" container) within `limits`; nullopt when the sandbox has no container.
  // Default: kUnimplemented.
  virtual Result<std::optional<ContainerLogs>> container_logs(const std::string& sandbox_id,
                                                              const LogLimits& limits) {
    (void)sandbox_id;
    (void)limits;
    return std::unexpected(Error(ErrorCode::kUnimplemented, "container logs", "runtime"));
  }
  // The runtime's view of the sandbox as readable text, one "Key:   value" per line (Docker:
  // the container's inspect document; Kubernetes: its pod), nullopt when the sandbox has no
  // container. Never an env value or a registry credential: env keys are shown with "***".
  // Default: kUnimplemented.
  virtual Result<std::optional<std::string>> describe(const std::string& sandbox_id) {
    (void)sandbox_id;
    return std::unexpected(Error(ErrorCode::kUnimplemented, "describe", "runtime"));
  }

  // Calls `on_event` (on the calling thread, in order) for every lifecycle event of a
  // labelled container from `since` (inclusive; nullopt = from now) until `stop` is
  // requested (then returns success). A broken or unreachable stream is kUnavailable:
  // the caller reconnects with `since` = the time of the last event it saw.
  virtual Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                             std::stop_token stop) = 0;

  // --- snapshots (issue 13) -------------------------------------------------------------
  // Whether the commit_snapshot family below works (Docker: yes; Kubernetes: no, and the
  // service refuses snapshots before anything is appended). The defaults are the backstop
  // of a runtime without snapshots: kUnimplemented, field "runtime.snapshots".
  virtual bool supports_snapshots() const { return false; }
  // Commits sandbox `sandbox_id`'s container to the local image `image_ref` (Docker: POST
  // /commit with pause=true: a running container is paused for the commit and keeps
  // running, a paused one stays paused), labelled kSnapshotLabel = `snapshot_id` and
  // kInstanceLabel. Returns the image id. Committing again replaces the tag (idempotent).
  // No container: kNotFound.
  virtual Result<std::string> commit_snapshot(const std::string& sandbox_id,
                                              const std::string& snapshot_id,
                                              const std::string& image_ref) {
    (void)sandbox_id, (void)snapshot_id, (void)image_ref;
    return fail(ErrorCode::kUnimplemented, "this runtime cannot take snapshots",
                "runtime.snapshots");
  }
  // The id of image `image_ref` if it exists and carries kSnapshotLabel = `snapshot_id`;
  // nullopt otherwise.
  virtual Result<std::optional<std::string>> snapshot_image(const std::string& snapshot_id,
                                                            const std::string& image_ref) {
    (void)snapshot_id, (void)image_ref;
    return fail(ErrorCode::kUnimplemented, "this runtime cannot take snapshots",
                "runtime.snapshots");
  }
  // Removes image `image_ref` if it carries kSnapshotLabel = `snapshot_id`; absent is
  // success. An image a container still uses is kFailedPrecondition.
  virtual Result<void> remove_snapshot_image(const std::string& snapshot_id,
                                             const std::string& image_ref) {
    (void)snapshot_id, (void)image_ref;
    return fail(ErrorCode::kUnimplemented, "this runtime cannot take snapshots",
                "runtime.snapshots");
  }
  // Every image labelled kSnapshotLabel (and, when scoped, this instance's kInstanceLabel).
  virtual Result<std::vector<SnapshotImage>> list_snapshot_images() {
    return fail(ErrorCode::kUnimplemented, "this runtime cannot take snapshots",
                "runtime.snapshots");
  }

  // --- cluster-managed warm pools (issue 14) ----------------------------------------------
  // Whether pools live in the runtime's cluster (Kubernetes provider batchsandbox: the Pool
  // CRD and its controller) rather than as members sandboxd creates itself. When true, the
  // pool keeper reconciles the live pools of the log onto apply_pool/delete_pool instead of
  // creating members, a create with poolRef becomes a ContainerSpec with pool_ref, and a
  // pool's counts are the controller's (list_pools). The defaults are the backstop of every
  // other runtime: kUnimplemented, field "runtime.pools".
  virtual bool manages_pools() const { return false; }
  // Creates pool `spec.name` (labelled kInstanceLabel), or brings an existing one of this
  // instance to `spec`: same generation -> the capacity is patched when it differs; another
  // generation -> the old CR is deleted (its pods with it) and a new one made. A pool of the
  // same name made by someone else (no or another kInstanceLabel) is kFailedPrecondition.
  virtual Result<void> apply_pool(const RuntimePoolSpec& spec) {
    (void)spec;
    return fail(ErrorCode::kUnimplemented, "this runtime does not keep pools", "runtime.pools");
  }
  // Deletes pool `name` if it is this instance's; absent is success. Sandboxes allocated
  // from it keep running (they are deleted as sandboxes).
  virtual Result<void> delete_pool(const std::string& name) {
    (void)name;
    return fail(ErrorCode::kUnimplemented, "this runtime does not keep pools", "runtime.pools");
  }
  // Every pool of this instance (kInstanceLabel), by name.
  virtual Result<std::vector<RuntimePoolStatus>> list_pools() {
    return fail(ErrorCode::kUnimplemented, "this runtime does not keep pools", "runtime.pools");
  }
};

}  // namespace sbx
