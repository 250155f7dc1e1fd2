#include "src/runtime/kubernetes/workload_body.h"

#include <algorithm>

#include "events/time.h"
#include "src/runtime/docker/execd_archive.h"  // kExecdDir, kExecdPath, kBootstrapPath
#include "src/runtime/base64.h"
#include "src/runtime/image_reference.h"

namespace sbx {
namespace {

using json = nlohmann::json;


bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// 1..63 of [A-Za-z0-9-_.], alphanumeric at both ends: a label name or non-empty value.
bool is_qualified_name_part(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: dot-separated lowercase labels of [a-z0-9-], alphanumeric ends.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (part.empty() || part.size() > 63) return false;
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(part.front()) || !lower_alnum(part.back())) return false;
    for (char c : part) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// sandboxd.io/id (+ sandboxd.io/instance): the labels every object of a sandbox carries.
json own_labels(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  json labels = json::object();
  labels[std::string(kSandboxIdLabel)] = spec.sandbox_id;
  if (!options.instance_id.empty()) {
    labels[std::string(kInstanceLabel)] = options.instance_id;
  }
  return labels;
}

json object_metadata(const ContainerSpec& spec, const KubernetesWorkloadOptions& options,
                     std::string name) {
  return {{"name", std::move(name)},
          {"namespace", options.namespace_},
          {"labels", own_labels(spec, options)}};
}

json resources(const ResourceLimits& limits, const std::string& gpu) {
  json amounts = json::object();
  if (!limits.cpu.empty()) amounts["cpu"] = limits.cpu;
  if (!limits.memory.empty()) amounts["memory"] = limits.memory;
  // GPUs (issue 12): a count of the NVIDIA device plugin's extended resource ("all" has no
  // Kubernetes form; the service refuses it before).
  if (!gpu.empty() && gpu != "all") amounts["nvidia.com/gpu"] = gpu;
  if (amounts.empty()) return json::object();
  return {{"limits", amounts}, {"requests", amounts}};
}

}  // namespace

std::string workload_name(std::string_view sandbox_id) { return container_name(sandbox_id); }

std::string pull_secret_name(std::string_view sandbox_id) {
  return container_name(sandbox_id) + "-pull";
}

bool is_valid_label_key(std::string_view key) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) return is_qualified_name_part(key);
  return is_dns_subdomain(key.substr(0, slash)) && is_qualified_name_part(key.substr(slash + 1));
}

bool is_valid_label_value(std::string_view value) {
  return value.empty() || is_qualified_name_part(value);
}

std::vector<std::string> dropped_label_keys(const ContainerSpec& spec) {
  std::vector<std::string> dropped;
  for (const auto& [key, value] : spec.labels) {
    if (is_reserved_label(key) || !is_valid_label_key(key)) dropped.push_back(key);
  }
  return dropped;  // std::map order: sorted
}

std::string kubernetes_time(Micros t) {
  Micros seconds = t / kMicrosPerSecond;
  if (t % kMicrosPerSecond > 0) ++seconds;  // round up (truncation already rounds up below 0)
  std::string s = format_rfc3339(seconds * kMicrosPerSecond);
  // "...:SS.000000Z" -> "...:SS Z" without the fraction.
  if (auto dot = s.rfind('.'); dot != std::string::npos) s.erase(dot, s.size() - 1 - dot);
  return s;
}

namespace {

// {labels, annotations (only when non-empty)}: the user's labels as pod_template() puts them,
// with sandboxd's own labels (which win).
json labelled_metadata(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  json labels = json::object();
  json annotations = json::object();
  for (const auto& [key, value] : spec.labels) {
    if (is_reserved_label(key) || !is_valid_label_key(key)) continue;
    if (is_valid_label_value(value)) {
      labels[key] = value;
    } else {
      annotations[key] = value;
    }
  }
  labels.update(own_labels(spec, options));  // sandboxd's own labels win
  json metadata = {{"labels", labels}};
  if (!annotations.empty()) metadata["annotations"] = annotations;
  return metadata;
}

}  // namespace

