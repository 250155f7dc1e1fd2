// `sandbox-events adopt`: the reference server's sandboxes adopted offline (AdoptOptions in
// src/tools/sandbox_events.h; reference_adoption.h does the work, as sandboxd's startup).
//
// Loads the configuration (--config, else sandboxd's lookup), requires runtime.type =
// "docker", opens the store at --data or store.path read-write (it must exist: an
// existing sandboxd data directory at the current schema), reaches the engine at
// docker.host, adopts (whatever docker.adopt_reference_sandboxes says: the command is the
// explicit ask), logs one line per adopted sandbox (stderr), prints the summary to `out`,
// and closes the store. Refuses, changing nothing, when a running sandboxd holds the store
// (RocksDB's lock; a running sandboxd adopts at its own start) or the engine does not
// answer.
//
// Exit codes: 0 done (nothing failed); 1 some sandboxes could not be appended; 2 it could
// not run (configuration, store, engine; the reason on `err`).
#pragma once

#include <ostream>

#include "src/tools/sandbox_events.h"

namespace sbx {

[[nodiscard]] int run_adopt(const AdoptOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sbx
