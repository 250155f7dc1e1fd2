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

Result<std::vector<CallbackHandle>> StoreMetrics::expose_store_health(
    std::function<Health()> health) {
  if (!health) return fail(ErrorCode::kInvalidArgument, "no store health function");
  struct Family {
    const char* name;
    const char* help;
    MetricType type;
    double (*pick)(const Health&);
  };
  const Family families[] = {
      {"sandboxd_store_corrupt_events_total",
       "Log positions whose stored event does not decode (readers skip them).",
       MetricType::kCounter, [](const Health& h) { return h.corrupt_events; }},
      {"sandboxd_store_projection_records_rebuilt_total",
       "Sandbox projection records that did not decode at open and were rebuilt from their "
       "streams.",
       MetricType::kCounter, [](const Health& h) { return h.rebuilt_records; }},
      {"sandboxd_store_writable",
       "1 while the store can append; 0 once the disk refused writes (reads keep working).",
       MetricType::kGauge, [](const Health& h) { return h.writable ? 1.0 : 0.0; }},
  };
  std::vector<CallbackHandle> out;
  for (const Family& f : families) {
    auto h = registry_.add_callback(
        f.name, f.help, f.type, {},
        [health, pick = f.pick]() -> std::vector<CallbackSample> { return {{{}, pick(health())}}; });
    if (!h) return std::unexpected(h.error());
    out.push_back(std::move(*h));
  }
  return out;
}

}  // namespace sbx::metrics
