#include "src/service/endpoint_resolver.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

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

Sandbox sandbox(SandboxState state, std::string address = {}) {
  Sandbox sb;
  sb.id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  sb.state = state;
  sb.address = std::move(address);
  sb.spec.network_mode = "pod";
  return sb;
}

EndpointRules kubernetes(IngressKind ingress = IngressKind::kDirect,
                         GatewayRoute route = GatewayRoute::kWildcard) {
  EndpointRules r;
  r.runtime = EndpointRuntime::kKubernetes;
  r.host = "198.51.100.1";  // Docker's host: never used on Kubernetes
  r.ingress = ingress;
  r.gateway_address = "gw.example.test:8443";
  r.gateway_route = route;
  return r;
}

TEST(ResolveEndpoint, DockerRulesAreKeptWhateverTheIngressSays) {
  Sandbox host_sb = sandbox(SandboxState::kRunning, "10.0.0.1");
  host_sb.spec.network_mode = "host";
  Sandbox bridge_sb = sandbox(SandboxState::kPending);
  bridge_sb.spec.network_mode = "bridge";
  bridge_sb.spec.ports = {{44772, 40001}, {8080, 40002}};
  for (IngressKind ingress : {IngressKind::kDirect, IngressKind::kGateway}) {
    EndpointRules r;
    r.host = "203.0.113.9";
    r.ingress = ingress;
    r.gateway_address = "gw.example.test";
    auto e = resolve_endpoint(host_sb, 9000, r);
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->endpoint, "203.0.113.9:9000");  // not the address, not the gateway
    EXPECT_TRUE(e->headers.empty());
    EXPECT_EQ(resolve_endpoint(bridge_sb, 8080, r)->endpoint, "203.0.113.9:40002");
    EXPECT_EQ(resolve_endpoint(bridge_sb, 18080, r)->endpoint, "203.0.113.9:40001/proxy/18080");
  }
  Sandbox unpublished = bridge_sb;
  unpublished.spec.ports.clear();
  EXPECT_EQ(resolve_endpoint(unpublished, 18080, EndpointRules{}).error().code,
            ErrorCode::kFailedPrecondition);
}

TEST(ResolveEndpoint, KubernetesDirectIsThePodIpAndPort) {
  for (SandboxState s : {SandboxState::kRunning, SandboxState::kStopping}) {
    auto e = resolve_endpoint(sandbox(s, "10.244.1.7"), 44772, kubernetes());
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->endpoint, "10.244.1.7:44772");
    EXPECT_TRUE(e->headers.empty());
  }
  EXPECT_EQ(resolve_endpoint(sandbox(SandboxState::kRunning, "fd00::7"), 8080, kubernetes())
                ->endpoint,
            "[fd00::7]:8080");
}

TEST(ResolveEndpoint, KubernetesDirectWithoutAPodIpIsAFailedPrecondition) {
  const Sandbox pending = sandbox(SandboxState::kPending);
  auto e = resolve_endpoint(pending, 44772, kubernetes());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(e.error().field, "address");
  EXPECT_EQ(e.error().message, "sandbox " + pending.id +
                                   " has no pod IP yet (state Pending); its endpoints resolve "
                                   "once it is Running");
  auto failed = resolve_endpoint(sandbox(SandboxState::kFailed), 44772, kubernetes());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().field, "address");
  EXPECT_NE(failed.error().message.find("(state Failed)"), std::string::npos);
}

TEST(ResolveEndpoint, KubernetesGatewayRoutesResolveAtOnceInEveryState) {
  for (SandboxState s : {SandboxState::kPending, SandboxState::kRunning}) {
    const Sandbox sb = sandbox(s);  // no pod IP needed
    auto wildcard =
        resolve_endpoint(sb, 18080, kubernetes(IngressKind::kGateway, GatewayRoute::kWildcard));
    ASSERT_TRUE(wildcard) << wildcard.error().message;
    EXPECT_EQ(wildcard->endpoint, sb.id + "-18080.gw.example.test:8443");
    EXPECT_TRUE(wildcard->headers.empty());

    auto uri = resolve_endpoint(sb, 18080, kubernetes(IngressKind::kGateway, GatewayRoute::kUri));
    ASSERT_TRUE(uri) << uri.error().message;
    EXPECT_EQ(uri->endpoint, "gw.example.test:8443/" + sb.id + "/18080");
    EXPECT_TRUE(uri->headers.empty());

    auto header =
        resolve_endpoint(sb, 44772, kubernetes(IngressKind::kGateway, GatewayRoute::kHeader));
    ASSERT_TRUE(header) << header.error().message;
    EXPECT_EQ(header->endpoint, "gw.example.test:8443");
    EXPECT_EQ(header->headers,
              (std::map<std::string, std::string>{{"OpenSandbox-Ingress-To", sb.id + "-44772"}}));
  }
}

