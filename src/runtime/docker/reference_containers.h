// Containers of the reference server (opensandbox-server) on the same Docker engine, as
// sandboxd sees them when it adopts them (issue 12, "Adopting a reference server's
// sandboxes"; store/FORMAT.md "Adopted sandboxes").
//
// What the reference server leaves on the engine (opensandbox-server 1.1.1):
//   - a sandbox is one container named `sandbox-<id>` (the name sandboxd uses too), with
//     the labels `opensandbox.io/id=<id>`, `opensandbox.io/expires-at=<ISO 8601>` or
//     `opensandbox.io/manual-cleanup=true`, in bridge mode `opensandbox.io/embedding-proxy-port`
//     and `opensandbox.io/http-port` (the host ports of 44772 and 8080), optionally
//     `opensandbox.io/platform-os|-arch`, and the user's metadata as plain labels (every
//     label outside opensandbox.io/, org.opencontainers.image., com.docker., desktop.docker.);
//   - helpers that are NOT sandboxes: the egress sidecar `sandbox-egress-<id>` (label
//     `opensandbox.io/egress-sidecar-for=<id>`) and short-lived execd-cache containers
//     `sandbox-execd-<uuid>` (no labels).
// A container that also carries `sandboxd.io/id` is sandboxd's own and never a reference
// sandbox.
//
// Pure functions over the Engine API's JSON documents; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "events/event.h"

namespace sbx {

inline constexpr std::string_view kReferenceIdLabel = "opensandbox.io/id";
inline constexpr std::string_view kReferenceExpiresAtLabel = "opensandbox.io/expires-at";
inline constexpr std::string_view kReferenceManualCleanupLabel = "opensandbox.io/manual-cleanup";
inline constexpr std::string_view kReferenceExecdPortLabel = "opensandbox.io/embedding-proxy-port";
inline constexpr std::string_view kReferenceHttpPortLabel = "opensandbox.io/http-port";
inline constexpr std::string_view kReferencePlatformOsLabel = "opensandbox.io/platform-os";
inline constexpr std::string_view kReferencePlatformArchLabel = "opensandbox.io/platform-arch";
inline constexpr std::string_view kReferenceEgressSidecarLabel =
    "opensandbox.io/egress-sidecar-for";
// SandboxAdopted::source of what is adopted from it.
inline constexpr std::string_view kReferenceSource = "opensandbox-server";

// The reference sandbox id that a container's labels (a JSON object; anything else is no
// labels) name: `opensandbox.io/id`, unless the container is sandboxd's (`sandboxd.io/id`)
// or an egress sidecar. "" when it is no reference sandbox.
std::string reference_sandbox_id(const nlohmann::json& labels);

// What one reference container would be adopted as, or why it cannot be.
struct ReferenceCandidate {
  std::string sandbox_id;      // "" when the container is no reference sandbox at all
  std::string container_name;  // without the leading "/"
  std::optional<SandboxAdopted> adopted;  // set when it can be adopted
  std::string skipped;         // why not (adopted unset): "container is exited", ...
};

// A container's inspect document (GET /containers/{id}/json) -> the SandboxAdopted that
// records it: runtime_id the container id; spec image (Config.Image), entrypoint
// (Config.Cmd, or Config.Entrypoint when there is no Cmd), limits (HostConfig NanoCpus ->
// cpu "500m"/"2", Memory -> "512Mi"/"1Gi"/bytes), platform (labels), network mode ("host",
// else "bridge" for bridge/default, else the network's name), ports {44772, 8080} from the
// port labels (else from HostConfig.PortBindings), timeout_seconds (expiry - creation,
// rounded, at least 1); metadata the user labels minus those the image itself carries with
// the same value (`image_labels`, Docker merges them in); expires_at from the expires-at
// label (absent, or manual-cleanup: none); state Running or Paused; created_at the
// container's Created. Only running and paused containers are adopted (`skipped` says why
// not: exited, a malformed id label, an unreadable expires-at label, a bad port label).
ReferenceCandidate reference_candidate(const nlohmann::json& inspect,
                                       const nlohmann::json& image_labels);

// "500m" / "2" from Docker NanoCpus; "" for 0 or less.
std::string cpu_quantity_from_nanos(std::int64_t nanos);
// "512Mi" / "1Gi" / "1000" (bytes) from Docker Memory; "" for 0 or less.
std::string memory_quantity_from_bytes(std::int64_t bytes);

}  // namespace sbx
