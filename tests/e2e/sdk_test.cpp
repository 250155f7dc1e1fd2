// The official OpenSandbox Python SDK (PyPI `opensandbox`, pinned) against the real
// sandboxd in bridge mode: tests/e2e/sdk_lifecycle.py drives create (with the SDK's own
// readiness wait: endpoints 44772/18080, then execd /ping), get_info, get_endpoint, renew,
// pause, resume, list by state and metadata, kill; with server.api_key set, so the SDK's
// OPEN-SANDBOX-API-KEY header is checked too.
//
// HostVolumeScenario: tests/e2e/sdk_volumes.py, a sandbox with host volumes.
// The SDK's venv: tests/e2e/sdk_venv.h.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/sdk_venv.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

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

// The same scenario with the SDK configured for use_server_proxy=True: every endpoint is
// sandboxd's proxy route, and the SDK's readiness pings (create, resume) and is_healthy reach
// the sandbox's execd through the server proxy, with the API key on (the proxy requires it
// and strips it).
TEST_F(PythonSdk, LifecycleThroughTheServerProxy) {
  ASSERT_EQ(ensure_sdk_venv(), "");
  auto opts = default_options("bridge");
  opts.api_key = "e2e-sdk-proxy-key-" + std::to_string(::getpid());
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));
  ChildProcess py(
      {(venv_dir() / "bin" / "python").string(), source_dir() + "/tests/e2e/sdk_lifecycle.py",
       "--domain", sandboxd_->address(), "--image", kTestBusyboxImage, "--api-key", opts.api_key,
       "--use-server-proxy"},
      {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""}, {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(milliseconds(240'000));
  if (!st) py.signal(SIGKILL);
  py.drain(milliseconds(1'000));
  ASSERT_TRUE(st.has_value()) << "the SDK scenario did not finish in 240 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "the SDK scenario failed (wait status " << *st << "); output:\n"
      << py.output();
  EXPECT_NE(py.output().find("endpoint 44772 is the server proxy route"), std::string::npos)
      << py.output();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  // The pings went through the proxy: its request counter moved.
  auto metrics = api().request("GET", "/metrics", "", {{"OPEN-SANDBOX-API-KEY", opts.api_key}});
  EXPECT_NE(metrics.body.find("sandboxd_proxy_requests_total{status_class=\"2xx\"}"),
            std::string::npos)
      << metrics.body.substr(0, 2000);
  if (!HasFailure()) std::cerr << last_lines(py.output(), 1);
}

// The SDK creating a sandbox with host volumes (tests/e2e/sdk_volumes.py): written from
// inside through the read-write one, refused through the read-only one, and a path outside
// storage.allowed_host_paths refused with 400 VOLUME::HOST_PATH_NOT_ALLOWED.
TEST_F(PythonSdk, HostVolumeScenario) {
  ASSERT_EQ(ensure_sdk_venv(), "");
  TempDir allowed("sandboxd-sdk-volumes");
  TempDir outside("sandboxd-sdk-outside");
  auto opts = default_options("bridge");
  opts.extra_toml = "[storage]\nallowed_host_paths = [\"" + allowed.str() + "\"]\n";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));

  ChildProcess py({(venv_dir() / "bin" / "python").string(),
                   source_dir() + "/tests/e2e/sdk_volumes.py", "--domain", sandboxd_->address(),
                   "--image", kTestBusyboxImage, "--allowed", allowed.str(), "--outside",
                   outside.str()},
                  {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""}, {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(milliseconds(180'000));
  if (!st) py.signal(SIGKILL);
  py.drain(milliseconds(1'000));
  ASSERT_TRUE(st.has_value()) << "the SDK volume scenario did not finish in 180 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "the SDK volume scenario failed (wait status " << *st << "); output:\n"
      << py.output();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  if (!HasFailure()) std::cerr << last_lines(py.output(), 1);
}

// The SDK taking a sandbox from a warm pool (tests/e2e/sdk_pool.py): the claimed member
// passes the SDK's readiness check at once; a different entrypoint is refused.
TEST_F(PythonSdk, WarmPoolScenario) {
  ASSERT_EQ(ensure_sdk_venv(), "");
  auto opts = default_options("bridge");
  opts.extra_toml = "[pools]\nkeeper_interval_ms = 200\n";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));

  ChildProcess py({(venv_dir() / "bin" / "python").string(),
                   source_dir() + "/tests/e2e/sdk_pool.py", "--domain", sandboxd_->address(),
                   "--image", kTestBusyboxImage},
                  {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""}, {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(milliseconds(180'000));
  if (!st) py.signal(SIGKILL);
  py.drain(milliseconds(1'000));
  ASSERT_TRUE(st.has_value()) << "the SDK pool scenario did not finish in 180 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "the SDK pool scenario failed (wait status " << *st << "); output:\n"
      << py.output();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  if (!HasFailure()) std::cerr << last_lines(py.output(), 3);
}

}  // namespace
}  // namespace sbx::testing
