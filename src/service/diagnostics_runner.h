// DiagnosticsRunner: runs the runtime calls of the diagnostics routes (logs, inspect,
// summary) on its own small pool, so that neither a Pistache thread nor the service's
// mutation threads ever wait on the engine for them. Each *_async call queues one task and
// returns at once; `done` runs on a pool thread with the runtime's answer.
//
// Bounds: `threads` calls at once; beyond `max_queued` waiting tasks a call is refused at
// once (kResourceExhausted, field "diagnostics"), on the caller's thread. Every error the
// runtime answers comes back with field "runtime" (the api maps it to 503
// <RUNTIME>::SANDBOX_QUERY_FAILED, kFailedPrecondition to 409 <RUNTIME>::LOGS_NOT_AVAILABLE)
// and is logged once with the sandbox id. Without a source (set_source never called, or
// null) every call is kUnavailable, field "runtime".
//
// Thread-safe. shutdown() (also run by the destructor) refuses new calls (kUnavailable
// "shutting down", on the caller's thread), runs the queued ones and joins.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "events/result.h"
#include "src/service/runtime_diagnostics.h"
#include "src/service/work_pool.h"

namespace sbx {

struct DiagnosticsOptions {
  int threads = 2;
  std::size_t max_queued = 64;
};

// What the summary needs from the runtime: both answers, each may have failed.
struct RuntimeSnapshot {
  Result<std::optional<std::string>> description = std::optional<std::string>{};
  Result<std::optional<LogOutput>> logs = std::optional<LogOutput>{};
};

class DiagnosticsRunner {
 public:
  explicit DiagnosticsRunner(std::shared_ptr<RuntimeDiagnostics> source,
                             DiagnosticsOptions options = {});
  ~DiagnosticsRunner();
  DiagnosticsRunner(const DiagnosticsRunner&) = delete;
  DiagnosticsRunner& operator=(const DiagnosticsRunner&) = delete;

  void logs_async(std::string sandbox_id, LogQuery query,
                  std::function<void(Result<std::optional<LogOutput>>)> done);
  void describe_async(std::string sandbox_id,
                      std::function<void(Result<std::optional<std::string>>)> done);
  // describe then logs, in one task; `done` gets both.
  void snapshot_async(std::string sandbox_id, LogQuery query,
                      std::function<void(RuntimeSnapshot)> done);

  void shutdown();

 private:
  // Queues `task`, or returns the refusal.
  [[nodiscard]] Result<void> submit(std::function<void()> task);

  const std::shared_ptr<RuntimeDiagnostics> source_;
  const DiagnosticsOptions options_;
  WorkPool pool_;
};

}  // namespace sbx
