// A private image registry for tests (scripts/registry-env.sh): Debian's docker-registry on
// 127.0.0.1 with htpasswd auth, holding one test image that was pushed through the private
// Docker engine and removed from it again.
//
//   TestRegistry reg;                         // in SetUp(), after SBX_REQUIRE_DOCKER(host)
//   ASSERT_TRUE(reg.start(SANDBOXD_SOURCE_DIR, host)) << reg.error();
//   ... reg.image(), reg.user(), reg.password() ...
//   // the destructor stops the registry (by its pid file) and removes its directory
//
// Each TestRegistry has its own temp directory, port and random password. Not thread-safe
// (one owner thread).
#pragma once

#include <memory>
#include <string>

#include "tests/support/temp_dir.h"

namespace sbx::testing {

class TestRegistry {
 public:
  TestRegistry() = default;
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  // Runs `<source_dir>/scripts/registry-env.sh start DIR <docker_host>` (bounded: 180 s) and
  // reads DIR/env. False with error() set when it fails.
  bool start(const std::string& source_dir, const std::string& docker_host);
  const std::string& error() const { return error_; }

  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  const std::string& image() const { return image_; }  // "127.0.0.1:PORT/sandboxd-test/private:1"
  const std::string& dir() const;

 private:
  std::unique_ptr<TempDir> dir_;
  std::string script_;
  std::string error_, address_, user_, password_, image_;
};

}  // namespace sbx::testing
