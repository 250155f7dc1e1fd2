#include "store/projection.h"

#include <mutex>

#include "events/codec.h"
#include "events/decider.h"
#include "events/pool_decider.h"
#include "events/snapshot_decider.h"
#include "store/keys.h"

namespace sbx::store_detail {

std::vector<std::shared_ptr<const Sandbox>> SandboxProjection::list() const {
  std::shared_lock l(mu);
  std::vector<std::shared_ptr<const Sandbox>> out;
  out.reserve(live.size());
  live.for_each([&](const std::shared_ptr<const Sandbox>& s) { out.push_back(s); });
  return out;
}

std::size_t SandboxProjection::size() const {
  std::shared_lock l(mu);
  return live.size();
}

std::optional<std::uint64_t> SandboxProjection::cached_version(std::string_view stream) const {
  std::shared_lock l(mu);
  if (auto it = versions.find(stream); it != versions.end()) return it->second;
  return std::nullopt;
}

std::shared_ptr<const Snapshot> SandboxProjection::get_snapshot(std::string_view id) const {
  std::shared_lock l(mu);
  auto it = snapshots.find(id);
  return it != snapshots.end() ? it->second : nullptr;
}

std::vector<std::shared_ptr<const Snapshot>> SandboxProjection::list_snapshots() const {
  std::shared_lock l(mu);
  std::vector<std::shared_ptr<const Snapshot>> out;
  out.reserve(snapshots.size());
  for (const auto& [id, s] : snapshots) out.push_back(s);
  return out;
}

std::shared_ptr<const Pool> SandboxProjection::get_pool(std::string_view name) const {
  std::shared_lock l(mu);
  auto it = pools.find(name);
  return it != pools.end() ? it->second : nullptr;
}

std::vector<std::shared_ptr<const Pool>> SandboxProjection::list_pools() const {
  std::shared_lock l(mu);
  std::vector<std::shared_ptr<const Pool>> out;
  out.reserve(pools.size());
  for (const auto& [name, p] : pools) out.push_back(p);
  return out;
}

namespace {

// A pool stream: PoolCreated opens it (again, after a PoolDeleted); events while there is
// no pool are logged but project nothing.
void project_pool(StreamWork& w, const Event& e) {
  if (w.touched && !w.pool_state && w.pool_after) w.pool_state = *w.pool_after;
  if ((!w.pool_state || w.pool_state->deleted) && !opens_pool_stream(e.data)) return;
  w.pool_state = evolve_pool(w.pool_state, e);
  w.touched = true;
}

void project_snapshot(StreamWork& w, const Event& e) {
  if (w.removed) return;
  if (w.touched && !w.snap_state && w.snap_after) w.snap_state = *w.snap_after;
  if (!w.snap_state && !opens_snapshot_stream(e.data)) {
    w.removed = true;  // a snapshot stream must start with SnapshotRequested
    return;
  }
  w.snap_state = evolve_snapshot(w.snap_state, e);
  w.touched = true;
  if (w.snap_state->deleted) w.removed = true;
}

}  // namespace

std::shared_ptr<const Pool> seal_pool_append(StreamWork& w) {
  if (!w.pool_state) return nullptr;
  auto sealed = std::make_shared<const Pool>(std::move(*w.pool_state));
  w.pool_state.reset();
  w.pool_after = sealed->deleted ? nullptr : sealed;
  return sealed;
}

void stage_pool_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                           std::string_view name, const Pool* before, const Pool* after) {
  if (after != nullptr) {
    (void)batch.Put(ctx.pools, name, encode_pool(*after));
  } else if (before != nullptr) {
    (void)batch.Delete(ctx.pools, name);
  }
}

std::shared_ptr<const Snapshot> seal_snapshot_append(StreamWork& w) {
  if (!w.snap_state) return nullptr;
  auto sealed = std::make_shared<const Snapshot>(std::move(*w.snap_state));
  w.snap_state.reset();
  w.snap_after = w.removed ? nullptr : sealed;
  return sealed;
}

void stage_snapshot_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                               std::string_view id, const Snapshot* before,
                               const Snapshot* after) {
  if (after != nullptr) {
    (void)batch.Put(ctx.snapshots, id, encode_snapshot(*after));
  } else if (before != nullptr) {
    (void)batch.Delete(ctx.snapshots, id);
  }
}

void project(StreamWork& w, const Event& e, std::vector<SandboxChange>* changes) {
  if (w.snapshot) {
    project_snapshot(w, e);
    return;
  }
  if (w.pool) {
    project_pool(w, e);
    return;
  }
  if (!w.sandbox || w.removed) return;
  if (w.touched && !w.state && w.after) w.state = *w.after;  // reopened by a later append
  if (!w.state && !opens_sandbox_stream(e.data)) {
    w.removed = true;  // a sandbox stream must start with SandboxRequested/-Adopted
    return;
  }
  std::optional<SandboxState> from;
  if (w.state) from = w.state->state;
  w.state = evolve(w.state, e);
  w.touched = true;
  if (changes != nullptr) {
    changes->push_back(
        SandboxChange{e.position, from, w.state->state, w.state->deleted, w.state->created_at});
  }
  if (!is_live(*w.state)) w.removed = true;
}

std::shared_ptr<const Sandbox> seal_append(StreamWork& w) {
  if (!w.state) return nullptr;  // this append folded nothing
  auto sealed = std::make_shared<const Sandbox>(std::move(*w.state));
  w.state.reset();
  w.after = w.removed ? nullptr : sealed;
  return sealed;
}

void stage_projection(rocksdb::WriteBatch& batch, const StoreContext& ctx, std::string_view id,
                      const Sandbox* before, const Sandbox* after) {
  if (after != nullptr) {
    (void)batch.Put(ctx.sandboxes, id, encode_sandbox(*after));
  } else if (before != nullptr) {
    (void)batch.Delete(ctx.sandboxes, id);
  }
  auto expiry_of = [&](const Sandbox* s) -> std::optional<std::string> {
    if (s == nullptr || !expires(*s)) return std::nullopt;
    return keys::expiry_key(*s->expires_at, id);
  };
  auto old_e = expiry_of(before);
  auto new_e = expiry_of(after);
  if (old_e != new_e) {
    if (old_e) (void)batch.Delete(ctx.expiry, *old_e);
    if (new_e) (void)batch.Put(ctx.expiry, *new_e, rocksdb::Slice());
  }
  auto state_of = [&](const Sandbox* s) -> std::optional<std::string> {
    if (s == nullptr) return std::nullopt;
    return keys::by_state_key(s->state, s->created_at, id);
  };
  auto old_s = state_of(before);
  auto new_s = state_of(after);
  if (old_s != new_s) {
    if (old_s) (void)batch.Delete(ctx.by_state, *old_s);
    if (new_s) (void)batch.Put(ctx.by_state, *new_s, rocksdb::Slice());
  }
}

void stage_idempotency(rocksdb::WriteBatch& batch, const StoreContext& ctx,
                       const IdempotencyRecord& record) {
  (void)batch.Put(ctx.idempotency, record.key, keys::idempotency_value(record));
}

}  // namespace sbx::store_detail
