// The reference server (opensandbox-server, from PyPI) for tests that compare with it or
// start from what it leaves behind: a venv under ${SANDBOXD_TEST_WORKDIR:-/tmp}/ref-venv,
// made on first use with `python3 -m venv` + `pip install opensandbox-server==<pinned>` and
// reused afterwards (a marker file says the install finished). Its executable is
// reference_server_bin(). Header-only (the test CMake function compiles only `*_test.cpp`).
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/e2e/sdk_venv.h"

namespace sbx::testing {

inline constexpr char kReferenceServerPackage[] = "opensandbox-server==1.1.1";

inline std::filesystem::path reference_venv_dir() {
  const char* work = std::getenv("SANDBOXD_TEST_WORKDIR");
  return std::filesystem::path(work && *work ? work : "/tmp") / "ref-venv";
}

inline std::filesystem::path reference_server_bin() {
  return reference_venv_dir() / "bin" / "opensandbox-server";
}

// Makes sure the venv exists with the pinned reference server; returns "" or what went
// wrong. Not safe to call from two processes at once (ctest runs these tests -j1).
inline std::string ensure_reference_venv() {
  if (auto e = ensure_pip_venv(reference_venv_dir(), kReferenceServerPackage,
                               std::chrono::milliseconds(600'000));
      !e.empty()) {
    return e;
  }
  if (!std::filesystem::exists(reference_server_bin())) {
    return reference_server_bin().string() + " is missing after the install";
  }
  return "";
}

}  // namespace sbx::testing
