#include "store/append_staging.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "events/codec.h"
#include "events/uuid.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/secrets.h"

namespace sbx::store_detail {

std::optional<StagedId> AppendStager::find_in_flight(const std::string& event_id) {
  std::lock_guard l(inflight_.mu);
  for (auto it = inflight_.groups.rbegin(); it != inflight_.groups.rend(); ++it) {
    if (auto f = (*it)->ids.find(event_id); f != (*it)->ids.end()) return f->second;
  }
  return std::nullopt;
}

Result<StreamWork*> AppendStager::work_of(Group& g, const std::string& stream) {
  if (auto it = g.streams.find(stream); it != g.streams.end()) return &it->second;
  StreamWork w;
  const std::string_view sandbox_id = sandbox_id_of(stream);
  w.sandbox = !sandbox_id.empty();
  const std::string_view snapshot_id = snapshot_id_of(stream);
  w.snapshot = !snapshot_id.empty();
  const std::string_view pool_name = pool_name_of(stream);
  w.pool = !pool_name.empty();
  bool known = false;
  {
    // In-flight groups first (newest first), else the committed state. A group leaves
    // `inflight` only after its changes are in the committed state, so holding
    // inflight_.mu across both lookups sees every group exactly once.
    std::lock_guard l(inflight_.mu);
    for (auto it = inflight_.groups.rbegin(); it != inflight_.groups.rend() && !known; ++it) {
      if (auto f = (*it)->streams.find(stream); f != (*it)->streams.end()) {
        const StreamWork& p = f->second;
        w.version = p.version;
        w.before = p.touched ? p.after : p.before;
        w.snap_before = p.touched ? p.snap_after : p.snap_before;
        w.pool_before = p.touched ? p.pool_after : p.pool_before;
        w.removed = p.removed;
        known = true;
      }
    }
    if (!known) {
      std::shared_lock sl(projection_.mu);
      if (auto v = projection_.versions.find(stream); v != projection_.versions.end()) {
        w.version = v->second;
        known = true;
      }
      if (w.sandbox) {
        if (auto* sb = projection_.live.find(sandbox_id)) w.before = *sb;
      }
      if (w.snapshot) {
        if (auto f = projection_.snapshots.find(snapshot_id); f != projection_.snapshots.end()) {
          w.snap_before = f->second;
        }
      }
      if (w.pool) {
        if (auto f = projection_.pools.find(pool_name); f != projection_.pools.end()) {
          w.pool_before = f->second;
        }
      }
    }
  }
  if (!known) {
    // Not cached and not in flight: everything about it is committed, in the stream index.
    auto last = ctx_.raw->last_stream_version(stream);
    if (!last) return std::unexpected(last.error());
    w.version = *last;
  }
  if (w.sandbox) {
    if (w.before) {
      w.state = *w.before;
      w.removed = false;
    } else if (w.version > 0) {
      w.removed = true;  // history but no projection: terminated or deleted
    }
  }
  if (w.snapshot) {
    if (w.snap_before) {
      w.snap_state = *w.snap_before;
      w.removed = false;
    } else if (w.version > 0) {
      w.removed = true;  // history but no projection: deleted
    }
  }
  // A pool stream without a projection (a deleted pool) is not removed: PoolCreated
  // starts the next generation on it.
  if (w.pool && w.pool_before) w.pool_state = *w.pool_before;
  return &g.streams.emplace(stream, std::move(w)).first->second;
}

Result<AppendResult> AppendStager::stage(Request& r, Group& g) {
  AppendRequest& req = r.req;
  if (req.stream.empty() || req.stream.find('\0') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "stream name must be non-empty without NUL bytes",
                "stream");
  }
  if (req.events.empty()) {
    return fail(ErrorCode::kInvalidArgument, "an append needs at least one event", "events");
  }
  if (req.secrets) {
    if (auto ok = check_secrets(req); !ok) return std::unexpected(ok.error());
  }
  for (auto& e : req.events) {
    if (e.event_id.empty()) e.event_id = new_uuid();
  }
  if (req.events.size() > 1) {
    std::unordered_set<std::string_view> seen;
    for (const auto& e : req.events) {
      if (!seen.insert(e.event_id).second) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + e.event_id + " appears twice in one append", "eventId");
      }
    }
  }

  // Deduplication by event id, before the expected version: a retried append succeeds.
  std::size_t known = 0;
  AppendResult dedup;
  dedup.deduplicated = true;
  dedup.first_position = UINT64_MAX;
  bool dedup_in_group = false;
  std::string first_known_id;
  std::uint64_t first_known_position = 0;
  for (const auto& e : req.events) {
    keys::EventIdValue found;
    if (auto it = g.ids.find(e.event_id); it != g.ids.end()) {
      if (it->second.stream != req.stream) {
        return fail(
            ErrorCode::kInvalidArgument,
            "event id " + e.event_id + " was already written to stream " + it->second.stream,
            "eventId");
      }
      found = {it->second.position, it->second.version};
      dedup_in_group = true;
    } else if (auto staged = find_in_flight(e.event_id)) {
      if (staged->stream != req.stream) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + e.event_id + " was already written to stream " + staged->stream,
                    "eventId");
      }
      found = {staged->position, staged->version};
      dedup_in_group = true;  // holds only if that group's write succeeds
    } else {
      auto v = ctx_.get(ctx_.log.event_ids, e.event_id);
      if (!v) return std::unexpected(v.error());
      if (!*v) continue;
      auto parsed = keys::parse_event_id_value(**v);
      if (!parsed) {
        return fail(ErrorCode::kDataLoss,
                    "event id index entry of " + e.event_id + " is malformed");
      }
      found = *parsed;
      if (first_known_id.empty()) {
        first_known_id = e.event_id;
        first_known_position = found.position;
      }
    }
    ++known;
    dedup.first_position = std::min(dedup.first_position, found.position);
    dedup.last_position = std::max(dedup.last_position, found.position);
    dedup.stream_version = std::max(dedup.stream_version, found.version);
  }
  if (known == req.events.size()) {
    if (!first_known_id.empty()) {
      auto stored = ctx_.get(ctx_.log.events, keys::event_key(first_known_position));
      if (!stored) return std::unexpected(stored.error());
      if (!*stored) {
        return fail(ErrorCode::kDataLoss, "event id " + first_known_id + " points to position " +
                                              std::to_string(first_known_position) +
                                              " which is not in the log");
      }
      auto ev = decode_event(**stored);
      if (!ev) return std::unexpected(ev.error());
      if (ev->stream != req.stream) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + first_known_id + " was already written to stream " + ev->stream,
                    "eventId");
      }
    }
    r.in_batch = dedup_in_group;
    return dedup;
  }
  if (known > 0) {
    return fail(ErrorCode::kInvalidArgument,
                "append mixes event ids already written with new ones (stream " + req.stream + ")",
                "eventId");
  }

  auto wr = work_of(g, req.stream);
  if (!wr) return std::unexpected(wr.error());
  StreamWork& w = **wr;
  const auto& ex = req.expected;
  if (ex.kind == ExpectedVersion::Kind::kNoStream && w.version != 0) {
    return fail(ErrorCode::kConflict, "stream " + req.stream + " already exists (version " +
                                          std::to_string(w.version) + ")");
  }
  if (ex.kind == ExpectedVersion::Kind::kExact && w.version != ex.version) {
    return fail(ErrorCode::kConflict, "stream " + req.stream + " is at version " +
                                          std::to_string(w.version) + ", expected " +
                                          std::to_string(ex.version));
  }

  // Accepted: stage every event (encoded once) and its projection changes.
  AppendResult result;
  result.first_position = g.next;
  for (auto& e : req.events) {
    e.position = g.next++;
    e.stream = req.stream;
    e.version = ++w.version;
    e.schema = current_schema(e.type());
    g.ids.emplace(e.event_id, StagedId{e.position, e.version, req.stream});
    project(w, e, g.record_changes ? &g.changes : nullptr);
  }
  result.last_position = g.next - 1;
  result.stream_version = w.version;
  if (w.snapshot) {
    result.snapshot = seal_snapshot_append(w);
  } else if (w.pool) {
    result.pool = seal_pool_append(w);
  } else {
    result.sandbox = seal_append(w);
  }
  g.accepted.push_back(&r);  // encoded into the batch by encode_events
  r.in_batch = true;
  return result;
}

