// The sandbox projection: the in-memory table of live sandboxes that every read of a
// sandbox is served from, the cache of stream versions beside it, and the rules by which
// an append stages its projection changes (sandboxes, expiry and by_state column
// families, the idempotency record) into its WriteBatch. store/ only.
//
// `evolve` runs here, once per event, while the append is staged (project()); what it
// yields is published to the table after the batch is durable (write_pipeline.h), handed
// back to the appender (AppendResult::sandbox) and to commit observers (SandboxChange).
//
// Pools (the pools column family) and snapshots (snapshots) are projected beside it the same
// way, into their own maps.
//
// Rules (store/FORMAT.md, event_store.h): the table holds live sandboxes only (not
// Terminated, not deleted); a sandbox stream is projected only if it starts with
// SandboxRequested or SandboxAdopted; the expiry index holds live sandboxes with a deadline that are not
// Stopping or Failed; by_state holds every live sandbox.
//
// Thread-safety: SandboxProjection's fields are guarded by `mu` (shared for reads,
// exclusive for the writer whose turn it is, or catch_up on a read-only store); its
// methods lock it themselves. The staging functions are pure over their arguments.
#pragma once

#include <rocksdb/write_batch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "events/sandbox.h"
#include "store/commit.h"
#include "store/event_store.h"
#include "store/sandbox_table.h"
#include "store/store_context.h"
#include "store/string_map.h"

namespace sbx::store_detail {

// Kept in the sandboxes projection (and served by get_sandbox).
inline bool is_live(const Sandbox& s) { return s.state != SandboxState::kTerminated && !s.deleted; }

// Has an entry in the expiry index.
inline bool expires(const Sandbox& s) {
  return is_live(s) && s.expires_at.has_value() && s.state != SandboxState::kStopping &&
         s.state != SandboxState::kFailed;
}

struct SandboxProjection {
  mutable std::shared_mutex mu;
  SandboxTable live;                  // mu
  StringMap<std::uint64_t> versions;  // mu: cache of stream versions (filled lazily)
  // mu: every snapshot stream's projection until its SnapshotDeleted (events/snapshot.h)
  StringMap<std::shared_ptr<const Snapshot>> snapshots;
  // mu: every pool stream's projection from its PoolCreated until its PoolDeleted
  // (events/pool.h), by pool name
  StringMap<std::shared_ptr<const Pool>> pools;

  // Inline: get_sandbox is the hottest read (one lock and one probe, no call between).
  std::shared_ptr<const Sandbox> get(std::string_view sandbox_id) const {
    std::shared_lock l(mu);
    const auto* sandbox = live.find(sandbox_id);
    return sandbox != nullptr ? *sandbox : nullptr;
  }
  std::vector<std::shared_ptr<const Sandbox>> list() const;  // in no particular order
  std::size_t size() const;
  std::optional<std::uint64_t> cached_version(std::string_view stream) const;
  std::shared_ptr<const Snapshot> get_snapshot(std::string_view snapshot_id) const;
  std::vector<std::shared_ptr<const Snapshot>> list_snapshots() const;  // no particular order
  std::shared_ptr<const Pool> get_pool(std::string_view name) const;
  std::vector<std::shared_ptr<const Pool>> list_pools() const;  // no particular order
};

// What one group commit knows about one stream it touches (write_group.h).
struct StreamWork {
  std::uint64_t version = 0;              // including the events staged so far in this group
  bool sandbox = false;                   // a sandbox-* stream
  bool touched = false;                   // the projection changed in this group
  bool removed = false;                   // the stream has (or now has) no projection
  std::shared_ptr<const Sandbox> before;  // live projection before the group
  std::optional<Sandbox> state;           // projection while an append's events are staged
  std::shared_ptr<const Sandbox> after;   // after the appends staged so far (null: none);
                                          // immutable
  // The `after` whose projection entries are in the batch (encoded = true). A group that
  // takes in more requests re-stages only the streams they change; their entries are then
  // encoded again as a change from this one (WriteBatch entries apply in order).
  std::shared_ptr<const Sandbox> encoded_after;
  bool encoded = false;
  // A snapshot-* stream (events/snapshot.h): the same roles as before/state/after/
  // encoded_after above, for its Snapshot projection (touched, removed, encoded are shared:
  // a stream is a sandbox stream, a snapshot stream, or neither).
  bool snapshot = false;
  std::shared_ptr<const Snapshot> snap_before;
  std::optional<Snapshot> snap_state;
  std::shared_ptr<const Snapshot> snap_after;
  std::shared_ptr<const Snapshot> snap_encoded_after;
  // A pool-* stream (events/pool.h): the same roles for its Pool projection (touched and
  // encoded are shared). Unlike the other kinds a pool stream never ends: a PoolDeleted
  // takes the pool out of the projection (pool_after null) and a later PoolCreated starts a
  // fresh one, so `removed` stays false for it.
  bool pool = false;
  std::shared_ptr<const Pool> pool_before;
  std::optional<Pool> pool_state;
  std::shared_ptr<const Pool> pool_after;
  std::shared_ptr<const Pool> pool_encoded_after;
};

// Folds `e` into the stream's projection (evolve, once). Appends what it did to `changes`
// unless that is null.
void project(StreamWork& w, const Event& e, std::vector<SandboxChange>* changes);

// Ends the staging of one append on `w`: the state its events folded to becomes the
// stream's immutable `after` (null if it left the projection). Returns the sandbox as
// the append left it (AppendResult::sandbox): `after`, or — when this append took the
// sandbox out of the projection — its final state; null when the append folded nothing.
std::shared_ptr<const Sandbox> seal_append(StreamWork& w);
// The same for a snapshot stream: the snapshot as the append left it (also when it took it
// out of the projection), null when the append folded nothing.
std::shared_ptr<const Snapshot> seal_snapshot_append(StreamWork& w);

// The same for a pool stream: the pool as the append left it (its final state, `deleted`
// set, when a PoolDeleted took it out), null when the append folded nothing (no pool, and
// no PoolCreated to start one).
std::shared_ptr<const Pool> seal_pool_append(StreamWork& w);

// Stages the pools entry that turns `before` into `after` (either may be null).
void stage_pool_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                           std::string_view name, const Pool* before, const Pool* after);

// Stages the snapshots entry that turns `before` into `after` (either may be null).
void stage_snapshot_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                               std::string_view id, const Snapshot* before,
                               const Snapshot* after);

// Stages the sandboxes, expiry and by_state entries that turn `before` into `after`
// (either may be null: no projection) for sandbox `id`.
void stage_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx, std::string_view id,
                      const Sandbox* before, const Sandbox* after);

// Stages the idempotency record of a create.
void stage_idempotency(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                       const IdempotencyRecord& record);

}  // namespace sbx::store_detail
