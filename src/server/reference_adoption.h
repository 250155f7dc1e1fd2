// Adopting a reference server's sandboxes on Docker (issue 12): the containers that
// opensandbox-server left running or paused on the engine (src/runtime/docker/
// reference_containers.h) are recorded in the log as SandboxAdopted (src/service/
// adoption.h), so that they keep working and expire on time.
//
// Used at startup by the composition root (server.cpp: on Docker, when
// docker.adopt_reference_sandboxes, after the store opens and before the service and the
// workers are built) and by `sandboxd adopt` / `sandbox-events adopt` (offline). Logs one
// line per adopted sandbox, one per container that is left alone (with why), and a
// summary. Metadata entries that the API's label rules refuse are left out (logged).
//
// The reference server keeps what changed after a create outside the container (Docker
// cannot relabel one): PATCHed metadata in `<metadata_dir>/<id>.json` (the whole user
// metadata, an object of strings) and renewals in `<metadata_dir>/_expiration/<id>.json`
// ({"expires_at": ISO 8601 with offset}); `metadata_dir` is its ~/.opensandbox/metadata.
// When such a file exists (a regular file of at most 1 MiB that parses) it wins over the
// container's labels, as in the reference; one that does not parse is ignored with a
// warning. An empty metadata_dir reads nothing.
//
// Errors: the engine's (kUnavailable, ...) when the containers cannot be listed; nothing
// was appended then. Store errors of single sandboxes count as `failed`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "events/clock.h"
#include "events/result.h"
#include "src/runtime/docker/docker_runtime.h"
#include "store/event_store.h"

namespace sbx {

struct AdoptionSummary {
  std::size_t found = 0;          // reference sandbox containers on the engine
  std::size_t adopted = 0;        // recorded now (expired ones included)
  std::size_t expired = 0;        // of `adopted`: deadline already past, expire at once
  std::size_t already_known = 0;  // their sandbox was in the log before
  std::size_t skipped = 0;        // not adoptable (exited, malformed labels, ...)
  std::size_t failed = 0;         // the append failed
};

struct ReferenceAdoptionOptions {
  std::string actor = "server";        // envelope actor of the SandboxAdopted events
  std::filesystem::path metadata_dir;  // the reference's override files; empty: none
};

// $HOME/.opensandbox/metadata (the reference server's default), "" without HOME.
std::filesystem::path default_reference_metadata_dir();

[[nodiscard]] Result<AdoptionSummary> adopt_reference_sandboxes(
    DockerRuntime& runtime, EventStore& store, const Clock& clock,
    const ReferenceAdoptionOptions& options);

}  // namespace sbx