json pod_template(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  const bool with_execd = !options.execd_image.empty();

  json metadata = labelled_metadata(spec, options);

  json env = json::array();
  for (const auto& [name, value] : spec.env) {
    if (with_execd && name == "EXECD") continue;
    env.push_back({{"name", name}, {"value", value}});
  }
  json command = json::array();
  if (with_execd) {
    env.push_back({{"name", "EXECD"}, {"value", std::string(kExecdPath)}});
    command.push_back(std::string(kBootstrapPath));
  }
  for (const auto& arg : spec.entrypoint) command.push_back(arg);

  json sandbox = {
      {"name", std::string(kSandboxContainerName)},
      {"image", spec.image_uri},
      {"imagePullPolicy", options.image_pull_policy},
      {"command", command},
      {"env", env},
      {"ports", json::array({{{"name", "execd"}, {"containerPort", kPodExecdPort}, {"protocol", "TCP"}},
                             {{"name", "http"},
                              {"containerPort", kSandboxHttpPort},
                              {"protocol", "TCP"}}})},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"capabilities", {{"drop", options.drop_capabilities}}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/ping"}, {"port", kPodExecdPort}}},
        {"periodSeconds", kReadinessPeriodSeconds},
        {"timeoutSeconds", kReadinessTimeoutSeconds},
        {"successThreshold", 1},
        {"failureThreshold", kReadinessFailureThreshold}}},
  };
  json res = resources(spec.limits, spec.gpu);
  if (!res.empty()) sandbox["resources"] = res;

  json pod = {
      {"restartPolicy", "Never"},
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"terminationGracePeriodSeconds", kTerminationGracePeriodSeconds},
      {"securityContext", {{"seccompProfile", {{"type", "RuntimeDefault"}}}}},
  };
  if (with_execd) {
    sandbox["volumeMounts"] = json::array(
        {{{"name", std::string(kExecdVolumeName)}, {"mountPath", std::string(kExecdDir)},
          {"readOnly", true}}});
    json installer = {
        {"name", std::string(kExecdInstallerName)},
        {"image", options.execd_image},
        {"imagePullPolicy", options.image_pull_policy},
        {"command", json::array({"/bin/sh", "-c", std::string(kExecdInstallCommand)})},
        {"volumeMounts", json::array({{{"name", std::string(kExecdVolumeName)},
                                       {"mountPath", std::string(kExecdDir)}}})},
        {"securityContext",
         {{"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", json::array({"ALL"})}}}}},
    };
    if (!res.empty()) installer["resources"] = res;
    pod["initContainers"] = json::array({installer});
    pod["volumes"] = json::array({{{"name", std::string(kExecdVolumeName)}, {"emptyDir", json::object()}}});
  }
  pod["containers"] = json::array({sandbox});
  if (options.runtime_class) pod["runtimeClassName"] = *options.runtime_class;
  if (spec.platform) {
    json selector = json::object();
    if (!spec.platform->os.empty()) selector["kubernetes.io/os"] = spec.platform->os;
    if (!spec.platform->arch.empty()) selector["kubernetes.io/arch"] = spec.platform->arch;
    if (!selector.empty()) pod["nodeSelector"] = selector;
  }
  if (spec.auth) {
    pod["imagePullSecrets"] = json::array({{{"name", pull_secret_name(spec.sandbox_id)}}});
  }
  return {{"metadata", metadata}, {"spec", pod}};
}

json pod_manifest(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  json tmpl = pod_template(spec, options);
  json metadata = tmpl["metadata"];
  metadata["name"] = workload_name(spec.sandbox_id);
  metadata["namespace"] = options.namespace_;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", metadata},
          {"spec", std::move(tmpl["spec"])}};
}

std::optional<json> pull_secret_manifest(const ContainerSpec& spec,
                                         const KubernetesWorkloadOptions& options) {
  if (!spec.auth) return std::nullopt;
  const std::string registry = credentials_registry(spec.image_uri);
  if (registry.empty()) return std::nullopt;
  const RegistryAuth& auth = *spec.auth;
  json config = {{"auths",
                  {{registry,
                    {{"username", auth.username},
                     {"password", auth.password},
                     {"auth", encode_base64(auth.username + ":" + auth.password)}}}}}};
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", object_metadata(spec, options, pull_secret_name(spec.sandbox_id))},
              {"type", "kubernetes.io/dockerconfigjson"},
              {"data", {{".dockerconfigjson", encode_base64(config.dump())}}}};
}

