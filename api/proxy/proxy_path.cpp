#include "api/proxy/proxy_path.h"

#include <algorithm>

namespace sbx::api::proxy {

namespace {

// Takes the next path segment of `path` (which starts after a '/'); empty when none.
std::string_view segment(std::string_view path) { return path.substr(0, path.find('/')); }

}  // namespace

std::optional<ProxyPath> parse_proxy_path(std::string_view target) {
  const auto qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark);
  std::size_t consumed = 0;
  if (path.starts_with("/v1/")) consumed = 3;
  std::string_view rest = path.substr(consumed);

  ProxyPath out;
  if (rest.starts_with("/sandboxes/")) {
    rest.remove_prefix(11);
    const std::string_view id = segment(rest);
    if (id.empty() || id.size() == rest.size()) return std::nullopt;
    rest.remove_prefix(id.size());
    if (!rest.starts_with("/proxy/")) return std::nullopt;
    rest.remove_prefix(7);
    const std::string_view port = segment(rest);
    if (port.empty()) return std::nullopt;
    rest.remove_prefix(port.size());
    out.kind = ProxyPath::Kind::kSandbox;
    out.sandbox_id = std::string(id);
    out.port = std::string(port);
  } else if (rest.starts_with("/proxy/")) {
    rest.remove_prefix(7);
    const std::string_view route = segment(rest);
    if (route.empty()) return std::nullopt;
    rest.remove_prefix(route.size());
    out.kind = ProxyPath::Kind::kSigned;
    out.route = std::string(route);
  } else {
    return std::nullopt;
  }
  // `rest` is now "" or "/{path...}".
  out.prefix = std::string(path.substr(0, path.size() - rest.size()));
  out.upstream_target = rest.empty() ? std::string("/") : std::string(rest);
  out.upstream_target += query;
  return out;
}

bool is_proxy_target(std::string_view target) { return parse_proxy_path(target).has_value(); }

std::optional<std::uint16_t> parse_proxy_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v < 1 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

bool is_lowercase_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool is_route_token(std::string_view s) {
  return !s.empty() && s.size() <= 256 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

}  // namespace sbx::api::proxy
