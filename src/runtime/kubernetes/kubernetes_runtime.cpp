#include "src/runtime/kubernetes/kubernetes_runtime.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>
#include <utility>

#include "events/time.h"
#include "src/common/log.h"
#include "src/runtime/kubernetes/pod_description.h"

namespace sbx {

namespace {

constexpr std::string_view kPauseNotSupported = "KUBERNETES::PAUSE_NOT_SUPPORTED";

Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ended(const PodState& p) { return p.phase == "Succeeded" || p.phase == "Failed"; }
bool ready(const PodState& p) { return p.phase == "Running" && p.ready && !p.deleting; }

// Reasons that never clear by themselves: the sandbox fails at once, not after the pending
// timeout.
bool permanent_reason(std::string_view reason) {
  return reason == "InvalidImageName" || reason == "ErrImageNeverPull";
}

struct ProviderApi {
  std::string_view group_version;  // "v1" for the core group
  std::string_view plural;
  std::string_view kind;
};

ProviderApi provider_api(KubernetesProvider provider) {
  switch (provider) {
    case KubernetesProvider::kPod:
      return {"v1", "pods", "Pod"};
    case KubernetesProvider::kBatchSandbox:
      return {"sandbox.opensandbox.io/v1alpha1", "batchsandboxes", "BatchSandbox"};
    case KubernetesProvider::kAgentSandbox:
      return {"agents.x-k8s.io/v1alpha1", "sandboxes", "Sandbox"};
  }
  return {"v1", "pods", "Pod"};
}

// The runtime id of a sandbox's workload: "<kind>/<name>" (e.g. "pod/sandbox-<id>"), stable
// across the workload's pods and the same whoever (sandboxd or a controller) made the pod.
std::string runtime_id_of(KubernetesProvider provider, std::string_view sandbox_id) {
  std::string kind(provider_api(provider).kind);
  for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kind + "/" + workload_name(sandbox_id);
}

std::string api_prefix(std::string_view group_version) {
  return group_version == "v1" ? std::string("/api/v1") : "/apis/" + std::string(group_version);
}

std::string label_of(const nlohmann::json& object, std::string_view key) {
  const auto* labels = object.contains("metadata") && object["metadata"].contains("labels")
                           ? &object["metadata"]["labels"]
                           : nullptr;
  if (labels == nullptr || !labels->is_object()) return "";
  auto it = labels->find(std::string(key));
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}

std::string uid_of(const nlohmann::json& object) {
  if (!object.contains("metadata")) return "";
  const auto& m = object["metadata"];
  auto it = m.find("uid");
  return it != m.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::int64_t int_field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return 0;
  auto it = object.find(std::string(key));
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

Result<nlohmann::json> parse_body(const HttpResponse& response, std::string_view what) {
  auto parsed = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return fail(ErrorCode::kInternal,
                "KUBERNETES::API_ERROR: " + std::string(what) + ": the answer is not a JSON object");
  }
  return parsed;
}

// A 404 on the pools collection: the cluster does not serve the Pool resource (its CRD comes
// with the OpenSandbox controller) or the namespace is missing.
Error no_pool_resource(const HttpResponse& response, std::string_view what) {
  Error e = kube_error(response, what);
  return Error(ErrorCode::kFailedPrecondition,
               e.message + " (is the Pool CRD pools.sandbox.opensandbox.io installed, with the "
                           "OpenSandbox pool controller, and does the namespace exist?)",
               "runtime.pools");
}

}  // namespace

std::string_view to_string(KubernetesProvider provider) {
  switch (provider) {
    case KubernetesProvider::kPod:
      return "pod";
    case KubernetesProvider::kBatchSandbox:
      return "batchsandbox";
    case KubernetesProvider::kAgentSandbox:
      return "agent-sandbox";
  }
  return "pod";
}

Result<std::unique_ptr<KubernetesRuntime>> KubernetesRuntime::create(
    KubernetesRuntimeOptions options) {
  if (options.namespace_.empty()) {
    return fail(ErrorCode::kInvalidArgument, "the Kubernetes namespace is empty",
                "kubernetes.namespace");
  }
  auto client = KubeClient::create(options.client);
  if (!client) return std::unexpected(client.error());
  options.workload.namespace_ = options.namespace_;
  options.workload.instance_id = options.instance_id;
  std::unique_ptr<KubernetesRuntime> runtime(
      new KubernetesRuntime(std::move(options), std::move(*client)));
  runtime->informer_->start();
  if (runtime->manages_pools()) {
    KubernetesRuntime* self = runtime.get();
    self->binder_ = std::jthread([self](std::stop_token stop) { self->run_binder(stop); });
  }
  return runtime;
}

KubernetesRuntime::KubernetesRuntime(KubernetesRuntimeOptions options,
                                     std::unique_ptr<KubeClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  PodInformerOptions io;
  io.namespace_ = options_.namespace_;
  io.label_selector = std::string(kSandboxIdLabel);
  io.page_size = options_.list_page_size;
  io.watch_timeout = std::chrono::seconds(options_.watch_timeout_seconds);
  informer_ = std::make_unique<PodInformer>(
      *client_, io, [this](PodEventType type, const PodState& now, const PodState* before) {
        on_pod_event(type, now, before);
      });
}

KubernetesRuntime::~KubernetesRuntime() {
  if (binder_.joinable()) {
    binder_.request_stop();
    {
      std::lock_guard lock(binder_mu_);
      binder_cv_.notify_all();
    }
    binder_.join();
  }
  informer_->stop();
  std::lock_guard lock(events_mu_);
  events_cv_.notify_all();
}

namespace {

// "<prefix>/namespaces/<ns>/<plural>[/<name>]", appended piece by piece (GCC 12 warns
// falsely about `"literal" + std::string` temporaries here).
std::string collection_path(std::string_view prefix, std::string_view ns, std::string_view plural,
                            std::string_view name) {
  std::string path(prefix);
  path.append("/namespaces/").append(ns).append("/").append(plural);
  if (!name.empty()) path.append("/").append(name);
  return path;
}

}  // namespace

std::string KubernetesRuntime::workload_path(std::string_view name) const {
  const ProviderApi api = provider_api(options_.provider);
  return collection_path(api_prefix(api.group_version), options_.namespace_, api.plural, name);
}

std::string KubernetesRuntime::pods_path(std::string_view name) const {
  return collection_path("/api/v1", options_.namespace_, "pods", name);
}

std::string KubernetesRuntime::secrets_path(std::string_view name) const {
  return collection_path("/api/v1", options_.namespace_, "secrets", name);
}

nlohmann::json KubernetesRuntime::workload_manifest(const ContainerSpec& spec) const {
  switch (options_.provider) {
    case KubernetesProvider::kPod:
      return pod_manifest(spec, options_.workload);
    case KubernetesProvider::kBatchSandbox:
      return batchsandbox_manifest(spec, options_.workload);
    case KubernetesProvider::kAgentSandbox:
      return agent_sandbox_manifest(spec, options_.workload);
  }
  return pod_manifest(spec, options_.workload);
}

Result<void> KubernetesRuntime::wait_synced() {
  if (informer_->wait_synced(options_.sync_timeout)) return {};
  return fail(ErrorCode::kUnavailable,
              "KUBERNETES::UNAVAILABLE: the pod cache of namespace " + options_.namespace_ +
                  " has not synced with the API server at " + options_.client.credentials.server +
                  " within " + std::to_string(options_.sync_timeout.count()) + " ms");
}

ContainerStatus KubernetesRuntime::to_status(const PodState& pod) const {
  ContainerStatus s;
  s.runtime_id = runtime_id_of(options_.provider, pod.sandbox_id);
  s.sandbox_id = pod.sandbox_id;
  s.instance_id = pod.instance_id;
  if (pod.deleting) {
    s.state = ContainerState::kRemoving;
  } else if (pod.phase == "Running" || pod.phase == "Unknown") {
    s.state = ContainerState::kRunning;
  } else if (ended(pod)) {
    s.state = ContainerState::kExited;
  } else {
    s.state = ContainerState::kCreated;
  }
  s.exit_code = pod.exit_code;
  s.oom_killed = pod.oom_killed;
  s.started_at = pod.started_at;
  s.finished_at = pod.finished_at;
  s.ready = ready(pod);
  s.address = pod.pod_ip;
  s.reason = pod.reason;
  s.message = pod.message;
  s.permanent = pod.phase == "Pending" && permanent_reason(pod.reason);
  return s;
}

void KubernetesRuntime::on_pod_event(PodEventType type, const PodState& now,
                                     const PodState* before) {
  if (now.sandbox_id.empty()) return;
  std::vector<RuntimeEvent> out;
  auto make = [&](RuntimeEventKind kind) {
    RuntimeEvent e;
    e.kind = kind;
    e.sandbox_id = now.sandbox_id;
    e.runtime_id = runtime_id_of(options_.provider, now.sandbox_id);
    e.instance_id = now.instance_id;
    e.time = wall_now();
    return e;
  };
  if (type == PodEventType::kDeleted) {
    out.push_back(make(RuntimeEventKind::kDestroyed));
  } else {
    if (ready(now) && (before == nullptr || !ready(*before))) {
      out.push_back(make(RuntimeEventKind::kStarted));
    }
    if (ended(now) && (before == nullptr || !ended(*before))) {
      auto e = make(now.oom_killed ? RuntimeEventKind::kOomKilled : RuntimeEventKind::kDied);
      e.exit_code = now.exit_code;
      out.push_back(std::move(e));
    } else if (now.phase == "Pending" && permanent_reason(now.reason) &&
               (before == nullptr || before->reason != now.reason)) {
      // The pod cannot start: for the reconciler this is a death before the start.
      out.push_back(make(RuntimeEventKind::kDied));
    }
  }
  if (out.empty()) return;
  std::lock_guard lock(events_mu_);
  for (auto& e : out) {
    if (events_.size() >= kMaxQueuedEvents) {
      events_.pop_front();
      overflowed_ = true;
    }
    events_.push_back(std::move(e));
  }
  events_cv_.notify_all();
}

Result<std::optional<nlohmann::json>> KubernetesRuntime::get_workload(const std::string& id) {
  const std::string path = workload_path(workload_name(id));
  auto response = client_->request("GET", path);
  if (!response) return std::unexpected(response.error());
  if (response->status == 404) return std::optional<nlohmann::json>{};
  if (response->status / 100 != 2) return std::unexpected(kube_error(*response, "GET " + path));
  auto body = parse_body(*response, "GET " + path);
  if (!body) return std::unexpected(body.error());
  return std::optional<nlohmann::json>(std::move(*body));
}

Result<void> KubernetesRuntime::ensure_pull_secret(const ContainerSpec& spec) {
  if (!spec.auth) return {};
  const auto manifest = pull_secret_manifest(spec, options_.workload);
  if (!manifest) {
    return fail(ErrorCode::kInvalidArgument,
                "image.auth needs an image reference that names its registry host (\"" +
                    spec.image_uri + "\" has none): a pull Secret files credentials under it",
                "image.auth");
  }
  const std::string body = manifest->dump();
  const std::string path = secrets_path();
  auto response = client_->request("POST", path, body);
  if (!response) return std::unexpected(response.error());
  if (response->status / 100 == 2) return {};
  if (response->status == 409) {
    // Left by an earlier attempt of this create: make it hold the credentials of this one.
    const std::string one = secrets_path(pull_secret_name(spec.sandbox_id));
    auto replaced = client_->request("PATCH", one, body, "application/merge-patch+json");
    if (!replaced) return std::unexpected(replaced.error());
    if (replaced->status / 100 == 2) return {};
    return std::unexpected(kube_error(*replaced, "PATCH " + one));
  }
  return std::unexpected(kube_error(*response, "POST " + path));
}

void KubernetesRuntime::adopt_pull_secret(const std::string& id, const nlohmann::json& workload) {
  const std::string uid = uid_of(workload);
  if (uid.empty()) return;
  const ProviderApi api = provider_api(options_.provider);
  nlohmann::json patch = {
      {"metadata",
       {{"ownerReferences",
         nlohmann::json::array({{{"apiVersion", std::string(api.group_version)},
                                 {"kind", std::string(api.kind)},
                                 {"name", workload_name(id)},
                                 {"uid", uid},
                                 {"blockOwnerDeletion", false}}})}}}};
  const std::string path = secrets_path(pull_secret_name(id));
  auto r = client_->request("PATCH", path, patch.dump(), "application/merge-patch+json");
  if (!r || r->status / 100 != 2) {
    logger("kubernetes")
        ->warn("sandbox {}: could not make its pull secret owned by the workload ({}); it is "
               "deleted with the sandbox all the same",
               id, r ? kube_error(*r, "PATCH " + path).message : r.error().message);
  }
}

Result<RuntimeInfo> KubernetesRuntime::create_and_start(const ContainerSpec& spec) {
  if (auto valid = validate_container_spec(spec); !valid) return std::unexpected(valid.error());
  if (!spec.pool_ref.empty() && !manages_pools()) {
    return fail(ErrorCode::kInvalidArgument,
                "the kubernetes workload provider " + std::string(to_string(options_.provider)) +
                    " does not take sandboxes from pools (extensions.poolRef \"" +
                    spec.pool_ref + "\"); only provider batchsandbox does",
                "extensions.poolRef");
  }
  // Volumes are not mounted on Kubernetes in this version (the service refuses them at
  // create); a spec with some is refused rather than run without them.
  if (!spec.volumes.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "VOLUME::NOT_SUPPORTED: volumes are not supported on the Kubernetes runtime of "
                "this server",
                "volumes");
  }
  if (spec.egress) {
    // The service refuses such a create up front; this is the defence behind it.
    return fail(ErrorCode::kInvalidArgument,
                "a network policy (egress sidecar) is not supported on Kubernetes", "networkPolicy");
  }
  if (auto synced = wait_synced(); !synced) return std::unexpected(synced.error());
  const std::string& id = spec.sandbox_id;
  if (auto pod = informer_->find_by_sandbox(id); pod && !pod->deleting) {
    if (!options_.instance_id.empty() && pod->instance_id != options_.instance_id) {
      return fail(ErrorCode::kFailedPrecondition,
                  "KUBERNETES::API_ERROR: pod " + pod->name + " of sandbox " + id +
                      " belongs to another sandboxd (instance " + pod->instance_id + ")");
    }
    return RuntimeInfo{runtime_id_of(options_.provider, id), ready(*pod),
                       ready(*pod) ? pod->pod_ip : std::string()};
  }
  // A pooled sandbox's pod and image are the pool's (its pull secret too): no secret here.
  const bool pooled = !spec.pool_ref.empty();
  if (!pooled) {
    if (auto secret = ensure_pull_secret(spec); !secret) return std::unexpected(secret.error());
  }
  const std::string path = workload_path();
  const nlohmann::json manifest =
      pooled ? pooled_batchsandbox_manifest(spec, options_.workload) : workload_manifest(spec);
  auto response = client_->request("POST", path, manifest.dump());
  if (!response) return std::unexpected(response.error());
  nlohmann::json workload;
  if (response->status / 100 == 2) {
    auto body = parse_body(*response, "POST " + path);
    if (!body) return std::unexpected(body.error());
    workload = std::move(*body);
  } else if (response->status == 409) {
    // Created by an earlier attempt (or another sandboxd with the same sandbox id).
    auto existing = get_workload(id);
    if (!existing) return std::unexpected(existing.error());
    if (!*existing) return fail(ErrorCode::kUnavailable,
                                "KUBERNETES::API_ERROR: " + workload_name(id) +
                                    " exists and vanished at once; retry");
    workload = std::move(**existing);
    const std::string owner = label_of(workload, kInstanceLabel);
    if (!options_.instance_id.empty() && owner != options_.instance_id) {
      return fail(ErrorCode::kFailedPrecondition,
                  "KUBERNETES::API_ERROR: " + std::string(provider_api(options_.provider).kind) +
                      " " + workload_name(id) + " belongs to another sandboxd (instance " +
                      owner + ")");
    }
  } else {
    const Error error = kube_error(*response, "POST " + path);
    if (error.code == ErrorCode::kInvalidArgument) {
      return fail(ErrorCode::kInvalidArgument, error.message, "spec");
    }
    return std::unexpected(error);
  }
  if (pooled) {
    std::lock_guard lock(binder_mu_);
    binder_wake_ = true;
    binder_cv_.notify_all();
  } else if (spec.auth) {
    adopt_pull_secret(id, workload);
  }
  return RuntimeInfo{runtime_id_of(options_.provider, id), false, ""};
}

