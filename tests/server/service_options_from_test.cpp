#include "src/service/service_options.h"

#include <gtest/gtest.h>

#include "src/config/config.h"
#include "src/service/endpoint_resolver.h"

namespace sbx {
namespace {

TEST(ServiceOptionsFromConfig, CopiesTheKeysTheServiceUses) {
  Config c;
  c.docker.network_mode = "bridge";
  c.docker.port_range_low = 41000;
  c.docker.port_range_high = 41999;
  c.docker.port_bind_ip = "127.0.0.1";
  c.server.max_sandbox_timeout_seconds = 7200;
  c.server.create_wait_ms = 1234;
  c.server.transition_wait_ms = 567;
  c.egress.image = "egress:1";
  c.storage.allowed_host_paths = {"/srv"};
  c.server.eip = "203.0.113.7";
  const ServiceOptions o = service_options_from(c);
  EXPECT_EQ(o.runtime_type, "docker");
  EXPECT_EQ(o.network_mode, "bridge");
  EXPECT_EQ(o.port_range_low, 41000);
  EXPECT_EQ(o.port_range_high, 41999);
  EXPECT_EQ(o.port_bind_ip, "127.0.0.1");
  EXPECT_EQ(o.max_sandbox_timeout_seconds, 7200);
  EXPECT_EQ(o.create_wait_ms, 1234);
  EXPECT_EQ(o.transition_wait_ms, 567);
  EXPECT_EQ(o.egress_image, "egress:1");
  EXPECT_EQ(o.allowed_host_paths, std::vector<std::string>{"/srv"});
  EXPECT_EQ(o.endpoint_host, "203.0.113.7");
}

TEST(EndpointHost, EipThenHostIpThenBindAddressThenPrimaryAddress) {
  EXPECT_EQ(resolve_endpoint_host("1.1.1.1", "2.2.2.2", "3.3.3.3"), "1.1.1.1");
  EXPECT_EQ(resolve_endpoint_host(std::nullopt, "2.2.2.2", "3.3.3.3"), "2.2.2.2");
  EXPECT_EQ(resolve_endpoint_host(std::string(), "2.2.2.2", "3.3.3.3"), "2.2.2.2");
  EXPECT_EQ(resolve_endpoint_host(std::nullopt, std::nullopt, "3.3.3.3"), "3.3.3.3");
  const std::string primary = primary_host_address().value_or("127.0.0.1");
  EXPECT_EQ(resolve_endpoint_host(std::nullopt, std::nullopt, "0.0.0.0"), primary);
  EXPECT_EQ(resolve_endpoint_host(std::nullopt, std::nullopt, "::"), primary);
  EXPECT_NE(primary, "");
}

}  // namespace
}  // namespace sbx
