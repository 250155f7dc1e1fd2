// RuntimeDiagnosticsSource: the service's diagnostics port over a Runtime (the fake), and
// the instrumented runtime's measures of the two diagnostics calls.
#include "src/server/runtime_diagnostics_source.h"

#include <gtest/gtest.h>

#include "src/common/clock.h"
#include "src/metrics/registry.h"
#include "src/metrics/runtime_metrics.h"
#include "src/runtime/fake/fake_runtime.h"
#include "src/server/instrumented_runtime.h"

namespace sbx {
namespace {

ContainerSpec spec_of(const std::string& id) {
  ContainerSpec s;
  s.sandbox_id = id;
  s.image_uri = "busybox";
  s.entrypoint = {"sleep", "1"};
  s.env = {{"TOKEN", "fake-hunter2"}};
  return s;
}

TEST(RuntimeDiagnosticsSource, LogsAreTheRuntimesWithTailAndCap) {
  ManualClock clock;
  FakeRuntime fake(clock);
  ASSERT_TRUE(fake.create_and_start(spec_of("a")));
  fake.set_logs("a", "one\ntwo\nthree\n");
  RuntimeDiagnosticsSource source(fake, clock);
  auto r = source.logs("a", LogQuery{.tail = 2, .max_bytes = 100});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->text, "two\nthree\n");
  EXPECT_FALSE((*r)->truncated);
  r = source.logs("a", LogQuery{.tail = 100, .max_bytes = 5});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->text, "one\nt");
  EXPECT_TRUE((*r)->truncated);
  r = source.logs("absent", LogQuery{});
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(RuntimeDiagnosticsSource, DescribeNeverShowsEnvValuesAndFailuresPassThrough) {
  ManualClock clock;
  FakeRuntime fake(clock);
  ASSERT_TRUE(fake.create_and_start(spec_of("a")));
  RuntimeDiagnosticsSource source(fake, clock);
  auto d = source.describe("a");
  ASSERT_TRUE(d && *d);
  EXPECT_NE((*d)->find("TOKEN=***"), std::string::npos) << **d;
  EXPECT_EQ((*d)->find("fake-hunter2"), std::string::npos);
  fake.set_unreachable(true);
  auto failed = source.describe("a");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(source.logs("a", LogQuery{}));
}

TEST(InstrumentedRuntime, MeasuresTheDiagnosticsCalls) {
  ManualClock clock;
  auto fake = std::make_unique<FakeRuntime>(clock);
  FakeRuntime& raw = *fake;
  metrics::Registry registry;
  metrics::RuntimeMetrics m(registry);
  InstrumentedRuntime rt(std::move(fake), m);
  ASSERT_TRUE(rt.create_and_start(spec_of("a")));
  ASSERT_TRUE(rt.container_logs("a", {}));
  ASSERT_TRUE(rt.describe("a"));
  raw.fail_next(1, ErrorCode::kUnavailable);
  ASSERT_FALSE(rt.describe("a"));
  EXPECT_EQ(raw.calls("container_logs"), 1);
  EXPECT_EQ(raw.calls("describe"), 2);
  const std::string text = registry.expose();
  EXPECT_NE(text.find("operation=\"container_logs\""), std::string::npos) << text;
  EXPECT_NE(text.find("sandboxd_runtime_call_errors_total{operation=\"describe\","
                      "code=\"Unavailable\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sbx
