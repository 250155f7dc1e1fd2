#include "events/volume.h"

#include <nlohmann/json.hpp>

namespace sbx {
namespace {

using json = nlohmann::json;

std::unexpected<Error> bad(std::size_t i, std::string_view suffix, std::string_view what) {
  return fail(ErrorCode::kInvalidArgument,
              volume_field(i, suffix) + " " + std::string(what), volume_field(i, suffix));
}

bool read_string(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool read_bool(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_boolean()) return false;
  out = it->get<bool>();
  return true;
}

}  // namespace

std::string volume_field(std::size_t index, std::string_view suffix) {
  return "volumes[" + std::to_string(index) + "]" + std::string(suffix);
}

Result<std::vector<VolumeSpec>> parse_volumes(std::string_view volumes_json) {
  std::vector<VolumeSpec> out;
  if (volumes_json.empty()) return out;
  json j = json::parse(volumes_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    return fail(ErrorCode::kInvalidArgument, "volumes is not a JSON array", "volumes");
  }
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& v = j[i];
    if (!v.is_object()) return bad(i, "", "is not an object");
    VolumeSpec s;
    if (!read_string(v, "name", s.name) || s.name.empty()) {
      return bad(i, ".name", "must be a non-empty string");
    }
    if (!read_string(v, "mountPath", s.mount_path) || s.mount_path.empty() ||
        s.mount_path.front() != '/') {
      return bad(i, ".mountPath", "must be an absolute path");
    }
    if (!read_string(v, "subPath", s.sub_path)) {
      return bad(i, ".subPath", "must be a string");
    }
    if (!read_bool(v, "readOnly", s.read_only)) {
      return bad(i, ".readOnly", "must be a boolean");
    }
    auto present = [&](const char* key) { return v.contains(key) && !v[key].is_null(); };
    const int backends = int(present("host")) + int(present("pvc")) + int(present("ossfs"));
    if (backends != 1) {
      return bad(i, "", "must name exactly one backend (host, pvc or ossfs)");
    }
    if (present("host")) {
      s.backend = VolumeBackend::kHost;
      const json& h = v["host"];
      if (!h.is_object() || !read_string(h, "path", s.host_path) || s.host_path.empty() ||
          s.host_path.front() != '/') {
        return bad(i, ".host.path", "must be an absolute path");
      }
    } else if (present("pvc")) {
      s.backend = VolumeBackend::kPvc;
      const json& p = v["pvc"];
      if (!p.is_object() || !read_string(p, "claimName", s.claim_name) || s.claim_name.empty()) {
        return bad(i, ".pvc.claimName", "must be a non-empty string");
      }
      if (!read_bool(p, "createIfNotExists", s.create_if_not_exists)) {
        return bad(i, ".pvc.createIfNotExists", "must be a boolean");
      }
      if (!read_bool(p, "deleteOnSandboxTermination", s.delete_on_sandbox_termination)) {
        return bad(i, ".pvc.deleteOnSandboxTermination", "must be a boolean");
      }
    } else {
      s.backend = VolumeBackend::kOssfs;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sbx
