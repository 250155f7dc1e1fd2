#include "src/service/volume_checks.h"

#include "events/volume.h"
#include "src/common/host_path.h"

namespace sbx {

Result<void> check_create_volumes(const SandboxSpec& spec, std::string_view runtime_type,
                                  const std::vector<std::string>& allowed_host_paths) {
  if (spec.volumes_json.empty()) return {};
  auto volumes = parse_volumes(spec.volumes_json);
  if (!volumes) return std::unexpected(volumes.error());
  for (std::size_t i = 0; i < volumes->size(); ++i) {
    const VolumeSpec& v = (*volumes)[i];
    if (v.backend == VolumeBackend::kOssfs) {
      const std::string field = volume_field(i, ".ossfs");
      return fail(ErrorCode::kUnimplemented,
                  std::string(kUnsupportedVolumeBackendCode) + ": " + field +
                      ": ossfs volumes are not supported by this server; nothing was created",
                  field);
    }
  }
  if (runtime_type == "kubernetes") {
    return fail(ErrorCode::kUnimplemented,
                std::string(kVolumesNotSupportedCode) +
                    ": volumes are not supported on the Kubernetes runtime of this server; "
                    "nothing was created",
                "volumes");
  }
  for (std::size_t i = 0; i < volumes->size(); ++i) {
    const VolumeSpec& v = (*volumes)[i];
    if (v.backend == VolumeBackend::kPvc && v.claim_name.starts_with(kReservedVolumePrefix)) {
      const std::string field = volume_field(i, ".pvc.claimName");
      return fail(ErrorCode::kInvalidArgument,
                  std::string(kInvalidPvcNameCode) + ": " + field + " \"" + v.claim_name +
                      "\": names starting with \"" + std::string(kReservedVolumePrefix) +
                      "\" are sandboxd's own volumes",
                  field);
    }
    if (v.backend != VolumeBackend::kHost) continue;
    auto resolved = resolve_allowed_host_path(v.host_path, v.sub_path, allowed_host_paths,
                                              volume_field(i, ".host.path"));
    if (!resolved) return std::unexpected(resolved.error());
  }
  return {};
}

}  // namespace sbx
