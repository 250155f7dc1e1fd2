#include "src/workers/workers.h"

#include <chrono>

#include "src/common/log.h"

namespace sbx {

Workers::Workers(EventStore& store, Runtime& runtime, const Clock& clock, Recorder recorder,
                 WorkerOptions options, WorkerMetricsRefs metrics,
                 Reconciler::AvailabilityCallback on_runtime_availability)
    : reconciler_(store, runtime, clock, recorder, options, std::move(on_runtime_availability),
                  metrics.sandbox),
      provisioner_(store, runtime, recorder, options, metrics.worker),
      expirer_(store, clock, recorder, options, metrics.sandbox) {}

Workers::~Workers() { stop(); }

Result<void> Workers::start() {
  if (started_) return fail(ErrorCode::kFailedPrecondition, "workers already started");
  if (auto r = reconciler_.start(); !r) return r;
  if (auto r = provisioner_.start(); !r) {
    reconciler_.stop();
    return r;
  }
  if (auto r = expirer_.start(); !r) {
    provisioner_.stop();
    reconciler_.stop();
    return r;
  }
  started_ = true;
  return {};
}

void Workers::stop() {
  if (!started_) return;
  const auto begin = std::chrono::steady_clock::now();
  expirer_.stop();
  provisioner_.stop();
  reconciler_.stop();
  started_ = false;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begin);
  logger("workers")->info("stopped in {} ms", took.count());
}

}  // namespace sbx