json batchsandbox_manifest(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  json body = {{"replicas", 1}, {"template", pod_template(spec, options)}};
  if (spec.expires_at) body["expireTime"] = kubernetes_time(*spec.expires_at);
  return {{"apiVersion", std::string(kBatchSandboxApiVersion)},
          {"kind", "BatchSandbox"},
          {"metadata", object_metadata(spec, options, workload_name(spec.sandbox_id))},
          {"spec", body}};
}

json agent_sandbox_manifest(const ContainerSpec& spec, const KubernetesWorkloadOptions& options) {
  json body = {{"podTemplate", pod_template(spec, options)}, {"replicas", 1}};
  if (spec.expires_at) {
    body["shutdownTime"] = kubernetes_time(*spec.expires_at);
    body["shutdownPolicy"] = "Delete";
  }
  return {{"apiVersion", std::string(kAgentSandboxApiVersion)},
          {"kind", "Sandbox"},
          {"metadata", object_metadata(spec, options, workload_name(spec.sandbox_id))},
          {"spec", body}};
}

// --- cluster-managed warm pools --------------------------------------------------------------

std::string pool_pull_secret_name(std::string_view pool_name) {
  return std::string(pool_name) + "-pool-pull";
}

namespace {

json pool_own_labels(const RuntimePoolSpec& spec, const KubernetesWorkloadOptions& options) {
  json labels = json::object();
  if (!options.instance_id.empty()) labels[std::string(kInstanceLabel)] = options.instance_id;
  labels[std::string(kPoolLabel)] = spec.name;
  labels[std::string(kPoolGenerationLabel)] = std::to_string(spec.generation);
  return labels;
}

bool shell_safe(char c) {
  return is_alnum(c) || c == '_' || c == '@' || c == '%' || c == '+' || c == '=' || c == ':' ||
         c == ',' || c == '.' || c == '/' || c == '-';
}

}  // namespace

json pool_pod_template(const RuntimePoolSpec& spec, const KubernetesWorkloadOptions& options) {
  json tmpl = pod_template(spec.template_spec, options);
  json& labels = tmpl["metadata"]["labels"];
  labels.erase(std::string(kSandboxIdLabel));
  labels.update(pool_own_labels(spec, options));
  if (spec.template_spec.auth) {
    tmpl["spec"]["imagePullSecrets"] =
        json::array({{{"name", pool_pull_secret_name(spec.name)}}});
  }
  return tmpl;
}

json pool_capacity_json(const PoolCapacity& capacity) {
  return {{"bufferMax", capacity.buffer_max},
          {"bufferMin", capacity.buffer_min},
          {"poolMax", capacity.pool_max},
          {"poolMin", capacity.pool_min}};
}

json pool_manifest(const RuntimePoolSpec& spec, const KubernetesWorkloadOptions& options) {
  json labels = pool_own_labels(spec, options);
  labels.erase(std::string(kPoolLabel));  // the CR's own name says it
  return {{"apiVersion", std::string(kBatchSandboxApiVersion)},
          {"kind", std::string(kPoolKind)},
          {"metadata",
           {{"name", spec.name}, {"namespace", options.namespace_}, {"labels", labels}}},
          {"spec",
           {{"template", pool_pod_template(spec, options)},
            {"capacitySpec", pool_capacity_json(spec.capacity)}}}};
}

std::optional<json> pool_pull_secret_manifest(const RuntimePoolSpec& spec,
                                              const KubernetesWorkloadOptions& options) {
  ContainerSpec as_sandbox = spec.template_spec;
  as_sandbox.sandbox_id = "pool";  // only for the builder; name and labels are replaced below
  auto secret = pull_secret_manifest(as_sandbox, options);
  if (!secret) return std::nullopt;
  json labels = pool_own_labels(spec, options);
  labels.erase(std::string(kPoolGenerationLabel));  // one secret for every generation
  (*secret)["metadata"] = {{"name", pool_pull_secret_name(spec.name)},
                           {"namespace", options.namespace_},
                           {"labels", labels}};
  return secret;
}

