// KubernetesRuntime: the Runtime (src/runtime/runtime.h) on a Kubernetes cluster. Each sandbox
// is one workload in one namespace, chosen by the workload provider:
//   kPod           a bare Pod `sandbox-<id>` (workload_body.h: execd through an init container
//                  and an emptyDir, a readiness probe on execd's /ping)
//   kBatchSandbox  a sandbox.opensandbox.io/v1alpha1 BatchSandbox `sandbox-<id>` (replicas 1,
//                  the same pod template, expireTime = the sandbox's expiry) for clusters that
//                  run the OpenSandbox controller, which creates the pod
//   kAgentSandbox  an agents.x-k8s.io/v1alpha1 Sandbox `sandbox-<id>` (kubernetes-sigs
//                  agent-sandbox), whose controller creates the pod
// Whatever creates the pod, it carries the labels `sandboxd.io/id` (and `sandboxd.io/instance`),
// and that is how it is found: one PodInformer (list + watch of labelled pods) is the cache that
// inspect(), list(), watch() and the idempotency of create_and_start() read. Registry
// credentials become a per-sandbox dockerconfigjson Secret `sandbox-<id>-pull` owned by the
// workload (and deleted with it).
//
// Readiness comes from the pod itself (reports_readiness() is true): create_and_start()
// answers as soon as the workload exists (RuntimeInfo::ready false unless its pod is already
// Ready); the pod's Ready condition, seen by the informer, is reported as a kStarted event and
// as ContainerStatus::ready with the pod IP in ContainerStatus::address. sandboxd never
// connects to a pod.
//
// Mapping of a pod to ContainerStatus: Pending -> kCreated, Running -> kRunning (ready = the
// Ready condition), Succeeded/Failed -> kExited (exit code of the main container, OOMKilled),
// being deleted -> kRemoving; runtime_id = "<kind>/<workload name>" ("pod/sandbox-<id>",
// "batchsandbox/sandbox-<id>"), the same for create_and_start and every status and event; reason/message from the pod
// (pod_state.h). Events (watch): pod became Ready -> kStarted; pod ended -> kDied (kOomKilled
// when OOM-killed); pod deleted -> kDestroyed. Relists after a broken watch or a 410 emit the
// differences, so nothing is missed.
//
// Pause and resume are not possible (supports_pause() false): they answer kFailedPrecondition
// with the code KUBERNETES::PAUSE_NOT_SUPPORTED (kNotFound for an absent sandbox, as the
// contract says). renew() patches the BatchSandbox's expireTime or the agent Sandbox's
// shutdownTime (a bare pod has no expiry of its own: nothing).
//
// Thread-safety: thread-safe. Only one watch() at a time (the reconciler's); a second one
// answers kFailedPrecondition. The informer runs from create() until destruction; an API
// server that is down makes list()/inspect() answer kUnavailable once the informer has not
// synced within options.sync_timeout, and ping() kUnavailable.
//
// Cluster-managed warm pools (issue 14; provider kBatchSandbox only, manages_pools() true):
// a pool is the Pool CR (sandbox.opensandbox.io/v1alpha1 pools) named after it, labelled
// sandboxd.io/instance and sandboxd.io/pool-generation, its template pool_pod_template()
// (workload_body.h); apply_pool/delete_pool/list_pools as runtime.h says. delete_pool (and
// apply_pool of another generation) first drops the Pool owner reference of the pool's pods
// already given to sandboxes (labelled sandboxd.io/id: they keep running, the garbage
// collector must not take them), then deletes the CR and the pool's free pods of that
// generation (label selector sandboxd.io/pool, sandboxd.io/pool-generation, !sandboxd.io/id).
// A create with ContainerSpec::pool_ref posts pooled_batchsandbox_manifest() (no pull secret:
// the pod and its image are the pool's) and answers ready=false. A binder thread (from
// create() to destruction) then lists this instance's BatchSandboxes (labelSelector
// sandboxd.io/instance=<id>, or sandboxd.io/id when unscoped) every 50-100 ms while one with
// a poolRef has no labelled pod yet (every second once all waiting ones are older than 30 s),
// else every 30 s or when a pooled create wakes it; for
// each one whose allocation the controller confirmed (confirmed_pool_pod()) naming a pod of
// that pool (labelled sandboxd.io/pool = its poolRef by the pool's template) it merge-patches
// the pod's labels (with its resourceVersion) to sandboxd.io/id = the sandbox's id and
// sandboxd.io/instance: from then on the informer sees that pod as the sandbox's, and
// readiness, events, inspect, remove and diagnostics work as for any other sandbox. A pod
// already labelled with another sandbox's id is never relabelled (warning). Until then
// inspect() answers nullopt (the reconciler waits for it up to kubernetes.pending_timeout).
// remove() of a pooled sandbox also deletes the pod of its allocation when that pod is a pod of
// its pool not labelled yet (a used pod never goes back to the pool). Providers pod and agent-sandbox
// refuse a pool_ref (kInvalidArgument, field "extensions.poolRef").
//
// Errors: as Runtime. kUnavailable / kDeadlineExceeded for an unreachable API server (messages
// start with "KUBERNETES::UNAVAILABLE: "), the API server's refusals through kube_error()
// ("KUBERNETES::API_ERROR: ...").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "src/runtime/kubernetes/kube_client.h"
#include "src/runtime/kubernetes/pod_informer.h"
#include "src/runtime/kubernetes/workload_body.h"
#include "src/runtime/runtime.h"

