#include "src/metrics/sandbox_metrics.h"

namespace sbx::metrics {

SandboxMetrics::SandboxMetrics(Registry& registry)
    : lifecycle_transitions_total(registry.counter_family(
          "sandboxd_sandbox_lifecycle_transitions_total",
          "Sandbox state changes recorded in the log, by previous and new state.", {"from", "to"})),
      time_to_running_seconds(
          registry.histogram("sandboxd_sandbox_time_to_running_seconds",
                             "Time from a client's create to its sandbox running (a warm pool "
                             "member's warm-up is not counted; its claim is Running at once).",
                             {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600})),
      expirations_total(registry.counter("sandboxd_sandbox_expirations_total",
                                         "Sandboxes terminated because they expired.")),
      reconcile_findings_total(registry.counter_family(
          "sandboxd_reconcile_findings_total",
          "Differences between the runtime and the projections found by the reconciler.",
          {"kind"})),
      registry_(registry) {}

Result<CallbackHandle> SandboxMetrics::expose_sandboxes_by_state(CallbackFn by_state) {
  return registry_.add_callback("sandboxd_sandboxes",
                                "Client sandboxes known now, by state (unclaimed warm pool members "
                                "are in sandboxd_pool_members).",
                                MetricType::kGauge, {"state"}, std::move(by_state));
}

}  // namespace sbx::metrics
