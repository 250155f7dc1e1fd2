#include "api/request_parsing.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "events/decider.h"
#include "events/quantity.h"
#include "events/time.h"

namespace sbx::api {
namespace {

using json = nlohmann::json;

std::expected<json, ApiError> parse_json(std::string_view body) {
  if (body.empty()) {
    return std::unexpected(api_error(ApiErrorKind::kValidation, "request body is required",
                                     {Issue{{"body"}, "Field required", "missing"}}));
  }
  // Before the parser builds a tree: nothing that walks the tree afterwards (dump, copy,
  // the checks below) may meet a nesting deeper than this.
  if (json_nesting_exceeds(body, kMaxJsonDepth)) {
    return std::unexpected(api_error(ApiErrorKind::kInvalidValue,
                                     "body: JSON nesting deeper than " +
                                         std::to_string(kMaxJsonDepth) + " levels is not accepted",
                                     {Issue{{"body"}, "nesting too deep", "value_error"}}));
  }
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) {
    // Re-parse with exceptions to get the position of the first error.
    std::string where;
    try {
      json ignored = json::parse(body.begin(), body.end());
      (void)ignored;
    } catch (const json::parse_error& e) {
      where = std::string(": ") + e.what();
    } catch (...) {
    }
    return std::unexpected(api_error(ApiErrorKind::kMalformedJson, "malformed JSON body" + where));
  }
  return j;
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool is_label_name(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: lowercase labels [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by dots.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  while (!s.empty()) {
    const auto dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
    if (!std::all_of(label.begin(), label.end(), ok) || label.front() == '-' || label.back() == '-')
      return false;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (s.empty()) return false;  // trailing dot
  }
  return true;
}

// A user string as it may be quoted in a message: control characters (NUL among them)
// as \xNN, and at most 200 characters of it.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool word_char(char c) { return is_alnum(c) || c == '_'; }

// alpha-numeric (separator alpha-numeric)*, separator = [_.] | __ | -+
bool is_path_component(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (lower_alnum(s[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    if (s[i] == '-') {
      while (j < s.size() && s[j] == '-') ++j;
    } else if (s[i] == '_' && i + 1 < s.size() && s[i + 1] == '_') {
      j = i + 2;
    } else if (s[i] == '.' || s[i] == '_') {
      j = i + 1;
    } else {
      return false;
    }
    if (j >= s.size() || !lower_alnum(s[j])) return false;
    i = j;
  }
  return true;
}

// host[:port], host a DNS name (any case) or an IPv4 address or [IPv6].
bool is_registry_domain(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    const std::string_view v6 = s.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'; }))
      return false;
    host = {};
    s.remove_prefix(close + 1);
    if (s.empty()) return true;
    if (s.front() != ':') return false;
  } else if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    s.remove_prefix(colon);
  } else {
    s = {};
  }
  if (!s.empty()) {  // ":port"
    s.remove_prefix(1);
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
  }
  while (!host.empty()) {
    const auto dot = host.find('.');
    const std::string_view label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || !is_alnum(label.front()) || !is_alnum(label.back()))
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return false;
  }
  return true;
}

}  // namespace

std::string image_reference_problem(std::string_view ref) {
  auto bad = [&](std::string_view why) {
    return "image.uri \"" + printable(ref) + "\" is not an image reference: " + std::string(why);
  };
  if (ref.empty()) return bad("empty");
  if (ref.size() > 512) return bad("longer than 512 characters");
  for (char c : ref) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad("control characters, spaces and non-ASCII are not allowed");
  }
  std::string_view name = ref;
  if (const auto at = name.find('@'); at != std::string_view::npos) {
    const std::string_view digest = name.substr(at + 1);
    name = name.substr(0, at);
    const auto colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("a digest is <algorithm>:<hex>");
    const std::string_view algo = digest.substr(0, colon);
    const std::string_view hex = digest.substr(colon + 1);
    if (!std::isalpha(static_cast<unsigned char>(algo.front())) ||
        !std::all_of(algo.begin(), algo.end(),
                     [](char c) { return is_alnum(c) || c == '+' || c == '.' || c == '-' || c == '_'; }))
      return bad("malformed digest algorithm");
    if (hex.size() < 32 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c));
        }))
      return bad("a digest's hex part has at least 32 hexadecimal digits");
  }
  // A tag is after the last ':' that follows the last '/'.
  const auto slash = name.rfind('/');
  if (const auto colon = name.rfind(':');
      colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    const std::string_view tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (tag.empty() || tag.size() > 128 || !word_char(tag.front()) ||
        !std::all_of(tag.begin(), tag.end(),
                     [](char c) { return word_char(c) || c == '.' || c == '-'; }))
      return bad("a tag is 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
  }
  if (name.empty()) return bad("no repository name");
  if (name.size() > 255) return bad("the repository name is longer than 255 characters");
  std::string_view path = name;
  if (const auto first = name.find('/'); first != std::string_view::npos) {
    const std::string_view head = name.substr(0, first);
    const bool domain = head.find_first_of(".:") != std::string_view::npos ||
                        head == "localhost" ||
                        std::any_of(head.begin(), head.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (domain) {
      if (!is_registry_domain(head)) return bad("malformed registry host \"" + std::string(head) + "\"");
      path = name.substr(first + 1);
    }
  }
  while (true) {
    const auto next = path.find('/');
    if (!is_path_component(path.substr(0, next))) {
      return bad("repository path components are lowercase letters and digits, separated by "
                 "'.', '_', '__' or dashes");
    }
    if (next == std::string_view::npos) break;
    path.remove_prefix(next + 1);
  }
  return {};
}

namespace {

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  return std::all_of(s.begin(), s.end(), ok) && s.front() != '-' && s.back() != '-';
}

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

// Collects request-shape issues; the first value error wins separately.
struct Checker {
  std::vector<Issue> issues;
  std::optional<ApiError> value_error;

  void issue(std::vector<std::string> loc, std::string msg, std::string type = "value_error") {
    loc.insert(loc.begin(), "body");
    issues.push_back(Issue{std::move(loc), std::move(msg), std::move(type)});
  }
  void wrong_type(std::vector<std::string> loc, std::string_view expected, const json& got) {
    issue(std::move(loc), "Input should be " + std::string(expected) + ", got " + type_name(got),
          "type_error");
  }
  void value(ApiErrorKind kind, std::string message) {
    if (!value_error) value_error = api_error(kind, std::move(message));
  }
  // The answer: 422 if any shape issue, else the first value error, else nothing.
  std::optional<ApiError> result() {
    if (!issues.empty()) {
      std::string message = "invalid request: ";
      for (std::size_t i = 0; i < issues.size(); ++i) {
        if (i) message += "; ";
        std::string where;
        for (std::size_t k = 1; k < issues[i].loc.size(); ++k) {
          if (!where.empty()) where += '.';
          where += issues[i].loc[k];
        }
        message += (where.empty() ? "body" : where) + ": " + issues[i].msg;
      }
      return api_error(ApiErrorKind::kValidation, std::move(message), std::move(issues));
    }
    return std::move(value_error);
  }
};

bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

// A JSON object whose values are all strings -> map (nulls dropped when `drop_null`).
std::map<std::string, std::string> string_map(Checker& c, const json& j, const std::string& name,
                                              bool drop_null) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) {
    c.wrong_type({name}, "an object", j);
    return out;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) {
      out[it.key()] = it->get<std::string>();
    } else if (it->is_null() && drop_null) {
      continue;
    } else {
      c.wrong_type({name, it.key()}, "a string", *it);
    }
  }
  return out;
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
      c.value(ApiErrorKind::kDuplicateVolumeName, "volume name \"" + name + "\" is used twice");
      continue;
    }
    if (mount.empty() || mount.front() != '/' || has_nul(mount)) {
      c.value(ApiErrorKind::kInvalidMountPath,
              "volumes[" + idx + "].mountPath must be an absolute path without NUL, got \"" +
                  printable(mount) + "\"");
      continue;
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
    } else if (!v["ossfs"].is_object()) {
      c.wrong_type({"volumes", idx, "ossfs"}, "an object", v["ossfs"]);
    }
  }
}

}  // namespace

