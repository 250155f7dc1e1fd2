#include "src/metrics/snapshot_metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace sbx::metrics {
namespace {

TEST(SnapshotMetrics, ExposesStatesAtScrapeAndCommitDurationsByOutcome) {
  Registry r;
  SnapshotMetrics m(r);
  m.commit_duration_seconds.with({"ready"}).observe(0.7);
  m.commit_duration_seconds.with({"failed"}).observe(0.02);
  int scrapes = 0;
  auto handle = m.expose_snapshots_by_state([&] {
    ++scrapes;
    return std::vector<CallbackSample>{{{"Ready"}, 3}, {{"Creating"}, 1}};
  });
  ASSERT_TRUE(handle.has_value());
  const std::string text = r.expose();
  EXPECT_EQ(scrapes, 1);
  EXPECT_NE(text.find("# TYPE sandboxd_snapshots gauge\n"
                      "sandboxd_snapshots{state=\"Creating\"} 1\n"
                      "sandboxd_snapshots{state=\"Ready\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sandboxd_snapshot_commit_duration_seconds_bucket{outcome=\"ready\",le=\"1\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sandboxd_snapshot_commit_duration_seconds_count{outcome=\"failed\"} 1\n"),
            std::string::npos)
      << text;
  // A second exposure of the same family is refused; dropping the handle unregisters it.
  EXPECT_FALSE(m.expose_snapshots_by_state([] { return std::vector<CallbackSample>{}; }));
  *handle = CallbackHandle();
  EXPECT_EQ(r.expose().find("sandboxd_snapshots{"), std::string::npos);
}

}  // namespace
}  // namespace sbx::metrics
