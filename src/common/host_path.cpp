#include "src/common/host_path.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace sbx {
namespace {

std::optional<std::string> real_path(const std::string& p, int& err) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) {
    err = errno;
    return std::nullopt;
  }
  return std::string(buf);
}

std::unexpected<Error> refuse(std::string_view code, std::string_view field, std::string what) {
  return fail(ErrorCode::kInvalidArgument,
              std::string(code) + ": " + std::string(field) + " " + what, std::string(field));
}

}  // namespace

bool path_is_under(std::string_view path, std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix == "/") return !path.empty() && path.front() == '/';
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

Result<std::string> resolve_allowed_host_path(std::string_view path, std::string_view sub_path,
                                              const std::vector<std::string>& allowed,
                                              std::string_view field) {
  const std::string given(path);
  if (allowed.empty()) {
    return refuse(kHostPathNotAllowedCode, field,
                  "\"" + given +
                      "\": host volumes are disabled on this server "
                      "(storage.allowed_host_paths is empty)");
  }
  std::vector<std::string> roots;
  for (const std::string& a : allowed) {
    int err = 0;
    if (auto r = real_path(a, err)) roots.push_back(*r);  // a missing entry allows nothing
  }
  auto inside = [&](const std::string& p) {
    for (const std::string& root : roots) {
      if (path_is_under(p, root)) return true;
    }
    return false;
  };
  int err = 0;
  auto base = real_path(given, err);
  if (!base) {
    if (err == ENOENT || err == ENOTDIR) {
      return refuse(kHostPathNotFoundCode, field, "\"" + given + "\" does not exist on the host");
    }
    return refuse(kHostPathNotAllowedCode, field,
                  "\"" + given + "\" cannot be resolved: " + std::strerror(err));
  }
  if (!inside(*base)) {
    return refuse(kHostPathNotAllowedCode, field,
                  "\"" + given + "\" resolves to \"" + *base +
                      "\", which is not under storage.allowed_host_paths");
  }
  if (sub_path.empty()) return *base;
  const std::string joined = *base + "/" + std::string(sub_path);
  auto full = real_path(joined, err);
  if (!full) {
    if (err == ENOENT || err == ENOTDIR) {
      return refuse(kHostPathNotFoundCode, field,
                    "\"" + given + "\" with subPath \"" + std::string(sub_path) +
                        "\" does not exist on the host");
    }
    return refuse(kHostPathNotAllowedCode, field,
                  "\"" + joined + "\" cannot be resolved: " + std::strerror(err));
  }
  if (!inside(*full) || !path_is_under(*full, *base)) {
    return refuse(kHostPathNotAllowedCode, field,
                  "\"" + given + "\" with subPath \"" + std::string(sub_path) + "\" resolves to \"" +
                      *full + "\", outside the volume or storage.allowed_host_paths");
  }
  return *full;
}

}  // namespace sbx
