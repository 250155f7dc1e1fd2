#include "src/common/route_signing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace sbx {
namespace {

constexpr std::string_view kId = "0b7d0c52-5c1d-4c4e-9b3a-2f0e5a6d7c81";

TEST(RouteSigning, Base36RoundTripsAndRefusesNonCanonicalDigits) {
  EXPECT_EQ(encode_base36(0), "0");
  EXPECT_EQ(encode_base36(35), "z");
  EXPECT_EQ(encode_base36(36), "10");
  EXPECT_EQ(encode_base36(1767225600), "t85s00");  // 2026-01-01T00:00:00Z
  EXPECT_EQ(encode_base36(UINT64_MAX), "3w5e11264sgsf");
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{35}, std::uint64_t{36}, std::uint64_t{1767225600}, std::uint64_t{UINT64_MAX}}) {
    EXPECT_EQ(decode_base36(encode_base36(v)), v);
  }
  EXPECT_FALSE(decode_base36(""));
  EXPECT_FALSE(decode_base36("00"));
  EXPECT_FALSE(decode_base36("0z"));
  EXPECT_FALSE(decode_base36("Z"));
  EXPECT_FALSE(decode_base36("3w5e11264sgsg"));   // 2^64
  EXPECT_FALSE(decode_base36("10000000000000"));  // 14 digits
}

TEST(RouteSigning, TokenHasTheOsepShapeAndVerifies) {
  const std::string token = sign_route("secret-1", kId, 8080, 1767225600);
  const std::string prefix = std::string(kId) + "-8080-t85s00-";
  ASSERT_EQ(token.substr(0, prefix.size()), prefix);
  EXPECT_EQ(token.size(), prefix.size() + kRouteSignatureHexDigits);
  auto v = verify_route("secret-1", token, 1767225599);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->sandbox_id, kId);
  EXPECT_EQ(v->port, 8080);
  EXPECT_EQ(v->expires, 1767225600u);
  // Deterministic: the same inputs sign the same.
  EXPECT_EQ(sign_route("secret-1", kId, 8080, 1767225600), token);
}

TEST(RouteSigning, ExpiredAtTheSecondItNames) {
  const std::string token = sign_route("s", kId, 44772, 1000);
  EXPECT_TRUE(verify_route("s", token, 999));
  auto at = verify_route("s", token, 1000);
  ASSERT_FALSE(at);
  EXPECT_EQ(at.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(at.error().field, "route");
}

TEST(RouteSigning, AnyChangedPartOrSecretFailsTheSignature) {
  const std::string token = sign_route("secret-1", kId, 8080, 5000);
  EXPECT_EQ(verify_route("secret-2", token, 1).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(verify_route("", token, 1).error().code, ErrorCode::kUnauthenticated);
  // Another port, another expiry, another sandbox: the same signature no longer matches.
  const std::string sig = token.substr(token.rfind('-') + 1);
  for (const std::string& forged :
       {std::string(kId) + "-8081-" + encode_base36(5000) + "-" + sig,
        std::string(kId) + "-8080-" + encode_base36(5001) + "-" + sig,
        std::string("1b7d0c52-5c1d-4c4e-9b3a-2f0e5a6d7c81-8080-") + encode_base36(5000) + "-" + sig}) {
    auto r = verify_route("secret-1", forged, 1);
    ASSERT_FALSE(r) << forged;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << forged;
  }
  std::string flipped = token;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(verify_route("secret-1", flipped, 1).error().code, ErrorCode::kUnauthenticated);
}

TEST(RouteSigning, MalformedTokensAreInvalidArguments) {
  const std::string sig(kRouteSignatureHexDigits, 'a');
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("-8080-1-") + sig,
        std::string(kId) + "-0-1-" + sig, std::string(kId) + "-65536-1-" + sig,
        std::string(kId) + "-080-1-" + sig, std::string(kId) + "-80-01-" + sig,
        std::string(kId) + "-80-1-" + sig.substr(1), std::string(kId) + "-80-1-" + sig + "a",
        std::string(kId) + "-80-1-" + sig.substr(1) + "G", std::string(kId) + "-80--" + sig,
        std::string(kId) + "/x-80-1-" + sig, std::string(300, 'a')}) {
    auto r = verify_route("secret", bad, 0);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace sbx
