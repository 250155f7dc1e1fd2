// Endpoints: how a sandbox's port is reached from outside, computed from the projection
// alone (never a runtime round trip): ports are allocated by the control plane at request
// time, and the pod IP is recorded in the log by SandboxStarted (Sandbox::address).
//
// Docker rules (API.md), whatever the ingress mode says (ingress.* is a Kubernetes
// setting; on Docker it is accepted by the configuration and not used):
//   host networking          {host}:{port}
//   bridge, port 8080        {host}:{hostPort(8080)}
//   bridge, port 18080       {host}:{hostPort(18080)} when the sandbox has a network policy
//                            (its egress sidecar publishes it); SandboxService::endpoint
//                            adds the header OPENSANDBOX-EGRESS-AUTH: <the sandbox's token>
//   bridge, any other port   {host}:{hostPort(44772)}/proxy/{port}
// {host} is resolve_endpoint_host()'s answer, fixed at startup.
//
// Kubernetes rules (issue 11 "Endpoints"):
//   direct                   {address}:{port}, address = the pod IP; a sandbox without one
//                            (Pending, or a final sandbox whose pod is gone) answers
//                            kFailedPrecondition, field "address"
//   gateway, wildcard        {id}-{port}.{gateway address}
//   gateway, uri             {gateway address}/{id}/{port}
//   gateway, header          {gateway address}, header OpenSandbox-Ingress-To: {id}-{port}
// Gateway endpoints resolve at once, in every state (the gateway routes by name).
// No scheme in any endpoint.
//
// Pure functions (resolve_endpoint_host reads the host's interfaces). Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/sandbox.h"

namespace sbx {

inline constexpr int kExecdPort = 44772;
inline constexpr int kHttpPort = 8080;
inline constexpr int kEgressPolicyPort = 18080;  // the egress sidecar's policy API

inline constexpr std::string_view kIngressRouteHeader = "OpenSandbox-Ingress-To";

enum class EndpointRuntime { kDocker, kKubernetes };
enum class IngressKind { kDirect, kGateway };
enum class GatewayRoute { kWildcard, kUri, kHeader };

// Which rules above apply, as plain values (the composition root maps the configuration
// onto it: runtime.type, server.eip/docker.host_ip, ingress.*).
struct EndpointRules {
  EndpointRuntime runtime = EndpointRuntime::kDocker;
  std::string host = "127.0.0.1";  // Docker: the host part of endpoints
  IngressKind ingress = IngressKind::kDirect;  // Kubernetes only
  std::string gateway_address;                 // Kubernetes gateway: "gw.example.com[:port]"
  GatewayRoute gateway_route = GatewayRoute::kWildcard;
  bool operator==(const EndpointRules&) const = default;
};

struct Endpoint {
  std::string endpoint;                        // "10.0.0.5:40001/proxy/18080"
  std::map<std::string, std::string> headers;  // headers a client must send (gateway header mode)
};

// `port` must be 1..65535 (kInvalidArgument, field "port"). kFailedPrecondition: a Docker
// bridge-mode sandbox without the needed published port; a Kubernetes direct-mode sandbox
// without a pod IP (field "address"; for a Pending one the message is "sandbox <id> has no
// pod IP yet (state Pending); its endpoints resolve once it is Running").
[[nodiscard]] Result<Endpoint> resolve_endpoint(const Sandbox& sandbox, int port,
                                                const EndpointRules& rules);

// server.eip if set, else docker.host_ip if set, else `bind_host` when it is not a
// wildcard ("0.0.0.0", "::", ""), else the primary host address: the first IPv4 address
// of an interface that is up and not loopback; "127.0.0.1" when there is none.
std::string resolve_endpoint_host(const std::optional<std::string>& eip,
                                  const std::optional<std::string>& host_ip,
                                  const std::string& bind_host);

// The first IPv4 address of an up, non-loopback interface, if any.
std::optional<std::string> primary_host_address();

// Where the server proxy connects for (sandbox, port): never a container's bridge address.
//   Docker host networking   {loopback}:{port}
//   Docker bridge            {loopback}:{hostPort(port)} for the published ports (8080, and
//                            18080 with a network policy), else
//                            {loopback}:{hostPort(44772)} with path prefix "/proxy/{port}"
//                            (execd's own proxy, as the direct endpoints do)
//   Kubernetes               {pod IP}:{port}, whatever the ingress mode (the proxy runs
//                            beside the pods)
// {loopback} is `connect_host`: docker.port_bind_ip, or 127.0.0.1 (::1) when that is the
// IPv4 (IPv6) wildcard. Only a Running sandbox is a target: any other state is
// kFailedPrecondition with field "state" (a Paused sandbox's processes cannot answer); a
// Kubernetes sandbox without a pod IP is kFailedPrecondition with field "address".
struct ProxyTarget {
  std::string host;         // an IP address (IPv6 without brackets)
  int port = 0;
  std::string path_prefix;  // "" or "/proxy/{port}": put before the client's path
  bool operator==(const ProxyTarget&) const = default;
};
[[nodiscard]] Result<ProxyTarget> resolve_proxy_target(const Sandbox& sandbox, int port,
                                                       EndpointRuntime runtime,
                                                       const std::string& connect_host);
// The host the proxy connects to for a Docker sandbox's published ports (see above).
std::string proxy_connect_host(const std::string& port_bind_ip);

}  // namespace sbx
