// Projection audit: rebuild every projection from the log and compare.
//
// rebuild_projections replays the log of a store (typically a read-only secondary over a
// running server's data directory) into a new store in a scratch directory: each run of
// consecutive same-stream events becomes an append with the exact expected version, so the
// scratch store rebuilds the stream index, the event-id index and every projection
// (sandboxes, expiry, by_state, snapshots, pools) from the events alone, with the same code
// as live appends.
// The replay insists that the scratch positions equal the source positions (gap-free log,
// contiguous stream versions, unique event ids): any difference is kDataLoss.
//
// compare_projections then diffs two stores' projections (sandboxes, expiry, by_state,
// snapshots, pools, streams and event_ids column families, and the in-memory views of
// sandboxes, snapshots and pools) key by key.
// `sandbox-events replay` / `verify` are built on these.
//
// Thread-safety: the stores must not be written by this process while it runs (a read-only
// source may be caught up before, not during). Errors: kFailedPrecondition (scratch dir
// not empty, heads differ), kDataLoss (the log is not replayable), kUnavailable (I/O).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "events/result.h"
#include "events/time.h"
#include "store/event_store.h"

namespace sbx {

struct RebuildReport {
  std::uint64_t events = 0;        // replayed
  std::uint64_t head = 0;          // the source head replayed up to
  std::size_t live_sandboxes = 0;  // in the rebuilt projection
  Micros micros = 0;
};

// Replays events 1..source.head() of `source` into a new store at `scratch_path` (missing
// or empty directory; written unsynced). The scratch store is closed on return; open it
// (read-write or read-only) to inspect or compare it.
[[nodiscard]] Result<RebuildReport> rebuild_projections(const EventStore& source,
                                                        const std::string& scratch_path);

struct ProjectionDifference {
  std::string projection;  // a column family ("sandboxes", "pools", "streams", ...) or "memory"
  std::string key;         // printable key (store/FORMAT.md)
  std::string live;        // value in `live` (printable); "<missing>" if absent
  std::string rebuilt;     // value in `rebuilt`; "<missing>" if absent
};

// Differences between the projections of `live` and `rebuilt` (both at the same head),
// at most `max_differences`. Empty: equal.
[[nodiscard]] Result<std::vector<ProjectionDifference>> compare_projections(
    const EventStore& live, const EventStore& rebuilt, std::size_t max_differences = 100);

struct VerifyReport {
  RebuildReport rebuild;
  std::vector<ProjectionDifference> differences;
};

// rebuild_projections into `scratch_path`, then compare_projections(source, rebuilt).
[[nodiscard]] Result<VerifyReport> verify_projections(const EventStore& source,
                                                      const std::string& scratch_path,
                                                      std::size_t max_differences = 100);

}  // namespace sbx
