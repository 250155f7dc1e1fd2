// RuntimeDiagnosticsSource: the service's RuntimeDiagnostics port
// (src/service/runtime_diagnostics.h) over a Runtime: logs() is Runtime::container_logs with
// timestamps on and `since_seconds` made a time by the Clock, describe() is
// Runtime::describe. The composition root gives it the
// instrumented runtime, so these calls show in the runtime metrics ("container_logs",
// "describe"). Thread-safe as the Runtime; the Runtime and Clock must outlive it.
#pragma once

#include "src/common/clock.h"
#include "src/runtime/runtime.h"
#include "src/service/runtime_diagnostics.h"

namespace sbx {

class RuntimeDiagnosticsSource final : public RuntimeDiagnostics {
 public:
  RuntimeDiagnosticsSource(Runtime& runtime, const Clock& clock)
      : runtime_(runtime), clock_(clock) {}
  Result<std::optional<LogOutput>> logs(const std::string& sandbox_id,
                                        const LogQuery& query) override;
  Result<std::optional<std::string>> describe(const std::string& sandbox_id) override;

 private:
  Runtime& runtime_;
  const Clock& clock_;
};

}  // namespace sbx
