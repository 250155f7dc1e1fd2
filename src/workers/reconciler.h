// Reconciler: makes the log say what the runtime really has.
//
// It compares the runtime (Runtime::list / inspect) with the live projection at start(),
// every options.reconcile_interval, right after the runtime comes back, for every
// lifecycle event of Runtime::watch (die, oom, destroy, pause, unpause done outside
// sandboxd; the stream is reconnected with options.watch_reconnect backoff, resuming from
// the time of the last event seen), and once more for each sandbox that has just become
// Running or Paused (its Subscription to the log sees the event: a container that died
// while its sandbox was still Pending, Pausing or Resuming produced a die event the
// reconciler had to ignore then). The periodic work runs on the subscription's thread
// (store/subscription.h), which wakes for commits, for request_pass() /
// request_health_check(), and at the next pass or health check (Subscription::wake_at);
// runtime events come in on a watch thread of its own. What it observes is recorded through the Recorder on
// the sandbox's stream (actor "worker:reconciler", envelope reason from the decider:
// runtime) and, for each finding, as a ReconcileFinding event appended directly to the
// `system` stream (ExpectedVersion::any(), reason reconcile):
//
//   finding (kind)            when                                  recorded
//   died                      Running/Paused sandbox, container     exit 0: RecordTerminated
//                             exited or dead                        {0}; else RecordFailed
//                                                                   {"SANDBOX::CONTAINER_EXITED",
//                                                                   "container exited with code
//                                                                   N", N}
//   oom_killed                same, and the kernel OOM-killed it    RecordFailed
//                                                                   {"SANDBOX::OOM_KILLED", ..}
//   vanished                  Running/Paused sandbox, no container  RecordFailed
//                                                                   {"SANDBOX::CONTAINER_VANISHED",
//                                                                   "container vanished: ..."}
//   paused_outside            Running sandbox, container paused     the container is unpaused
//   unpaused_outside          Paused sandbox, container running     the container is paused
//   orphan (OrphanRemoved)    our container, no live sandbox        Runtime::remove + an
//                                                                   OrphanRemoved system event
//                                                                   (that event is the finding)
//   (no finding: expected)    Pending sandbox, workload Ready       RecordStarted{runtime id,
//                             (runtimes that report readiness)     address}
//   failed_pending            Pending sandbox, workload ended or    RecordProvisioningFailed
//                             cannot start (permanent reason)      {"<PREFIX>::POD_FAILED" or
//                                                                   "SANDBOX::OOM_KILLED", reason}
//   pending_timeout           Pending sandbox older than           RecordProvisioningFailed
//                             options.pending_timeout              {"<PREFIX>::PENDING_TIMEOUT",
//                                                                   the workload's last reason}
//   pending_failure_cleanup   sandbox Failed while Pending (never   DeleteSandbox{reconcile}
//                             started) for options.pending_failure_ttl (it leaves the listing)
//
// Operator decisions: the API is the source of truth for pause state, so a container paused
// or unpaused behind sandboxd's back is put back the way the API says (and the finding
// recorded) rather than inventing a transition the decider does not have. Pausing,
// Resuming and Stopping sandboxes belong to the provisioner and are left alone; so are
// Pending ones, except on a runtime that reports readiness (Runtime::reports_readiness():
// Kubernetes), where the provisioner only creates the workload and the reconciler records
// its start or failure from what the runtime reports (the three Pending rows above). A
// container is an orphan only if its sandbox is not in the live projection (stream absent,
// Terminated, or Failed and deleted) and the sandbox's last event is older than
// options.orphan_grace (otherwise the provisioner is most likely removing it right now).
// Every finding is confirmed first: projection read, inspect(), projection read again; if
// the sandbox's version moved in between, it is left for the next look.
//
// Ownership: several sandboxd, each with its own store, may share one engine. The
// reconciler looks only at containers of its own store: ContainerStatus::instance_id equal
// to EventStore::instance_id(). A container of another instance is never removed, never an
// orphan, never a finding, and its runtime events are ignored; for a live sandbox of ours,
// a container of another instance under its name counts as no container. A legacy container
// (sandboxd.io/id but no instance label: made by a version before identities) is ours when
// this store's log has its sandbox's stream — then it is treated exactly like one of ours —
// and otherwise left alone (logged once per container, never removed). Watch events of
// legacy containers are therefore not filtered out by the engine but here, after the same
// rule (Docker's event filter cannot say "this instance, or no instance label").
//
// Runtime health: the reconciler pings the runtime every options.health_check_interval
// (and at once when the event stream breaks or a call says kUnavailable) and calls
// `on_availability(bool)` on every change, logging one line per change. The runtime is
// assumed available until a check says otherwise, so the first call is `false` only if it
// is down. When it comes back, a full pass runs at once.
//
// Thread-safety: start()/stop() from the owning thread; everything else from any thread
// (passes are serialised by an internal mutex). `on_availability` runs on a reconciler
// thread (or the caller of check_health()), one call at a time. EventStore, Runtime, Clock
// and metrics are borrowed and must outlive the Reconciler.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "events/command.h"
#include "events/event.h"
#include "events/result.h"
#include "src/common/clock.h"
#include "src/workers/recorder.h"
#include "src/workers/worker_options.h"
#include "store/subscription.h"

