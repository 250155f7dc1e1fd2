#include "src/metrics/store_metrics.h"

namespace sbx::metrics {

StoreMetrics::StoreMetrics(Registry& registry)
    : event_append_duration_seconds(registry.histogram(
          "sandboxd_store_event_append_duration_seconds",
          "Time from an append being submitted to its events being durable (queueing, "
          "batch write and WAL sync).",
          {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
           0.5, 1, 2.5})),
      group_commit_size(
          registry.histogram("sandboxd_store_group_commit_size",
                             "Appends written by one group commit (one WriteBatch, one sync).",
                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      events_appended_total(registry.counter("sandboxd_store_events_appended_total",
                                             "Events made durable in the log.")),
      log_head_position(registry.gauge("sandboxd_store_log_head_position",
                                       "Global position of the last durable event.")),
      registry_(registry) {}

Result<CallbackHandle> StoreMetrics::expose_store_size(
    std::function<std::optional<double>()> size_bytes) {
  if (!size_bytes) return fail(ErrorCode::kInvalidArgument, "no store size function");
  return registry_.add_callback("sandboxd_store_size_bytes", "Size of the store's files on disk.",
                                MetricType::kGauge, {},
                                [fn = std::move(size_bytes)]() -> std::vector<CallbackSample> {
                                  auto v = fn();
                                  if (!v) return {};
                                  return {{{}, *v}};
                                });
}

}  // namespace sbx::metrics
