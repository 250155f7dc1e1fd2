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

// Makes sure the venv `dir` exists with `package` (a pinned "name==version") installed:
// `python3 -m venv` + `pip install`, bounded by `timeout`; a marker file says the install
// finished, so later calls return at once. Returns "" or what went wrong.
inline std::string ensure_pip_venv(const std::filesystem::path& dir, const std::string& package,
                                   std::chrono::milliseconds timeout) {
  const auto marker = dir / (".installed-" + package);
  if (std::filesystem::exists(marker) && std::filesystem::exists(dir / "bin" / "python")) return "";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string script =
      "set -e; python3 -m venv \"$0\"; \"$0/bin/pip\" install -q "
      "--disable-pip-version-check \"$1\"";
  ChildProcess p({"/bin/sh", "-c", script, dir.string(), package});
  auto st = p.wait(timeout);
  if (!st) {
    p.signal(SIGKILL);
    return "creating the venv " + dir.string() + " took more than " +
           std::to_string(timeout.count() / 1000) + " s; output:\n" + p.output();
  }
  p.drain(std::chrono::milliseconds(500));
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return "creating the venv " + dir.string() + " failed (python3 -m venv + pip install " +
           package + "); output:\n" + p.output();
  write_text(marker, "");
  return "";
}

// Makes sure the venv exists with the pinned SDK; returns "" or what went wrong.
inline std::string ensure_sdk_venv() {
  return ensure_pip_venv(venv_dir(), kSdkPackage, std::chrono::milliseconds(300'000));
}

}  // namespace sbx::testing
