#include "src/metrics/snapshot_metrics.h"

namespace sbx::metrics {

SnapshotMetrics::SnapshotMetrics(Registry& registry)
    : commit_duration_seconds(registry.histogram_family(
          "sandboxd_snapshot_commit_duration_seconds",
          "Duration of one snapshot commit (the container to a local image), by outcome.",
          {"outcome"}, {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800})),
      registry_(registry) {}

Result<CallbackHandle> SnapshotMetrics::expose_snapshots_by_state(CallbackFn by_state) {
  return registry_.add_callback("sandboxd_snapshots", "Snapshots known now, by state.",
                                MetricType::kGauge, {"state"}, std::move(by_state));
}

}  // namespace sbx::metrics
