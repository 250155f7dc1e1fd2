// The snapshot decider (events/snapshot.h describes the stream and its rules).
//
//   decide_snapshot(state, command, now) -> the events, or a typed Error
//   evolve_snapshot(state, event)        -> the state after the event
//
// Pure functions: no I/O, no clock reads, deterministic. Thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "events/snapshot.h"

namespace sbx {

[[nodiscard]] Result<std::vector<EventData>> decide_snapshot(const std::optional<Snapshot>& state,
                                                             const SnapshotCommand& command,
                                                             Micros now);

// Folds `event` (a snapshot-stream event) into `state` (nullopt before SnapshotRequested).
// Sets version, last_transition_at on a state change, created_at from the first event.
// Events that do not apply to the state leave it unchanged except for the version; an
// event other than SnapshotRequested on nullopt yields a Snapshot with an empty id, which
// the store does not project.
[[nodiscard]] Snapshot evolve_snapshot(const std::optional<Snapshot>& state, const Event& event);

// Whether `data` may open a snapshot stream (SnapshotRequested): a stream whose first
// event is anything else is not projected.
bool opens_snapshot_stream(const EventData& data);

// The reason recorded on the envelope of events produced by `command`: user for the API's
// commands, runtime for the worker outcomes.
Reason snapshot_reason_of(const SnapshotCommand& command);

}  // namespace sbx
