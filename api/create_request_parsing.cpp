// parse_create_request: the body of POST /sandboxes (CreateSandboxRequest) checked field by
// field; every shape issue is collected into one 422, else the first value error is the 400.
#include <algorithm>
#include <cmath>
#include <set>

#include "api/create_request_parsing.h"
#include "api/parse_support.h"
#include "api/request_parsing.h"
#include "events/decider.h"
#include "events/pool.h"
#include "events/time.h"

namespace sbx::api {

using namespace parsing;

namespace {

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  return std::all_of(s.begin(), s.end(), ok) && s.front() != '-' && s.back() != '-';
}

bool starts_with_path(std::string_view path, std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix == "/" || path[prefix.size()] == '/';
}

bool has_dotdot(std::string_view p) {
  while (!p.empty()) {
    const auto slash = p.find('/');
    if (p.substr(0, slash) == "..") return true;
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return false;
}

void check_volumes(Checker& c, const json& volumes, const CreateParseOptions& options) {
  if (!volumes.is_array()) {
    c.wrong_type({"volumes"}, "an array", volumes);
    return;
  }
  std::set<std::string> names;
  std::set<std::string> mount_paths;  // normalised: trailing '/' dropped
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const json& v = volumes[i];
    const std::string idx = std::to_string(i);
    if (!v.is_object()) {
      c.wrong_type({"volumes", idx}, "an object", v);
      continue;
    }
    if (!present(v, "name") || !v["name"].is_string()) {
      c.issue({"volumes", idx, "name"}, "Field required (a string)", "missing");
      continue;
    }
    if (!present(v, "mountPath") || !v["mountPath"].is_string()) {
      c.issue({"volumes", idx, "mountPath"}, "Field required (a string)", "missing");
      continue;
    }
    const std::string name = v["name"].get<std::string>();
    const std::string mount = v["mountPath"].get<std::string>();
    if (!is_dns_label(name)) {
      c.value(ApiErrorKind::kInvalidVolumeName,
              "volumes[" + idx + "].name \"" + name +
                  "\" must be a DNS label (lowercase letters, digits and '-', at most 63)");
      continue;
    }
    if (!names.insert(name).second) {
      c.value(ApiErrorKind::kDuplicateVolumeName,
              "volumes[" + idx + "].name \"" + name + "\" is used by another volume");
      continue;
    }
    if (mount.empty() || mount.front() != '/' || has_nul(mount)) {
      c.value(ApiErrorKind::kInvalidMountPath,
              "volumes[" + idx + "].mountPath must be an absolute path without NUL, got \"" +
                  printable(mount) + "\"");
      continue;
    }
    {
      std::string normal = mount;
      while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
      if (!mount_paths.insert(normal).second) {
        c.value(ApiErrorKind::kDuplicateMountPath,
                "volumes[" + idx + "].mountPath \"" + printable(mount) +
                    "\" is already the mountPath of another volume");
        continue;
      }
    }
    if (present(v, "subPath")) {
      if (!v["subPath"].is_string()) {
        c.wrong_type({"volumes", idx, "subPath"}, "a string", v["subPath"]);
        continue;
      }
      const std::string sub = v["subPath"].get<std::string>();
      if (!sub.empty() && (sub.front() == '/' || has_dotdot(sub) || has_nul(sub))) {
        c.value(ApiErrorKind::kInvalidSubPath,
                "volumes[" + idx + "].subPath must be relative without '..' or NUL, got \"" +
                    printable(sub) + "\"");
        continue;
      }
    }
    if (present(v, "readOnly") && !v["readOnly"].is_boolean()) {
      c.wrong_type({"volumes", idx, "readOnly"}, "a boolean", v["readOnly"]);
      continue;
    }
    int backends = 0;
    for (const char* b : {"host", "pvc", "ossfs"}) backends += present(v, b) ? 1 : 0;
    if (backends != 1) {
      c.value(ApiErrorKind::kInvalidVolumeBackend,
              "volumes[" + idx + "] must name exactly one backend (host, pvc or ossfs), got " +
                  std::to_string(backends));
      continue;
    }
    if (present(v, "host")) {
      const json& h = v["host"];
      if (!h.is_object() || !present(h, "path") || !h["path"].is_string()) {
        c.issue({"volumes", idx, "host", "path"}, "Field required (a string)", "missing");
        continue;
      }
      const std::string path = h["path"].get<std::string>();
      if (path.empty() || path.front() != '/' || has_dotdot(path) || has_nul(path)) {
        c.value(ApiErrorKind::kInvalidHostPath,
                "volumes[" + idx + "].host.path must be an absolute path without '..' or NUL, got \"" +
                    printable(path) + "\"");
        continue;
      }
      const bool allowed =
          std::any_of(options.allowed_host_paths.begin(), options.allowed_host_paths.end(),
                      [&](const std::string& prefix) { return starts_with_path(path, prefix); });
      if (!allowed) {
        c.value(ApiErrorKind::kHostPathNotAllowed,
                "volumes[" + idx + "].host.path \"" + path +
                    "\" is not under storage.allowed_host_paths" +
                    (options.allowed_host_paths.empty() ? " (none configured)" : ""));
        continue;
      }
    } else if (present(v, "pvc")) {
      const json& p = v["pvc"];
      if (!p.is_object() || !present(p, "claimName") || !p["claimName"].is_string()) {
        c.issue({"volumes", idx, "pvc", "claimName"}, "Field required (a string)", "missing");
        continue;
      }
      const std::string claim = p["claimName"].get<std::string>();
      if (!is_dns_label(claim)) {
        c.value(ApiErrorKind::kInvalidVolumeBackend,
                "volumes[" + idx + "].pvc.claimName \"" + claim + "\" must be a DNS label");
        continue;
      }
      for (const char* flag : {"createIfNotExists", "deleteOnSandboxTermination"}) {
        if (present(p, flag) && !p[flag].is_boolean()) {
          c.wrong_type({"volumes", idx, "pvc", flag}, "a boolean", p[flag]);
        }
      }
    } else if (!v["ossfs"].is_object()) {
      c.wrong_type({"volumes", idx, "ossfs"}, "an object", v["ossfs"]);
    }
  }
}

// Members of a create body a pool's template may not carry, and why.
constexpr std::pair<const char*, const char*> kNotInTemplate[] = {
    {"metadata", "metadata is given by each create that claims a member, not by the pool"},
    {"timeout", "the timeout is given by each create that claims a member, not by the pool"},
    {"extensions", "extensions are given by each create that claims a member, not by the pool"},
    {"snapshotId", "a pool's members are created from an image (image.uri)"},
    {"secureAccess", "secureAccess is given by each create that claims a member, not by the pool"},
};

// extensions.poolRef given (a string or not: the type is checked with the extensions).
bool names_pool(const json& j) {
  auto ext = j.find("extensions");
  return ext != j.end() && ext->is_object() && ext->contains("poolRef") &&
         !(*ext)["poolRef"].is_null();
}

}  // namespace

