// What a commit tells its observers: the committed events, what the sandbox projection
// staged for them, and the group commit's statistics. Part of the store's public contract
// (store/event_store.h add_batch_listener, store/subscription.h live batches).
//
// The projection runs `evolve` once per event, while the append is staged; a
// SandboxChange records what that evolve did to the projected state, so that nobody
// downstream runs `evolve` again to learn it (LogMetrics counts transitions from these).
//
// Plain values; a CommittedBatch is immutable once published and shared (shared_ptr)
// between every listener and subscription that holds it, on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "events/event.h"
#include "events/sandbox.h"
#include "events/time.h"

namespace sbx {

// Statistics of one group commit, for metrics.
struct CommitStats {
  std::size_t appends = 0;  // appends in the batch (the group size)
  std::size_t events = 0;
  Micros write_micros = 0;  // WriteBatch + fsync
};

// What one event did to its sandbox's projection. Only events that the projection folded
// have one: events of a sandbox stream that is projected (it starts with SandboxRequested
// or SandboxAdopted, and its sandbox had not left the projection before the event).
struct SandboxChange {
  std::uint64_t position = 0;        // the event's
  std::optional<SandboxState> from;  // the projected state before it; nullopt: it created it
  SandboxState to = SandboxState::kPending;  // the state after it
  bool deleted = false;  // after it the sandbox is deleted (it left the projection as such)
  Micros created_at = 0;  // of the sandbox
};

// One committed batch, in position order.
struct CommittedBatch {
  // The positions the batch made visible: [first_position, last_position]. On a writable
  // store these are exactly the positions of `events`; on a read-only store catching up,
  // positions whose record does not decode are covered but left out of `events`.
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
  std::vector<Event> events;
  // In position order, one per event the projection folded (see SandboxChange). Empty on
  // a read-only store (it does not stage projections; it re-reads them), and for a batch
  // staged before the first listener was added.
  std::vector<SandboxChange> changes;
  CommitStats stats;  // on a read-only store only `events` is set
};

// Runs after a batch is durable and the in-memory projection shows it (event_store.h,
// Thread-safety).
using BatchListener = std::function<void(const std::shared_ptr<const CommittedBatch>& batch)>;

}  // namespace sbx