namespace sbx {

class EventStore;
class Runtime;
struct ContainerStatus;
namespace metrics {
struct SandboxMetrics;
}

class Reconciler {
 public:
  using AvailabilityCallback = std::function<void(bool available)>;

  // `on_availability` and `metrics` may be empty / nullptr.
  Reconciler(EventStore& store, Runtime& runtime, const Clock& clock, Recorder recorder,
             WorkerOptions options, AvailabilityCallback on_availability = {},
             metrics::SandboxMetrics* metrics = nullptr);
  ~Reconciler();  // stop()
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Starts the periodic thread (its subscription's: health check and a full pass right
  // away) and the watch thread. Errors: kFailedPrecondition when already started.
  [[nodiscard]] Result<void> start();
  void stop();  // joins both threads; idempotent

  // One full pass, synchronously. Returns the number of findings recorded. Errors: the
  // runtime's list() error (kUnavailable also marks the runtime unavailable).
  [[nodiscard]] Result<std::size_t> reconcile_once();
  // Looks at one sandbox (or its orphan container). Returns the number of findings (0/1).
  [[nodiscard]] Result<std::size_t> reconcile_sandbox(const std::string& sandbox_id);

  // Pings the runtime now, reports a change through `on_availability`; returns the result.
  bool check_health();
  bool runtime_available() const { return available_.load(); }

  // Wake the periodic thread for a full pass / a health check now.
  void request_pass();
  void request_health_check();

 private:
  // The subscription's handler (the periodic thread): the first call checks health and
  // passes; then rechecks the sandboxes that just became Running or Paused, and runs the
  // requested or due health check and pass; then sets the alarm for the next due one.
  void on_batch(Subscription& subscription, const Subscription::Batch& batch);
  void watch_loop(std::stop_token stop, std::optional<Micros> since);
  // Under pass_mu_. Each returns the number of findings recorded.
  Result<std::size_t> check_locked(const std::string& sandbox_id);
  Result<std::size_t> evaluate(const Sandbox& sandbox,
                               const std::optional<ContainerStatus>& container);
  // Pending sandboxes, on runtimes that report readiness only (see the table above).
  bool pending_needs_look(const Sandbox& sandbox,
                          const std::optional<ContainerStatus>& container) const;
  Result<std::size_t> evaluate_pending(const Sandbox& sandbox,
                                       const std::optional<ContainerStatus>& container);
  Result<std::size_t> record_outcome(const std::string& sandbox_id, const Command& command,
                                     std::string_view kind, std::string detail);
  Result<std::size_t> remove_orphan(const std::string& sandbox_id,
                                    const ContainerStatus& container);
  Result<std::size_t> cleanup_failed_pending(const Sandbox& sandbox);
  // Whose a container is (see Ownership above); logs a legacy container once. Under pass_mu_.
  enum class Owner { kOurs, kOtherInstance, kUnknownLegacy };
  Owner owner_of(const ContainerStatus& container);
  // Appends `data` to the system stream (reason reconcile) and counts finding `kind`.
  void append_finding(std::string_view kind, EventData data);
  void note_runtime_error(const Error& error);
  void set_available(bool available, const std::string& why);

  EventStore& store_;
  Runtime& runtime_;
  const Clock& clock_;
  Recorder recorder_;
  WorkerOptions options_;
  AvailabilityCallback on_availability_;
  metrics::SandboxMetrics* metrics_;

  std::mutex pass_mu_;          // one look at the runtime at a time
  std::set<std::string> legacy_logged_;  // pass_mu_: legacy containers already logged
  std::mutex availability_mu_;  // serialises availability changes and their callbacks
  std::atomic<bool> available_{true};

  // Requested work for the periodic thread (which is woken through the subscription).
  std::mutex requests_mu_;
  bool pass_requested_ = false;    // requests_mu_
  bool health_requested_ = false;  // requests_mu_
  // The periodic thread's own schedule (touched by on_batch only).
  using SteadyClock = std::chrono::steady_clock;
  bool first_round_done_ = false;
  SteadyClock::time_point next_pass_{};
  SteadyClock::time_point next_health_{};

  bool started_ = false;
  // Its thread is the periodic one. Kept until the next start(), so request_pass() and
  // request_health_check() always find it.
  std::unique_ptr<Subscription> subscription_;
  std::jthread watcher_;
};

}  // namespace sbx
