#include "store/reads.h"

#include <rocksdb/iterator.h>

#include <algorithm>
#include <memory>
#include <shared_mutex>

#include "events/codec.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/string_map.h"

namespace sbx::store_detail {

Result<std::vector<Event>> StoreReads::read_unlocked(std::uint64_t from, std::size_t max,
                                                     std::uint64_t up_to,
                                                     LogChunk* tolerant) const {
  std::vector<Event> out;
  if (tolerant != nullptr) tolerant->next = from;
  if (max == 0 || from > up_to) return out;
  std::size_t seen = 0;
  std::unique_ptr<rocksdb::Iterator> it(ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.log.events));
  for (it->Seek(keys::event_key(from)); it->Valid() && seen < max; it->Next()) {
    auto pos = keys::parse_event_key(sv(it->key()));
    if (!pos) return fail(ErrorCode::kDataLoss, "malformed key in the events column family");
    if (*pos > up_to) break;
    ++seen;
    auto e = decode_event(sv(it->value()));
    std::string error;
    if (!e) {
      error = "does not decode: " + e.error().message;
    } else if (e->position != *pos) {
      error = "says position " + std::to_string(e->position);
    }
    if (!error.empty()) {
      auto c = health_.note_corrupt(*pos, sv(it->value()), error);
      if (tolerant == nullptr) {
        return fail(ErrorCode::kDataLoss, "event at position " + std::to_string(*pos) + " " + error);
      }
      tolerant->corrupt.push_back(std::move(c));
      tolerant->next = *pos + 1;
      continue;
    }
    if (tolerant != nullptr) tolerant->next = *pos + 1;
    out.push_back(std::move(*e));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read log"));
  return out;
}

Result<std::vector<Event>> StoreReads::read(std::uint64_t from_position,
                                            std::size_t max_count) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  return read_unlocked(std::max<std::uint64_t>(from_position, 1), max_count, feed_.head());
}

Result<std::vector<Event>> StoreReads::read_stream(std::string_view stream,
                                                   std::uint64_t from_version,
                                                   std::size_t max_count) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  std::vector<Event> out;
  if (max_count == 0 || stream.empty()) return out;
  const std::uint64_t up_to = feed_.head();
  const std::string prefix = keys::stream_prefix(stream);
  std::vector<std::string> positions;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.log.streams));
    for (it->Seek(keys::stream_key(stream, std::max<std::uint64_t>(from_version, 1)));
         it->Valid() && positions.size() < max_count; it->Next()) {
      if (!sv(it->key()).starts_with(prefix)) break;
      if (it->value().size() != 8) {
        return fail(ErrorCode::kDataLoss, "malformed stream index entry of " + std::string(stream));
      }
      if (keys::get_u64(sv(it->value())) > up_to) break;
      positions.emplace_back(sv(it->value()));
    }
    if (!it->status().ok()) {
      return std::unexpected(layout::to_error(it->status(), "read stream index"));
    }
  }
  out.reserve(positions.size());
  for (const auto& p : positions) {
    auto v = ctx_.get(ctx_.log.events, p);
    if (!v) return std::unexpected(v.error());
    if (!*v) {
      return fail(ErrorCode::kDataLoss, "stream " + std::string(stream) + " points to position " +
                                            std::to_string(keys::get_u64(p)) +
                                            " which is not in the log");
    }
    auto e = decode_event(**v);
    if (!e) {
      (void)health_.note_corrupt(keys::get_u64(p), **v, "does not decode: " + e.error().message);
      return fail(ErrorCode::kDataLoss, "event at position " + std::to_string(keys::get_u64(p)) +
                                            " does not decode: " + e.error().message);
    }
    out.push_back(std::move(*e));
  }
  return out;
}

Result<LogChunk> StoreReads::read_log(std::uint64_t from_position, std::size_t max_count) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  LogChunk chunk;
  const std::uint64_t from = std::max<std::uint64_t>(from_position, 1);
  auto events = read_unlocked(from, max_count, feed_.head(), &chunk);
  if (!events) return std::unexpected(events.error());
  chunk.events = std::move(*events);
  return chunk;
}

