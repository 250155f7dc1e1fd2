#include "src/workers/container_spec_mapping.h"

#include <cstdint>

namespace sbx {

Result<ContainerSpec> to_container_spec(std::string_view sandbox_id, const SandboxSpec& spec,
                                        const std::map<std::string, std::string>& metadata,
                                        const std::optional<ImageAuth>& image_auth,
                                        const std::optional<EgressSettings>& egress,
                                        std::string_view egress_token) {
  if (spec.image_uri.empty() && !spec.snapshot_id.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "sandbox spec names snapshot " + spec.snapshot_id +
                    " without its image (the service records the snapshot's image in image.uri)",
                "snapshotId");
  }
  if (!spec.network_policy_json.empty() && (!egress || egress->image.empty())) {
    return fail(ErrorCode::kInvalidArgument,
                "a network policy needs the egress sidecar, and egress.image is not configured",
                "networkPolicy");
  }
  if (!spec.network_policy_json.empty() && egress_token.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "a network policy needs an egress token, and the store has no token key",
                "networkPolicy");
  }

  ContainerSpec out;
  out.sandbox_id = std::string(sandbox_id);
  out.image_uri = spec.image_uri;
  if (spec.image_auth_provided != image_auth.has_value()) {
    return fail(ErrorCode::kInvalidArgument,
                spec.image_auth_provided
                    ? "the spec names registry credentials but none were given"
                    : "registry credentials were given for a spec that names none",
                "imageAuth");
  }
  if (image_auth) out.auth = RegistryAuth{image_auth->username, image_auth->password};
  out.entrypoint = spec.entrypoint;
  out.env = spec.env;
  if (auto it = spec.resource_limits.find("cpu"); it != spec.resource_limits.end()) {
    out.limits.cpu = it->second;
  }
  if (auto it = spec.resource_limits.find("memory"); it != spec.resource_limits.end()) {
    out.limits.memory = it->second;
  }
  out.labels = metadata;
  if (!spec.network_mode.empty()) out.network_mode = spec.network_mode;
  for (const auto& [container_port, host_port] : spec.ports) {
    if (container_port < 1 || container_port > 65535 || host_port < 1 || host_port > 65535) {
      return fail(ErrorCode::kInvalidArgument,
                  "port mapping " + std::to_string(container_port) + " -> " +
                      std::to_string(host_port) + " is outside 1..65535",
                  "ports");
    }
    out.ports.emplace(static_cast<std::uint16_t>(container_port),
                      static_cast<std::uint16_t>(host_port));
  }
  out.platform = spec.platform;
  out.pool_ref = spec.pool_ref;
  // --- volumes and GPUs (issue 12) ---
  auto volumes = parse_volumes(spec.volumes_json);
  if (!volumes) return std::unexpected(volumes.error());
  for (std::size_t i = 0; i < volumes->size(); ++i) {
    if ((*volumes)[i].backend == VolumeBackend::kOssfs) {
      return fail(ErrorCode::kInvalidArgument,
                  "VOLUME::UNSUPPORTED_BACKEND: ossfs volumes are not supported by this server",
                  volume_field(i, ".ossfs"));
    }
  }
  out.volumes = std::move(*volumes);
  if (auto it = spec.resource_limits.find("gpu"); it != spec.resource_limits.end()) {
    out.gpu = it->second;
  }
  if (!spec.network_policy_json.empty()) {
    out.egress = EgressSpec{egress->image,         spec.network_policy_json,
                            egress->mode,          egress->disable_ipv6,
                            std::string(egress_token), egress->readiness_timeout};
  }
  if (auto valid = validate_container_spec(out); !valid) return std::unexpected(valid.error());
  return out;
}

}  // namespace sbx
