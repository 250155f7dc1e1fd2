#include "src/service/endpoint_resolver.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

namespace sbx {

namespace {

Result<Endpoint> docker_endpoint(const Sandbox& sandbox, int port, const std::string& host) {
  Endpoint out;
  if (sandbox.spec.network_mode == "host") {
    out.endpoint = host + ":" + std::to_string(port);
    return out;
  }
  const auto& ports = sandbox.spec.ports;
  // 8080, and an egress sidecar's policy API (18080, published only for sandboxes with a
  // network policy), are published directly.
  if (port == kHttpPort || port == kEgressPolicyPort) {
    if (auto it = ports.find(port); it != ports.end()) {
      out.endpoint = host + ":" + std::to_string(it->second);
      return out;
    }
  }
  auto execd = ports.find(kExecdPort);
  if (execd == ports.end()) {
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sandbox.id + " (network mode " + sandbox.spec.network_mode +
                    ") has no published execd port; its endpoints cannot be resolved");
  }
  out.endpoint = host + ":" + std::to_string(execd->second) + "/proxy/" + std::to_string(port);
  return out;
}

Result<Endpoint> kubernetes_endpoint(const Sandbox& sandbox, int port, const EndpointRules& r) {
  Endpoint out;
  const std::string p = std::to_string(port);
  if (r.ingress == IngressKind::kGateway) {
    switch (r.gateway_route) {
      case GatewayRoute::kWildcard:
        out.endpoint = sandbox.id + "-" + p + "." + r.gateway_address;
        break;
      case GatewayRoute::kUri:
        out.endpoint = r.gateway_address + "/" + sandbox.id + "/" + p;
        break;
      case GatewayRoute::kHeader:
        out.endpoint = r.gateway_address;
        out.headers.emplace(std::string(kIngressRouteHeader), sandbox.id + "-" + p);
        break;
    }
    return out;
  }
  if (sandbox.address.empty()) {
    const std::string state(to_string(sandbox.state));
    if (sandbox.state == SandboxState::kPending) {
      return fail(ErrorCode::kFailedPrecondition,
                  "sandbox " + sandbox.id + " has no pod IP yet (state " + state +
                      "); its endpoints resolve once it is Running",
                  "address");
    }
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sandbox.id + " has no pod IP (state " + state +
                    "); its endpoints resolve only while its pod runs",
                "address");
  }
  // An IPv6 pod IP is bracketed so that the port stays separable.
  const bool v6 = sandbox.address.find(':') != std::string::npos;
  out.endpoint = (v6 ? "[" + sandbox.address + "]" : sandbox.address) + ":" + p;
  return out;
}

}  // namespace

Result<Endpoint> resolve_endpoint(const Sandbox& sandbox, int port, const EndpointRules& rules) {
  if (port < 1 || port > 65535) {
    return fail(ErrorCode::kInvalidArgument,
                "port must be an integer in 1..65535, got " + std::to_string(port), "port");
  }
  if (rules.runtime == EndpointRuntime::kKubernetes) {
    return kubernetes_endpoint(sandbox, port, rules);
  }
  return docker_endpoint(sandbox, port, rules.host);
}

std::optional<std::string> primary_host_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (ifaddrs* a = list; a != nullptr && !found; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0 || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char buf[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr) found = buf;
  }
  ::freeifaddrs(list);
  return found;
}

std::string resolve_endpoint_host(const std::optional<std::string>& eip,
                                  const std::optional<std::string>& host_ip,
                                  const std::string& bind_host) {
  if (eip && !eip->empty()) return *eip;
  if (host_ip && !host_ip->empty()) return *host_ip;
  if (!bind_host.empty() && bind_host != "0.0.0.0" && bind_host != "::" && bind_host != "[::]") {
    return bind_host;
  }
  return primary_host_address().value_or("127.0.0.1");
}

std::string proxy_connect_host(const std::string& port_bind_ip) {
  if (port_bind_ip.empty() || port_bind_ip == "0.0.0.0") return "127.0.0.1";
  if (port_bind_ip == "::" || port_bind_ip == "[::]") return "::1";
  return port_bind_ip;
}

Result<ProxyTarget> resolve_proxy_target(const Sandbox& sandbox, int port,
                                         EndpointRuntime runtime,
                                         const std::string& connect_host) {
  if (port < 1 || port > 65535) {
    return fail(ErrorCode::kInvalidArgument,
                "port must be an integer in 1..65535, got " + std::to_string(port), "port");
  }
  if (sandbox.state != SandboxState::kRunning) {
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sandbox.id + " is " + std::string(to_string(sandbox.state)) +
                    "; the server proxy reaches Running sandboxes only",
                "state");
  }
  ProxyTarget t;
  if (runtime == EndpointRuntime::kKubernetes) {
    if (sandbox.address.empty()) {
      return fail(ErrorCode::kFailedPrecondition,
                  "sandbox " + sandbox.id + " has no pod IP; the server proxy cannot reach it",
                  "address");
    }
    t.host = sandbox.address;
    t.port = port;
    return t;
  }
  t.host = connect_host;
  if (sandbox.spec.network_mode == "host") {
    t.port = port;
    return t;
  }
  const auto& ports = sandbox.spec.ports;
  if (port == kHttpPort || port == kEgressPolicyPort) {
    if (auto it = ports.find(port); it != ports.end()) {
      t.port = it->second;
      return t;
    }
  }
  auto execd = ports.find(kExecdPort);
  if (execd == ports.end()) {
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sandbox.id + " (network mode " + sandbox.spec.network_mode +
                    ") has no published execd port; the server proxy cannot reach it",
                "state");
  }
  t.port = execd->second;
  if (port != kExecdPort) t.path_prefix = "/proxy/" + std::to_string(port);
  return t;
}

}  // namespace sbx