Result<void> KubernetesRuntime::not_pausable(const std::string& sandbox_id, std::string_view verb) {
  auto status = inspect(sandbox_id);
  if (!status) return std::unexpected(status.error());
  if (!*status) return fail(ErrorCode::kNotFound, "no pod for sandbox " + sandbox_id);
  return fail(ErrorCode::kFailedPrecondition,
              std::string(kPauseNotSupported) + ": " + std::string(verb) +
                  " is not supported by the kubernetes runtime: Kubernetes cannot freeze a "
                  "pod's processes");
}

Result<void> KubernetesRuntime::pause(const std::string& sandbox_id) {
  return not_pausable(sandbox_id, "pause");
}

Result<void> KubernetesRuntime::resume(const std::string& sandbox_id) {
  return not_pausable(sandbox_id, "resume");
}

Result<void> KubernetesRuntime::remove(const std::string& sandbox_id) {
  auto delete_one = [&](const std::string& path) -> Result<void> {
    auto response =
        client_->request("DELETE", path, R"({"propagationPolicy":"Background"})");
    if (!response) return std::unexpected(response.error());
    if (response->status / 100 == 2 || response->status == 404) return {};
    return std::unexpected(kube_error(*response, "DELETE " + path));
  };
  const std::string name = workload_name(sandbox_id);
  // A pooled sandbox whose pod the controller allocated but the binder has not labelled yet:
  // that pod has run (or is about to run) the sandbox's task, so it is deleted rather than
  // left for the controller to hand out again. A pod labelled for another sandbox is never
  // touched.
  std::optional<std::string> allocated_pod;
  std::string pool_ref;
  if (manages_pools()) {
    auto workload = get_workload(sandbox_id);
    if (!workload) return std::unexpected(workload.error());
    if (*workload) {
      const std::string owner = label_of(**workload, kInstanceLabel);
      if (options_.instance_id.empty() || owner == options_.instance_id) {
        allocated_pod = confirmed_pool_pod(**workload);
        pool_ref = (**workload)["spec"].value("poolRef", std::string());
      }
    }
  }
  if (auto r = delete_one(workload_path(name)); !r) return r;
  if (allocated_pod) {
    auto pod = client_->get_json(pods_path(*allocated_pod));
    if (!pod && pod.error().code != ErrorCode::kNotFound) return std::unexpected(pod.error());
    if (pod) {
      // Only a pod of that pool (labelled so by the pool's template) that is no other
      // sandbox's.
      const std::string bound_to = label_of(*pod, kSandboxIdLabel);
      if (label_of(*pod, kPoolLabel) == pool_ref &&
          (bound_to.empty() || bound_to == sandbox_id)) {
        if (auto r = delete_one(pods_path(*allocated_pod)); !r) return r;
      }
    }
  }
  // Pods made by a controller from the workload: a cluster's garbage collector removes them
  // too, but not before the workload is gone, and not at all where it does not run.
  if (options_.provider != KubernetesProvider::kPod) {
    for (const PodState& pod : informer_->snapshot()) {
      if (pod.sandbox_id != sandbox_id || pod.deleting) continue;
      if (!options_.instance_id.empty() && pod.instance_id != options_.instance_id) continue;
      if (auto r = delete_one(pods_path(pod.name)); !r) return r;
    }
  }
  return delete_one(secrets_path(pull_secret_name(sandbox_id)));
}

