#include "src/server/runtime_diagnostics_source.h"

namespace sbx {

Result<std::optional<LogOutput>> RuntimeDiagnosticsSource::logs(const std::string& sandbox_id,
                                                                const LogQuery& query) {
  std::optional<Micros> since;
  if (query.since_seconds) since = clock_.now() - *query.since_seconds * kMicrosPerSecond;
  auto r = runtime_.container_logs(
      sandbox_id,
      LogLimits{.tail = query.tail, .since = since, .max_bytes = query.max_bytes,
                .timestamps = true});
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<LogOutput>{};
  return std::optional<LogOutput>(LogOutput{std::move((*r)->text), (*r)->truncated});
}

Result<std::optional<std::string>> RuntimeDiagnosticsSource::describe(
    const std::string& sandbox_id) {
  return runtime_.describe(sandbox_id);
}

}  // namespace sbx
