// The body of POST /containers/create for a sandbox: ContainerSpec + DockerOptions ->
// Engine JSON. A pure function (no I/O, no logging), so what a sandbox container looks like
// is tested without an engine (tests/runtime/container_body_test.cpp).
//
// The body holds:
//   Image         spec.image_uri
//   Labels        spec.labels minus reserved keys (is_reserved_label: sandboxd.io/ and
//                 *.sandboxd.io/, only sandboxd writes those; they are returned in
//                 `dropped_labels` for the caller to log), plus sandboxd.io/id = spec id and,
//                 when options.instance_id is set, sandboxd.io/instance = it
//   Env           spec.env as KEY=VALUE (sorted by key); with execd, the user's EXECD is
//                 replaced by EXECD=/opt/opensandbox/execd (last)
//   Entrypoint    with execd: [/opt/opensandbox/bootstrap.sh] and Cmd = spec.entrypoint;
//   Cmd           without (options.execd_image empty): Entrypoint = spec.entrypoint, Cmd []
//   ExposedPorts  only when spec.network_mode is not "host" and spec.ports is not empty:
//                 "<container port>/tcp" for each port
//   HostConfig    NetworkMode = spec.network_mode; NanoCpus / Memory from spec.limits (when
//                 set); PidsLimit (options.pids_limit > 0); Runtime (options.oci_runtime,
//                 when non-empty: the OCI runtime, e.g. runsc); CapDrop (non-empty
//                 options.drop_capabilities); SecurityOpt ["no-new-privileges:true" (when
//                 options.no_new_privileges), "apparmor=<profile>" (when set),
//                 `seccomp_option` (when non-empty)], left out when empty; PortBindings
//                 (same condition as ExposedPorts) "<port>/tcp" -> [{HostIp:
//                 options.port_bind_ip, HostPort: "<host port>"}]; Mounts: the execd volume
//                 read-only at /opt/opensandbox, when `execd_volume` is non-empty
//                 (the sandbox's volumes, binds and GPUs: add_volumes_and_devices).
//
// Thread-safe (pure).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "src/runtime/docker/docker_options.h"
#include "src/runtime/runtime.h"

namespace sbx {

struct ContainerCreateBody {
  nlohmann::json body;
  std::vector<std::string> dropped_labels;  // reserved user label keys left out
};

// --- volumes, GPUs, sandbox-wide env and binds (issue 12) ---
// One mount of a sandbox's volumes, resolved by the runtime: a host volume is a bind of
// the path resolve_allowed_host_path() returned (subPath already applied); a pvc volume is
// the named volume `source`, with `sub_path` as VolumeOptions.Subpath (engine API >= 1.45).
struct ResolvedMount {
  enum class Type { kBind, kVolume };
  Type type = Type::kBind;
  std::string source;
  std::string target;
  bool read_only = false;
  std::string sub_path;  // kVolume only
};

// `spec` with options.sandbox_env merged into its env (the operator's value wins).
ContainerSpec with_sandbox_env(const ContainerSpec& spec, const DockerOptions& options);

// Adds to a body from container_create_body(): `mounts` to HostConfig.Mounts (after the
// execd volume, if any), options.sandbox_binds as HostConfig.Binds, and spec.gpu as
// HostConfig.DeviceRequests [{Driver "", Count -1 ("all") or n, Capabilities [["gpu"]]}].
// kInvalidArgument (field resourceLimits.gpu) for a gpu that is neither "all" nor a
// positive count.
Result<void> add_volumes_and_devices(nlohmann::json& body, const ContainerSpec& spec,
                                     const DockerOptions& options,
                                     const std::vector<ResolvedMount>& mounts);

// `seccomp_option`: the SecurityOpt entry for options.seccomp_profile, as
// seccomp_security_option() resolves it ("" = engine default). `execd_volume`: the execd
// volume to mount ("" = none: execd is copied in, or not injected at all).
// A limit that does not parse is the error of parse_cpu_quantity / parse_memory_quantity
// (kInvalidArgument, field "cpu" / "memory"); validate_container_spec() refuses such a spec
// before.
Result<ContainerCreateBody> container_create_body(const ContainerSpec& spec,
                                                  const DockerOptions& options,
                                                  std::string_view seccomp_option,
                                                  std::string_view execd_volume);

// The SecurityOpt entry for a docker.seccomp_profile: "" for "" (engine default),
// "seccomp=unconfined" for "unconfined", else "seccomp=<the file's JSON, compacted>".
// Reads the file: kInvalidArgument (field docker.seccomp_profile) when it cannot be read,
// is empty or is not JSON.
Result<std::string> seccomp_security_option(const std::string& profile);

}  // namespace sbx