Result<std::optional<ContainerStatus>> KubernetesRuntime::inspect(const std::string& sandbox_id) {
  if (auto synced = wait_synced(); !synced) return std::unexpected(synced.error());
  auto pod = informer_->find_by_sandbox(sandbox_id);
  if (!pod) return std::optional<ContainerStatus>{};
  return std::optional<ContainerStatus>(to_status(*pod));
}

// --- diagnostics (issue 13) ----------------------------------------------------------------

Result<std::optional<ContainerLogs>> KubernetesRuntime::container_logs(
    const std::string& sandbox_id, const LogLimits& limits) {
  if (auto synced = wait_synced(); !synced) return std::unexpected(synced.error());
  auto pod = informer_->find_by_sandbox(sandbox_id);
  if (!pod) return std::optional<ContainerLogs>{};
  std::string path = pods_path(pod->name) + "/log?container=" +
                     std::string(kSandboxContainerName) +
                     "&tailLines=" + std::to_string(std::max(limits.tail, 0)) +
                     "&limitBytes=" + std::to_string(limits.max_bytes + 1);
  if (limits.timestamps) path += "&timestamps=true";
  if (limits.since) path += "&sinceTime=" + format_rfc3339(*limits.since);
  auto r = client_->request("GET", path);
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return std::optional<ContainerLogs>{};
  if (r->status == 400) {
    Error e = kube_error(*r, std::string("GET ") + pods_path(pod->name) + "/log");
    return fail(ErrorCode::kFailedPrecondition, e.message, "runtime");
  }
  if (r->status < 200 || r->status >= 300) {
    return std::unexpected(kube_error(*r, std::string("GET ") + pods_path(pod->name) + "/log"));
  }
  ContainerLogs logs{std::move(r->body), false};
  if (logs.text.size() > limits.max_bytes) {
    logs.text.resize(limits.max_bytes);
    logs.truncated = true;
  }
  return std::optional<ContainerLogs>(std::move(logs));
}

Result<std::optional<std::string>> KubernetesRuntime::describe(const std::string& sandbox_id) {
  if (auto synced = wait_synced(); !synced) return std::unexpected(synced.error());
  auto pod = informer_->find_by_sandbox(sandbox_id);
  if (!pod) return std::optional<std::string>{};
  auto j = client_->get_json(pods_path(pod->name));
  if (!j) {
    if (j.error().code == ErrorCode::kNotFound) return std::optional<std::string>{};
    return std::unexpected(j.error());
  }
  return std::optional<std::string>(describe_pod(*j));
}

Result<std::vector<ContainerStatus>> KubernetesRuntime::list() {
  if (auto synced = wait_synced(); !synced) return std::unexpected(synced.error());
  std::vector<ContainerStatus> out;
  for (const PodState& pod : informer_->snapshot()) {
    if (pod.sandbox_id.empty()) continue;
    out.push_back(to_status(pod));
  }
  return out;
}

Result<void> KubernetesRuntime::ping() { return client_->ping(); }

Result<void> KubernetesRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                      std::stop_token stop) {
  (void)since;  // the informer keeps its own place (resourceVersion) and relists on gaps
  {
    std::lock_guard lock(events_mu_);
    if (watching_) {
      return fail(ErrorCode::kFailedPrecondition, "the Kubernetes runtime is already watched");
    }
    watching_ = true;
  }
  std::stop_callback wake(stop, [this] {
    std::lock_guard lock(events_mu_);
    events_cv_.notify_all();
  });
  Result<void> result;
  while (!stop.stop_requested()) {
    std::deque<RuntimeEvent> batch;
    {
      std::unique_lock lock(events_mu_);
      events_cv_.wait(lock, stop, [this] { return !events_.empty() || overflowed_; });
      if (overflowed_) {
        overflowed_ = false;
        events_.clear();
        result = fail(ErrorCode::kUnavailable,
                      "KUBERNETES::UNAVAILABLE: more than " + std::to_string(kMaxQueuedEvents) +
                          " pod events were waiting; the oldest were dropped");
        break;
      }
      batch.swap(events_);
    }
    for (const RuntimeEvent& e : batch) {
      if (stop.stop_requested()) break;
      on_event(e);
    }
  }
  std::lock_guard lock(events_mu_);
  watching_ = false;
  return result;
}

