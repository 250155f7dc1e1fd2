// Image references and registry credentials, without an engine (pulls themselves are
// covered by the Docker-backed tests).
#include "src/runtime/docker/image_pull.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace {

using Split = std::pair<std::string, std::string>;

TEST(ImageReference, SplitsTagDigestAndDefaultsToLatest) {
  EXPECT_EQ(sbx::split_image_reference("busybox"), (Split{"busybox", "latest"}));
  EXPECT_EQ(sbx::split_image_reference("busybox:1.36"), (Split{"busybox", "1.36"}));
  EXPECT_EQ(sbx::split_image_reference("127.0.0.1:5000/team/app"),
            (Split{"127.0.0.1:5000/team/app", "latest"}));
  EXPECT_EQ(sbx::split_image_reference("127.0.0.1:5000/team/app:v2"),
            (Split{"127.0.0.1:5000/team/app", "v2"}));
  EXPECT_EQ(sbx::split_image_reference("app@sha256:abcd"), (Split{"app", "sha256:abcd"}));
}

TEST(ImageReference, RegistryIsTheFirstComponentOnlyWhenItLooksLikeAHost) {
  EXPECT_EQ(sbx::registry_of("busybox"), "");
  EXPECT_EQ(sbx::registry_of("library/busybox"), "");
  EXPECT_EQ(sbx::registry_of("registry.internal.test/team/app"), "registry.internal.test");
  EXPECT_EQ(sbx::registry_of("127.0.0.1:5000/app"), "127.0.0.1:5000");
  EXPECT_EQ(sbx::registry_of("localhost/app"), "localhost");
}

// base64url without a library: enough to read back what the header carries.
std::string decode_base64url(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    auto v = kAlphabet.find(c);
    EXPECT_NE(v, std::string::npos) << "not base64url: " << c;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

TEST(RegistryAuth, HeaderIsBase64UrlJsonWithTheServerAddressWhenTheRepoNamesOne) {
  const sbx::RegistryAuth auth{"alice", "p+ss/w?rd>"};
  auto j = nlohmann::json::parse(
      decode_base64url(sbx::registry_auth_header(auth, "127.0.0.1:5000/team/app")));
  EXPECT_EQ(j, (nlohmann::json{{"username", "alice"},
                               {"password", "p+ss/w?rd>"},
                               {"serveraddress", "127.0.0.1:5000"}}));
  const std::string hub = sbx::registry_auth_header(auth, "team/app");
  EXPECT_EQ(hub.find_first_of("+/"), std::string::npos) << hub;
  EXPECT_FALSE(nlohmann::json::parse(decode_base64url(hub)).contains("serveraddress"));
}

}  // namespace
