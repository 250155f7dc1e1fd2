// The data directory is private to its owner (store/FORMAT.md "Overview").
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/event_store.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using testing::TempDir;

std::unique_ptr<EventStore> open_store(const std::string& path) {
  StoreOptions o;
  o.path = path;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST(DataDirectory, ANewDirectoryIsPrivateToItsOwner) {
  TempDir dir;
  const auto path = dir / "data";
  ASSERT_NE(open_store(path.string()), nullptr);
  EXPECT_EQ(mode_of(path), 0700u);
}

TEST(DataDirectory, AnExistingDirectoryWithWiderPermissionsIsTightened) {
  TempDir dir;
  const auto path = dir / "data";
  { ASSERT_NE(open_store(path.string()), nullptr); }
  std::filesystem::permissions(path, std::filesystem::perms(0755));
  ASSERT_EQ(mode_of(path), 0755u);
  { ASSERT_NE(open_store(path.string()), nullptr); }
  EXPECT_EQ(mode_of(path), 0700u);
  // An empty directory made by someone else (sandboxd's own startup creates store.path
  // with the umask) is tightened when the store is created in it.
  const auto made = dir / "made";
  std::filesystem::create_directories(made);
  std::filesystem::permissions(made, std::filesystem::perms(0775));
  { ASSERT_NE(open_store(made.string()), nullptr); }
  EXPECT_EQ(mode_of(made), 0700u);
}

TEST(DataDirectory, AReadOnlyOpenChangesNothing) {
  TempDir dir;
  const auto path = dir / "data";
  { ASSERT_NE(open_store(path.string()), nullptr); }
  std::filesystem::permissions(path, std::filesystem::perms(0750));
  StoreOptions o;
  o.path = path.string();
  o.read_only = true;
  auto s = EventStore::open(o);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(mode_of(path), 0750u);
}

}  // namespace
}  // namespace sbx
