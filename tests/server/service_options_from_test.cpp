#include "src/server/service_options_from.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(ServiceOptionsFromConfig, CopiesTheKeysTheServiceUses) {
  Config c;
  c.docker.network_mode = "bridge";
  c.docker.port_range_low = 41000;
  c.docker.port_range_high = 41999;
  c.docker.port_bind_ip = "127.0.0.1";
  c.server.max_sandbox_timeout_seconds = 7200;
  c.server.max_queued_mutations = 17;
  c.egress.image = "egress:1";
  c.server.eip = "203.0.113.7";
  c.storage.allowed_host_paths = {"/srv/data"};
  const ServiceOptions o = service_options_from(c);
  EXPECT_EQ(o.allowed_host_paths, std::vector<std::string>{"/srv/data"});
  EXPECT_EQ(o.runtime_type, "docker");
  EXPECT_EQ(o.network_mode, "bridge");
  EXPECT_EQ(o.port_range_low, 41000);
  EXPECT_EQ(o.port_range_high, 41999);
  EXPECT_EQ(o.port_bind_ip, "127.0.0.1");
  EXPECT_EQ(o.max_sandbox_timeout_seconds, 7200);
  EXPECT_EQ(o.max_queued_mutations, 17u);
  EXPECT_EQ(o.egress_image, "egress:1");
  EXPECT_EQ(o.endpoint_rules.host, "203.0.113.7");
  EXPECT_EQ(o.endpoint_rules.runtime, EndpointRuntime::kDocker);
  EXPECT_TRUE(o.pause_supported);
}

TEST(ServiceOptionsFromConfig, KubernetesGetsItsEndpointRulesAndNoPause) {
  Config c;
  c.runtime.type = RuntimeType::kKubernetes;
  ServiceOptions o = service_options_from(c);
  EXPECT_EQ(o.runtime_type, "kubernetes");
  EXPECT_FALSE(o.pause_supported);
  EXPECT_EQ(o.endpoint_rules.runtime, EndpointRuntime::kKubernetes);
  EXPECT_EQ(o.endpoint_rules.ingress, IngressKind::kDirect);
  // Pods have their own network: no host slot (docker.network_mode defaults to "host"), no
  // host ports.
  EXPECT_EQ(c.docker.network_mode, "host");
  EXPECT_EQ(o.network_mode, "pod");
  EXPECT_TRUE(o.published_ports.empty());

  c.ingress.mode = IngressMode::kGateway;
  c.ingress.gateway_address = "gw.example.test";
  for (auto [mode, route] : {std::pair{GatewayRouteMode::kWildcard, GatewayRoute::kWildcard},
                             std::pair{GatewayRouteMode::kUri, GatewayRoute::kUri},
                             std::pair{GatewayRouteMode::kHeader, GatewayRoute::kHeader}}) {
    c.ingress.gateway_route_mode = mode;
    o = service_options_from(c);
    EXPECT_EQ(o.endpoint_rules.ingress, IngressKind::kGateway);
    EXPECT_EQ(o.endpoint_rules.gateway_address, "gw.example.test");
    EXPECT_EQ(o.endpoint_rules.gateway_route, route);
  }
}

}  // namespace
}  // namespace sbx
