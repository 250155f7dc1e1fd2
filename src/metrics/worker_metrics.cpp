#include "src/metrics/worker_metrics.h"

namespace sbx::metrics {

WorkerMetrics::WorkerMetrics(Registry& registry)
    : worker_lag_events(registry.gauge_family(
          "sandboxd_worker_lag_events",
          "Events in the log that the worker has not processed yet (head - checkpoint).",
          {"worker"})),
      worker_checkpoint_position(registry.gauge_family(
          "sandboxd_worker_checkpoint_position",
          "Global log position up to which the worker has processed events.", {"worker"})) {}

}  // namespace sbx::metrics
