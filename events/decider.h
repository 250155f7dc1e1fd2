// The decider: the single place that knows which command is valid in which state.
//
//   decide(state, command, now) -> the events the command causes, or a typed Error
//   evolve(state, event)        -> the state after the event
//
// Pure functions: no I/O, no clock reads (`now` is passed in), deterministic. Thread-safe.
//
// decide errors:
//   kNotFound            the sandbox does not exist (state is nullopt, or it is Terminated /
//                        deleted) for any command but CreateSandbox
//   kAlreadyExists       CreateSandbox on an existing stream
//   kFailedPrecondition  the command is not valid in the current state (message names both)
//   kInvalidArgument     RenewExpiration not in the future; PatchMetadata that would leave
//                        more than kMaxMetadataEntries entries
// Worker outcome commands (Record*) that are already reflected in the state return no
// events rather than an error, so a worker that redoes its work after a crash is harmless.
//
// evolve applies any event, never fails: events are facts. Events that do not apply to
// the state (which the decider would never emit) leave it unchanged, except the version.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "events/command.h"
#include "events/event.h"
#include "events/result.h"

namespace sbx {

// Metadata entries a sandbox may carry (create and after any patch): with the label rules
// on keys and values, this bounds what one sandbox's metadata adds to the log.
inline constexpr std::size_t kMaxMetadataEntries = 64;

[[nodiscard]] Result<std::vector<EventData>> decide(const std::optional<Sandbox>& state,
                                                    const Command& command, Micros now);

// Folds `event` (a sandbox-stream event) into `state`. `state` is nullopt before the
// stream's first event (SandboxRequested -> Pending; SandboxAdopted -> its Running or
// Paused state, status reason "adopted", created_at the container's). Sets version,
// last_transition_at (on a state change), etc.
[[nodiscard]] Sandbox evolve(const std::optional<Sandbox>& state, const Event& event);

// The reason recorded on the envelope of events produced by `command`.
Reason reason_of(const Command& command);

}  // namespace sbx
