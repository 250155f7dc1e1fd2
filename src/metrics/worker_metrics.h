// WorkerMetrics: progress of the log-tailing workers (provisioner, expirer, reconciler).
// Built once from the Registry by the composition root and passed to the workers.
//
//   sandboxd_worker_lag_events{worker}            gauge  log head - worker checkpoint
//   sandboxd_worker_checkpoint_position{worker}   gauge  last position the worker finished
//
// Each worker caches its own children: `Gauge& lag = m.worker_lag_events.with({"expirer"})`.
// Thread-safe (see family.h); the families belong to the Registry, which must outlive
// this struct.
#pragma once

#include "src/metrics/registry.h"

namespace sbx::metrics {

struct WorkerMetrics {
  explicit WorkerMetrics(Registry& registry);

  GaugeFamily& worker_lag_events;           // {worker}
  GaugeFamily& worker_checkpoint_position;  // {worker}
};

}  // namespace sbx::metrics
