// Which request targets belong to the server proxy, and what they name. Pure; thread-safe.
//
//   [/v1]/sandboxes/{id}/proxy/{port}[/{path...}][?query]   kSandbox (API key when auth is on)
//   [/v1]/proxy/{route}[/{path...}][?query]                  kSigned  (a signed route, no key)
//
// `{id}`, `{port}` and `{route}` are returned as sent (not yet validated: the engine answers
// 404 for an id that is not a lowercase UUID, 400 for a port outside 1..65535, 403 for a
// route outside [0-9a-z-]). The upstream target is `/{path...}` (`/` when none) with the raw
// query kept byte for byte; `prefix` is the part the client used before it (for
// X-Forwarded-Prefix).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sbx::api::proxy {

struct ProxyPath {
  enum class Kind { kSandbox, kSigned };
  Kind kind = Kind::kSandbox;
  std::string prefix;           // "/v1/sandboxes/<id>/proxy/<port>" or "/proxy/<route>"
  std::string sandbox_id;       // kSandbox
  std::string port;             // kSandbox
  std::string route;            // kSigned
  std::string upstream_target;  // "/path?query"
};

// nullopt when `target` (origin-form, as on the request line) is not a proxy target.
std::optional<ProxyPath> parse_proxy_path(std::string_view target);

// True for a proxy target (cheaper than parse_proxy_path; same answer).
bool is_proxy_target(std::string_view target);

// "1".."65535", digits only (no sign, no leading '+', at most 5 digits).
std::optional<std::uint16_t> parse_proxy_port(std::string_view s);

// A sandbox id as the service makes them: a lowercase UUID.
bool is_lowercase_uuid(std::string_view s);

// The characters of a signed route token: [0-9a-z-], 1..256 of them.
bool is_route_token(std::string_view s);

}  // namespace sbx::api::proxy
