// Host paths a sandbox may mount (storage.allowed_host_paths), checked on the real file
// system: symlinks are resolved (realpath) in the path, in path + subPath and in every
// allowlist entry before the prefix comparison, so a link inside an allowed directory that
// points outside it is refused.
//
// Called twice for every host volume: by the service at create (before anything is
// appended, so the client gets the 400 at once) and by the runtime right before the mount
// (a link may have been changed in between); the runtime mounts the path this returns,
// never the one the client gave.
//
// Errors (kInvalidArgument, `field` = the given field, e.g. "volumes[0].host.path"); the
// message starts with the OpenSandbox code and ": ":
//   VOLUME::HOST_PATH_NOT_ALLOWED  the allowlist is empty, or the resolved path (or path +
//                                  subPath) is not under a resolved allowlist entry
//   VOLUME::HOST_PATH_NOT_FOUND    the path (or path + subPath) does not exist
//
// Thread-safe (reads the file system only).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace sbx {

inline constexpr std::string_view kHostPathNotAllowedCode = "VOLUME::HOST_PATH_NOT_ALLOWED";
inline constexpr std::string_view kHostPathNotFoundCode = "VOLUME::HOST_PATH_NOT_FOUND";

// The canonical path to mount for `path` (+ `sub_path`, relative, may be "").
Result<std::string> resolve_allowed_host_path(std::string_view path, std::string_view sub_path,
                                              const std::vector<std::string>& allowed,
                                              std::string_view field);

// Whether `path` equals `prefix` or lies below it (component-wise; both canonical).
bool path_is_under(std::string_view path, std::string_view prefix);

}  // namespace sbx
