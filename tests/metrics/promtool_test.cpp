// Lints the exposition with the real `promtool check metrics` (Debian package
// `prometheus`). Without promtool on PATH the tests skip, except with CI=true where a
// missing linter is a failure (CI installs it: scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "src/metrics/http_metrics.h"
#include "src/metrics/process_metrics.h"
#include "src/metrics/registry.h"
#include "src/metrics/runtime_metrics.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "src/metrics/worker_metrics.h"
#include "tests/support/temp_dir.h"

namespace sbx::metrics {
namespace {

std::optional<std::string> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics < file` and captures stdout and stderr.
RunResult promtool_check(const std::string& promtool, const std::string& text) {
  sbx::testing::TempDir dir("sandboxd-metrics");
  const std::string file = (dir / "scrape.txt").string();
  std::ofstream(file) << text;
  const std::string cmd = "'" + promtool + "' check metrics < '" + file + "' 2>&1";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Promtool : public ::testing::Test {
 protected:
  void SetUp() override {
    promtool_ = find_on_path("promtool");
    if (promtool_) return;
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL() << "promtool is not on PATH and CI=true: install the Debian package "
                "`prometheus` (scripts/install-deps.sh does)";
    }
    GTEST_SKIP() << "promtool is not on PATH: install the Debian package `prometheus` to "
                    "lint the /metrics exposition (with CI=true this is a failure)";
  }
  std::optional<std::string> promtool_;
};

TEST_F(Promtool, RejectsAKnownBadExpositionSoTheCheckCanFail) {
  const RunResult bad = promtool_check(*promtool_, "# HELP foo F.\n# TYPE foo counter\nfoo 1\n");
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  const RunResult broken = promtool_check(*promtool_, "foo{a=\"unterminated} 1\n");
  EXPECT_NE(broken.exit_code, 0) << broken.output;
}

TEST_F(Promtool, AcceptsTheFullSandboxdExposition) {
  Registry r;
  HttpMetrics http(r);
  StoreMetrics store(r);
  SandboxMetrics sandbox(r);
  WorkerMetrics worker(r);
  RuntimeMetrics runtime(r);
  auto process = ProcessMetrics::attach(r);
  ASSERT_TRUE(process.has_value()) << process.error().message;

  http.requests_total.with({"GET", "/v1/sandboxes/{id}", "200"}).inc(12);
  http.requests_total.with({"POST", "/v1/sandboxes", "202"}).inc();
  http.requests_total.with({"GET", "/weird \"route\"\\\n", "404"}).inc();
  http.request_duration_seconds.with({"GET", "/v1/sandboxes/{id}"}).observe(0.00042);
  http.request_duration_seconds.with({"POST", "/v1/sandboxes"}).observe(0.35);
  http.requests_in_flight.set(3);
  store.event_append_duration_seconds.observe(0.0021);
  store.group_commit_size.observe(17);
  store.events_appended_total.inc(42);
  store.log_head_position.set(42);
  auto size = store.expose_store_size([] { return std::optional<double>(1 << 20); });
  ASSERT_TRUE(size.has_value());
  sandbox.lifecycle_transitions_total.with({"Pending", "Running"}).inc();
  sandbox.time_to_running_seconds.observe(0.4);
  sandbox.expirations_total.inc();
  sandbox.reconcile_findings_total.with({"vanished"}).inc();
  auto states = sandbox.expose_sandboxes_by_state([] {
    return std::vector<CallbackSample>{{{"Running"}, 2}, {{"Paused"}, 1}, {{"Pending"}, 0}};
  });
  ASSERT_TRUE(states.has_value());
  worker.worker_lag_events.with({"provisioner"}).set(0);
  worker.worker_checkpoint_position.with({"provisioner"}).set(42);
  runtime.runtime_call_duration_seconds.with({"create"}).observe(0.015);
  runtime.runtime_call_errors_total.with({"pull", "kUnavailable"}).inc();

  const std::string text = r.expose();
  const RunResult result = promtool_check(*promtool_, text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\nexposition:\n" << text;
  EXPECT_EQ(result.output, "") << "lint findings:\n" << result.output;
}

}  // namespace
}  // namespace sbx::metrics