namespace sbx {

enum class KubernetesProvider { kPod, kBatchSandbox, kAgentSandbox };
std::string_view to_string(KubernetesProvider provider);

struct KubernetesRuntimeOptions {
  KubeClientOptions client;
  std::string namespace_ = "default";
  KubernetesProvider provider = KubernetesProvider::kPod;
  KubernetesWorkloadOptions workload;  // its namespace_ and instance_id are set from here
  std::string instance_id;             // the store's identity ("" = unscoped)
  // How long list()/inspect()/create_and_start() wait for the informer's first sync.
  std::chrono::milliseconds sync_timeout{10'000};
  // Informer tuning (tests and the benchmark shrink them).
  int list_page_size = 500;
  int watch_timeout_seconds = 300;
};

class KubernetesRuntime final : public Runtime {
 public:
  // Builds the client and starts the informer (it does not wait for the first sync: an API
  // server that is down at start leaves sandboxd serving reads). kInvalidArgument for bad
  // credentials or options.
  static Result<std::unique_ptr<KubernetesRuntime>> create(KubernetesRuntimeOptions options);
  ~KubernetesRuntime() override;
  KubernetesRuntime(const KubernetesRuntime&) = delete;
  KubernetesRuntime& operator=(const KubernetesRuntime&) = delete;

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) override;
  Result<void> pause(const std::string& sandbox_id) override;
  Result<void> resume(const std::string& sandbox_id) override;
  Result<void> remove(const std::string& sandbox_id) override;
  Result<std::optional<ContainerStatus>> inspect(const std::string& sandbox_id) override;
  Result<std::vector<ContainerStatus>> list() override;
  Result<void> ping() override;
  Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                     std::stop_token stop) override;
  bool reports_readiness() const override { return true; }
  bool supports_pause() const override { return false; }
  Result<void> renew(const std::string& sandbox_id, Micros expires_at) override;
  // --- diagnostics (issue 13) -----------------------------------------------------------
  // The pod is the informer's pod of the sandbox (absent -> nullopt). Logs: GET
  // pods/<name>/log?container=sandbox&tailLines=&timestamps=true&limitBytes=max_bytes+1
  // (&sinceTime=), so the API server bounds the answer; a 400 (no node yet, the container
  // has not started) is kFailedPrecondition field "runtime" with the API server's message.
  // Describe: GET the pod, rendered by describe_pod() (pod_description.h).
  Result<std::optional<ContainerLogs>> container_logs(const std::string& sandbox_id,
                                                      const LogLimits& limits) override;
  Result<std::optional<std::string>> describe(const std::string& sandbox_id) override;
  // --- cluster-managed warm pools (issue 14): provider batchsandbox only ------------------
  bool manages_pools() const override {
    return options_.provider == KubernetesProvider::kBatchSandbox;
  }
  Result<void> apply_pool(const RuntimePoolSpec& spec) override;
  Result<void> delete_pool(const std::string& name) override;
  Result<std::vector<RuntimePoolStatus>> list_pools() override;
  // How many allocated pods the binder gave up on: gone, being deleted, or another sandbox's
  // (tests).
  std::size_t binder_given_up() const { return binder_given_up_.load(); }