void AppendStager::stage_group(Group& g, std::size_t from) {
  for (std::size_t i = from; i < g.requests.size(); ++i) {
    Request* r = g.requests[i];
    r->result = stage(*r, g);
    if (r->result && !r->result->deduplicated) {
      ++g.stats.appends;
      g.stats.events += r->req.events.size();
    }
  }
}

void AppendStager::encode_events(Group& g) {
  for (; g.encoded < g.accepted.size(); ++g.encoded) {
    const Request* r = g.accepted[g.encoded];
    for (const auto& e : r->req.events) {
      layout::stage_event(g.batch, ctx_.log, e, encode_event(e));
    }
    if (r->req.idempotency) stage_idempotency(g.batch, ctx_, *r->req.idempotency);
    if (r->req.secrets) {
      // Before the projection entries of this group (encode_projections), so that an
      // outcome staged in the same group deletes them again.
      stage_secrets(g.batch, ctx_, r->req);
    }
  }
}

void AppendStager::encode_projections(Group& g) {
  for (auto& [stream, w] : g.streams) {
    if (w.snapshot) {
      if (!w.touched || (w.encoded && w.snap_encoded_after == w.snap_after)) continue;
      const Snapshot* before = w.encoded ? w.snap_encoded_after.get() : w.snap_before.get();
      stage_snapshot_projection(g.batch, ctx_, snapshot_id_of(stream), before,
                                w.snap_after.get());
      w.snap_encoded_after = w.snap_after;
      w.encoded = true;
      continue;
    }
    if (w.pool) {
      if (!w.touched || (w.encoded && w.pool_encoded_after == w.pool_after)) continue;
      const Pool* before = w.encoded ? w.pool_encoded_after.get() : w.pool_before.get();
      stage_pool_projection(g.batch, ctx_, pool_name_of(stream), before, w.pool_after.get());
      w.pool_encoded_after = w.pool_after;
      w.encoded = true;
      continue;
    }
    if (!w.touched || (w.encoded && w.encoded_after == w.after)) continue;
    const Sandbox* before = w.encoded ? w.encoded_after.get() : w.before.get();
    const std::string_view id = sandbox_id_of(stream);
    stage_projection(g.batch, ctx_, id, before, w.after.get());
    stage_secrets_release(g.batch, ctx_, id, before, w.after.get());
    w.encoded_after = w.after;
    w.encoded = true;
  }
}

}  // namespace sbx::store_detail
