#include "tests/support/docker_env.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace sbx::testing {

std::optional<std::string> test_docker_host() {
  const char* v = std::getenv(kDockerHostEnv);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool running_in_ci() {
  const char* v = std::getenv("CI");
  if (v == nullptr) return false;
  std::string_view s = v;
  return s == "true" || s == "TRUE" || s == "True" || s == "1";
}

std::string missing_docker_message() {
  std::string msg =
      "\n"
      "************************************************************************\n"
      "*** NO DOCKER ENGINE: " +
      std::string(kDockerHostEnv) +
      " is not set.\n"
      "*** This test needs the private engine: run\n"
      "***   scripts/docker-env.sh start /tmp/sbx-docker   (as root)\n"
      "*** and export " +
      std::string(kDockerHostEnv) + "=<the printed host>.\n" +
      (running_in_ci() ? "*** CI=true: this is a FAILURE, not a skip.\n"
                       : "*** Skipping (it would FAIL with CI=true).\n") +
      "************************************************************************";
  std::fprintf(stderr, "%s\n", msg.c_str());
  return msg;
}

}  // namespace sbx::testing