// --- cluster-managed warm pools (issue 14) ------------------------------------------------

std::string KubernetesRuntime::pools_path(std::string_view name) const {
  return collection_path(api_prefix(kBatchSandboxApiVersion), options_.namespace_, kPoolPlural,
                         name);
}

Result<void> KubernetesRuntime::require_pools() const {
  if (manages_pools()) return {};
  return fail(ErrorCode::kUnimplemented,
              "the kubernetes workload provider " + std::string(to_string(options_.provider)) +
                  " does not keep pools in the cluster (only provider batchsandbox does)",
              "runtime.pools");
}

std::string KubernetesRuntime::own_selector(std::string_view unscoped_key) const {
  if (options_.instance_id.empty()) return std::string(unscoped_key);
  return std::string(kInstanceLabel) + "=" + options_.instance_id;
}

Result<void> KubernetesRuntime::ensure_pool_pull_secret(const RuntimePoolSpec& spec) {
  if (!spec.template_spec.auth) return {};
  const auto manifest = pool_pull_secret_manifest(spec, options_.workload);
  if (!manifest) {
    return fail(ErrorCode::kInvalidArgument,
                "image.auth needs an image reference that names its registry host (\"" +
                    spec.template_spec.image_uri +
                    "\" has none): a pull Secret files credentials under it",
                "template.image.auth");
  }
  const std::string body = manifest->dump();
  const std::string path = secrets_path();
  auto response = client_->request("POST", path, body);
  if (!response) return std::unexpected(response.error());
  if (response->status / 100 == 2) return {};
  if (response->status != 409) return std::unexpected(kube_error(*response, "POST " + path));
  const std::string one = secrets_path(pool_pull_secret_name(spec.name));
  auto existing = client_->get_json(one);
  if (!existing) return std::unexpected(existing.error());
  if (label_of(*existing, kPoolLabel) != spec.name ||
      label_of(*existing, kInstanceLabel) != options_.instance_id) {
    return fail(ErrorCode::kFailedPrecondition,
                std::string(kKubeErrorPrefix) + "secret " + pool_pull_secret_name(spec.name) +
                    " exists and is not this sandboxd's pull secret of pool " + spec.name);
  }
  auto replaced = client_->request("PATCH", one, body, "application/merge-patch+json");
  if (!replaced) return std::unexpected(replaced.error());
  if (replaced->status / 100 == 2) return {};
  return std::unexpected(kube_error(*replaced, "PATCH " + one));
}

