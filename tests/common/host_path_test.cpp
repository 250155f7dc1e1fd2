// resolve_allowed_host_path on a real file system: symlinks resolved in the path, in
// path + subPath and in the allowlist.
#include "src/common/host_path.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using sbx::ErrorCode;

class HostPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_ / "allowed" / "data" / "sub");
    fs::create_directories(root_ / "outside");
    allowed_ = (root_ / "allowed").string();
  }
  std::string code_of(const sbx::Error& e) { return e.message.substr(0, e.message.find(": ")); }

  sbx::testing::TempDir root_{"sbx-host-path"};
  std::string allowed_;
  const std::string field_ = "volumes[2].host.path";
};

TEST_F(HostPathTest, APathUnderTheAllowlistResolvesToItself) {
  auto r = sbx::resolve_allowed_host_path(allowed_ + "/data", "", {allowed_}, field_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, fs::canonical(root_ / "allowed" / "data").string());
  auto sub = sbx::resolve_allowed_host_path(allowed_ + "/data", "sub", {allowed_}, field_);
  ASSERT_TRUE(sub) << sub.error().message;
  EXPECT_EQ(*sub, fs::canonical(root_ / "allowed" / "data" / "sub").string());
  // The allowlist entry itself, and one given with a trailing slash.
  EXPECT_TRUE(sbx::resolve_allowed_host_path(allowed_, "", {allowed_ + "/"}, field_));
}

TEST_F(HostPathTest, AnEmptyAllowlistRefusesEveryPath) {
  auto r = sbx::resolve_allowed_host_path(allowed_ + "/data", "", {}, field_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(r.error()), "VOLUME::HOST_PATH_NOT_ALLOWED");
  EXPECT_EQ(r.error().field, field_);
  EXPECT_NE(r.error().message.find(field_), std::string::npos);
}

TEST_F(HostPathTest, APathOutsideOrAPrefixLookalikeIsRefused) {
  fs::create_directories(root_ / "allowed-not");
  for (const std::string& p : {(root_ / "outside").string(), (root_ / "allowed-not").string(),
                               std::string("/")}) {
    auto r = sbx::resolve_allowed_host_path(p, "", {allowed_}, field_);
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(code_of(r.error()), "VOLUME::HOST_PATH_NOT_ALLOWED") << p;
  }
}

TEST_F(HostPathTest, ASymlinkEscapingTheAllowlistIsRefused) {
  fs::create_directory_symlink(root_ / "outside", root_ / "allowed" / "escape");
  auto r = sbx::resolve_allowed_host_path(allowed_ + "/escape", "", {allowed_}, field_);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), "VOLUME::HOST_PATH_NOT_ALLOWED");
  // Through the subPath as well: a link inside the volume pointing out of it.
  fs::create_directory_symlink(root_ / "outside", root_ / "allowed" / "data" / "out");
  auto s = sbx::resolve_allowed_host_path(allowed_ + "/data", "out", {allowed_}, field_);
  ASSERT_FALSE(s);
  EXPECT_EQ(code_of(s.error()), "VOLUME::HOST_PATH_NOT_ALLOWED");
  // A link that stays inside is fine, and the resolved target is what is returned.
  fs::create_directory_symlink(root_ / "allowed" / "data" / "sub", root_ / "allowed" / "in");
  auto in = sbx::resolve_allowed_host_path(allowed_ + "/in", "", {allowed_}, field_);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(*in, fs::canonical(root_ / "allowed" / "data" / "sub").string());
}

TEST_F(HostPathTest, AnAllowlistEntryThatIsALinkIsResolvedToo) {
  fs::create_directory_symlink(root_ / "allowed", root_ / "alias");
  auto r = sbx::resolve_allowed_host_path(allowed_ + "/data", "", {(root_ / "alias").string()},
                                          field_);
  EXPECT_TRUE(r) << r.error().message;
}

TEST_F(HostPathTest, AMissingPathOrSubPathIsNotFound) {
  auto r = sbx::resolve_allowed_host_path(allowed_ + "/nope", "", {allowed_}, field_);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), "VOLUME::HOST_PATH_NOT_FOUND");
  auto s = sbx::resolve_allowed_host_path(allowed_ + "/data", "nope", {allowed_}, field_);
  ASSERT_FALSE(s);
  EXPECT_EQ(code_of(s.error()), "VOLUME::HOST_PATH_NOT_FOUND");
}

TEST(PathIsUnder, ComparesWholeComponents) {
  EXPECT_TRUE(sbx::path_is_under("/a/b", "/a"));
  EXPECT_TRUE(sbx::path_is_under("/a", "/a/"));
  EXPECT_FALSE(sbx::path_is_under("/ab", "/a"));
  EXPECT_TRUE(sbx::path_is_under("/anything", "/"));
}

}  // namespace
