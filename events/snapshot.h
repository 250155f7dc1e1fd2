// Snapshots: a sandbox's container committed to a local image that later sandboxes start
// from. Each snapshot has its own event stream `snapshot-<id>`:
//
//   SnapshotRequested            -> Creating   (the API; source sandbox, name, image ref)
//   SnapshotReady                Creating -> Ready   (the snapshot worker committed it)
//   SnapshotFailed               Creating | Ready -> Failed  (commit failed, the source is
//                                gone, or the reconcile found a Ready snapshot's image gone)
//   SnapshotDeletionRequested    Ready | Failed -> Deleting (the API)
//   SnapshotDeleted              Deleting -> gone (the image was removed or was absent)
//
// The projection of one stream (`Snapshot`) is kept from SnapshotRequested until
// SnapshotDeleted. The pure decider for snapshot commands is `decide_snapshot`, the fold
// `evolve_snapshot` (no I/O, no clock reads; thread-safe).
//
// decide_snapshot errors:
//   kNotFound            no such snapshot (state nullopt) for any command but create
//   kAlreadyExists       CreateSnapshot on an existing stream
//   kFailedPrecondition  DeleteSnapshot while Creating (field "snapshot.state"; the
//                        reference's 409 SNAPSHOT::INVALID_STATE)
// Worker outcomes (RecordSnapshot*) that the state already reflects, or that no longer
// apply (Ready after a deletion was requested, ...), return no events rather than an
// error, so a worker that redoes its work after a crash is harmless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/result.h"
#include "events/time.h"

namespace sbx {

struct Event;
struct SnapshotRequested;
struct SnapshotReady;
struct SnapshotFailed;
struct SnapshotDeletionRequested;
struct SnapshotDeleted;

// The reference's SnapshotState names.
enum class SnapshotState { kCreating, kReady, kFailed, kDeleting };
inline constexpr SnapshotState kAllSnapshotStates[] = {
    SnapshotState::kCreating, SnapshotState::kReady, SnapshotState::kFailed,
    SnapshotState::kDeleting};
std::string_view to_string(SnapshotState s);                               // "Ready"
std::optional<SnapshotState> parse_snapshot_state(std::string_view name);  // case-insensitive

// The projection of one `snapshot-<id>` stream (the snapshots column family, GET).
struct Snapshot {
  std::string id;
  std::uint64_t version = 0;  // stream version of the last event folded in
  std::string sandbox_id;     // the source sandbox
  std::string name;           // "" when none was given
  std::string image_ref;      // the local image it becomes: "sandboxd-snapshot/<id>:latest"
  std::string image_id;       // the committed image's id ("sha256:…") once Ready
  SnapshotState state = SnapshotState::kCreating;
  std::string status_reason;   // machine-readable ("snapshot_accepted", an error code, …)
  std::string status_message;  // human-readable
  Micros created_at = 0;
  Micros last_transition_at = 0;
  bool deleted = false;        // SnapshotDeleted was folded in: it leaves the projection
  bool operator==(const Snapshot&) const = default;
};

inline constexpr std::string_view kSnapshotStreamPrefix = "snapshot-";
inline std::string snapshot_stream_of(std::string_view snapshot_id) {
  return std::string(kSnapshotStreamPrefix) + std::string(snapshot_id);
}
// The snapshot id of a "snapshot-<id>" stream; "" for any other stream.
inline std::string_view snapshot_id_of(std::string_view stream) {
  if (stream.size() <= kSnapshotStreamPrefix.size() || !stream.starts_with(kSnapshotStreamPrefix)) {
    return {};
  }
  return stream.substr(kSnapshotStreamPrefix.size());
}

// The image reference a snapshot is committed to: a local repository name without a
// registry host, tagged "latest". Labels on the image: sandboxd.io/snapshot=<id> and the
// instance label.
inline std::string snapshot_image_ref(std::string_view snapshot_id) {
  return std::string("sandboxd-snapshot/") + std::string(snapshot_id) + ":latest";
}
// Whether `image` names a snapshot image (never pulled from a registry: it is local).
inline bool is_snapshot_image_ref(std::string_view image) {
  return image.starts_with("sandboxd-snapshot/");
}

// --- commands ---------------------------------------------------------------------------
struct CreateSnapshot {      // the API; ids and image ref allocated by the service
  std::string snapshot_id;
  std::string sandbox_id;
  std::string name;
  std::string image_ref;
};
struct DeleteSnapshot {};    // the API
struct RecordSnapshotReady { std::string image_id; };
struct RecordSnapshotFailed { std::string error_code; std::string message; };
struct RecordSnapshotDeleted {};

using SnapshotCommand = std::variant<CreateSnapshot, DeleteSnapshot, RecordSnapshotReady,
                                     RecordSnapshotFailed, RecordSnapshotDeleted>;

}  // namespace sbx
