// The mapping from what the log records about a sandbox (SandboxSpec, events/sandbox.h) to
// what a Runtime creates (ContainerSpec, src/runtime/runtime.h).
//
//   image_uri -> image_uri                       entrypoint, env -> entrypoint, env
//   image_auth (the store's secrets, not the log; given iff spec.image_auth_provided) -> auth
//   resource_limits cpu/memory -> limits         metadata -> labels
//   network_mode -> network_mode (empty: the ContainerSpec default, "host")
//   ports -> ports (each 1..65535)               platform -> platform
//   volumes_json -> volumes (parse_volumes)      resource_limits gpu -> gpu
//   pool_ref -> pool_ref (a cluster-kept pool's name; the runtime takes the pod from it)

//   network_policy_json + EgressSettings + token -> egress (EgressSpec)
//
// Errors (kInvalidArgument, `field` names the spec field; never retried): a snapshot-based
// spec without its image (SandboxService records the snapshot's image), ossfs volumes, volumes JSON that does not
// parse, a network policy without EgressSettings with an image or without a token
// (silently dropping either would be wrong), a port outside
// 1..65535, and whatever validate_container_spec() rejects. Pure; thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/sandbox.h"
#include "src/runtime/runtime.h"

namespace sbx {

// What the configuration says about egress sidecars (egress.*), and the sandbox's token
// (egress_token(), src/common/egress_token.h). A spec with a network policy becomes a
// ContainerSpec with `egress` {image, the policy JSON, mode, disable_ipv6, token,
// readiness timeout}; without `egress` (or with an empty image) it is refused.
struct EgressSettings {
  std::string image;
  std::string mode = "dns";
  bool disable_ipv6 = true;
  std::chrono::milliseconds readiness_timeout{30'000};
};

[[nodiscard]] Result<ContainerSpec> to_container_spec(
    std::string_view sandbox_id, const SandboxSpec& spec,
    const std::map<std::string, std::string>& metadata,
    const std::optional<ImageAuth>& image_auth = std::nullopt,
    const std::optional<EgressSettings>& egress = std::nullopt, std::string_view egress_token = {});

}  // namespace sbx
