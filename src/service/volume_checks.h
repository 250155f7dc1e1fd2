// check_create_volumes: what the service checks of a create's `volumes` before anything
// is appended (the API has checked their shape; these checks need the file system or the
// configuration), so a volume that cannot be mounted is refused at once instead of
// failing the sandbox in the provisioner.
//
//   ossfs                    kUnimplemented, "VOLUME::UNSUPPORTED_BACKEND: volumes[i].ossfs ..."
//   any volume on Kubernetes kUnimplemented, "VOLUME::NOT_SUPPORTED: ..." (field "volumes")
//   host                     resolve_allowed_host_path (src/common/host_path.h):
//                            VOLUME::HOST_PATH_NOT_ALLOWED / VOLUME::HOST_PATH_NOT_FOUND
//                            (kInvalidArgument, field "volumes[i].host.path")
//   pvc                      a claimName starting with "sandboxd-" (sandboxd's own
//                            volumes, such as the execd volume every sandbox runs from):
//                            VOLUME::INVALID_PVC_NAME (kInvalidArgument, field
//                            "volumes[i].pvc.claimName"); nothing else here (whether the named volume exists is the engine's
//                            to say: the provisioner fails the sandbox with
//                            VOLUME::PVC_NOT_FOUND when createIfNotExists is false)
// Messages start with the OpenSandbox code and ": " (the api reads it, error_mapping.cpp).
//
// Thread-safe (reads the file system only).
#pragma once

#include <string>
#include <vector>

#include "events/result.h"
#include "events/sandbox.h"

namespace sbx {

inline constexpr std::string_view kUnsupportedVolumeBackendCode = "VOLUME::UNSUPPORTED_BACKEND";
inline constexpr std::string_view kVolumesNotSupportedCode = "VOLUME::NOT_SUPPORTED";
inline constexpr std::string_view kInvalidPvcNameCode = "VOLUME::INVALID_PVC_NAME";
inline constexpr std::string_view kReservedVolumePrefix = "sandboxd-";

Result<void> check_create_volumes(const SandboxSpec& spec, std::string_view runtime_type,
                                  const std::vector<std::string>& allowed_host_paths);

}  // namespace sbx
