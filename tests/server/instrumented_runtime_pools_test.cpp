// InstrumentedRuntime forwards the cluster-managed pool methods (issue 14) and measures
// them: without the forwarding the server would see manages_pools() false behind it.
#include "src/server/instrumented_runtime.h"

#include <gtest/gtest.h>

#include "src/common/clock.h"
#include "src/metrics/registry.h"
#include "src/metrics/runtime_metrics.h"
#include "src/runtime/fake/fake_runtime.h"

namespace sbx {
namespace {

TEST(InstrumentedRuntime, ForwardsAndMeasuresThePoolMethods) {
  ManualClock clock;
  auto fake = std::make_unique<FakeRuntime>(clock);
  FakeRuntime& raw = *fake;
  metrics::Registry registry;
  metrics::RuntimeMetrics m(registry);
  InstrumentedRuntime rt(std::move(fake), m);

  // A runtime without pools: the defaults' answer comes through.
  EXPECT_FALSE(rt.manages_pools());
  auto none = rt.list_pools();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(none.error().field, "runtime.pools");

  raw.set_manages_pools(true);
  EXPECT_TRUE(rt.manages_pools());
  RuntimePoolSpec spec;
  spec.name = "web";
  spec.generation = 2;
  spec.template_spec.image_uri = "busybox:latest";
  spec.capacity = PoolCapacity{1, 2, 0, 3};
  ASSERT_TRUE(rt.apply_pool(spec));
  ASSERT_TRUE(raw.set_pool_status("web", 2, 1, 1));
  auto listed = rt.list_pools();
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].generation, 2u);
  EXPECT_EQ((*listed)[0].available, 1);
  raw.fail_next_of("delete_pool", 1, ErrorCode::kUnavailable);
  ASSERT_FALSE(rt.delete_pool("web"));
  ASSERT_TRUE(rt.delete_pool("web"));
  EXPECT_FALSE(raw.pool_spec("web"));
  EXPECT_EQ(raw.calls("apply_pool"), 1);
  EXPECT_EQ(raw.calls("delete_pool"), 2);

  const std::string text = registry.expose();
  EXPECT_NE(text.find("operation=\"apply_pool\""), std::string::npos) << text;
  EXPECT_NE(text.find("operation=\"list_pools\""), std::string::npos) << text;
  EXPECT_NE(text.find("sandboxd_runtime_call_errors_total{operation=\"delete_pool\","
                      "code=\"Unavailable\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sbx
