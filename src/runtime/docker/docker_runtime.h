// DockerRuntime: the Runtime on the Docker Engine API (unix socket or tcp). A thin
// coordinator over its parts in this folder:
//   docker_engine.h    the engine client: API version negotiation, calls, error mapping
//   image_pull.h       image pull with registry auth; the create that pulls on demand
//   execd_injection.h  execd for every sandbox: the shared read-only volume, or a copy
//   container_body.h   the pure ContainerSpec -> create body (labels, env, limits,
//                      hardening, network mode, port bindings)
//   event_watch.h      the lifecycle event stream
//
// create_and_start(spec), for the container `sandbox-<id>`:
//   - creates it (pulling the image first when the engine lacks it, with X-Registry-Auth
//     when spec.auth is set) with the body of container_create_body(): labels spec.labels
//     (minus keys under sandboxd.io/ or *.sandboxd.io/: only sandboxd writes those; each
//     dropped key is logged) + {sandboxd.io/id: id, sandboxd.io/instance:
//     options.instance_id (when set)}, env + EXECD=/opt/opensandbox/execd, Entrypoint
//     /opt/opensandbox/bootstrap.sh and Cmd the user's entrypoint, NanoCpus/Memory from the
//     limits, PidsLimit, CapDrop, SecurityOpt no-new-privileges (+ apparmor, seccomp), the
//     network mode, and in non-host modes ExposedPorts + PortBindings on
//     options.port_bind_ip;
//   - gives it execd (ExecdInjection): the shared execd volume mounted read-only at
//     /opt/opensandbox, or, when the engine cannot give the volume (a non-transient
//     error), the files PUT into the container;
//   - starts it. A container this call created is removed again if injection or start
//     fails (except when the engine became unreachable: a retry resumes the work).
// With spec.egress (runtime.h EgressSpec; egress_sidecar.h): the sidecar
// sandbox-egress-<id> is created (or reused) and started first, its /healthz waited for
// (DOCKER::EGRESS_NOT_READY when the readiness timeout runs out or it exits: both
// containers are removed), then the sandbox container is created in its network namespace
// (container:sandbox-egress-<id>, no ports, no NET_ADMIN). pause() pauses the sandbox then
// the sidecar; resume() the other way round; remove() removes both; inspect() and list()
// report a running sandbox container whose sidecar is not alive as kDead (reason
// "EgressSidecarDied"); watch() reports a sidecar's die/destroy as its sandbox's kDied; and
// list() removes sidecars of this instance whose sandbox container is gone (not while a
// create of theirs runs in this process).
//
// With an empty options.execd_image nothing is injected and the user's entrypoint runs
// as the container's entrypoint (used by benchmarks as the raw baseline).
//
// Errors: see runtime.h and docker_engine.h. A missing image that cannot be pulled is
// kNotFound with a message starting "DOCKER::IMAGE_NOT_FOUND: ".
//
// Thread-safe: all state (negotiated version, execd cache) is behind mutexes; any number
// of threads may call at once. watch() holds one streaming connection per call.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/http/http_client.h"
#include "src/runtime/docker/docker_engine.h"
#include "src/runtime/docker/docker_options.h"
#include "src/runtime/runtime.h"

namespace sbx {

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
