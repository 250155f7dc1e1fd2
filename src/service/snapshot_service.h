// SnapshotService: snapshot commands become events of the `snapshot-<id>` stream
// (events/snapshot.h), as SandboxService does for sandboxes:
//
//   command -> load the snapshot from the in-memory projection (EventStore::get_snapshot)
//           -> decide_snapshot(state, command, now)  (pure)
//           -> append with the expected stream version (no_stream for a create)
//           -> on kConflict: re-read and retry (bounded)
//
// The snapshot worker (src/workers/snapshotter.h) acts on SnapshotRequested and
// SnapshotDeletionRequested and records the outcomes through execute().
//
// Create: the source sandbox must exist (kNotFound, as GET sandbox) and be Running (the
// reference's rule: kFailedPrecondition, field "snapshot.source", 409
// SNAPSHOT::INVALID_SOURCE_STATE). The service allocates the id (UUID v7) and the image
// reference (snapshot_image_ref). Without runtime support (Kubernetes) every create
// fails with kUnimplemented, field "runtime.snapshots", before anything is checked or
// appended. The name: at most kMaxSnapshotNameLength bytes of printable ASCII without
// control characters (kInvalidArgument, field "name").
// Delete: kNotFound (field "snapshot"), kFailedPrecondition while Creating (field
// "snapshot.state"); Deleting already: success with no event.
// Client mutations are refused like SandboxService's: fenced (kUnavailable, field
// "lease"), store not writable (kUnavailable, field "store").
//
// Thread-safety: every method is thread-safe. The store, clock and sandbox service must
// outlive it; shutdown() (also run by the destructor) finishes queued mutations.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "events/snapshot.h"
#include "src/common/clock.h"
#include "src/service/sandbox_service.h"
#include "src/service/work_pool.h"
#include "store/event_store.h"

namespace sbx {

inline constexpr std::size_t kMaxSnapshotNameLength = 128;

struct SnapshotListQuery {
  std::string sandbox_id;             // "" = any
  std::string name;                   // "" = any (exact match)
  std::vector<SnapshotState> states;  // OR; empty = any
  bool no_state_matches = false;      // a state filter named no known state: empty page
  int page = 1;
  int page_size = 20;
};

struct SnapshotPage {
  std::vector<std::shared_ptr<const Snapshot>> items;  // createdAt descending, then id
  std::size_t total_items = 0;
  int page = 1;
  int page_size = 20;
  std::size_t total_pages = 0;
  bool has_next_page = false;
};

// Checks a snapshot name (CreateSnapshotRequest.name): non-empty, at most
// kMaxSnapshotNameLength bytes, printable ASCII or UTF-8 without control characters.
[[nodiscard]] Result<void> validate_snapshot_name(std::string_view name);

class SnapshotService {
 public:
  // `supported`: whether the runtime can take snapshots (Runtime::supports_snapshots).
  SnapshotService(EventStore& store, const Clock& clock, SandboxService& sandboxes,
                  bool supported);
  ~SnapshotService();
  SnapshotService(const SnapshotService&) = delete;
  SnapshotService& operator=(const SnapshotService&) = delete;

  bool supported() const { return supported_; }

  // --- reads (memory only) ---
  std::shared_ptr<const Snapshot> get(std::string_view snapshot_id) const;  // null: absent
  SnapshotPage list(const SnapshotListQuery& query) const;

  // --- mutations (one durable append) ---
  [[nodiscard]] Result<Snapshot> create(const std::string& sandbox_id, const std::string& name,
                                        const RequestContext& ctx);
  [[nodiscard]] Result<Snapshot> remove(const std::string& snapshot_id, const RequestContext& ctx);
  // Any command on an existing snapshot (the worker's Record* outcomes; API delete).
  // Commands already reflected in the state append nothing and succeed.
  [[nodiscard]] Result<Snapshot> execute(const std::string& snapshot_id,
                                         const SnapshotCommand& command, const RequestContext& ctx);

  // The same on the service's own mutation thread; `done` runs there (or at once with
  // kUnavailable after shutdown began).
  void create_async(std::string sandbox_id, std::string name, RequestContext ctx,
                    std::function<void(Result<Snapshot>)> done);
  void remove_async(std::string snapshot_id, RequestContext ctx,
                    std::function<void(Result<Snapshot>)> done);

  void shutdown();

 private:
  [[nodiscard]] Result<Snapshot> run(const std::string& snapshot_id, const SnapshotCommand& command,
                                     const RequestContext& ctx, bool client);

  EventStore& store_;
  const Clock& clock_;
  SandboxService& sandboxes_;
  const bool supported_;
  WorkPool pool_;
};

}  // namespace sbx