Result<void> KubernetesRuntime::apply_pool(const RuntimePoolSpec& spec) {
  if (auto ok = require_pools(); !ok) return ok;
  if (!is_valid_pool_name(spec.name)) {
    return fail(ErrorCode::kInvalidArgument,
                "pool name \"" + spec.name + "\" is not a DNS-1123 label (1..63 of [a-z0-9-])",
                "name");
  }
  // The template is checked as a sandbox's spec would be (its id is not part of it).
  ContainerSpec check = spec.template_spec;
  check.sandbox_id = "pool-template";
  if (auto valid = validate_container_spec(check); !valid) return std::unexpected(valid.error());
  if (!spec.template_spec.volumes.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "VOLUME::NOT_SUPPORTED: a pool's template cannot have volumes on Kubernetes",
                "template.volumes");
  }
  if (spec.template_spec.egress) {
    return fail(ErrorCode::kInvalidArgument,
                "a pool's template cannot have a network policy on Kubernetes",
                "template.networkPolicy");
  }
  if (!spec.template_spec.pool_ref.empty()) {
    return fail(ErrorCode::kInvalidArgument, "a pool's template cannot name a pool",
                "template.extensions.poolRef");
  }
  const PoolCapacity& c = spec.capacity;
  if (c.buffer_min < 0 || c.buffer_max < 0 || c.pool_min < 0 || c.pool_max < 0 ||
      c.buffer_min > c.buffer_max || c.pool_min > c.pool_max || c.buffer_max > c.pool_max ||
      c.pool_max > std::numeric_limits<std::int32_t>::max()) {
    return fail(ErrorCode::kInvalidArgument,
                "pool " + spec.name + ": inconsistent capacity (0 <= bufferMin <= bufferMax <= "
                "poolMax, poolMin <= poolMax)",
                "capacitySpec");
  }
  if (auto secret = ensure_pool_pull_secret(spec); !secret) return secret;
  const std::string one = pools_path(spec.name);
  const std::string generation = std::to_string(spec.generation);
  // Bounded: a pool made or deleted concurrently by someone else shows up as a 409 / 404.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto existing = client_->request("GET", one);
    if (!existing) return std::unexpected(existing.error());
    if (existing->status == 404) {
      const std::string collection = pools_path();
      auto created =
          client_->request("POST", collection, pool_manifest(spec, options_.workload).dump());
      if (!created) return std::unexpected(created.error());
      if (created->status / 100 == 2) {
        logger("kubernetes")->info("pool {}: created its Pool (generation {})", spec.name,
                                   generation);
        return {};
      }
      if (created->status == 409) continue;  // made meanwhile: look again
      if (created->status == 404) {
        return std::unexpected(no_pool_resource(*created, "POST " + collection));
      }
      const Error error = kube_error(*created, "POST " + collection);
      if (error.code == ErrorCode::kInvalidArgument) {
        return fail(ErrorCode::kInvalidArgument, error.message, "template");
      }
      return std::unexpected(error);
    }
    if (existing->status / 100 != 2) return std::unexpected(kube_error(*existing, "GET " + one));
    auto pool = parse_body(*existing, "GET " + one);
    if (!pool) return std::unexpected(pool.error());
    const std::string owner = label_of(*pool, kInstanceLabel);
    const std::string recorded = label_of(*pool, kPoolGenerationLabel);
    if (owner != options_.instance_id || recorded.empty()) {
      return fail(ErrorCode::kFailedPrecondition,
                  std::string(kKubeErrorPrefix) + "Pool " + spec.name + " in namespace " +
                      options_.namespace_ + " was not made by this sandboxd" +
                      (owner.empty() ? std::string() : " (instance " + owner + ")"));
    }
    if ((*pool)["metadata"].contains("deletionTimestamp")) {
      return fail(ErrorCode::kUnavailable,
                  std::string(kKubeErrorPrefix) + "Pool " + spec.name +
                      " is being deleted; it is made again once it is gone");
    }
    if (recorded != generation) {
      const auto old_generation = parse_u64(recorded);
      if (auto r = delete_pool_object(spec.name, old_generation); !r) return r;
      logger("kubernetes")
          ->info("pool {}: deleted its Pool of generation {} for generation {}", spec.name,
                 recorded, generation);
      continue;  // gone at once without finalizers; else the next attempt says it is deleting
    }
    const nlohmann::json wanted = pool_capacity_json(spec.capacity);
    const nlohmann::json& spec_json = (*pool)["spec"];
    if (spec_json.is_object() && spec_json.contains("capacitySpec") &&
        spec_json["capacitySpec"] == wanted) {
      return {};
    }
    nlohmann::json patch = {{"spec", {{"capacitySpec", wanted}}}};
    auto patched = client_->request("PATCH", one, patch.dump(), "application/merge-patch+json");
    if (!patched) return std::unexpected(patched.error());
    if (patched->status == 404) continue;
    if (patched->status / 100 != 2) return std::unexpected(kube_error(*patched, "PATCH " + one));
    logger("kubernetes")->info("pool {}: capacity now {}", spec.name, wanted.dump());
    return {};
  }
  return fail(ErrorCode::kUnavailable,
              std::string(kKubeErrorPrefix) + "Pool " + spec.name +
                  " kept changing under this sandboxd (made or deleted concurrently); retry");
}

Result<void> KubernetesRuntime::delete_pool_object(const std::string& name,
                                                   std::optional<std::uint64_t> generation) {
  std::string selector = std::string(kPoolLabel) + "=" + name;
  if (generation) {
    selector.append(",").append(kPoolGenerationLabel).append("=").append(
        std::to_string(*generation));
  }
  if (!options_.instance_id.empty()) {
    selector.append(",").append(kInstanceLabel).append("=").append(options_.instance_id);
  }
  // 1. The pods already given to sandboxes stop being the Pool's dependents, so that the
  // cluster's garbage collector does not take them with it.
  const std::string bound =
      pods_path() + "?labelSelector=" + url_encode(selector + "," + std::string(kSandboxIdLabel));
  auto taken = client_->get_json(bound);
  if (!taken) return std::unexpected(taken.error());
  if (taken->contains("items") && (*taken)["items"].is_array()) {
    for (const auto& pod : (*taken)["items"]) {
      if (!pod.contains("metadata") || !pod["metadata"].is_object()) continue;
      const auto& meta = pod["metadata"];
      if (!meta.contains("ownerReferences") || !meta["ownerReferences"].is_array()) continue;
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& ref : meta["ownerReferences"]) {
        const bool pool_ref = ref.is_object() && ref.value("kind", "") == kPoolKind &&
                              ref.value("apiVersion", "") == kBatchSandboxApiVersion;
        if (!pool_ref) kept.push_back(ref);
      }
      if (kept.size() == meta["ownerReferences"].size()) continue;
      nlohmann::json patch = {{"metadata",
                               {{"ownerReferences", kept},
                                {"resourceVersion", meta.value("resourceVersion", "")}}}};
      const std::string one = pods_path(meta.value("name", ""));
      auto r = client_->request("PATCH", one, patch.dump(), "application/merge-patch+json");
      if (!r) return std::unexpected(r.error());
      if (r->status / 100 != 2 && r->status != 404) {
        return std::unexpected(kube_error(*r, "PATCH " + one));  // 409: the caller retries
      }
    }
  }
  // 2. The Pool itself.
  const std::string one = pools_path(name);
  auto deleted = client_->request("DELETE", one, R"({"propagationPolicy":"Background"})");
  if (!deleted) return std::unexpected(deleted.error());
  if (deleted->status / 100 != 2 && deleted->status != 404) {
    return std::unexpected(kube_error(*deleted, "DELETE " + one));
  }
  // 3. Its free pods now, rather than whenever the garbage collector gets to them.
  const std::string free =
      pods_path() + "?labelSelector=" + url_encode(selector + ",!" + std::string(kSandboxIdLabel));
  auto r = client_->request("DELETE", free, R"({"propagationPolicy":"Background"})");
  if (!r) return std::unexpected(r.error());
  if (r->status / 100 != 2 && r->status != 404) {
    return std::unexpected(kube_error(*r, "DELETE " + pods_path() + " (the pool's free pods)"));
  }
  return {};
}

