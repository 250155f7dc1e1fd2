// SBX_REQUIRE_ROOT(what): tests that enter network namespaces (setns, unshare) need root
// (CAP_SYS_ADMIN). Without it the test skips with a message naming `what`, and fails under
// CI=true (CI runs as root, so a skip there would hide a broken setup).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/docker_env.h"

#define SBX_REQUIRE_ROOT(what)                                                              \
  do {                                                                                      \
    if (::geteuid() != 0) {                                                                 \
      if (::sbx::testing::running_in_ci()) GTEST_FAIL() << (what) << " needs root here (CI)"; \
      GTEST_SKIP() << (what) << " needs root (CAP_SYS_ADMIN)";                              \
    }                                                                                       \
  } while (0)
