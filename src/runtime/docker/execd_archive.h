// The tar stream that injects execd into a sandbox container.
//
// Docker's archive API (GET /containers/{id}/archive?path=/execd) returns a tar whose
// single entry is the file's base name ("execd"). make_execd_payload() takes the two
// tars fetched from the execd image and writes one tar, to be PUT at path "/", holding
//   opt/                      directory 0755 (so the target exists in any image)
//   opt/opensandbox/          directory 0755
//   opt/opensandbox/execd     the execd binary, its mode kept
//   opt/opensandbox/bootstrap.sh
// Owners are root. Pure (libarchive on memory buffers), thread-safe.
//
// Errors: kDataLoss when an input is not a readable tar, kFailedPrecondition when an input
// does not hold exactly one regular file (e.g. a symlink or a directory).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace sbx {

inline constexpr std::string_view kExecdDir = "/opt/opensandbox";
inline constexpr std::string_view kExecdPath = "/opt/opensandbox/execd";
inline constexpr std::string_view kBootstrapPath = "/opt/opensandbox/bootstrap.sh";

Result<std::string> make_execd_payload(std::string_view execd_tar, std::string_view bootstrap_tar);

// The entries of a tar stream (path, type 'f'/'d'/'l'/'?', mode, contents of files). For
// tests and diagnostics.
struct TarEntry {
  std::string path;
  char type = '?';
  unsigned mode = 0;
  std::string contents;
};
Result<std::vector<TarEntry>> read_tar(std::string_view tar);

}  // namespace sbx
