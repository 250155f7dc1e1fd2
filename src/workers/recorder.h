// Recorder: how a runtime worker records what it did or observed about one sandbox.
//
// Workers never decide whether an outcome is a valid transition: they hand a Command
// (RecordStarted, RecordProvisioningFailed, DeleteSandbox{expired}, ...) to the Recorder,
// which the composition root binds to the service's execute (load the projection, run the
// pure decider, append with the expected stream version, retry on kConflict). The decider
// therefore stays the single place that knows valid transitions, and workers never include
// api/ or the service.
//
// Contract of a Recorder (what workers rely on):
//   success             the events the command causes are durable (possibly none: the
//                       outcome was already reflected, e.g. a redo after a crash)
//   kNotFound           the sandbox no longer exists (Terminated, or Failed and deleted)
//   kFailedPrecondition the command does not fit the current state (the world moved on)
//   kUnavailable, kConflict (retries exhausted), kInternal, ...: nothing was written;
//                       the worker may retry
// The event envelope's reason is the decider's reason_of(command); actor and request_id
// come from RecordContext. Must be callable from any worker thread at once.
#pragma once

#include <functional>
#include <string>

#include "events/command.h"
#include "events/result.h"

namespace sbx {

struct RecordContext {
  std::string actor;       // "worker:provisioner", "worker:expirer", "worker:reconciler"
  std::string request_id;  // the request id of the event that caused the outcome, or empty
};

using Recorder = std::function<Result<void>(const std::string& sandbox_id, const Command& command,
                                            const RecordContext& context)>;

// True for the Recorder errors that mean "nothing to record any more" (kNotFound,
// kFailedPrecondition): the sandbox is gone or has moved on, which is not a failure of the
// worker.
inline bool is_outdated(const Error& error) {
  return error.code == ErrorCode::kNotFound || error.code == ErrorCode::kFailedPrecondition;
}

}  // namespace sbx