Result<void> KubernetesRuntime::delete_pool(const std::string& name) {
  if (auto ok = require_pools(); !ok) return ok;
  if (!is_valid_pool_name(name)) {
    return fail(ErrorCode::kInvalidArgument,
                "pool name \"" + name + "\" is not a DNS-1123 label (1..63 of [a-z0-9-])", "name");
  }
  const std::string one = pools_path(name);
  auto existing = client_->request("GET", one);
  if (!existing) return std::unexpected(existing.error());
  if (existing->status / 100 == 2) {
    auto pool = parse_body(*existing, "GET " + one);
    if (!pool) return std::unexpected(pool.error());
    if (label_of(*pool, kInstanceLabel) != options_.instance_id ||
        label_of(*pool, kPoolGenerationLabel).empty()) {
      return {};  // someone else's: not ours to delete
    }
    if (auto r = delete_pool_object(name, std::nullopt); !r) return r;
    logger("kubernetes")->info("pool {}: deleted its Pool", name);
  } else if (existing->status != 404) {
    return std::unexpected(kube_error(*existing, "GET " + one));
  }
  // The pull secret (of every generation) goes with the pool; absent is fine.
  const std::string secret = secrets_path(pool_pull_secret_name(name));
  auto s = client_->get_json(secret);
  if (s && label_of(*s, kPoolLabel) == name &&
      label_of(*s, kInstanceLabel) == options_.instance_id) {
    auto r = client_->request("DELETE", secret, R"({"propagationPolicy":"Background"})");
    if (!r) return std::unexpected(r.error());
    if (r->status / 100 != 2 && r->status != 404) {
      return std::unexpected(kube_error(*r, "DELETE " + secret));
    }
  } else if (!s && s.error().code != ErrorCode::kNotFound) {
    return std::unexpected(s.error());
  }
  return {};
}

