// Endpoints: how a sandbox's port is reached from outside, computed from the projection
// alone (ports are allocated by the control plane at request time, so an endpoint is
// answerable while the sandbox is still Pending). No runtime round trip.
//
// Docker rules (API.md):
//   host networking          {host}:{port}
//   bridge, port 8080        {host}:{hostPort(8080)}
//   bridge, any other port   {host}:{hostPort(44772)}/proxy/{port}
// No scheme. {host} is resolve_endpoint_host()'s answer, fixed at startup.
//
// Pure functions (resolve_endpoint_host reads the host's interfaces). Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "events/result.h"
#include "events/sandbox.h"

namespace sbx {

inline constexpr int kExecdPort = 44772;
inline constexpr int kHttpPort = 8080;

struct Endpoint {
  std::string endpoint;                        // "10.0.0.5:40001/proxy/18080"
  std::map<std::string, std::string> headers;  // headers a client must send (none for Docker)
};

// `port` must be 1..65535 (kInvalidArgument, field "port"). A bridge-mode sandbox without
// the needed published port answers kFailedPrecondition.
[[nodiscard]] Result<Endpoint> resolve_endpoint(const Sandbox& sandbox, int port,
                                                const std::string& host);

// server.eip if set, else docker.host_ip if set, else `bind_host` when it is not a
// wildcard ("0.0.0.0", "::", ""), else the primary host address: the first IPv4 address
// of an interface that is up and not loopback; "127.0.0.1" when there is none.
std::string resolve_endpoint_host(const std::optional<std::string>& eip,
                                  const std::optional<std::string>& host_ip,
                                  const std::string& bind_host);

// The first IPv4 address of an up, non-loopback interface, if any.
std::optional<std::string> primary_host_address();

}  // namespace sbx
