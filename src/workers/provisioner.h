// Provisioner: the worker that turns request events of the log into runtime operations and
// records their outcomes.
//
// It tails the global log from its persisted checkpoint with a Subscription
// (store/subscription.h, consumer options.provisioner_checkpoint). The subscription's
// thread (the dispatcher) gets batches of events and routes each request event to one of
// `options.provisioners` worker threads by the hash of the sandbox id, so the requests of
// one sandbox run one at a time, in log order, while different sandboxes run in parallel.
// The dispatcher is woken by commits, by finished requests (Subscription::wake, to save the
// checkpoint) and by stop(): there is no polling loop.
//
// What each request does, always after looking at the CURRENT projection (the log may be
// replayed after a crash, so the request may be outdated):
//   SandboxRequested   only if the sandbox is still Pending: RecordProvisioningStarted, then
//                      Runtime::create_and_start(to_container_spec(...)) -> RecordStarted
//                      {runtime_id, address} or RecordProvisioningFailed{error_code, message};
//                      a runtime that reports readiness may answer "created, not ready yet"
//                      (RuntimeInfo::ready false): nothing is recorded, the reconciler
//                      records the start (or the failure) when the runtime reports it
//   ExpirationRenewed  while it is still the sandbox's expiry: Runtime::renew (best effort,
//                      transient errors retried; a failure is logged, never recorded)
//   PauseRequested     only if Pausing: pause -> RecordPaused | RecordPauseFailed
//   ResumeRequested    only if Resuming: resume -> RecordResumed | RecordResumeFailed
//   DeletionRequested  always: remove (absent is success) -> RecordTerminated; a removal
//                      that fails for good -> RecordFailed (the sandbox stays listed as
//                      Failed and a new delete retries the removal). After the
//                      container, the named volumes the log says sandboxd created for it
//                      (SandboxStarted.createdVolumes) whose pvc has
//                      deleteOnSandboxTermination (no start recorded: every such pvc,
//                      the runtime's volume labels decide): Runtime::remove_volumes (best
//                      effort, a failure is logged)
// Transient runtime errors (kUnavailable, kDeadlineExceeded) are retried with
// options.runtime_retry (re-checking the projection before each attempt: a create whose
// sandbox was deleted meanwhile is abandoned), then recorded as a failure whose message
// says how many attempts over how long and the last error. Other errors fail at once.
// Error codes: the runtime's own ("DOCKER::IMAGE_NOT_FOUND", runtime_error_code()), else
// "<prefix>::INITIALIZATION_ERROR" (runtime unreachable), "SANDBOX::INVALID_PARAMETER"
// (spec rejected) or "<prefix>::API_ERROR".
//
// A log record that does not decode (Subscription::Batch::corrupt) is skipped, never retried: the
// dispatcher moves past it and, when the record belongs to a sandbox stream, that sandbox's
// worker records RecordFailed{"STORE::CORRUPT_EVENT", "corrupt event at position N"} (a
// no-op when it is already final or gone).
//
// Durability: the persisted checkpoint is the highest position P such that every request
// event <= P is done (outcome recorded, or found outdated); it is saved by the dispatcher
// after progress (one save per wake-up, so saves batch under load). A crash at any instant
// is recovered by redoing from the checkpoint: runtime operations are idempotent and the
// decider ignores outcomes that are already reflected. An outcome that cannot be recorded
// (store down) is retried until it is or the provisioner stops; it is never skipped.
//
// Thread-safety: start() and stop() from one owning thread; the observers (checkpoint(),
// lag(), wait_until_done()) from any thread. The EventStore, Runtime and metrics are
// borrowed and must outlive the Provisioner. stop() interrupts every wait at once; a runtime
// call in progress finishes first (bounded by the runtime's own timeout).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "src/workers/recorder.h"
#include "src/workers/worker_options.h"
#include "store/subscription.h"

namespace sbx {

class EventStore;
class Runtime;
struct CorruptEvent;
namespace metrics {
struct WorkerMetrics;
class Gauge;
}  // namespace metrics

class Provisioner {
 public:
  // `metrics` may be nullptr.
  Provisioner(EventStore& store, Runtime& runtime, Recorder recorder, WorkerOptions options,
              metrics::WorkerMetrics* metrics = nullptr);
  ~Provisioner();  // stop()
  Provisioner(const Provisioner&) = delete;
  Provisioner& operator=(const Provisioner&) = delete;

  // Reads the checkpoint and starts the threads. Errors: the checkpoint cannot be read
  // (the store's error); kFailedPrecondition when already started.
  [[nodiscard]] Result<void> start();
  // Stops and joins every thread, then saves the checkpoint of what was finished.
  // Idempotent.
  void stop();

  // The last checkpoint saved (0 before the first save).
  std::uint64_t checkpoint() const;
  // Log head minus the done position (what is not yet handled).
  std::uint64_t lag() const;
  // Blocks until every request event <= `position` is done, or `timeout` passes. True when
  // done. For tests and orderly shutdown.
  bool wait_until_done(std::uint64_t position, std::chrono::milliseconds timeout) const;

 private:
  struct Queue {
    std::mutex mu;
    std::condition_variable_any cv;
    std::deque<Event> events;
  };

  // The subscription's handler: routes the batch's request events (and corrupt records) to
  // the workers, then saves the checkpoint.
  void dispatch(const Subscription::Batch& batch);
  void worker_loop(std::stop_token stop, std::size_t index);
  // Runs one request event; false when it was interrupted by stop (not done).
  bool handle(const Event& event, std::size_t worker, std::stop_token stop);
  // The work item for a log record that does not decode: a SandboxFailed "event" at its
  // position on its sandbox's stream (handle() records it as RecordFailed); nullopt when the
  // record's stream is unknown or not a sandbox's.
  static std::optional<Event> corrupt_work(const CorruptEvent& corrupt);
  bool provision(const std::string& id, const Event& event, std::size_t worker,
                 std::stop_token stop);
  bool pause_or_resume(const std::string& id, const Event& event, bool pause, std::stop_token stop);
  bool remove(const std::string& id, const Event& event, std::stop_token stop);
  void remove_volumes(const std::string& id);
  // Tells the runtime the new expiry (Runtime::renew) while it is still the sandbox's.
  bool renew(const std::string& id, const ExpirationRenewed& renewed, std::stop_token stop);
  // Records through the Recorder, retrying retryable errors (kUnavailable, kConflict,
  // kDeadlineExceeded, kResourceExhausted) until stop. kSkipped: outdated (the sandbox is
  // gone or moved on) or a non-retryable store error (logged).
  enum class Recorded { kYes, kSkipped, kStopped };
  Recorded record(const std::string& id, const Command& command, const Event& cause,
                  std::stop_token stop);
  void complete(std::uint64_t position);
  std::uint64_t done_position_locked() const;
  void save_progress();

  EventStore& store_;
  Runtime& runtime_;
  Recorder recorder_;
  WorkerOptions options_;
  metrics::Gauge* lag_gauge_ = nullptr;
  metrics::Gauge* checkpoint_gauge_ = nullptr;

  mutable std::mutex mu_;  // guards everything below; never held across a store write
  mutable std::condition_variable_any done_cv_;  // progress, for wait_until_done
  std::uint64_t read_through_ = 0;               // every event <= this was read and routed
  std::set<std::uint64_t> in_flight_;            // routed request events not done yet
  std::uint64_t saved_ = 0;                      // last checkpoint saved
  bool started_ = false;

  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::jthread> workers_;
  // Its thread is the dispatcher. Kept until the next start(): finished requests wake it.
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace sbx
