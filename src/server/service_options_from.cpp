#include "src/server/service_options_from.h"

#include "src/service/endpoint_resolver.h"

namespace sbx {

ServiceOptions service_options_from(const Config& config) {
  ServiceOptions o;
  const bool k8s = config.runtime.type == RuntimeType::kKubernetes;
  o.runtime_type = std::string(to_string(config.runtime.type));
  // No Kubernetes workload provider can freeze a pod's processes.
  o.pause_supported = !k8s;
  o.snapshots_supported = !k8s;
  o.network_mode = config.docker.network_mode;
  if (k8s) {
    // docker.network_mode does not apply to pods: each pod has its own network namespace,
    // so neither the one-sandbox host slot nor host ports exist on Kubernetes.
    o.network_mode = "pod";
    o.published_ports.clear();
  }
  o.port_range_low = config.docker.port_range_low;
  o.port_range_high = config.docker.port_range_high;
  o.port_bind_ip = config.docker.port_bind_ip;
  EndpointRules& rules = o.endpoint_rules;
  rules.runtime = k8s ? EndpointRuntime::kKubernetes : EndpointRuntime::kDocker;
  rules.host = resolve_endpoint_host(config.server.eip, config.docker.host_ip, config.server.host);
  rules.ingress =
      config.ingress.mode == IngressMode::kGateway ? IngressKind::kGateway : IngressKind::kDirect;
  rules.gateway_address = config.ingress.gateway_address;
  switch (config.ingress.gateway_route_mode.value_or(GatewayRouteMode::kWildcard)) {
    case GatewayRouteMode::kWildcard:
      rules.gateway_route = GatewayRoute::kWildcard;
      break;
    case GatewayRouteMode::kUri:
      rules.gateway_route = GatewayRoute::kUri;
      break;
    case GatewayRouteMode::kHeader:
      rules.gateway_route = GatewayRoute::kHeader;
      break;
  }
  o.max_sandbox_timeout_seconds = config.server.max_sandbox_timeout_seconds;
  o.egress_image = config.egress.image;
  o.allowed_host_paths = config.storage.allowed_host_paths;
  o.max_queued_mutations = static_cast<std::size_t>(config.server.max_queued_mutations);
  o.renew_on_access = config.renew_intent.enabled && config.proxy.enabled;
  o.renew_min_interval = config.renew_intent.min_interval_seconds * kMicrosPerSecond;
  o.pools_enabled = config.pools.enabled;
  return o;
}

}  // namespace sbx
