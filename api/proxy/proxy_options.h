// The server proxy's settings and the callbacks through which it learns where a sandbox's
// port is (Resolve), reports activity (OnActivity) and checks signed routes (VerifyRoute).
// The composition root fills them (src/server) from the configuration and the service;
// ApiServer hands them to its ProxyEngine (proxy_engine.h).
//
// The callbacks are called on the engine's io threads: they must be thread-safe and must
// not block (a projection lookup, an HMAC). Plain data otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "api/error_mapping.h"

namespace sbx::api::proxy {

struct ProxyOptions {
  bool enabled = true;                             // proxy.enabled
  int threads = 2;                                 // proxy.threads (engine io threads)
  std::size_t max_connections = 256;               // proxy.max_connections
  std::chrono::milliseconds connect_timeout{5000}; // proxy.connect_timeout_seconds
  std::chrono::milliseconds idle_timeout{300000};  // proxy.idle_timeout_seconds
  std::chrono::milliseconds header_timeout{10000}; // server.header_timeout_seconds
  std::size_t buffer_bytes = 64 * 1024;            // proxy.buffer_bytes (per direction)
  std::size_t max_idle_upstream = 64;              // proxy.max_idle_upstream
  bool forward_credentials = false;                // proxy.forward_credentials
};

struct Target {
  std::string host;
  std::uint16_t port = 0;
  // Put before the client's path: "" or, for a Docker port that is not published,
  // "/proxy/{port}" (execd's own proxy on the published 44772).
  std::string path_prefix;
  // Non-empty: the sandbox's network namespace file (Docker's NetworkSettings.SandboxKey).
  // The engine then first connects to 127.0.0.1:`netns_port` from inside that namespace
  // (netns_socket.h; no path prefix, Host 127.0.0.1:<port>): one TCP connection and one
  // relaying process less than the published port. When that fails (the namespace is gone
  // or not visible here, setns is not permitted, nothing listens on the sandbox's loopback)
  // it connects to host:port with path_prefix as without it. Upstream connections are
  // pooled per route.
  std::string netns;
  std::uint16_t netns_port = 0;
};

// (sandbox id, container port) -> where to connect. Called on an engine thread; must not block.
using Resolve = std::function<std::expected<Target, ApiError>(const std::string& sandbox_id,
                                                              std::uint16_t port)>;
// Once per proxied request, after it is authorized and resolved (cheap; renew-intent hook).
using OnActivity = std::function<void(const std::string& sandbox_id)>;
// A signed route token -> (sandbox id, port) or ApiError (kRouteSignatureInvalid /
// kRouteExpired / not found).
using VerifyRoute = std::function<std::expected<std::pair<std::string, std::uint16_t>, ApiError>(
    std::string_view route)>;

}  // namespace sbx::api::proxy