std::string shell_quote(std::string_view word) {
  if (!word.empty() && std::all_of(word.begin(), word.end(), shell_safe)) {
    return std::string(word);
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\"'\"'";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

json pooled_batchsandbox_manifest(const ContainerSpec& spec,
                                  const KubernetesWorkloadOptions& options) {
  const bool with_execd = !options.execd_image.empty();
  std::string line = "exec";
  if (with_execd) line.append(" ").append(kBootstrapPath);
  for (const auto& arg : spec.entrypoint) line.append(" ").append(shell_quote(arg));
  json env = json::array();
  for (const auto& [name, value] : spec.env) {
    if ((with_execd && name == "EXECD") || name == "OPENSANDBOX_ID") continue;
    env.push_back({{"name", name}, {"value", value}});
  }
  if (with_execd) env.push_back({{"name", "EXECD"}, {"value", std::string(kExecdPath)}});
  env.push_back({{"name", "OPENSANDBOX_ID"}, {"value", spec.sandbox_id}});
  json process = {{"command", json::array({"/bin/sh", "-c", line})}, {"env", env}};
  json body = {{"replicas", 1},
               {"poolRef", spec.pool_ref},
               {"taskTemplate", {{"spec", {{"process", process}}}}}};
  if (spec.expires_at) body["expireTime"] = kubernetes_time(*spec.expires_at);
  json metadata = labelled_metadata(spec, options);
  metadata["name"] = workload_name(spec.sandbox_id);
  metadata["namespace"] = options.namespace_;
  return {{"apiVersion", std::string(kBatchSandboxApiVersion)},
          {"kind", "BatchSandbox"},
          {"metadata", metadata},
          {"spec", body}};
}

std::optional<std::string> confirmed_pool_pod(const json& batchsandbox) {
  if (!batchsandbox.is_object()) return std::nullopt;
  auto spec = batchsandbox.find("spec");
  auto metadata = batchsandbox.find("metadata");
  if (spec == batchsandbox.end() || metadata == batchsandbox.end() || !spec->is_object() ||
      !metadata->is_object()) {
    return std::nullopt;
  }
  auto pool_ref = spec->find("poolRef");
  if (pool_ref == spec->end() || !pool_ref->is_string() || pool_ref->get<std::string>().empty()) {
    return std::nullopt;
  }
  if (metadata->contains("deletionTimestamp")) return std::nullopt;
  auto finalizers = metadata->find("finalizers");
  if (finalizers == metadata->end() || !finalizers->is_array()) return std::nullopt;
  const bool finalized =
      std::any_of(finalizers->begin(), finalizers->end(), [](const json& f) {
        return f.is_string() && f.get<std::string>() == kPoolAllocationFinalizer;
      });
  if (!finalized) return std::nullopt;
  auto annotations = metadata->find("annotations");
  if (annotations == metadata->end() || !annotations->is_object()) return std::nullopt;
  auto raw = annotations->find(std::string(kAllocStatusAnnotation));
  if (raw == annotations->end() || !raw->is_string()) return std::nullopt;
  const json alloc = json::parse(raw->get<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (alloc.is_discarded() || !alloc.is_object()) return std::nullopt;
  auto alloc_ref = alloc.find("poolRef");
  if (alloc_ref == alloc.end() || *alloc_ref != *pool_ref) return std::nullopt;
  auto pods = alloc.find("pods");
  if (pods == alloc.end() || !pods->is_array() || pods->empty()) return std::nullopt;
  std::vector<std::string> names;
  for (const json& pod : *pods) {
    if (!pod.is_string() || !is_dns_subdomain(pod.get<std::string>())) return std::nullopt;
    names.push_back(pod.get<std::string>());
  }
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return std::nullopt;
  return names.front();
}

}  // namespace sbx
