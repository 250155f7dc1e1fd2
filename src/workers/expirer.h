// Expirer: deletes sandboxes whose deadline (expires_at) has passed.
//
// It waits on the persisted expiry index (EventStore::next_expiry / expiring), so it needs
// nothing in memory to survive a restart: a sandbox whose deadline passed while the server
// was down is deleted right at start(). It follows the log live with a Subscription
// (store/subscription.h, from the head), whose thread sleeps until the earliest deadline
// (Subscription::wake_at; never longer than options.expirer_max_sleep, which only guards
// against wall-clock jumps) and is woken early by commits — it looks again when one carries
// a SandboxRequested, ExpirationRenewed or SandboxClaimed, which may have moved the earliest
// deadline — by poke(), and by stop(). There is no polling loop; precision is the
// scheduler's (well under 1 s).
//
// For every entry of expiring(now) it records DeleteSandbox{reason = expired} through the
// Recorder (actor "worker:expirer"); kNotFound / kFailedPrecondition mean the sandbox is
// already gone or stopping, which is fine. The sandbox then becomes Stopping and leaves the
// index in the same batch, and the provisioner removes the container. An entry whose
// deletion failed for another reason (store down) is retried after 1 s.
//
// "Now" comes from the injected Clock. With a ManualClock, call poke() after moving the
// clock: the expirer re-reads the index at once (tests need no sleeps).
//
// Thread-safety: start()/stop() from the owning thread; poke() and expire_due() from any
// thread. The EventStore, Clock and metrics are borrowed and must outlive the Expirer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "events/result.h"
#include "src/common/clock.h"
#include "src/workers/recorder.h"
#include "src/workers/worker_options.h"
#include "store/subscription.h"

namespace sbx {

class EventStore;
namespace metrics {
struct SandboxMetrics;
}

class Expirer {
 public:
  // `metrics` may be nullptr (expirations are counted in expirations_total).
  Expirer(EventStore& store, const Clock& clock, Recorder recorder, WorkerOptions options,
          metrics::SandboxMetrics* metrics = nullptr);
  ~Expirer();  // stop()
  Expirer(const Expirer&) = delete;
  Expirer& operator=(const Expirer&) = delete;

  // Starts the thread (which first expires whatever is already due). Errors:
  // kFailedPrecondition when already started.
  [[nodiscard]] Result<void> start();
  void stop();  // joins; idempotent

  // Wakes the thread to re-read the clock and the index (after a ManualClock moved).
  void poke();

  // One synchronous pass: records DeleteSandbox{expired} for every entry due at the clock's
  // now. Returns how many sandboxes it moved to Stopping (or found already gone); the
  // error of the index read if that failed. Serialised with the thread's passes.
  [[nodiscard]] Result<std::size_t> expire_due();

 private:
  struct PassResult {
    std::size_t expired = 0;
    bool retry_soon = false;  // an entry could not be deleted: try again in 1 s
    std::optional<Error> read_error;
  };
  PassResult pass();
  // The subscription's handler: a pass when woken, at the alarm, or when the batch may have
  // moved the earliest deadline; then the alarm for the next one.
  void on_batch(Subscription& subscription, const Subscription::Batch& batch);

  EventStore& store_;
  const Clock& clock_;
  Recorder recorder_;
  WorkerOptions options_;
  metrics::SandboxMetrics* metrics_;

  std::mutex pass_mu_;  // one pass at a time
  bool started_ = false;
  // Its thread runs the passes. Kept until the next start(), so poke() always finds it.
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace sbx
