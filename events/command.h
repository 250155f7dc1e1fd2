// Commands: what a client or a worker asks to happen to one sandbox. The decider turns a
// command into events (or a typed error). Pure value types.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "events/sandbox.h"

namespace sbx {

// --- from the API ---------------------------------------------------------------------
struct CreateSandbox {
  std::string sandbox_id;  // allocated by the service
  SandboxSpec spec;        // validated by the API; ports allocated by the service
  std::map<std::string, std::string> metadata;
  std::optional<Micros> expires_at;  // now + timeout, or nullopt for manual cleanup
};
struct PauseSandbox {};
struct ResumeSandbox {};
struct DeleteSandbox {
  Reason reason = Reason::kUser;  // user | expired | reconcile
  // The pool keeper's removals: only while the sandbox is still an unclaimed pool member
  // (a claim that won the race turns it into a client's sandbox: kFailedPrecondition).
  bool only_unclaimed_member = false;
};
struct RenewExpiration {
  Micros expires_at = 0;
};
struct PatchMetadata {
  // RFC 7396 on a flat string map: a value sets the key, nullopt removes it.
  std::map<std::string, std::optional<std::string>> patch;
};

// The egress sidecar of a Running sandbox accepted a policy change (the API forwarded it;
// this records it, reason user).
struct ChangeNetworkPolicy {
  std::string method;  // "PUT" | "PATCH" | "DELETE"
  std::string policy;  // the forwarded body (JSON text)
};

// A create that named a warm pool takes this member (events/pool.h): only an unclaimed
// member (spec.pool_name set, claimed_at unset) that is Running.
struct ClaimSandbox {
  std::map<std::string, std::string> metadata;
  std::optional<Micros> expires_at;
  std::string extensions_json;
};

// --- from the runtime workers (outcomes) ------------------------------------------------
struct RecordProvisioningStarted { std::string worker; };
struct RecordStarted {
  std::string runtime_id;
  std::string address;  // the pod IP on Kubernetes, "" on Docker (SandboxStarted::address)
  std::vector<std::string> created_volumes;  // SandboxStarted::created_volumes
};
struct RecordProvisioningFailed { std::string error_code; std::string message; };
struct RecordPaused {};
struct RecordPauseFailed { std::string message; };
struct RecordResumed {};
struct RecordResumeFailed { std::string message; };
struct RecordTerminated { std::optional<int> exit_code; std::string message; };
struct RecordFailed { std::string error_code; std::string message; std::optional<int> exit_code; };

using Command =
    std::variant<CreateSandbox, PauseSandbox, ResumeSandbox, DeleteSandbox, RenewExpiration,
                 PatchMetadata, RecordProvisioningStarted, RecordStarted,
                 RecordProvisioningFailed, RecordPaused, RecordPauseFailed, RecordResumed,
                 RecordResumeFailed, RecordTerminated, RecordFailed, ChangeNetworkPolicy,
                 ClaimSandbox>;

}  // namespace sbx
