// Workers: the runtime workers of one sandboxd process — Provisioner, Expirer and
// Reconciler — built, started and stopped together. The composition root owns one.
//
//   Workers workers(store, runtime, clock, recorder, options, {&worker_metrics,
//                   &sandbox_metrics}, [&](bool up) { service.set_runtime_available(up); });
//   workers.start();   // after the store is open and migrated
//   ...
//   workers.stop();    // before the store closes
//
// The Recorder is bound by the composition root to the service's execute (see recorder.h);
// WorkerOptions is filled from sbx::Config there too (this module does not depend on
// src/config). Start order: reconciler (so runtime health is known early), provisioner,
// expirer. stop() stops them in reverse order and joins every thread; every wait inside the
// workers ends on stop at once, so stop takes as long as the slowest runtime call in
// progress (bounded by the runtime's own timeout, e.g. docker.api_timeout).
//
// Thread-safety: start()/stop() from the owning thread; the accessors return the workers
// for their own thread-safe calls. Everything passed in is borrowed and must outlive this.
#pragma once

#include <functional>
#include <memory>

#include "events/result.h"
#include "src/common/clock.h"
#include "src/workers/expirer.h"
#include "src/workers/provisioner.h"
#include "src/workers/reconciler.h"
#include "src/workers/recorder.h"
#include "src/workers/worker_options.h"

namespace sbx {

class EventStore;
class Runtime;
namespace metrics {
struct WorkerMetrics;
struct SandboxMetrics;
}  // namespace metrics

struct WorkerMetricsRefs {
  metrics::WorkerMetrics* worker = nullptr;    // provisioner lag and checkpoint
  metrics::SandboxMetrics* sandbox = nullptr;  // expirations, reconcile findings
};

class Workers {
 public:
  Workers(EventStore& store, Runtime& runtime, const Clock& clock, Recorder recorder,
          WorkerOptions options, WorkerMetricsRefs metrics = {},
          Reconciler::AvailabilityCallback on_runtime_availability = {});
  ~Workers();  // stop()
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Starts all workers; on an error, the ones already started are stopped again.
  // Errors: those of Provisioner::start (checkpoint unreadable), kFailedPrecondition when
  // already started.
  [[nodiscard]] Result<void> start();
  void stop();  // idempotent

  Provisioner& provisioner() { return provisioner_; }
  Expirer& expirer() { return expirer_; }
  Reconciler& reconciler() { return reconciler_; }

 private:
  Reconciler reconciler_;
  Provisioner provisioner_;
  Expirer expirer_;
  bool started_ = false;
};

}  // namespace sbx