std::string metadata_key_problem(std::string_view key) {
  if (key.empty()) return "metadata keys must not be empty";
  std::string_view name = key;
  if (const auto slash = key.rfind('/'); slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    for (std::string_view reserved : {"opensandbox.io", "sandboxd.io"}) {
      if (prefix == reserved ||
          (prefix.size() > reserved.size() && prefix.ends_with(reserved) &&
           prefix[prefix.size() - reserved.size() - 1] == '.')) {
        return "metadata key \"" + printable(key) + "\" uses the reserved prefix " +
               std::string(reserved) + "/ (labels there are written by the server only)";
      }
    }
    if (!is_dns_subdomain(prefix)) {
      return "metadata key \"" + printable(key) +
             "\": the prefix must be a DNS subdomain (lowercase, at most 253 characters)";
    }
  }
  if (name.size() > 63 || !is_label_name(name)) {
    return "metadata key \"" + printable(key) +
           "\": the name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending with "
           "an alphanumeric character";
  }
  return {};
}

std::string metadata_value_problem(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > 63 || !is_label_name(value)) {
    return "metadata value \"" + printable(value) +
           "\" must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with an "
           "alphanumeric character";
  }
  return {};
}

std::string cpu_limit_problem(std::string_view s) {
  auto nanos = parse_cpu_quantity(s);
  if (!nanos) {
    return "resourceLimits.cpu: \"" + printable(s) +
           "\" is not a CPU quantity (use cores like \"2\" or \"0.5\", or millicores like "
           "\"500m\")";
  }
  if (*nanos < kMinCpuNanos || *nanos > kMaxCpuNanos) {
    return "resourceLimits.cpu: \"" + std::string(s) + "\" is outside " +
           std::to_string(kMinCpuNanos / 1'000'000) + "m.." +
           std::to_string(kMaxCpuNanos / 1'000'000'000) + " (cores)";
  }
  return {};
}

std::string memory_limit_problem(std::string_view s) {
  auto bytes = parse_memory_quantity(s);
  if (!bytes) {
    return "resourceLimits.memory: \"" + printable(s) +
           "\" is not a memory quantity (use e.g. \"512Mi\", \"2Gi\" or \"1G\")";
  }
  if (*bytes < kMinMemoryBytes || *bytes > kMaxMemoryBytes) {
    return "resourceLimits.memory: \"" + std::string(s) +
           "\" is outside 6Mi..1Pi (a container engine refuses less than 6 MiB)";
  }
  return {};
}

bool json_nesting_exceeds(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::expected<CreateRequest, ApiError> parse_create_request(std::string_view body,
                                                            const CreateParseOptions& options) {
  auto parsed = parse_json(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  if (!j.is_object()) {
    c.issues.push_back(
        Issue{{"body"}, "Input should be an object, got " + type_name(j), "type_error"});
    return std::unexpected(*c.result());
  }
  CreateRequest r;

  // image / snapshotId: exactly one.
  const bool has_image = present(j, "image");
  const bool has_snapshot = present(j, "snapshotId");
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
      if (present(image, "auth")) {
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
  if (has_image == has_snapshot) {
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
  } else if (has_image) {
    c.issue({"entrypoint"}, "Field required when image is provided", "missing");
  }

  // timeout: integer >= 60, or absent/null (manual cleanup).
  if (present(j, "timeout")) {
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

  // resourceLimits: required map of strings; known keys validated.
  if (!present(j, "resourceLimits")) {
    c.issue({"resourceLimits"}, "Field required", "missing");
  } else {
    auto limits = string_map(c, j["resourceLimits"], "resourceLimits", false);
    for (const auto& [k, v] : limits) {
      if (k == "cpu") {
        if (auto p = cpu_limit_problem(v); !p.empty()) c.value(ApiErrorKind::kInvalidValue, p);
      } else if (k == "memory") {
        if (auto p = memory_limit_problem(v); !p.empty()) c.value(ApiErrorKind::kInvalidValue, p);
      } else if (k == "gpu") {
        auto n = parse_int(v);
        if (!n || *n < 0 || *n > 64) {
          c.value(ApiErrorKind::kInvalidValue,
                  "resourceLimits.gpu: \"" + printable(v) + "\" is not a whole number of devices (0..64)");
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
  if (present(j, "metadata")) {
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

  if (present(j, "secureAccess")) {
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

  if (present(j, "extensions")) {
    auto ext = string_map(c, j["extensions"], "extensions", false);
    for (const auto& [k, v] : ext) {
      if (has_nul(k) || has_nul(v)) {
        c.value(ApiErrorKind::kInvalidValue,
                "extensions[\"" + printable(k) + "\"] contains a NUL byte (\\u0000)");
      }
    }
    if (auto it = ext.find("access.renew.extend.seconds"); it != ext.end()) {
      auto n = parse_int(it->second);
      if (!n || *n < 300 || *n > 86400) {
        c.value(ApiErrorKind::kInvalidValue,
                "extensions[\"access.renew.extend.seconds\"] must be an integer from 300 to 86400, "
                "got \"" +
                    it->second + "\"");
      }
    }
    if (!ext.empty()) r.spec.extensions_json = json(ext).dump();
  }

  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return r;
}

std::expected<PatchMetadata, ApiError> parse_metadata_patch(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  if (!j.is_object()) {
    c.issues.push_back(
        Issue{{"body"}, "Input should be an object, got " + type_name(j), "type_error"});
    return std::unexpected(*c.result());
  }
  PatchMetadata patch;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null()) {
      patch.patch[it.key()] = std::nullopt;
      continue;
    }
    if (!it->is_string()) {
      c.wrong_type({it.key()}, "a string or null", *it);
      continue;
    }
    const std::string value = it->get<std::string>();
    if (auto p = metadata_key_problem(it.key()); !p.empty()) {
      c.value(ApiErrorKind::kInvalidMetadataLabel, p);
    } else if (auto q = metadata_value_problem(value); !q.empty()) {
      c.value(ApiErrorKind::kInvalidMetadataLabel, q);
    }
    patch.patch[it.key()] = value;
  }
  // Deleting a reserved key is as invalid as setting it.
  for (const auto& [k, v] : patch.patch) {
    if (!v) {
      if (auto p = metadata_key_problem(k); !p.empty())
        c.value(ApiErrorKind::kInvalidMetadataLabel, p);
    }
  }
  if (auto err = c.result()) return std::unexpected(std::move(*err));
  return patch;
}

std::expected<RenewExpiration, ApiError> parse_renew_request(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) return std::unexpected(parsed.error());
  const json& j = *parsed;
  Checker c;
  if (!j.is_object()) {
    c.issues.push_back(
        Issue{{"body"}, "Input should be an object, got " + type_name(j), "type_error"});
    return std::unexpected(*c.result());
  }
  if (!present(j, "expiresAt") || !j["expiresAt"].is_string()) {
    c.issue({"expiresAt"}, "Field required (an RFC 3339 date-time)", "missing");
    return std::unexpected(*c.result());
  }
  const std::string text = j["expiresAt"].get<std::string>();
  auto t = parse_rfc3339(text);
  if (!t) {
    c.issue({"expiresAt"}, "Input should be an RFC 3339 date-time, got \"" + text + "\"",
            "datetime_parsing");
    return std::unexpected(*c.result());
  }
  return RenewExpiration{*t};
}

std::expected<ListQuery, ApiError> parse_list_query(const QueryParams& query) {
  ListQuery q;
  std::vector<Issue> issues;
  for (const auto& s : query_values(query, "state")) {
    // Also accept one comma-separated value ("Running,Paused").
    std::string_view rest = s;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view one = trim(rest.substr(0, comma));
      if (!one.empty()) {
        auto st = parse_state(one);
        if (!st) {
          issues.push_back(Issue{{"query", "state"},
                                 "unknown state \"" + std::string(one) +
                                     "\" (Pending, Running, Pausing, Paused, Resuming, Stopping, "
                                     "Terminated, Failed)",
                                 "enum"});
        } else if (std::find(q.states.begin(), q.states.end(), *st) == q.states.end()) {
          q.states.push_back(*st);
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  auto int_param = [&](const char* name, int low, int high, int& out) {
    auto v = query_value(query, name);
    if (!v) return;
    auto n = parse_int(trim(*v));
    if (!n) {
      issues.push_back(Issue{{"query", name}, "Input should be a valid integer", "int_parsing"});
    } else if (*n < low || *n > high) {
      issues.push_back(
          Issue{{"query", name},
                "Input should be between " + std::to_string(low) + " and " + std::to_string(high),
                "range"});
    } else {
      out = static_cast<int>(*n);
    }
  };
  int_param("page", 1, 1'000'000, q.page);
  int_param("pageSize", 1, 200, q.page_size);
  if (!issues.empty()) {
    std::string message = "invalid query: ";
    for (std::size_t i = 0; i < issues.size(); ++i) {
      if (i) message += "; ";
      message += issues[i].loc.back() + ": " + issues[i].msg;
    }
    return std::unexpected(
        api_error(ApiErrorKind::kValidation, std::move(message), std::move(issues)));
  }
  // metadata: after the query's own decoding, a form-encoded "k=v&k2=v2".
  for (const auto& m : query_values(query, "metadata")) {
    if (trim(m).empty()) continue;
    std::string_view rest = m;
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      const auto eq = pair.find('=');
      if (pair.empty() || eq == std::string_view::npos || eq == 0) {
        return std::unexpected(
            api_error(ApiErrorKind::kInvalidMetadataFilter,
                      "metadata filter must be URL-encoded key=value pairs joined by '&' (e.g. "
                      "metadata=team%3Dml%26env%3Dprod), got \"" +
                          m + "\""));
      }
      auto k = percent_decode(pair.substr(0, eq), true);
      auto v = percent_decode(pair.substr(eq + 1), true);
      if (!k || !v) {
        return std::unexpected(
            api_error(ApiErrorKind::kInvalidMetadataFilter,
                      "metadata filter has a malformed %-escape: \"" + m + "\""));
      }
      q.metadata.emplace_back(std::move(*k), std::move(*v));
    }
  }
  return q;
}

std::expected<int, ApiError> parse_port(std::string_view segment, std::string_view runtime_prefix) {
  auto n = parse_int(segment);
  if (!n || *n < 1 || *n > 65535) {
    return std::unexpected(
        api_error(ApiErrorKind::kInvalidPort,
                  "port must be an integer in 1..65535, got \"" + std::string(segment) + "\"", {},
                  runtime_prefix));
  }
  return static_cast<int>(*n);
}

}  // namespace sbx::api
