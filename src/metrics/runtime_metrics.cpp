#include "src/metrics/runtime_metrics.h"

namespace sbx::metrics {

RuntimeMetrics::RuntimeMetrics(Registry& registry)
    : runtime_call_duration_seconds(registry.histogram_family(
          "sandboxd_runtime_call_duration_seconds",
          "Duration of calls to the container runtime, by operation.", {"operation"},
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
           300})),
      runtime_call_errors_total(
          registry.counter_family("sandboxd_runtime_call_errors_total",
                                  "Failed calls to the container runtime, by operation and "
                                  "error code.",
                                  {"operation", "code"})) {}

}  // namespace sbx::metrics