Result<std::vector<RuntimePoolStatus>> KubernetesRuntime::list_pools() {
  if (auto ok = require_pools(); !ok) return std::unexpected(ok.error());
  const std::string path =
      pools_path() + "?labelSelector=" + url_encode(own_selector(kPoolGenerationLabel));
  auto response = client_->request("GET", path);
  if (!response) return std::unexpected(response.error());
  if (response->status == 404) {
    return std::unexpected(no_pool_resource(*response, "GET " + pools_path()));
  }
  if (response->status / 100 != 2) {
    return std::unexpected(kube_error(*response, "GET " + pools_path()));
  }
  auto list = parse_body(*response, "GET " + pools_path());
  if (!list) return std::unexpected(list.error());
  std::vector<RuntimePoolStatus> out;
  if (!list->contains("items") || !(*list)["items"].is_array()) return out;
  for (const auto& item : (*list)["items"]) {
    if (!item.is_object() || !item.contains("metadata")) continue;
    const auto generation = parse_u64(label_of(item, kPoolGenerationLabel));
    if (!generation) continue;  // not made by sandboxd
    RuntimePoolStatus s;
    s.name = item["metadata"].value("name", "");
    s.generation = *generation;
    if (item.contains("spec") && item["spec"].is_object() &&
        item["spec"].contains("capacitySpec")) {
      const auto& cap = item["spec"]["capacitySpec"];
      s.capacity.buffer_max = int_field(cap, "bufferMax");
      s.capacity.buffer_min = int_field(cap, "bufferMin");
      s.capacity.pool_max = int_field(cap, "poolMax");
      s.capacity.pool_min = int_field(cap, "poolMin");
    }
    if (item.contains("status") && item["status"].is_object()) {
      const auto& st = item["status"];
      s.reported = true;
      s.total = int_field(st, "total");
      s.allocated = int_field(st, "allocated");
      s.available = int_field(st, "available");
      if (st.contains("revision") && st["revision"].is_string()) {
        s.revision = st["revision"].get<std::string>();
      }
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

void KubernetesRuntime::run_binder(std::stop_token stop) {
  // Poll quickly only while a pooled sandbox waits for its pod (every 50 ms in its first 2 s,
  // when the controller usually allocates; then every 100 ms; each second once every waiting
  // one has waited longer than 30 s: an exhausted pool); else a slow rescan, which also
  // finds, after a restart, what an earlier process left waiting.
  constexpr auto kEagerPoll = std::chrono::milliseconds(50);
  constexpr auto kPendingPoll = std::chrono::milliseconds(100);
  constexpr auto kPatientPoll = std::chrono::milliseconds(1'000);
  constexpr auto kIdleRescan = std::chrono::milliseconds(30'000);
  constexpr auto kErrorRetry = std::chrono::milliseconds(1'000);
  std::string last_error;
  while (!stop.stop_requested()) {
    auto pass = bind_pass();
    std::chrono::milliseconds wait = kIdleRescan;
    if (!pass) {
      if (pass.error().message != last_error) {
        logger("kubernetes")
            ->warn("pool binder: {} (retrying every second)", pass.error().message);
        last_error = pass.error().message;
      }
      wait = kErrorRetry;
    } else {
      last_error.clear();
      if (*pass == BindWait::kEager) wait = kEagerPoll;
      if (*pass == BindWait::kSoon) wait = kPendingPoll;
      if (*pass == BindWait::kPatient) wait = kPatientPoll;
    }
    std::unique_lock lock(binder_mu_);
    binder_cv_.wait_for(lock, stop, wait, [this] { return binder_wake_; });
    binder_wake_ = false;
  }
}

Result<KubernetesRuntime::BindWait> KubernetesRuntime::bind_pass() {
  constexpr Micros kEager = 2 * kMicrosPerSecond;
  constexpr Micros kPatient = 30 * kMicrosPerSecond;
  const std::string path =
      workload_path() + "?labelSelector=" + url_encode(own_selector(kSandboxIdLabel));
  auto list = client_->get_json(path);
  if (!list) return std::unexpected(list.error());
  BindWait wait = BindWait::kNone;
  auto waiting = [&](const nlohmann::json& item) {
    const auto created =
        parse_rfc3339(item["metadata"].value("creationTimestamp", std::string()));
    // No creation time: as a fresh one.
    const Micros age = created ? wall_now() - *created : 0;
    const BindWait mine = age < kEager     ? BindWait::kEager
                          : age < kPatient ? BindWait::kSoon
                                           : BindWait::kPatient;
    wait = std::max(wait, mine);
  };
  if (!list->contains("items") || !(*list)["items"].is_array()) return wait;
  for (const auto& item : (*list)["items"]) {
    if (!item.is_object() || !item.contains("spec") || !item["spec"].is_object() ||
        !item.contains("metadata") || !item["metadata"].is_object()) {
      continue;
    }
    const auto& spec = item["spec"];
    if (!spec.contains("poolRef") || !spec["poolRef"].is_string() ||
        spec["poolRef"].get<std::string>().empty()) {
      continue;
    }
    if (item["metadata"].contains("deletionTimestamp")) continue;
    const std::string id = label_of(item, kSandboxIdLabel);
    if (id.empty()) continue;
    if (auto pod = informer_->find_by_sandbox(id); pod) continue;  // bound (or going)
    auto pod_name = confirmed_pool_pod(item);
    if (!pod_name) {
      waiting(item);  // the controller has not allocated a pod yet
      continue;
    }
    if (given_up_.contains(*pod_name)) continue;
    if (bind_pod(id, spec["poolRef"].get<std::string>(), *pod_name)) waiting(item);  // until the informer shows the labelled pod
  }
  binder_given_up_ = given_up_.size();
  return wait;
}

bool KubernetesRuntime::bind_pod(const std::string& id, const std::string& pool_ref,
                                 const std::string& pod_name) {
  auto log = logger("kubernetes");
  const std::string one = pods_path(pod_name);
  auto pod = client_->get_json(one);
  if (!pod) {
    if (pod.error().code == ErrorCode::kNotFound) {
      // Gone (the sandbox's pod ended and was removed, or the controller took it back): there
      // is nothing to bind; a new allocation names another pod.
      given_up_.insert(pod_name);
      return false;
    }
    log->warn("sandbox {}: cannot read its pool pod {}: {}", id, pod_name, pod.error().message);
    return true;
  }
  const std::string bound_to = label_of(*pod, kSandboxIdLabel);
  if (bound_to == id) return true;  // done; the informer catches up
  if (!bound_to.empty()) {
    given_up_.insert(pod_name);
    log->warn("sandbox {}: the pool controller allocated pod {}, which already belongs to "
              "sandbox {}; it is not relabelled",
              id, pod_name, bound_to);
    return false;
  }
  if ((*pod)["metadata"].contains("deletionTimestamp")) {
    given_up_.insert(pod_name);
    return false;
  }
  if (label_of(*pod, kPoolLabel) != pool_ref) {
    // Not a pod of that pool's template: whatever the annotation says, it is not taken.
    given_up_.insert(pod_name);
    log->warn("sandbox {}: the allocation names pod {}, which is not a pod of pool {} (label "
              "{}); it is not relabelled",
              id, pod_name, pool_ref, kPoolLabel);
    return false;
  }
  nlohmann::json labels = {{std::string(kSandboxIdLabel), id}};
  if (!options_.instance_id.empty()) labels[std::string(kInstanceLabel)] = options_.instance_id;
  nlohmann::json patch = {
      {"metadata",
       {{"labels", labels},
        {"resourceVersion", (*pod)["metadata"].value("resourceVersion", "")}}}};
  auto r = client_->request("PATCH", one, patch.dump(), "application/merge-patch+json");
  if (!r) {
    log->warn("sandbox {}: cannot label its pool pod {}: {}", id, pod_name, r.error().message);
    return true;
  }
  if (r->status == 409) return true;  // changed meanwhile: the next pass reads it again
  if (r->status / 100 != 2) {
    log->warn("sandbox {}: cannot label its pool pod {}: {}", id, pod_name,
              kube_error(*r, "PATCH " + one).message);
    return true;
  }
  log->info("sandbox {}: took pod {} from pool {}", id, pod_name,
            label_of(*pod, kPoolLabel).empty() ? std::string("?") : label_of(*pod, kPoolLabel));
  return true;
}

Result<void> KubernetesRuntime::renew(const std::string& sandbox_id, Micros expires_at) {
  // The workload's own expiry (the cluster removes it then, even while sandboxd is down).
  const char* field = options_.provider == KubernetesProvider::kBatchSandbox   ? "expireTime"
                      : options_.provider == KubernetesProvider::kAgentSandbox ? "shutdownTime"
                                                                               : nullptr;
  if (field == nullptr) return {};
  nlohmann::json patch = {{"spec", {{field, kubernetes_time(expires_at)}}}};
  const std::string path = workload_path(workload_name(sandbox_id));
  auto response = client_->request("PATCH", path, patch.dump(), "application/merge-patch+json");
  if (!response) return std::unexpected(response.error());
  if (response->status / 100 == 2 || response->status == 404) return {};
  return std::unexpected(kube_error(*response, "PATCH " + path));
}

}  // namespace sbx
