// DockerOptions: how a DockerRuntime reaches its engine and how it hardens containers.
// A plain value; the composition root maps the Config onto it (src/server).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/http/http_client.h"

namespace sbx {

// When a sandbox image is pulled (docker.image_pull_policy; image_pull.h says what each does).
enum class PullPolicy { kIfNotPresent, kAlways, kNever };

struct DockerOptions {
  std::string host = "unix:///var/run/docker.sock";  // unix:///path or tcp://host:port
  std::chrono::seconds api_timeout{180};             // docker.api_timeout, per request
  std::chrono::milliseconds connect_timeout{5'000};
  std::string execd_image = "opensandbox/execd:v1.0.18";  // runtime.execd_image
  std::vector<std::string> drop_capabilities = {"AUDIT_WRITE", "MKNOD",     "NET_ADMIN",
                                                "NET_RAW",     "SYS_ADMIN", "SYS_MODULE",
                                                "SYS_PTRACE",  "SYS_TIME",  "SYS_TTY_CONFIG"};
  bool no_new_privileges = true;
  std::string apparmor_profile;    // empty = engine default
  std::string seccomp_profile;     // empty = engine default; "unconfined"; else a JSON file path
  std::int64_t pids_limit = 4096;  // <= 0: no limit
  std::string port_bind_ip = "0.0.0.0";
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;  // sandbox images only, not execd's
  // HostConfig.Runtime of every sandbox container (secure_runtime.docker_runtime, e.g.
  // "runsc"); empty = the engine's default runtime. See DockerRuntime::check_oci_runtime().
  std::string oci_runtime;
  // The store's identity (EventStore::instance_id()). Every container, execd helper and
  // execd volume this runtime creates is labelled sandboxd.io/instance=<it>, and it sweeps
  // and prunes only helpers and volumes carrying it. Empty: unscoped (benchmarks and tests
  // that have no store): nothing gets the label, and "its own" means "without the label".
  std::string instance_id;
  // tcp:// over TLS with server verification and a client certificate (docker.tls_verify).
  std::optional<HttpTlsOptions> tls;

  // --- volumes, sandbox-wide env and binds (issue 12) ---
  // storage.allowed_host_paths: host volumes are resolved against it again right before
  // the mount (the service checked it at create; a link may have changed since). Empty =
  // host volumes refused.
  std::vector<std::string> allowed_host_paths;
  // docker.sandbox_env: set in every sandbox; operator policy, so it wins over the
  // request's env for the same name.
  std::map<std::string, std::string> sandbox_env;
  // docker.sandbox_binds: Docker bind specs "SRC:DST[:ro]" (absolute, no "..", checked at
  // config load) given to every sandbox as HostConfig.Binds; operator policy, not subject
  // to allowed_host_paths.
  std::vector<std::string> sandbox_binds;
};

}  // namespace sbx
