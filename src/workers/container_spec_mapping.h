// The mapping from what the log records about a sandbox (SandboxSpec, events/sandbox.h) to
// what a Runtime creates (ContainerSpec, src/runtime/runtime.h).
//
//   image_uri -> image_uri                       entrypoint, env -> entrypoint, env
//   image_auth (the store's secrets, not the log; given iff spec.image_auth_provided) -> auth
//   resource_limits cpu/memory -> limits         metadata -> labels
//   network_mode -> network_mode (empty: the ContainerSpec default, "host")
//   ports -> ports (each 1..65535)               platform -> platform
//   volumes_json -> volumes (parse_volumes)      resource_limits gpu -> gpu
//
// Errors (kInvalidArgument, `field` names the spec field; never retried): a snapshot-based
// spec (no runtime creates from snapshots yet), ossfs volumes or a network policy (the
// runtimes cannot honour them, and silently dropping either would be wrong), volumes JSON
// that does not parse, a port outside
// 1..65535, and whatever validate_container_spec() rejects. Pure; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/sandbox.h"
#include "src/runtime/runtime.h"

namespace sbx {

[[nodiscard]] Result<ContainerSpec> to_container_spec(
    std::string_view sandbox_id, const SandboxSpec& spec,
    const std::map<std::string, std::string>& metadata,
    const std::optional<ImageAuth>& image_auth = std::nullopt);

}  // namespace sbx
