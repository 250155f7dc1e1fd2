// DockerRuntime: the Runtime on the Docker Engine API (unix socket or tcp), via HttpClient.
//
// The API version is negotiated once with GET /_ping (header API-Version): the lower of
// the server's version and kMaxDockerApiVersion, so it works with Debian's 20.10 engine
// (1.41) as well as engines that refuse old clients (Docker 29 wants >= 1.44). Engines
// older than kMinDockerApiVersion are refused (kFailedPrecondition). A failed negotiation
// is retried on the next call.
//
// create_and_start(spec), for the container `sandbox-<id>`:
//   - creates it (pulling the image first when the engine lacks it, with X-Registry-Auth
//     when spec.auth is set) with labels spec.labels (minus keys under sandboxd.io/ or
//     *.sandboxd.io/: only sandboxd writes those) + {sandboxd.io/id: id,
//     sandboxd.io/instance: options.instance_id (when set)}, env +
//     EXECD=/opt/opensandbox/execd, Entrypoint /opt/opensandbox/bootstrap.sh and Cmd the
//     user's entrypoint, NanoCpus/Memory from the limits, PidsLimit, CapDrop,
//     SecurityOpt no-new-privileges (+ apparmor, seccomp), the network mode, and in non-host
//     modes ExposedPorts + PortBindings on options.port_bind_ip;
//   - gives it execd: /execd and /bootstrap.sh are copied once per DockerRuntime out of
//     options.execd_image (through a created-never-started helper container, removed
//     afterwards; cached in memory) into a named volume `sandboxd-execd-<hash of the
//     files>[-<instance id>]` (filled once per engine and instance, kept as a cache across
//     restarts), which every sandbox mounts read-only at /opt/opensandbox. Helpers and the
//     volume are labelled sandboxd.io/helper=execd (+ sandboxd.io/instance). When the
//     engine cannot give the volume (a non-transient error), the files are PUT into the
//     container instead;
//   - starts it. A container this call created is removed again if injection or start
//     fails (except when the engine became unreachable: a retry resumes the work).
// With an empty options.execd_image nothing is injected and the user's entrypoint runs
// as the container's entrypoint (used by benchmarks as the raw baseline).
//
// Errors: see runtime.h. A missing image that cannot be pulled is kNotFound with a
// message starting "DOCKER::IMAGE_NOT_FOUND: ". Engine error statuses map 400 ->
// kInvalidArgument, 404 -> kNotFound, 409 -> kConflict, other -> kInternal, each with the
// engine's message.
//
// Thread-safe: all state (negotiated version, execd cache) is behind mutexes; any number
// of threads may call at once. watch() holds one streaming connection per call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/http/http_client.h"
#include "src/runtime/runtime.h"

namespace sbx {

inline constexpr std::string_view kMaxDockerApiVersion = "1.52";
inline constexpr std::string_view kMinDockerApiVersion = "1.41";

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
  // The store's identity (EventStore::instance_id()). Every container, execd helper and
  // execd volume this runtime creates is labelled sandboxd.io/instance=<it>, and it sweeps
  // and prunes only helpers and volumes carrying it. Empty: unscoped (benchmarks and tests
  // that have no store): nothing gets the label, and "its own" means "without the label".
  std::string instance_id;
  // tcp:// over TLS with server verification and a client certificate (docker.tls_verify).
  std::optional<HttpTlsOptions> tls;
};

// $DOCKER_HOST when set and non-empty, else "unix:///var/run/docker.sock".
std::string default_docker_host();

// "1.41" < "1.44": compares dotted numeric versions; false on malformed input.
bool docker_api_version_less(std::string_view a, std::string_view b);

class DockerRuntime final : public Runtime {
 public:
  // Validates the options (host form; reads the seccomp profile file) without contacting
  // the engine. kInvalidArgument naming the option when one is wrong.
  static Result<std::unique_ptr<DockerRuntime>> create(DockerOptions options);
  // For tests: a runtime on an injected transport.
  static Result<std::unique_ptr<DockerRuntime>> create(DockerOptions options,
                                                       std::unique_ptr<HttpTransport> transport);
  ~DockerRuntime() override;

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) override;
  Result<void> pause(const std::string& sandbox_id) override;
  Result<void> resume(const std::string& sandbox_id) override;
  Result<void> remove(const std::string& sandbox_id) override;
  Result<std::optional<ContainerStatus>> inspect(const std::string& sandbox_id) override;
  // Also removes execd helper containers a crashed process of this instance left behind
  // (sweep_stale_helpers: labelled sandboxd.io/helper, with this runtime's instance label,
  // never one that carries sandboxd.io/id).
  Result<std::vector<ContainerStatus>> list() override;
  Result<void> ping() override;
  Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                     std::stop_token stop) override;

  // The negotiated API version ("1.41"), negotiating if not done yet.
  Result<std::string> api_version();

 private:
  struct Impl;
  explicit DockerRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbx
