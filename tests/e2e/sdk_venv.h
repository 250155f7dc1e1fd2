// The official OpenSandbox Python SDK for the end-to-end tests: a venv under
// ${SANDBOXD_TEST_WORKDIR:-/tmp}/sdk-venv, made on first use with `python3 -m venv` +
// `pip install opensandbox==<pinned>` and reused afterwards (a marker file says the install
// finished). Shared by tests/e2e/sdk_test.cpp (Docker) and tests/kubernetes (Kubernetes).
// Header-only (the test CMake function compiles only `*_test.cpp` files).
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/child_process.h"

namespace sbx::testing {

inline constexpr char kSdkPackage[] = "opensandbox==1.1.1";

inline std::filesystem::path venv_dir() {
  const char* work = std::getenv("SANDBOXD_TEST_WORKDIR");
  return std::filesystem::path(work && *work ? work : "/tmp") / "sdk-venv";
}

// Makes sure the venv exists with the pinned SDK; returns "" or what went wrong.
inline std::string ensure_sdk_venv() {
  const auto dir = venv_dir();
  const auto marker = dir / (std::string(".installed-") + kSdkPackage);
  if (std::filesystem::exists(marker) && std::filesystem::exists(dir / "bin" / "python")) return "";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string script =
      "set -e; python3 -m venv \"$0\"; \"$0/bin/pip\" install -q "
      "--disable-pip-version-check \"$1\"";
  ChildProcess p({"/bin/sh", "-c", script, dir.string(), kSdkPackage});
  auto st = p.wait(std::chrono::milliseconds(300'000));
  if (!st) {
    p.signal(SIGKILL);
    return "creating the SDK venv took more than 300 s; output:\n" + p.output();
  }
  p.drain(std::chrono::milliseconds(500));
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return "creating the SDK venv failed (python3 -m venv + pip install " +
           std::string(kSdkPackage) + "); output:\n" + p.output();
  write_text(marker, "");
  return "";
}

}  // namespace sbx::testing
