// GET /v1/sandboxes/{id}/diagnostics/* end to end: the real sandboxd binary and the private
// Docker engine. A sandbox prints known lines; logs shows them, inspect shows its state and
// never an env value, events lists its lifecycle from the log, summary puts it together,
// and after the delete events still answers while logs and inspect are 404.
#include <gtest/gtest.h>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

class Diagnostics : public E2eTest {};

TEST_F(Diagnostics, LogsInspectEventsAndSummaryOfARealSandbox) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options("bridge")));
  Json request = create_request(600);
  request["entrypoint"] = {"sh", "-c",
                           "echo diag-stdout-line-1; echo diag-stderr-line >&2; "
                           "echo diag-stdout-line-2; exec sleep 3600"};
  request["env"] = {{"DIAG_SECRET", "e2e-hunter2"}};
  const std::string id = create_running(request);
  ASSERT_FALSE(id.empty());

  Reply logs;
  for (int i = 0; i < 100; ++i) {
    logs = api().get(sandbox_path(id) + "/diagnostics/logs?tail=50");
    if (logs.status != 200 || logs.body.find("diag-stdout-line-2") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(logs.status, 200) << logs.describe();
  EXPECT_EQ(logs.header("Content-Type").value_or(""), "text/plain; charset=utf-8");
  EXPECT_EQ(logs.header("Deprecation").value_or(""), "true");
  EXPECT_NE(logs.body.find("diag-stdout-line-1\n"), std::string::npos) << logs.body;
  EXPECT_NE(logs.body.find("diag-stderr-line\n"), std::string::npos) << logs.body;
  EXPECT_NE(logs.body.find("diag-stdout-line-2\n"), std::string::npos) << logs.body;

  Reply inspect = api().get(sandbox_path(id) + "/diagnostics/inspect");
  ASSERT_EQ(inspect.status, 200) << inspect.describe();
  EXPECT_NE(inspect.body.find("Status:         running"), std::string::npos) << inspect.body;
  EXPECT_NE(inspect.body.find("DIAG_SECRET=***"), std::string::npos) << inspect.body;
  EXPECT_EQ(inspect.body.find("e2e-hunter2"), std::string::npos) << inspect.body;

  Reply summary = api().get(sandbox_path(id) + "/diagnostics/summary");
  ASSERT_EQ(summary.status, 200) << summary.describe();
  EXPECT_NE(summary.body.find("State:          Running"), std::string::npos) << summary.body;
  EXPECT_NE(summary.body.find("Status:         running"), std::string::npos) << summary.body;
  EXPECT_NE(summary.body.find("diag-stdout-line-2"), std::string::npos) << summary.body;
  EXPECT_EQ(summary.body.find("e2e-hunter2"), std::string::npos) << summary.body;

  Reply del = api().del(sandbox_path(id));
  ASSERT_EQ(del.status, 204) << del.describe();
  EXPECT_EQ(wait_for_state(api(), id, {"NotFound"}, std::chrono::milliseconds(30'000)),
            "NotFound");

  Reply events = api().get(sandbox_path(id) + "/diagnostics/events");
  ASSERT_EQ(events.status, 200) << events.describe();
  for (const char* type : {"SandboxRequested", "ProvisioningStarted", "SandboxStarted",
                           "DeletionRequested", "SandboxTerminated"}) {
    EXPECT_NE(events.body.find(type), std::string::npos) << type << "\n" << events.body;
  }
  EXPECT_EQ(events.body.find("e2e-hunter2"), std::string::npos) << events.body;

  EXPECT_EQ(api().get(sandbox_path(id) + "/diagnostics/logs").status, 404);
  EXPECT_EQ(api().get(sandbox_path(id) + "/diagnostics/inspect").status, 404);
}

}  // namespace
}  // namespace sbx::testing
