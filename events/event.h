// Events: facts in the past tense, one type per fact, and the envelope that carries them.
//
// A sandbox's events live in its stream `sandbox-<id>`; control-plane facts (startup,
// reconcile findings, orphans removed, migrations) live in the `system` stream.
// Request events (SandboxRequested, PauseRequested, ResumeRequested, DeletionRequested)
// carry everything the runtime workers need; the workers append the outcomes.
// Pure value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "events/pool.h"
#include "events/sandbox.h"
#include "events/snapshot.h"

namespace sbx {

// --- sandbox stream -------------------------------------------------------------------
struct SandboxRequested {          // -> Pending
  std::string sandbox_id;
  SandboxSpec spec;
  std::map<std::string, std::string> metadata;
  std::optional<Micros> expires_at;
  bool operator==(const SandboxRequested&) const = default;
};
// A running or paused container that another server (the reference opensandbox-server)
// created was taken over: the stream starts here instead of with SandboxRequested, and the
// sandbox is Running or Paused at once (nothing is provisioned). The spec records what the
// container shows (image, command, limits, network mode, published ports); env is not
// recorded. `created_at` is the container's creation time (0: unknown, the event time is
// used). `source` names the server it came from ("opensandbox-server").
struct SandboxAdopted {            // -> Running | Paused
  std::string sandbox_id;
  std::string runtime_id;
  SandboxSpec spec;
  std::map<std::string, std::string> metadata;
  std::optional<Micros> expires_at;
  SandboxState state = SandboxState::kRunning;  // kRunning or kPaused only
  Micros created_at = 0;
  std::string source;
  bool operator==(const SandboxAdopted&) const = default;
};
struct ProvisioningStarted {       // a worker picked the request up (state unchanged)
  std::string worker;
  bool operator==(const ProvisioningStarted&) const = default;
};
struct SandboxStarted {            // Pending -> Running
  std::string runtime_id;
  // Where the sandbox is reached directly: the pod IP on Kubernetes; "" on Docker (whose
  // endpoints come from the host and the allocated ports). Written only when non-empty;
  // events from before the field decode as "" (same schema: an optional addition).
  std::string address;
  // The named volumes (pvc volumes on Docker) sandboxd created for this sandbox, as opposed
  // to ones that already existed: only these may be removed when the sandbox ends (with
  // deleteOnSandboxTermination). Written only when non-empty (an optional addition).
  std::vector<std::string> created_volumes;
  bool operator==(const SandboxStarted&) const = default;
};
struct ProvisioningFailed {        // Pending -> Failed
  std::string error_code;          // e.g. "DOCKER::IMAGE_NOT_FOUND"
  std::string message;
  bool operator==(const ProvisioningFailed&) const = default;
};
struct PauseRequested {            // Running -> Pausing
  bool operator==(const PauseRequested&) const = default;
};
struct SandboxPaused {             // Pausing -> Paused
  bool operator==(const SandboxPaused&) const = default;
};
struct PauseFailed {               // Pausing -> Running
  std::string message;
  bool operator==(const PauseFailed&) const = default;
};
struct ResumeRequested {           // Paused -> Resuming
  bool operator==(const ResumeRequested&) const = default;
};
struct SandboxResumed {            // Resuming -> Running
  bool operator==(const SandboxResumed&) const = default;
};
struct ResumeFailed {              // Resuming -> Paused
  std::string message;
  bool operator==(const ResumeFailed&) const = default;
};
struct ExpirationRenewed {         // state unchanged, new deadline
  Micros expires_at = 0;
  bool operator==(const ExpirationRenewed&) const = default;
};
struct MetadataPatched {           // RFC 7396 merge patch already applied: sets and removals
  std::map<std::string, std::string> set;
  std::vector<std::string> removed;
  bool operator==(const MetadataPatched&) const = default;
};
struct NetworkPolicyChanged {      // state unchanged: the egress sidecar accepted a change
  std::string method;              // "PUT" (replace), "PATCH" (merge rules), "DELETE" (targets)
  std::string policy;              // the request body sandboxd forwarded (JSON text)
  bool operator==(const NetworkPolicyChanged&) const = default;
};
// A client's create named the pool of this member (extensions.poolRef) and took it: the
// member becomes an ordinary sandbox with the claim's metadata and deadline. Running only;
// the sandbox id stays the member's (its container's labels name it).
struct SandboxClaimed {            // state unchanged (Running), claimed_at = event time
  std::map<std::string, std::string> metadata;  // replaces the member's (empty) metadata
  std::optional<Micros> expires_at;             // now + timeout, or nullopt: manual cleanup
  // The create's extensions (JSON text, "" when none): they replace spec.extensions_json
  // (e.g. access.renew.extend.seconds). Written only when non-empty.
  std::string extensions_json;
  bool operator==(const SandboxClaimed&) const = default;
};
struct DeletionRequested {         // Pending/Running/Paused/... -> Stopping (reason on envelope)
  bool operator==(const DeletionRequested&) const = default;
};
struct SandboxTerminated {         // Stopping -> Terminated (or any live state on reconcile)
  std::optional<int> exit_code;
  std::string message;
  bool operator==(const SandboxTerminated&) const = default;
};
struct SandboxFailed {             // any non-final -> Failed (died, vanished, runtime error)
  std::string error_code;
  std::string message;
  std::optional<int> exit_code;
  bool operator==(const SandboxFailed&) const = default;
};

// --- snapshot stream (`snapshot-<id>`, events/snapshot.h) -------------------------------
struct SnapshotRequested {         // -> Creating
  std::string snapshot_id;
  std::string sandbox_id;          // the source sandbox
  std::string name;                // "" when none was given
  std::string image_ref;           // the local image it becomes (snapshot_image_ref)
  bool operator==(const SnapshotRequested&) const = default;
};
struct SnapshotReady {             // Creating -> Ready
  std::string image_id;            // the committed image's id
  bool operator==(const SnapshotReady&) const = default;
};
struct SnapshotFailed {            // Creating -> Failed
  std::string error_code;          // e.g. "SNAPSHOT::SOURCE_NOT_FOUND"
  std::string message;
  bool operator==(const SnapshotFailed&) const = default;
};
struct SnapshotDeletionRequested { // Ready | Failed -> Deleting
  bool operator==(const SnapshotDeletionRequested&) const = default;
};
struct SnapshotDeleted {           // Deleting -> gone (leaves the projection)
  bool operator==(const SnapshotDeleted&) const = default;
};

// --- pool stream (`pool-<name>`, events/pool.h) ----------------------------------------
struct PoolCreated {               // -> exists; generation = this event's stream version
  std::string name;
  SandboxSpec template_spec;       // see Pool::template_spec
  std::string template_json;       // the template as sent (compact JSON)
  PoolCapacity capacity;
  bool operator==(const PoolCreated&) const = default;
};
struct PoolCapacityChanged {       // the capacity was replaced
  PoolCapacity capacity;
  bool operator==(const PoolCapacityChanged&) const = default;
};
struct PoolDeleted {               // -> gone (leaves the projection); members are drained
  bool operator==(const PoolDeleted&) const = default;
};

// --- system stream --------------------------------------------------------------------
struct ServerStarted {
  std::string version;
  std::uint64_t live_sandboxes = 0;
  bool operator==(const ServerStarted&) const = default;
};
struct OrphanRemoved {             // a labelled container with no live sandbox was removed
  std::string runtime_id;
  std::string sandbox_id;
  bool operator==(const OrphanRemoved&) const = default;
};
struct ReconcileFinding {          // what the reconciler observed and did
  std::string kind;                // "died", "vanished", "paused_outside", ...
  std::string sandbox_id;
  std::string detail;
  bool operator==(const ReconcileFinding&) const = default;
};
struct MigrationApplied {
  int schema_version = 0;
  std::string name;
  bool operator==(const MigrationApplied&) const = default;
};

using EventData =
    std::variant<SandboxRequested, ProvisioningStarted, SandboxStarted, ProvisioningFailed,
                 PauseRequested, SandboxPaused, PauseFailed, ResumeRequested, SandboxResumed,
                 ResumeFailed, ExpirationRenewed, MetadataPatched, DeletionRequested,
                 SandboxTerminated, SandboxFailed, ServerStarted, OrphanRemoved,
                 ReconcileFinding, MigrationApplied, SandboxAdopted,
                 NetworkPolicyChanged, SnapshotRequested, SnapshotReady, SnapshotFailed,
                 SnapshotDeletionRequested, SnapshotDeleted, SandboxClaimed, PoolCreated,
                 PoolCapacityChanged, PoolDeleted>;

// Whether `data` may open a sandbox stream (SandboxRequested or SandboxAdopted): a stream
// whose first event is anything else is not projected.
bool opens_sandbox_stream(const EventData& data);

// "SandboxRequested", ... (the `type` field of the envelope).
std::string_view event_type(const EventData& data);

// The envelope around every stored event.
struct Event {
  std::uint64_t position = 0;  // global, gap-free, from 1; assigned by the store
  std::string stream;          // "sandbox-<id>" or "system"
  std::uint64_t version = 0;   // 1-based version within the stream; assigned by the store
  int schema = 0;              // payload schema version; the codec writes the newest
  Micros time = 0;             // when it happened (UTC µs), set by the appender
  std::string event_id;        // UUID; a retried append with the same id is written once
  std::string request_id;      // X-Request-ID of the causing request, may be empty
  std::string actor;           // "api:<key-id>", "worker:provisioner", ...
  Reason reason = Reason::kUser;
  EventData data;

  std::string_view type() const { return event_type(data); }
  bool operator==(const Event&) const = default;
};

}  // namespace sbx
