// SandboxMetrics: sandbox lifecycle figures, recorded by the service (transitions,
// time to Running), the expirer (expirations) and the reconciler (findings). Built once
// from the Registry by the composition root and passed down by reference.
//
//   sandboxd_sandboxes{state}                                   gauge, computed at scrape
//                                                               by expose_sandboxes_by_state()
//   sandboxd_sandbox_lifecycle_transitions_total{from,to}       counter  (OpenSandbox state
//                                                               names: "Pending", "Running"..)
//   sandboxd_sandbox_time_to_running_seconds                    histogram requested ..
//                                                               Running, 50 ms .. 10 min
//   sandboxd_sandbox_expirations_total                          counter
//   sandboxd_reconcile_findings_total{kind}                     counter  (e.g. "died",
//                                                               "vanished", "orphan_removed")
//
// Thread-safe (see family.h, registry.h); the families belong to the Registry, which must
// outlive this struct.
#pragma once

#include <functional>

#include "events/result.h"
#include "src/metrics/registry.h"

namespace sbx::metrics {

struct SandboxMetrics {
  explicit SandboxMetrics(Registry& registry);

  CounterFamily& lifecycle_transitions_total;  // {from, to}
  Histogram& time_to_running_seconds;
  Counter& expirations_total;
  CounterFamily& reconcile_findings_total;  // {kind}

  // Exposes sandboxd_sandboxes{state} from `by_state()` at each scrape (one sample per
  // state, label_values = {state}) until the handle is destroyed; the owner of the live
  // projection keeps the handle. Errors: kAlreadyExists when already exposed.
  [[nodiscard]] Result<CallbackHandle> expose_sandboxes_by_state(CallbackFn by_state);

 private:
  Registry& registry_;
};

}  // namespace sbx::metrics
