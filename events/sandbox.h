// The sandbox as the event log knows it: its state machine states, the specification a
// client asked for, and the projected current view (what `evolve` folds events into).
//
// Pure value types; not thread-safe by themselves (copy them across threads).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/time.h"

namespace sbx {

// OpenSandbox state names. Failed and Terminated are final.
enum class SandboxState {
  kPending,
  kRunning,
  kPausing,
  kPaused,
  kResuming,
  kStopping,
  kTerminated,
  kFailed,
};
inline constexpr SandboxState kAllStates[] = {
    SandboxState::kPending,  SandboxState::kRunning,  SandboxState::kPausing,
    SandboxState::kPaused,   SandboxState::kResuming, SandboxState::kStopping,
    SandboxState::kTerminated, SandboxState::kFailed};

std::string_view to_string(SandboxState s);                      // "Running"
std::optional<SandboxState> parse_state(std::string_view name);  // case-insensitive
bool is_final(SandboxState s);

// Why something happened; recorded on every event envelope.
enum class Reason { kUser, kExpired, kReconcile, kRuntime };
std::string_view to_string(Reason r);  // "user", "expired", "reconcile", "runtime"
std::optional<Reason> parse_reason(std::string_view name);

// Registry credentials of an image pull. They never enter the log or the projections:
// the service hands them to the store beside the create's append (AppendRequest::secrets),
// the store keeps them in its `secrets` area until the sandbox leaves Pending, and only
// the provisioner reads them back (store/FORMAT.md "secrets").
struct ImageAuth {
  std::string username;
  std::string password;
  bool operator==(const ImageAuth&) const = default;
};

struct Platform {
  std::string os;    // "linux"
  std::string arch;  // "amd64", "arm64"
  bool operator==(const Platform&) const = default;
};

// Everything a runtime worker needs to create the sandbox, fixed at request time.
struct SandboxSpec {
  std::string image_uri;                  // empty when created from a snapshot
  // Registry credentials were given with the create (they themselves are kept apart, see
  // ImageAuth). Recorded as "imageAuth": {"provided": true}.
  bool image_auth_provided = false;
  std::string snapshot_id;                // empty unless created from a snapshot
  std::vector<std::string> entrypoint;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> resource_limits;  // "cpu" -> "500m", "memory" -> "1Gi"
  std::optional<Platform> platform;
  std::optional<std::int64_t> timeout_seconds;  // nullopt: manual cleanup, never expires
  std::string network_mode;               // "host", "bridge" or a user network name
  std::map<int, int> ports;               // container port -> host port (bridge mode)
  // Opaque JSON documents passed through to the runtime (empty string = absent).
  std::string network_policy_json;
  std::string volumes_json;
  std::string extensions_json;
  // Warm pools (events/pool.h): set only on the members a pool creates: the pool's name
  // and the generation (the version of its PoolCreated) whose template made the member.
  // Empty / 0 for every other sandbox, including cold creates that named a pool.
  std::string pool_name;
  std::uint64_t pool_generation = 0;
  // A create with poolRef on a runtime whose cluster keeps the pools (Runtime::
  // manages_pools(), Kubernetes provider batchsandbox): the pool's name. The sandbox is an
  // ordinary one (never a member: pool_name stays empty); the runtime takes its pod from the
  // cluster's pool. Recorded as "poolRef"; empty for every other sandbox.
  std::string pool_ref;
  bool operator==(const SandboxSpec&) const = default;
};

// The projection of one `sandbox-<id>` stream: the current view served by GET.
struct Sandbox {
  std::string id;
  std::uint64_t version = 0;  // stream version of the last event folded in (1-based)
  SandboxState state = SandboxState::kPending;
  std::string status_reason;   // machine-readable reason of the last transition, may be empty
  std::string status_message;  // human-readable, may be empty
  Micros created_at = 0;
  Micros last_transition_at = 0;
  std::optional<Micros> expires_at;  // nullopt: manual cleanup
  std::map<std::string, std::string> metadata;  // current user metadata
  SandboxSpec spec;
  std::string runtime_id;            // container id / pod name once started
  // The pod IP recorded by SandboxStarted ("" on Docker and before the start). Cleared
  // when the sandbox becomes Failed or Terminated: the pod is gone and its IP may already
  // belong to another pod, so no endpoint may point at it.
  std::string address;
  std::optional<int> exit_code;      // when the runtime reported one
  bool deleted = false;              // deletion requested on a final (Failed) sandbox
  // When a pool member was handed to a client (SandboxClaimed); nullopt for a member still
  // in its pool and for every sandbox that never was a member.
  std::optional<Micros> claimed_at;
  // A pool member no client has claimed yet: owned by its pool, invisible to the API.
  bool is_unclaimed_member() const { return !spec.pool_name.empty() && !claimed_at; }
  // When the client's create made this sandbox: for a claimed member the claim (its warm-up
  // before that was the pool's business), otherwise its creation. The API's createdAt.
  Micros client_created_at() const { return claimed_at.value_or(created_at); }
  bool operator==(const Sandbox&) const = default;
};

// The stream of a sandbox's events: "sandbox-<id>".
inline constexpr std::string_view kSandboxStreamPrefix = "sandbox-";
inline std::string stream_of(std::string_view sandbox_id) {
  return std::string(kSandboxStreamPrefix) + std::string(sandbox_id);
}
// The inverse of stream_of: the sandbox id of a "sandbox-<id>" stream, "" for any other
// stream (the system stream, or "sandbox-" alone). A view into `stream`.
inline std::string_view sandbox_id_of(std::string_view stream) {
  if (stream.size() <= kSandboxStreamPrefix.size() || !stream.starts_with(kSandboxStreamPrefix)) {
    return {};
  }
  return stream.substr(kSandboxStreamPrefix.size());
}
inline constexpr std::string_view kSystemStream = "system";

}  // namespace sbx
