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

}  // namespace
}  // namespace sbx