  KubeClient& client() { return *client_; }
  const PodInformer& informer() const { return *informer_; }

 private:
  KubernetesRuntime(KubernetesRuntimeOptions options, std::unique_ptr<KubeClient> client);
  void on_pod_event(PodEventType type, const PodState& now, const PodState* before);
  Result<void> wait_synced();
  std::string workload_path(std::string_view name = {}) const;  // collection or one object
  std::string pods_path(std::string_view name = {}) const;
  std::string secrets_path(std::string_view name = {}) const;
  nlohmann::json workload_manifest(const ContainerSpec& spec) const;
  // The workload object of a sandbox, if it exists (GET; 404 -> nullopt).
  Result<std::optional<nlohmann::json>> get_workload(const std::string& sandbox_id);
  Result<void> ensure_pull_secret(const ContainerSpec& spec);
  // Makes the pull secret owned by the workload (best effort: without it, remove() still
  // deletes it).
  void adopt_pull_secret(const std::string& sandbox_id, const nlohmann::json& workload);
  ContainerStatus to_status(const PodState& pod) const;
  // pause/resume: kNotFound without a pod, else kFailedPrecondition PAUSE_NOT_SUPPORTED.
  Result<void> not_pausable(const std::string& sandbox_id, std::string_view verb);
  std::string pools_path(std::string_view name = {}) const;
  // kUnimplemented (field runtime.pools) unless manages_pools().
  Result<void> require_pools() const;
  // The label selector of what this instance made: kInstanceLabel=<id>, or `unscoped_key`
  // (its existence) when the runtime is unscoped.
  std::string own_selector(std::string_view unscoped_key) const;
  // Frees the pods given to sandboxes from the Pool CR `name`, deletes it, then its free pods
  // of `generation` (absent: of every generation).
  Result<void> delete_pool_object(const std::string& name, std::optional<std::uint64_t> generation);
  Result<void> ensure_pool_pull_secret(const RuntimePoolSpec& spec);
  // The binder (see above). A pass answers how soon to look again, by the age of the
  // youngest pooled sandbox still waiting for its pod: kEager (50 ms) under 2 s, kSoon
  // (100 ms) under 30 s, kPatient (1 s) beyond (an exhausted pool), kNone when none waits
  // (the 30 s rescan). Ordered: the most urgent wins.
  enum class BindWait { kNone, kPatient, kSoon, kEager };
  void run_binder(std::stop_token stop);
  Result<BindWait> bind_pass();
  // Labels pod `pod_name` as sandbox `sandbox_id`'s; false when it never can be (gone, being
  // deleted, another sandbox's, not labelled sandboxd.io/pool = `pool_ref`: remembered in
  // given_up_), true while it is worth looking again.
  bool bind_pod(const std::string& sandbox_id, const std::string& pool_ref,
                const std::string& pod_name);

  KubernetesRuntimeOptions options_;
  std::unique_ptr<KubeClient> client_;
  std::unique_ptr<PodInformer> informer_;

  // Runtime events waiting for the watcher (bounded: the oldest are dropped when full, and
  // the watcher is told with kUnavailable so that the reconciler re-checks everything).
  static constexpr std::size_t kMaxQueuedEvents = 65'536;
  std::mutex events_mu_;
  std::condition_variable_any events_cv_;
  std::deque<RuntimeEvent> events_;  // events_mu_
  bool overflowed_ = false;          // events_mu_
  bool watching_ = false;            // events_mu_

  // The binder of pooled sandboxes (provider batchsandbox only).
  std::mutex binder_mu_;
  std::condition_variable_any binder_cv_;
  bool binder_wake_ = false;  // binder_mu_: a pooled create happened
  std::set<std::string> given_up_;  // binder thread only: pods that can never be bound
  std::atomic<std::size_t> binder_given_up_{0};  // given_up_.size()
  std::jthread binder_;  // last: stopped and joined first
};

}  // namespace sbx