TEST(ResolveEndpoint, PortOutsideTheRangeIsInvalidOnEveryRuntime) {
  for (const EndpointRules& r :
       {EndpointRules{}, kubernetes(), kubernetes(IngressKind::kGateway, GatewayRoute::kUri)}) {
    auto e = resolve_endpoint(sandbox(SandboxState::kRunning, "10.0.0.1"), 0, r);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.error().field, "port");
  }
}

TEST(ProxyTarget, DockerConnectsToThePublishedPortOnLoopbackNeverABridgeAddress) {
  EXPECT_EQ(proxy_connect_host("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(proxy_connect_host(""), "127.0.0.1");
  EXPECT_EQ(proxy_connect_host("::"), "::1");
  EXPECT_EQ(proxy_connect_host("10.1.2.3"), "10.1.2.3");

  Sandbox sb = sandbox(SandboxState::kRunning, "172.17.0.5");
  sb.spec.network_mode = "bridge";
  sb.spec.ports = {{44772, 40001}, {8080, 40002}, {18080, 40003}};
  auto http = resolve_proxy_target(sb, 8080, EndpointRuntime::kDocker, "127.0.0.1");
  ASSERT_TRUE(http) << http.error().message;
  EXPECT_EQ(*http, (ProxyTarget{"127.0.0.1", 40002, ""}));
  auto execd = resolve_proxy_target(sb, 44772, EndpointRuntime::kDocker, "127.0.0.1");
  ASSERT_TRUE(execd);
  EXPECT_EQ(*execd, (ProxyTarget{"127.0.0.1", 40001, ""}));
  auto policy = resolve_proxy_target(sb, 18080, EndpointRuntime::kDocker, "127.0.0.1");
  ASSERT_TRUE(policy);
  EXPECT_EQ(*policy, (ProxyTarget{"127.0.0.1", 40003, ""}));
  // Any other port goes through execd's own proxy, as the direct endpoint does.
  auto other = resolve_proxy_target(sb, 3000, EndpointRuntime::kDocker, "127.0.0.1");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, (ProxyTarget{"127.0.0.1", 40001, "/proxy/3000"}));

  Sandbox host = sandbox(SandboxState::kRunning);
  host.spec.network_mode = "host";
  auto h = resolve_proxy_target(host, 3000, EndpointRuntime::kDocker, "127.0.0.1");
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, (ProxyTarget{"127.0.0.1", 3000, ""}));
}

TEST(ProxyTarget, OnlyRunningSandboxesAreTargets) {
  for (SandboxState st : {SandboxState::kPending, SandboxState::kPaused, SandboxState::kPausing,
                          SandboxState::kStopping, SandboxState::kFailed}) {
    Sandbox sb = sandbox(st, "10.244.0.4");
    sb.spec.network_mode = "host";
    auto r = resolve_proxy_target(sb, 8080, EndpointRuntime::kDocker, "127.0.0.1");
    ASSERT_FALSE(r) << to_string(st);
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(r.error().field, "state");
  }
  Sandbox sb = sandbox(SandboxState::kRunning);
  EXPECT_EQ(resolve_proxy_target(sb, 0, EndpointRuntime::kDocker, "127.0.0.1").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(ProxyTarget, KubernetesConnectsToThePodIp) {
  auto r = resolve_proxy_target(sandbox(SandboxState::kRunning, "10.244.0.4"), 8080,
                                EndpointRuntime::kKubernetes, "127.0.0.1");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (ProxyTarget{"10.244.0.4", 8080, ""}));
  auto none = resolve_proxy_target(sandbox(SandboxState::kRunning), 8080,
                                   EndpointRuntime::kKubernetes, "127.0.0.1");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().field, "address");
}

}  // namespace
}  // namespace sbx
