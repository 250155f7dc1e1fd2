#include "src/server/runtime_options.h"

#include <cctype>
#include <cstdint>

namespace sbx {

DockerOptions docker_options_from(const Config& c, const std::string& instance_id) {
  DockerOptions o;
  o.instance_id = instance_id;
  o.host = c.docker.host;
  o.api_timeout = std::chrono::seconds(c.docker.api_timeout);
  o.execd_image = c.runtime.execd_image;
  o.drop_capabilities = c.docker.drop_capabilities;
  o.no_new_privileges = c.docker.no_new_privileges;
  o.apparmor_profile = c.docker.apparmor_profile.value_or("");
  o.seccomp_profile = c.docker.seccomp_profile.value_or("");
  o.pids_limit = c.docker.pids_limit;
  o.port_bind_ip = c.docker.port_bind_ip;
  switch (c.docker.image_pull_policy) {
    case ImagePullPolicy::kIfNotPresent:
      o.pull_policy = PullPolicy::kIfNotPresent;
      break;
    case ImagePullPolicy::kAlways:
      o.pull_policy = PullPolicy::kAlways;
      break;
    case ImagePullPolicy::kNever:
      o.pull_policy = PullPolicy::kNever;
      break;
  }
  o.oci_runtime = c.secure_runtime.docker_runtime.value_or("");
  o.allowed_host_paths = c.storage.allowed_host_paths;
  o.sandbox_env = c.docker.sandbox_env;
  o.sandbox_binds = c.docker.sandbox_binds;
  if (c.docker.tls_verify) {
    o.tls = HttpTlsOptions{c.docker.cert_path + "/ca.pem", c.docker.cert_path + "/cert.pem",
                           c.docker.cert_path + "/key.pem"};
  }
  return o;
}

WorkerOptions worker_options_from(const Config& c) {
  WorkerOptions o;
  o.provisioners = c.workers.provisioners;
  o.reconcile_interval = std::chrono::seconds(c.workers.reconcile_interval_seconds);
  o.pending_failure_ttl = c.workers.pending_failure_ttl_seconds * kMicrosPerSecond;
  o.pending_timeout = c.kubernetes.pending_timeout_seconds * kMicrosPerSecond;
  if (c.egress.image && !c.egress.image->empty()) {
    o.egress = EgressSettings{
        *c.egress.image, std::string(to_string(c.egress.mode)), c.egress.disable_ipv6,
        std::chrono::milliseconds(
            static_cast<std::int64_t>(c.egress.readiness_timeout_seconds * 1000.0 + 0.5))};
  }
  o.error_code_prefix.clear();
  for (char ch : to_string(c.runtime.type)) {
    o.error_code_prefix.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  }
  return o;
}

}  // namespace sbx
