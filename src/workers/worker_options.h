// WorkerOptions: everything the runtime workers (provisioner, expirer, reconciler) need
// from the configuration, as plain values.
//
// The composition root maps sbx::Config onto it (workers.provisioners,
// workers.reconcile_interval_seconds, PENDING_FAILURE_TTL, runtime.type); the workers do not
// depend on src/config. Pure value types.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "events/time.h"
#include "src/workers/container_spec_mapping.h"

namespace sbx {

// Exponential backoff: initial, doubled after each failed attempt, capped at `max`.
// A retried operation gives up after `max_attempts` attempts or once `max_elapsed` has
// passed since the first attempt, whichever comes first (max_attempts <= 0: no limit on
// attempts).
struct BackoffOptions {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{10'000};
  int max_attempts = 8;
  std::chrono::milliseconds max_elapsed{60'000};
};

struct WorkerOptions {
  // workers.provisioners: threads that run runtime operations. Requests of one sandbox
  // always go to the same thread (hash of the sandbox id), so they run in log order.
  int provisioners = 8;
  // Transient runtime errors (kUnavailable, kDeadlineExceeded) of create/pause/resume/remove
  // are retried with this backoff, then recorded as a failure.
  BackoffOptions runtime_retry;
  // Recording an outcome failed with a retryable store error: retried with this backoff
  // (max_attempts/max_elapsed ignored: the outcome is retried until it is recorded or the
  // worker stops, so the checkpoint never passes an unrecorded outcome).
  BackoffOptions record_retry{std::chrono::milliseconds(100), std::chrono::milliseconds(5'000), 0,
                              std::chrono::milliseconds(0)};
  // Events read from the log per batch by the provisioner.
  std::size_t read_batch = 512;
  // The provisioner's checkpoint name in the store.
  std::string provisioner_checkpoint = "provisioner";

  // workers.reconcile_interval_seconds: period of the reconciler's full pass.
  std::chrono::milliseconds reconcile_interval{30'000};
  // How often the reconciler pings the runtime (also right away when the event stream
  // breaks).
  std::chrono::milliseconds health_check_interval{5'000};
  // Reconnection of the runtime event stream (max_attempts/max_elapsed ignored).
  BackoffOptions watch_reconnect{std::chrono::milliseconds(200), std::chrono::milliseconds(10'000),
                                 0, std::chrono::milliseconds(0)};
  // PENDING_FAILURE_TTL: a sandbox that failed while Pending stays listed this long, then
  // the reconciler deletes it (reason reconcile).
  Micros pending_failure_ttl = 3600 * kMicrosPerSecond;
  // kubernetes.pending_timeout_seconds: for runtimes that report readiness, a sandbox still
  // Pending this long after its creation fails with the workload's last reason.
  Micros pending_timeout = 300 * kMicrosPerSecond;
  // A labelled container whose sandbox left the projection less than this long ago is not
  // treated as an orphan yet: the provisioner is most likely removing it.
  Micros orphan_grace = 60 * kMicrosPerSecond;

  // The expirer never sleeps longer than this at once (guards against wall-clock jumps).
  std::chrono::milliseconds expirer_max_sleep{30'000};

  // "DOCKER" or "KUBERNETES" (runtime.type upper-cased): prefix of the error codes the
  // workers make up ("DOCKER::INITIALIZATION_ERROR", "DOCKER::API_ERROR").
  std::string error_code_prefix = "DOCKER";

  // egress.*: how a sandbox with a network policy gets its egress sidecar (nullopt or an
  // empty image: such a sandbox fails with SANDBOX::INVALID_PARAMETER; the service refuses
  // it before).
  std::optional<EgressSettings> egress;
};

}  // namespace sbx
