// AppendStager: turns the appends of a group into the group's WriteBatch — it checks each
// append (stream name, events, secrets), deduplicates it by event id (before the expected
// version, so a retry after a lost answer succeeds), checks the expected version, assigns
// positions and versions, folds the events into the sandbox projection (projection.h) and
// encodes events, idempotency record, secrets and projection entries. store/ only.
//
// It stages against the committed state (the in-memory projection and the stream index)
// plus the groups still in flight (staged, not yet written), newest first: a group that
// leaves InFlight has its changes in the committed state already.
//
// Thread-safety: stage_group() runs under the pipeline's staging lock (one stager at a
// time); encode_*() run on the group's own thread, outside it. The context, projection and
// InFlight must outlive it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "events/result.h"
#include "store/projection.h"
#include "store/store_context.h"
#include "store/write_group.h"

namespace sbx::store_detail {

class AppendStager {
 public:
  AppendStager(StoreContext& ctx, SandboxProjection& projection, InFlight& inflight)
      : ctx_(ctx), projection_(projection), inflight_(inflight) {}

  // Stages g.requests[from..] (their results are set: an error, a deduplication, or the
  // positions and sandbox of an accepted append) and counts the accepted ones in g.stats.
  void stage_group(Group& g, std::size_t from);
  // Encodes the events (and idempotency record, secrets) of the accepted appends not yet
  // in the batch. JSON encoding: done outside the staging lock.
  void encode_events(Group& g);
  // Encodes the projection entries of every stream whose `after` is not in the batch yet.
  void encode_projections(Group& g);

 private:
  Result<AppendResult> stage(Request& r, Group& g);
  Result<StreamWork*> work_of(Group& g, const std::string& stream);
  std::optional<StagedId> find_in_flight(const std::string& event_id);

  StoreContext& ctx_;
  SandboxProjection& projection_;
  InFlight& inflight_;
};

}  // namespace sbx::store_detail
