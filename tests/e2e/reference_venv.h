// The reference server (opensandbox-server, from PyPI) for tests that compare with it or
// start from what it leaves behind: a venv under ${SANDBOXD_TEST_WORKDIR:-/tmp}/ref-venv,
// made on first use with `python3 -m venv` + `pip install opensandbox-server==<pinned>` and
// reused afterwards (a marker file says the install finished). Its executable is
// reference_server_bin(). Header-only (the test CMake function compiles only `*_test.cpp`).
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/child_process.h"

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
  const auto dir = reference_venv_dir();
  const auto marker = dir / (std::string(".installed-") + kReferenceServerPackage);
  if (std::filesystem::exists(marker) && std::filesystem::exists(reference_server_bin())) return "";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string script =
      "set -e; python3 -m venv \"$0\"; \"$0/bin/pip\" install -q "
      "--disable-pip-version-check \"$1\"";
  ChildProcess p({"/bin/sh", "-c", script, dir.string(), kReferenceServerPackage});
  auto st = p.wait(std::chrono::milliseconds(600'000));
  if (!st) {
    p.signal(SIGKILL);
    return "creating the reference server venv took more than 600 s; output:\n" + p.output();
  }
  p.drain(std::chrono::milliseconds(500));
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return "creating the reference server venv failed (python3 -m venv + pip install " +
           std::string(kReferenceServerPackage) + "); output:\n" + p.output();
  write_text(marker, "");
  return "";
}

}  // namespace sbx::testing
