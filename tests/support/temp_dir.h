// TempDir: a fresh directory under $TMPDIR (or /tmp) removed with its contents on
// destruction. For tests and benchmarks. Not thread-safe (own one per test).
#pragma once

#include <filesystem>
#include <string>

namespace sbx::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "sandboxd-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

}  // namespace sbx::testing
