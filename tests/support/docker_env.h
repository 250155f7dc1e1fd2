// The private Docker engine of the tests (scripts/docker-env.sh), and how a test asks
// for it.
//
//   TEST(DockerThing, Works) {
//     SBX_REQUIRE_DOCKER(host);   // std::string host = "unix:///.../docker.sock"
//     ...
//   }
//
// The docker host comes from env SANDBOXD_TEST_DOCKER_HOST, which the test wrapper sets
// after `scripts/docker-env.sh start DIR`. Without it the test is SKIPPED with a loud
// message on stderr — unless env CI=true, where a missing engine FAILS the test (CI must
// never pass by skipping the real-engine tests). Usable in TEST bodies and in SetUp().
//
// The images the script builds are named below. Not thread-safe concerns: pure reads of
// the environment.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace sbx::testing {

inline constexpr char kDockerHostEnv[] = "SANDBOXD_TEST_DOCKER_HOST";
inline constexpr char kTestBusyboxImage[] = "sandboxd-test/busybox:1";
inline constexpr char kTestExecdImage[] = "sandboxd-test/execd:1";
inline constexpr int kExecdPort = 44772;

// The docker host for tests, or nullopt when SANDBOXD_TEST_DOCKER_HOST is unset/empty.
std::optional<std::string> test_docker_host();

// True when env CI is "true" or "1".
bool running_in_ci();

// The message a test prints when it has no engine (names the env var and the script).
std::string missing_docker_message();

}  // namespace sbx::testing

// Declares `std::string var` holding the docker host, or skips (fails under CI=true) the
// current test and returns from the enclosing void function.
#define SBX_REQUIRE_DOCKER(var)                                   \
  std::string var;                                                \
  do {                                                            \
    auto sbx_docker_host_ = ::sbx::testing::test_docker_host();   \
    if (!sbx_docker_host_) {                                      \
      if (::sbx::testing::running_in_ci()) {                      \
        GTEST_FAIL() << ::sbx::testing::missing_docker_message(); \
      } else {                                                    \
        GTEST_SKIP() << ::sbx::testing::missing_docker_message(); \
      }                                                           \
    }                                                             \
    var = *sbx_docker_host_;                                      \
  } while (false)
