// VolumeSpec: one entry of a create's `volumes`, decoded from SandboxSpec::volumes_json.
//
// The API checks the shape of every entry before the create is appended
// (api/create_request_parsing.cpp); parse_volumes() reads the recorded JSON back for the
// service (checks that need the file system) and the runtime workers (mounts). It is
// strict: an entry it cannot read is kInvalidArgument naming the entry's field
// ("volumes[<i>].<field>"), so a corrupt or hand-written spec fails instead of mounting
// something else.
//
// Pure (no I/O); thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace sbx {

enum class VolumeBackend { kHost, kPvc, kOssfs };

struct VolumeSpec {
  std::string name;        // DNS label, unique within the sandbox
  std::string mount_path;  // absolute path inside the sandbox
  std::string sub_path;    // relative, no "..": a directory inside the source; "" = all of it
  bool read_only = false;
  VolumeBackend backend = VolumeBackend::kHost;
  std::string host_path;   // kHost: absolute path on the host (as given, unresolved)
  std::string claim_name;  // kPvc: the Docker named volume / the PersistentVolumeClaim
  bool create_if_not_exists = true;            // kPvc (upstream default: true)
  bool delete_on_sandbox_termination = false;  // kPvc (upstream default: false)
  bool operator==(const VolumeSpec&) const = default;
};

// The entries of `volumes_json` in order ("" = none). kInvalidArgument (field names the
// entry) for JSON that is not an array of volume objects with exactly one backend.
Result<std::vector<VolumeSpec>> parse_volumes(std::string_view volumes_json);

// "volumes[<index>]" + suffix: how errors name an entry's field.
std::string volume_field(std::size_t index, std::string_view suffix);

}  // namespace sbx
