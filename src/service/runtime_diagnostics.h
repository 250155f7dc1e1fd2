// RuntimeDiagnostics: the runtime's side of GET /sandboxes/{id}/diagnostics/logs|inspect as
// the service sees it (a port: src/service never includes src/runtime). The composition
// root implements it over Runtime::container_logs / Runtime::describe
// (src/server/runtime_diagnostics_source.h); unit tests may give a fake. Calls block on the
// engine: only DiagnosticsRunner (diagnostics_runner.h) calls them, on its own threads.
//
// Errors: the runtime's (kUnavailable / kDeadlineExceeded: the engine cannot be reached or
// did not answer in time; kFailedPrecondition: the runtime cannot give logs now, e.g. a pod
// without a node; kInternal: anything else). A sandbox without a container is nullopt.
// Implementations are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "events/result.h"

namespace sbx {

// The last `tail` lines (1..10000) of the last `since_seconds` (nullopt: all), at most
// `max_bytes` bytes.
struct LogQuery {
  int tail = 100;
  std::optional<std::int64_t> since_seconds;
  std::size_t max_bytes = std::size_t{1} << 20;
};

struct LogOutput {
  std::string text;        // stdout and stderr in the runtime's order, each line time-stamped
  bool truncated = false;  // max_bytes was reached: the rest was not read
};

class RuntimeDiagnostics {
 public:
  virtual ~RuntimeDiagnostics() = default;
  [[nodiscard]] virtual Result<std::optional<LogOutput>> logs(const std::string& sandbox_id,
                                                              const LogQuery& query) = 0;
  // Readable text, never an env value or a credential.
  [[nodiscard]] virtual Result<std::optional<std::string>> describe(
      const std::string& sandbox_id) = 0;
};

}  // namespace sbx
