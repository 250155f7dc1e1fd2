// DockerRuntime: the Runtime on the Docker Engine API (unix socket or tcp). A thin
// coordinator over its parts in this folder:
//   docker_engine.h    the engine client: API version negotiation, calls, error mapping
//   image_pull.h       image pull with registry auth; the create under the pull policy
//   execd_injection.h  execd for every sandbox: the shared read-only volume, or a copy
//   container_body.h   the pure ContainerSpec -> create body (labels, env, limits,
//                      hardening, network mode, port bindings)
//   event_watch.h      the lifecycle event stream
//
// create_and_start(spec), for the container `sandbox-<id>`:
//   - when options.oci_runtime is set and has not been found yet: check_oci_runtime();
//   - creates it, getting the image as options.pull_policy says (image_pull.h: pulled when
//     the engine lacks it, or checked with the registry on every create, or never pulled;
//     with X-Registry-Auth when spec.auth is set), with the body of
//     container_create_body(): labels spec.labels (minus keys under sandboxd.io/ or
//     *.sandboxd.io/: only sandboxd writes those; each dropped key is logged) +
//     {sandboxd.io/id: id, sandboxd.io/instance: options.instance_id (when set)}, env +
//     EXECD=/opt/opensandbox/execd, Entrypoint /opt/opensandbox/bootstrap.sh and Cmd the
//     user's entrypoint, NanoCpus/Memory from the limits, PidsLimit, Runtime
//     (options.oci_runtime), CapDrop, SecurityOpt no-new-privileges (+ apparmor, seccomp),
//     the network mode, and in non-host modes ExposedPorts + PortBindings on
//     options.port_bind_ip;
//   - gives it execd (ExecdInjection): the shared execd volume mounted read-only at
//     /opt/opensandbox, or, when the engine cannot give the volume (a non-transient
//     error), the files PUT into the container;
//   - starts it. A container this call created is removed again if injection or start
//     fails (except when the engine became unreachable: a retry resumes the work).
// Volumes, GPUs, sandbox-wide env and binds (issue 12), before the container is made:
//   - host volumes are resolved again against options.allowed_host_paths
//     (resolve_allowed_host_path: a link changed since the create's check is refused with
//     VOLUME::HOST_PATH_NOT_ALLOWED) and the resolved path is bind-mounted (readOnly);
//   - pvc volumes are Docker named volumes: an absent one is created (createIfNotExists,
//     labelled sandboxd.io/volume-of=<id> + sandboxd.io/instance) or the create fails with
//     VOLUME::PVC_NOT_FOUND; subPath needs API >= 1.45 and the local driver
//     (VOLUME::PVC_SUBPATH_UNSUPPORTED otherwise). RuntimeInfo::created_volumes lists the
//     ones made for this sandbox; remove_volumes() removes only volumes so labelled. A
//     create that fails for good removes those with deleteOnSandboxTermination again;
//   - options.sandbox_env is merged into the env (operator wins), options.sandbox_binds
//     become HostConfig.Binds, spec.gpu becomes DeviceRequests; an engine that cannot
//     satisfy the GPU request fails with DOCKER::GPU_UNAVAILABLE (kFailedPrecondition).
//
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
// Sandboxes adopted from the reference server (reference_containers.h) are containers it
// created: named `sandbox-<id>` like ours but labelled `opensandbox.io/id=<id>` instead of
// `sandboxd.io/id`. Every operation finds a sandbox's container through resolve_container
// (the name `sandbox-<id>`, else the one container labelled `opensandbox.io/id=<id>`);
// remove also removes the reference's egress sidecar of that id; list() and watch() report
// reference sandbox containers too, under their `opensandbox.io/id` and without an
// instance id (so the reconciler treats them as its own only when its log knows the
// sandbox: those adopted). The reference server's helpers (egress sidecars, execd-cache
// containers) are never reported, nor touched except that sidecar.
//
// Errors: see runtime.h, docker_engine.h and image_pull.h. A missing image that cannot be
// pulled is kNotFound with a message starting "DOCKER::IMAGE_NOT_FOUND: "; credentials the
// registry refuses are kUnauthenticated "DOCKER::IMAGE_PULL_UNAUTHORIZED: ..."; an
// options.oci_runtime the engine lacks is check_oci_runtime()'s error.
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
#include "src/runtime/docker/reference_containers.h"
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
  Result<void> remove_volumes(const std::string& sandbox_id,
                              const std::vector<std::string>& names) override;
  Result<std::vector<ContainerStatus>> list() override;
  Result<void> ping() override;
  // --- snapshots (issue 13) ---
  bool supports_snapshots() const override { return true; }
  Result<std::string> commit_snapshot(const std::string& sandbox_id, const std::string& snapshot_id,
                                      const std::string& image_ref) override;
  Result<std::optional<std::string>> snapshot_image(const std::string& snapshot_id,
                                                    const std::string& image_ref) override;
  Result<void> remove_snapshot_image(const std::string& snapshot_id,
                                     const std::string& image_ref) override;
  Result<std::vector<SnapshotImage>> list_snapshot_images() override;
  Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                     std::stop_token stop) override;
  // --- diagnostics (issue 13): container_logs.h, container_description.h ----------------
  // Logs: the container's inspect (absent -> nullopt; its Config.Tty says raw or
  // multiplexed), then GET /containers/{id}/logs streamed through a LogDemuxer, cut at
  // limits.max_bytes (the connection is dropped there) and at options.api_timeout
  // (kDeadlineExceeded). A malformed multiplexed stream is kInternal.
  Result<std::optional<ContainerLogs>> container_logs(const std::string& sandbox_id,
                                                      const LogLimits& limits) override;
  Result<std::optional<std::string>> describe(const std::string& sandbox_id) override;


  // The reference server's sandbox containers on this engine (all states), each with what it
  // would be adopted as or why it cannot be (reference_candidate()). Containers that carry
  // `sandboxd.io/id`, egress sidecars and unlabelled helpers are not listed.
  Result<std::vector<ReferenceCandidate>> reference_sandboxes();

  // The negotiated API version ("1.41"), negotiating if not done yet.
  Result<std::string> api_version();

  // Whether the engine has options.oci_runtime among its runtimes (GET /info Runtimes);
  // success at once when it is empty or was found before. The composition root calls it at
  // startup and refuses to start on kFailedPrecondition: field
  // "secure_runtime.docker_runtime", message "DOCKER::RUNTIME_NOT_AVAILABLE:
  // secure_runtime.docker_runtime = "x" is not a runtime of the Docker engine at <host> (its
  // runtimes: io.containerd.runc.v2, runc, ...)". An unreachable engine is the engine's
  // error (kUnavailable); create_and_start() checks again until it has been found once.
  Result<void> check_oci_runtime();

 private:
  struct Impl;
  explicit DockerRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbx
