// The official OpenSandbox Python SDK creating a sandbox with a network policy
// (tests/e2e/sdk_egress.py) against the real sandboxd in bridge mode with the stand-in
// egress sidecar (sandboxd-test/egress:1) as egress.image: it must reach Running and the
// SDK's own egress calls (straight to the sidecar, with the token sandboxd hands out)
// must work.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/sdk_venv.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

class PythonSdkEgress : public E2eTest {};

TEST_F(PythonSdkEgress, CreatesASandboxWithANetworkPolicy) {
  ASSERT_EQ(ensure_sdk_venv(), "");
  auto opts = default_options("bridge");
  opts.extra_toml = "[egress]\nimage = \"sandboxd-test/egress:1\"\n";
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(opts));
  ChildProcess py({(venv_dir() / "bin" / "python").string(),
                   source_dir() + "/tests/e2e/sdk_egress.py", "--domain", sandboxd_->address(),
                   "--image", kTestBusyboxImage},
                  {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""},
                   {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(milliseconds(180'000));
  if (!st) py.signal(SIGKILL);
  py.drain(milliseconds(1'000));
  ASSERT_TRUE(st.has_value()) << "the SDK scenario did not finish in 180 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << py.output();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  if (!HasFailure()) std::cerr << last_lines(py.output(), 1);
}

}  // namespace
}  // namespace sbx::testing