void check_create_object(Checker& c, const json& j, CreateRequest& r,
                         const CreateParseOptions& options, CreateShape shape) {
  const bool in_template = shape == CreateShape::kPoolTemplate;
  // With poolRef the pool's template supplies image, entrypoint and limits.
  const bool pool_mode = !in_template && names_pool(j);
  if (in_template) {
    for (const auto& [key, why] : kNotInTemplate) {
      if (present(j, key)) {
        c.value(ApiErrorKind::kInvalidValue,
                std::string(key) + " cannot be part of a pool template: " + why);
      }
    }
  }

  // image / snapshotId: exactly one (a template: image; with poolRef: image optional, no
  // snapshotId).
  const bool has_image = present(j, "image");
  const bool has_snapshot = !in_template && present(j, "snapshotId");
  if (has_image) {
    const json& image = j["image"];
    if (!image.is_object()) {
      c.wrong_type({"image"}, "an object", image);
    } else if (!present(image, "uri") || !image["uri"].is_string() ||
               image["uri"].get<std::string>().empty()) {
      c.issue({"image", "uri"}, "Field required (a non-empty string)", "missing");
    } else {
      r.spec.image_uri = image["uri"].get<std::string>();
      if (auto p = image_reference_problem(r.spec.image_uri); !p.empty())
        c.value(ApiErrorKind::kInvalidValue, p);
      if (in_template && present(image, "auth")) {
        c.value(ApiErrorKind::kInvalidValue,
                "image.auth cannot be part of a pool template: credentials are not kept for "
                "the refills of the pool (make the image available to the engine instead)");
      } else if (present(image, "auth")) {
        const json& auth = image["auth"];
        if (!auth.is_object()) {
          c.wrong_type({"image", "auth"}, "an object", auth);
        } else {
          ImageAuth a;
          for (const char* k : {"username", "password"}) {
            if (!present(auth, k)) continue;
            if (!auth[k].is_string()) {
              c.wrong_type({"image", "auth", k}, "a string", auth[k]);
              continue;
            }
            std::string v = auth[k].get<std::string>();
            if (has_nul(v) || v.size() > 4096) {
              c.value(ApiErrorKind::kInvalidValue,
                      std::string("image.auth.") + k +
                          " must be at most 4096 characters without NUL bytes");
            }
            (std::string_view(k) == "username" ? a.username : a.password) = std::move(v);
          }
          r.image_auth = std::move(a);
        }
      }
    }
  }
  if (has_snapshot) {
    if (!j["snapshotId"].is_string() || j["snapshotId"].get<std::string>().empty()) {
      c.wrong_type({"snapshotId"}, "a non-empty string", j["snapshotId"]);
    } else {
      r.spec.snapshot_id = j["snapshotId"].get<std::string>();
      if (has_nul(r.spec.snapshot_id) || r.spec.snapshot_id.size() > 255) {
        c.value(ApiErrorKind::kInvalidValue,
                "snapshotId must be at most 255 characters without NUL bytes");
      }
    }
  }
  if (in_template) {
    if (!has_image) c.issue({"image"}, "Field required (a pool template names its image)", "missing");
  } else if (pool_mode) {
    if (has_snapshot) {
      c.value(ApiErrorKind::kInvalidValue,
              "snapshotId cannot be used together with extensions.poolRef: a pool's members are "
              "created from the pool's template");
    }
  } else if (has_image == has_snapshot) {
    c.issue({}, has_image ? "image and snapshotId are mutually exclusive: provide only one"
                          : "exactly one of image or snapshotId is required");
  }

  // entrypoint: >= 1 string; required with image.
  if (present(j, "entrypoint")) {
    const json& ep = j["entrypoint"];
    if (!ep.is_array()) {
      c.wrong_type({"entrypoint"}, "an array of strings", ep);
    } else if (ep.empty()) {
      c.issue({"entrypoint"}, "List should have at least 1 item", "too_short");
    } else {
      for (std::size_t i = 0; i < ep.size(); ++i) {
        if (!ep[i].is_string()) {
          c.wrong_type({"entrypoint", std::to_string(i)}, "a string", ep[i]);
        } else {
          r.spec.entrypoint.push_back(ep[i].get<std::string>());
          if (has_nul(r.spec.entrypoint.back())) {
            c.value(ApiErrorKind::kInvalidValue,
                    "entrypoint[" + std::to_string(i) + "] contains a NUL byte (\\u0000)");
          }
        }
      }
    }
  } else if (in_template) {
    c.issue({"entrypoint"}, "Field required (a pool template names its entrypoint)", "missing");
  } else if (has_image && !pool_mode) {
    c.issue({"entrypoint"}, "Field required when image is provided", "missing");
  }

  // timeout: integer >= 60, or absent/null (manual cleanup).
  if (!in_template && present(j, "timeout")) {
    const json& t = j["timeout"];
    std::optional<std::int64_t> v;
    if (t.is_number_integer()) {
      v = t.get<std::int64_t>();
    } else if (t.is_number_unsigned()) {
      v = t.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX / kMicrosPerSecond)
              ? INT64_MAX / kMicrosPerSecond
              : static_cast<std::int64_t>(t.get<std::uint64_t>());
    } else if (t.is_number_float()) {
      const double d = t.get<double>();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15)
        v = static_cast<std::int64_t>(d);
    }
    if (!v) {
      c.wrong_type({"timeout"}, "an integer (seconds) or null", t);
    } else if (*v < 60) {
      c.issue({"timeout"}, "Input should be greater than or equal to 60", "greater_than_equal");
    } else {
      // Keep now + timeout representable in microseconds.
      r.timeout_seconds = std::min<std::int64_t>(*v, 100LL * 365 * 24 * 3600);
    }
  }

  // resourceLimits: map of strings, known keys validated; required unless the pool's
  // template gives them.
  if (!present(j, "resourceLimits")) {
    if (!in_template && !pool_mode) c.issue({"resourceLimits"}, "Field required", "missing");
  } else {
    auto limits = string_map(c, j["resourceLimits"], "resourceLimits", false);
    for (const auto& [k, v] : limits) {
      if (k == "cpu") {
        if (auto p = cpu_limit_problem(v); !p.empty()) c.value(ApiErrorKind::kInvalidValue, p);
      } else if (k == "memory") {
        if (auto p = memory_limit_problem(v); !p.empty()) c.value(ApiErrorKind::kInvalidValue, p);
      } else if (k == "gpu") {
        // "all" (every GPU of the host) or a positive whole number of devices.
        auto n = parse_int(v, SignPolicy::kAllowPlus);
        if (v != "all" && (!n || *n < 1 || *n > 64)) {
          c.value(ApiErrorKind::kInvalidValue,
                  "resourceLimits.gpu: \"" + printable(v) +
                      "\" must be \"all\" or a whole number of devices (1..64)");
        }
      }
    }
    r.spec.resource_limits = std::move(limits);
  }
  if (present(j, "resourceRequests"))
    (void)string_map(c, j["resourceRequests"], "resourceRequests", false);

  // env: strings; null values dropped.
  if (present(j, "env")) {
    r.spec.env = string_map(c, j["env"], "env", true);
    for (const auto& [k, v] : r.spec.env) {
      if (k.empty() || k.find('=') != std::string::npos || has_nul(k)) {
        c.issue({"env", printable(k)},
                "environment variable names must be non-empty without '=' or NUL");
      } else if (has_nul(v)) {
        c.value(ApiErrorKind::kInvalidValue,
                "env." + printable(k) + " contains a NUL byte (\\u0000), which no process "
                "environment can hold");
      }
    }
  }

  // metadata: strings, Kubernetes label rules.
  if (!in_template && present(j, "metadata")) {
    r.metadata = string_map(c, j["metadata"], "metadata", false);
    if (r.metadata.size() > kMaxMetadataEntries) {
      c.value(ApiErrorKind::kInvalidMetadataLabel,
              "metadata has " + std::to_string(r.metadata.size()) + " entries; at most " +
                  std::to_string(kMaxMetadataEntries) + " are allowed per sandbox");
    }
    for (const auto& [k, v] : r.metadata) {
      if (auto p = metadata_key_problem(k); !p.empty()) {
        c.value(ApiErrorKind::kInvalidMetadataLabel, p);
      } else if (auto q = metadata_value_problem(v); !q.empty()) {
        c.value(ApiErrorKind::kInvalidMetadataLabel, q);
      }
    }
  }

  // platform {os, arch}.
  if (present(j, "platform")) {
    const json& p = j["platform"];
    if (!p.is_object()) {
      c.wrong_type({"platform"}, "an object", p);
    } else {
      Platform pl;
      bool ok = true;
      for (auto [key, allowed] :
           {std::pair<const char*, std::vector<std::string>>{"os", {"linux", "windows"}},
            {"arch", {"amd64", "arm64"}}}) {
        if (!present(p, key) || !p[key].is_string()) {
          c.issue({"platform", key},
                  "Field required (one of " + allowed[0] + ", " + allowed[1] + ")", "missing");
          ok = false;
          continue;
        }
        const std::string v = p[key].get<std::string>();
        if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
          c.issue({"platform", key}, "Input should be '" + allowed[0] + "' or '" + allowed[1] + "'",
                  "enum");
          ok = false;
          continue;
        }
        (std::string_view(key) == "os" ? pl.os : pl.arch) = v;
      }
      if (ok) r.spec.platform = pl;
    }
  }

  // networkPolicy {defaultAction?, egress?: [{action, target}]}.
  if (present(j, "networkPolicy")) {
    const json& np = j["networkPolicy"];
    if (!np.is_object()) {
      c.wrong_type({"networkPolicy"}, "an object", np);
    } else {
      if (present(np, "defaultAction") &&
          (!np["defaultAction"].is_string() ||
           (np["defaultAction"] != "allow" && np["defaultAction"] != "deny"))) {
        c.issue({"networkPolicy", "defaultAction"}, "Input should be 'allow' or 'deny'", "enum");
      }
      if (present(np, "egress")) {
        const json& eg = np["egress"];
        if (!eg.is_array()) {
          c.wrong_type({"networkPolicy", "egress"}, "an array", eg);
        } else {
          for (std::size_t i = 0; i < eg.size(); ++i) {
            const std::string idx = std::to_string(i);
            const json& rule = eg[i];
            if (!rule.is_object()) {
              c.wrong_type({"networkPolicy", "egress", idx}, "an object", rule);
              continue;
            }
            if (!present(rule, "action") || !rule["action"].is_string() ||
                (rule["action"] != "allow" && rule["action"] != "deny")) {
              c.issue({"networkPolicy", "egress", idx, "action"},
                      "Input should be 'allow' or 'deny'", "enum");
            }
            if (!present(rule, "target") || !rule["target"].is_string() ||
                rule["target"].get<std::string>().empty()) {
              c.issue({"networkPolicy", "egress", idx, "target"}, "Field required (a domain)",
                      "missing");
            }
          }
        }
      }
      r.spec.network_policy_json = np.dump();
    }
  }

  if (!in_template && present(j, "secureAccess")) {
    if (!j["secureAccess"].is_boolean()) {
      c.wrong_type({"secureAccess"}, "a boolean", j["secureAccess"]);
    } else {
      r.secure_access = j["secureAccess"].get<bool>();
    }
  }

  if (present(j, "credentialProxy")) {
    const json& cp = j["credentialProxy"];
    if (!cp.is_object()) {
      c.wrong_type({"credentialProxy"}, "an object", cp);
    } else if (present(cp, "enabled")) {
      if (!cp["enabled"].is_boolean()) {
        c.wrong_type({"credentialProxy", "enabled"}, "a boolean", cp["enabled"]);
      } else if (cp["enabled"].get<bool>()) {
        c.value(ApiErrorKind::kInvalidValue,
                "credentialProxy.enabled = true is not supported by this server");
      }
    }
  }

  if (present(j, "volumes")) {
    check_volumes(c, j["volumes"], options);
    if (j["volumes"].is_array() && !j["volumes"].empty()) r.spec.volumes_json = j["volumes"].dump();
  }

  if (!in_template && present(j, "extensions")) {
    auto ext = string_map(c, j["extensions"], "extensions", false);
    for (const auto& [k, v] : ext) {
      if (has_nul(k) || has_nul(v)) {
        c.value(ApiErrorKind::kInvalidValue,
                "extensions[\"" + printable(k) + "\"] contains a NUL byte (\\u0000)");
      }
    }
    if (auto it = ext.find("access.renew.extend.seconds"); it != ext.end()) {
      auto n = parse_int(it->second, SignPolicy::kAllowPlus);
      if (!n || *n < 300 || *n > 86400) {
        c.value(ApiErrorKind::kInvalidValue,
                "extensions[\"access.renew.extend.seconds\"] must be an integer from 300 to 86400, "
                "got \"" +
                    it->second + "\"");
      }
    }
    // Warm pools (events/pool.h): poolRef names the pool a member is claimed from.
    if (auto it = ext.find("poolRef"); it != ext.end()) {
      if (!is_valid_pool_name(it->second)) {
        c.value(ApiErrorKind::kInvalidValue,
                "extensions[\"poolRef\"] \"" + printable(it->second) +
                    "\" is not a pool name: 1.." + std::to_string(kMaxPoolNameLength) +
                    " lowercase letters, digits and '-', starting and ending with a letter or "
                    "digit");
      } else {
        r.pool_ref = it->second;
      }
    }
    if (auto it = ext.find("poolWarmOnly"); it != ext.end()) {
      if (it->second == "true" || it->second == "false") {
        r.pool_warm_only = it->second == "true";
        if (r.pool_warm_only && !ext.contains("poolRef")) {
          c.value(ApiErrorKind::kInvalidValue,
                  "extensions[\"poolWarmOnly\"] needs extensions[\"poolRef\"] (the pool to "
                  "take a warm member from)");
        }
      } else {
        c.value(ApiErrorKind::kInvalidValue, "extensions[\"poolWarmOnly\"] must be \"true\" or "
                                             "\"false\", got \"" +
                                                 printable(it->second) + "\"");
      }
    }
    if (!ext.empty()) r.spec.extensions_json = json(ext).dump();
  }
}

std::expected<CreateRequest, ApiError> parse_create_request(std::string_view body,
                                                            const CreateParseOptions& options) {
  auto parsed = parse_json_object(body);
  if (!parsed) return std::unexpected(parsed.error());
  Checker c;
  CreateRequest r;
  check_create_object(c, *parsed, r, options, CreateShape::kCreate);
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return r;
}

}  // namespace sbx::api
