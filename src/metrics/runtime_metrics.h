// RuntimeMetrics: calls from the workers to a runtime (Docker, Kubernetes, fake). Built
// once from the Registry by the composition root and passed to the runtime by reference.
//
//   sandboxd_runtime_call_duration_seconds{operation}      histogram 1 ms .. 5 min
//   sandboxd_runtime_call_errors_total{operation,code}     counter
//
// `operation` is the Runtime method ("create", "start", "pause", "inspect", "remove",
// "list", "pull"...), `code` the ErrorCode name of the failure (to_string(ErrorCode)).
// Outcomes that are not errors ("already exists", "not found" on an idempotent call) are
// not counted as errors. Thread-safe (see family.h); the families belong to the Registry,
// which must outlive this struct.
#pragma once

#include "src/metrics/registry.h"

namespace sbx::metrics {

struct RuntimeMetrics {
  explicit RuntimeMetrics(Registry& registry);

  HistogramFamily& runtime_call_duration_seconds;  // {operation}
  CounterFamily& runtime_call_errors_total;        // {operation, code}
};

}  // namespace sbx::metrics