std::uint64_t StoreReads::stream_version(std::string_view stream) const {
  if (auto cached = projection_.cached_version(stream)) return *cached;
  ReadLock life(ctx_);
  if (!life.ok()) return 0;
  auto v = ctx_.raw->last_stream_version(stream);
  return v ? *v : 0;
}

Result<std::vector<std::pair<Micros, std::string>>> StoreReads::expiring(
    Micros until, std::size_t max_count) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  std::vector<std::pair<Micros, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.expiry));
  for (it->SeekToFirst(); it->Valid() && out.size() < max_count; it->Next()) {
    auto k = keys::parse_expiry_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed expiry index key");
    if (k->deadline > until) break;
    out.emplace_back(k->deadline, std::string(k->sandbox_id));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read expiry"));
  return out;
}

std::optional<Micros> StoreReads::next_expiry() const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::nullopt;
  std::unique_ptr<rocksdb::Iterator> it(ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.expiry));
  it->SeekToFirst();
  if (!it->Valid()) return std::nullopt;
  auto k = keys::parse_expiry_key(sv(it->key()));
  if (!k) return std::nullopt;
  return k->deadline;
}

Result<void> StoreReads::save_checkpoint(std::string_view consumer, std::uint64_t position) {
  if (ctx_.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition, "the store is open read-only");
  }
  if (consumer.empty()) {
    return fail(ErrorCode::kInvalidArgument, "checkpoint consumer name is empty", "consumer");
  }
  if (auto r = health_.refuse_write(); !r) return r;
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  rocksdb::Status s =
      ctx_.db->Put(ctx_.write_options, ctx_.checkpoints, consumer, keys::u64_key(position));
  if (!s.ok()) {
    Error e = layout::to_error(s, "save checkpoint");
    e.code = ErrorCode::kUnavailable;
    e.field = "store";
    return std::unexpected(e);
  }
  return {};
}

Result<std::uint64_t> StoreReads::checkpoint(std::string_view consumer) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  auto v = ctx_.get(ctx_.checkpoints, consumer);
  if (!v) return std::unexpected(v.error());
  if (!*v) return 0;
  if ((*v)->size() != 8) {
    return fail(ErrorCode::kDataLoss, "checkpoint of " + std::string(consumer) + " is malformed");
  }
  return keys::get_u64(**v);
}

Result<std::optional<IdempotencyRecord>> StoreReads::idempotency(std::string_view key,
                                                                 Micros now) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  auto v = ctx_.get(ctx_.idempotency, key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<IdempotencyRecord>();
  auto rec = keys::parse_idempotency_value(key, **v);
  if (!rec) {
    return fail(ErrorCode::kDataLoss, "idempotency record " + std::string(key) + " is malformed");
  }
  if (rec->expires_at <= now) return std::optional<IdempotencyRecord>();
  return rec;
}

Result<std::vector<std::string>> StoreReads::sandbox_ids_in_state(SandboxState state,
                                                                  std::size_t max_count) const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  std::vector<std::string> out;
  const std::string prefix = keys::by_state_prefix(state);
  std::unique_ptr<rocksdb::Iterator> it(
      ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.by_state));
  for (it->Seek(prefix); it->Valid() && out.size() < max_count; it->Next()) {
    if (!sv(it->key()).starts_with(prefix)) break;
    auto k = keys::parse_by_state_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed by_state index key");
    out.emplace_back(k->sandbox_id);
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read by_state"));
  return out;
}

Result<std::map<SandboxState, std::size_t>> StoreReads::count_by_state() const {
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  std::map<SandboxState, std::size_t> out;
  std::unique_ptr<rocksdb::Iterator> it(
      ctx_.db->NewIterator(rocksdb::ReadOptions(), ctx_.by_state));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto k = keys::parse_by_state_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed by_state index key");
    ++out[k->state];
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read by_state"));
  return out;
}

