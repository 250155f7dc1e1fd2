// Which registry pull credentials are filed under (Docker's X-Registry-Auth serveraddress
// and the Kubernetes dockerconfigjson key both come from here).
#include "src/runtime/image_reference.h"

#include <gtest/gtest.h>

namespace {

TEST(ImageReference, ImagesWithoutARegistryHostHaveNoCredentialsRegistry) {
  EXPECT_EQ(sbx::credentials_registry("busybox"), "");
  EXPECT_EQ(sbx::credentials_registry("library/busybox:1.36"), "");
  EXPECT_EQ(sbx::credentials_registry("team/app@sha256:abcd"), "");
}

TEST(ImageReference, CredentialsOfOtherImagesGoToTheirRegistryHost) {
  EXPECT_EQ(sbx::credentials_registry("registry.internal.test/org/app:1"), "registry.internal.test");
  EXPECT_EQ(sbx::credentials_registry("127.0.0.1:5000/app"), "127.0.0.1:5000");
  EXPECT_EQ(sbx::credentials_registry("localhost/app:dev"), "localhost");
  EXPECT_EQ(sbx::credentials_registry("registry.example.com:5000/team/app:v2"),
            "registry.example.com:5000");
}

}  // namespace
