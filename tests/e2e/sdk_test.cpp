// The official OpenSandbox Python SDK (PyPI `opensandbox`, pinned) against the real
// sandboxd in bridge mode: tests/e2e/sdk_lifecycle.py drives create (with the SDK's own
// readiness wait: endpoints 44772/18080, then execd /ping), get_info, get_endpoint, renew,
// pause, resume, list by state and metadata, kill; with server.api_key set, so the SDK's
// OPEN-SANDBOX-API-KEY header is checked too.
//
// The SDK lives in a venv under ${SANDBOXD_TEST_WORKDIR:-/tmp}/sdk-venv, made on first use
// with `python3 -m venv` + `pip install opensandbox==<pinned>` and reused afterwards (a
// marker file says the install finished).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kSdkPackage[] = "opensandbox==1.1.1";

std::filesystem::path venv_dir() {
  const char* work = std::getenv("SANDBOXD_TEST_WORKDIR");
  return std::filesystem::path(work && *work ? work : "/tmp") / "sdk-venv";
}

// Makes sure the venv exists with the pinned SDK; returns "" or what went wrong.
std::string ensure_sdk_venv() {
  const auto dir = venv_dir();
  const auto marker = dir / (std::string(".installed-") + kSdkPackage);
  if (std::filesystem::exists(marker) && std::filesystem::exists(dir / "bin" / "python")) return "";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string script =
      "set -e; python3 -m venv \"$0\"; \"$0/bin/pip\" install -q "
      "--disable-pip-version-check \"$1\"";
  ChildProcess p({"/bin/sh", "-c", script, dir.string(), kSdkPackage});
  auto st = p.wait(milliseconds(300'000));
  if (!st) {
    p.signal(SIGKILL);
    return "creating the SDK venv took more than 300 s; output:\n" + p.output();
  }
  p.drain(milliseconds(500));
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return "creating the SDK venv failed (python3 -m venv + pip install " +
           std::string(kSdkPackage) + "); output:\n" + p.output();
  write_text(marker, "");
  return "";
}

class PythonSdk : public E2eTest {};

TEST_F(PythonSdk, LifecycleScenario) {
  const auto t_venv = SteadyClock::now();
  const std::string venv_error = ensure_sdk_venv();
  ASSERT_EQ(venv_error, "");
  std::cerr << "[timing] SDK venv ready in " << seconds_since(t_venv) << " s\n";

  // With an API key: the SDK must send it (OPEN-SANDBOX-API-KEY) on every lifecycle call.
  auto opts = default_options("bridge");
  opts.api_key = "e2e-sdk-key-" + std::to_string(::getpid());
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));

  const auto t0 = SteadyClock::now();
  ChildProcess py(
      {(venv_dir() / "bin" / "python").string(), source_dir() + "/tests/e2e/sdk_lifecycle.py",
       "--domain", sandboxd_->address(), "--image", kTestBusyboxImage, "--api-key", opts.api_key},
      {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""}, {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(milliseconds(240'000));
  if (!st) py.signal(SIGKILL);
  py.drain(milliseconds(1'000));
  std::cerr << "[timing] SDK scenario " << seconds_since(t0) << " s\n";
  ASSERT_TRUE(st.has_value()) << "the SDK scenario did not finish in 240 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "the SDK scenario failed (wait status " << *st << "); output:\n"
      << py.output();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  if (!HasFailure()) std::cerr << last_lines(py.output(), 1);
}

}  // namespace
}  // namespace sbx::testing
