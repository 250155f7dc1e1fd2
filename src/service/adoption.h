// Adoption: records sandboxes that another server created (the reference opensandbox-server's
// containers, found by the runtime) in the log, one SandboxAdopted per sandbox, so that they
// are served, paused, resumed, renewed, deleted and expired like sandboxd's own
// (store/FORMAT.md "Adopted sandboxes").
//
// adopt_sandboxes appends each candidate to its own stream `sandbox-<id>` with expected
// version "no stream": a sandbox whose stream exists (adopted before, or sandboxd's own) is
// never adopted twice (kAlreadyKnown), whatever runs concurrently. Before the append the
// metadata is cut to what the API would accept: entries whose key or value fail the checks
// in `options` are left out, and at most kMaxMetadataEntries are kept (the detail names
// what was left out). A candidate whose deadline has passed is adopted all the same: the
// expirer deletes it through its normal path at once (the reference server would have
// deleted it too), and the log keeps the record of it. A candidate that is not Running or
// Paused, or whose id is empty, is refused (kRefused). A store error is kFailed (the
// message in `detail`); the other candidates are still tried.
//
// Call it before the SandboxService is built (the service seeds its port allocator from
// the live projection, so the adopted sandboxes' host ports are then held) and before
// the workers start. Thread-safe as EventStore::append is.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "store/event_store.h"

namespace sbx {

struct AdoptionOptions {
  std::string actor = "server";  // envelope actor of the SandboxAdopted events
  // "" when a metadata key / value is acceptable, else why not (the API's label rules).
  // Unset: every entry is acceptable.
  std::function<std::string(std::string_view)> metadata_key_problem;
  std::function<std::string(std::string_view)> metadata_value_problem;
};

enum class AdoptionResult { kAdopted, kAlreadyKnown, kRefused, kFailed };
std::string_view to_string(AdoptionResult r);  // "adopted", "already known", ...

struct AdoptionOutcome {
  std::string sandbox_id;
  AdoptionResult result = AdoptionResult::kFailed;
  std::string detail;  // what was left out, why refused or failed; may be empty
  bool expired = false;  // adopted with a deadline already past (the expirer deletes it)
};

// One outcome per candidate, in order. `now` decides `expired`.
[[nodiscard]] std::vector<AdoptionOutcome> adopt_sandboxes(EventStore& store,
                                                           std::vector<SandboxAdopted> candidates,
                                                           Micros now,
                                                           const AdoptionOptions& options);

}  // namespace sbx
