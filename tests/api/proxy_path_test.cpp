#include "api/proxy/proxy_path.h"

#include <gtest/gtest.h>

namespace sbx::api::proxy {
namespace {

constexpr const char* kId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

TEST(ProxyPath, SandboxFormAtBothPrefixesMapsPathAndKeepsTheRawQuery) {
  for (const std::string prefix : {"", "/v1"}) {
    const std::string base = prefix + "/sandboxes/" + kId + "/proxy/8080";
    auto p = parse_proxy_path(base + "/a/b%2Fc?x=1&x=2&y");
    ASSERT_TRUE(p) << prefix;
    EXPECT_EQ(p->kind, ProxyPath::Kind::kSandbox);
    EXPECT_EQ(p->sandbox_id, kId);
    EXPECT_EQ(p->port, "8080");
    EXPECT_EQ(p->prefix, base);
    EXPECT_EQ(p->upstream_target, "/a/b%2Fc?x=1&x=2&y");

    p = parse_proxy_path(base);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->upstream_target, "/");
    p = parse_proxy_path(base + "?q=1");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->upstream_target, "/?q=1");
    p = parse_proxy_path(base + "/");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->upstream_target, "/");
  }
}

TEST(ProxyPath, SignedFormKeepsTheRouteAsSent) {
  auto p = parse_proxy_path("/proxy/abc-80-k1-sig/ws?x=1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ProxyPath::Kind::kSigned);
  EXPECT_EQ(p->route, "abc-80-k1-sig");
  EXPECT_EQ(p->prefix, "/proxy/abc-80-k1-sig");
  EXPECT_EQ(p->upstream_target, "/ws?x=1");
  p = parse_proxy_path("/v1/proxy/r");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->prefix, "/v1/proxy/r");
  EXPECT_EQ(p->upstream_target, "/");
}

TEST(ProxyPath, OtherTargetsAreNotProxyRoutes) {
  for (const char* t :
       {"/", "/health", "/v1/sandboxes", "/sandboxes/x", "/sandboxes/x/proxy",
        "/sandboxes/x/proxy/", "/sandboxes//proxy/80", "/sandboxes/x/endpoints/80", "/proxy",
        "/proxy/", "/v2/proxy/x", "/v1/sandboxes/x/proxyy/80", "/xproxy/a"}) {
    EXPECT_FALSE(is_proxy_target(t)) << t;
  }
}

TEST(ProxyPath, PortIdAndRouteValidation) {
  EXPECT_EQ(parse_proxy_port("1"), 1);
  EXPECT_EQ(parse_proxy_port("65535"), 65535);
  for (const char* bad : {"0", "65536", "+80", "-1", "8a", "", "000080", " 80", "99999"}) {
    EXPECT_FALSE(parse_proxy_port(bad)) << bad;
  }
  EXPECT_TRUE(is_lowercase_uuid(kId));
  EXPECT_FALSE(is_lowercase_uuid("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"));
  EXPECT_FALSE(is_lowercase_uuid("not-a-uuid"));
  EXPECT_TRUE(is_route_token("abc-80-k1-0f"));
  EXPECT_FALSE(is_route_token("ABC"));
  EXPECT_FALSE(is_route_token("a.b"));
  EXPECT_FALSE(is_route_token(std::string(257, 'a')));
}

}  // namespace
}  // namespace sbx::api::proxy