Result<void> StoreReads::catch_up() {
  if (!ctx_.options.read_only) return {};
  std::lock_guard serial(catch_up_mu_);
  ReadLock life(ctx_);
  if (!life.ok()) return std::unexpected(closed_error());
  rocksdb::Status s = ctx_.db->TryCatchUpWithPrimary();
  if (!s.ok()) return std::unexpected(layout::to_error(s, "catch up with the primary"));
  auto last = ctx_.raw->last_position();
  if (!last) return std::unexpected(last.error());
  constexpr std::size_t kChunk = 4096;
  while (feed_.head() < *last) {
    const std::uint64_t from = feed_.head() + 1;
    LogChunk chunk;  // records that do not decode are skipped (and noted)
    auto events = read_unlocked(from, kChunk, *last, &chunk);
    if (!events) return std::unexpected(events.error());
    if (events->empty() && chunk.next > from) {
      {
        std::unique_lock l(projection_.mu);
        feed_.publish(chunk.next - 1);
      }
      if (feed_.has_listeners()) {
        // Nothing decodes here: the batch only says how far the log now reaches.
        auto batch = std::make_shared<CommittedBatch>();
        batch->first_position = from;
        batch->last_position = chunk.next - 1;
        feed_.deliver(batch);
      }
      continue;
    }
    if (events->empty()) break;
    // The secondary's sandboxes column family is as new as the catch-up: re-read the
    // projections of the streams these events touched.
    StringMap<std::uint64_t> touched_streams;
    for (const auto& e : *events) touched_streams.insert_or_assign(e.stream, e.version);
    std::vector<std::pair<std::string, std::shared_ptr<const Sandbox>>> updates;
    std::vector<std::pair<std::string, std::shared_ptr<const Snapshot>>> snapshot_updates;
    std::vector<std::pair<std::string, std::shared_ptr<const Pool>>> pool_updates;
    for (const auto& [stream, version] : touched_streams) {
      if (const std::string_view sid = snapshot_id_of(stream); !sid.empty()) {
        auto v = ctx_.get(ctx_.snapshots, sid);
        if (!v) return std::unexpected(v.error());
        std::shared_ptr<const Snapshot> next;
        if (*v) {
          auto sn = decode_snapshot(**v);
          if (!sn) return std::unexpected(sn.error());
          next = std::make_shared<const Snapshot>(std::move(*sn));
        }
        snapshot_updates.emplace_back(std::string(sid), std::move(next));
        continue;
      }
      if (const std::string_view name = pool_name_of(stream); !name.empty()) {
        auto v = ctx_.get(ctx_.pools, name);
        if (!v) return std::unexpected(v.error());
        std::shared_ptr<const Pool> next;
        if (*v) {
          auto pool = decode_pool(**v);
          if (!pool) return std::unexpected(pool.error());
          next = std::make_shared<const Pool>(std::move(*pool));
        }
        pool_updates.emplace_back(std::string(name), std::move(next));
        continue;
      }
      const std::string_view id = sandbox_id_of(stream);
      if (id.empty()) continue;
      auto v = ctx_.get(ctx_.sandboxes, id);
      if (!v) return std::unexpected(v.error());
      std::shared_ptr<const Sandbox> next;
      if (*v) {
        auto sb = decode_sandbox(**v);
        if (!sb) return std::unexpected(sb.error());
        next = std::make_shared<const Sandbox>(std::move(*sb));
      }
      updates.emplace_back(std::string(id), std::move(next));
    }
    const std::uint64_t new_head = std::max(events->back().position, chunk.next - 1);
    {
      std::unique_lock l(projection_.mu);
      for (auto& [stream, version] : touched_streams) projection_.versions.erase(stream);
      for (auto& [id, next] : snapshot_updates) {
        if (next) {
          projection_.snapshots.insert_or_assign(id, std::move(next));
        } else {
          projection_.snapshots.erase(id);
        }
      }
      for (auto& [name, next] : pool_updates) {
        if (next) {
          projection_.pools.insert_or_assign(name, std::move(next));
        } else {
          projection_.pools.erase(name);
        }
      }
      for (auto& [id, next] : updates) {
        if (next) {
          projection_.live.insert_or_assign(id, std::move(next));
        } else {
          projection_.live.erase(id);
        }
      }
      feed_.publish(new_head);  // inside the projection's lock
    }
    if (feed_.has_listeners()) {
      auto batch = std::make_shared<CommittedBatch>();
      batch->first_position = from;
      batch->last_position = new_head;
      batch->stats.events = events->size();
      batch->events = std::move(*events);
      feed_.deliver(batch);
    }
  }
  return {};
}

}  // namespace sbx::store_detail
