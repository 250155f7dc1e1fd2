#include "src/service/diagnostics_runner.h"

#include <utility>

#include "src/common/log.h"

namespace sbx {
namespace {

// The runtime's error with field "runtime", logged once.
Error runtime_error(const Error& e, std::string_view what, const std::string& sandbox_id) {
  logger("diagnostics")
      ->warn("{} of sandbox {} failed: {} ({})", what, sandbox_id, e.message, to_string(e.code));
  return Error(e.code, e.message, e.field.empty() ? "runtime" : e.field);
}

template <typename T>
Result<T> tagged(Result<T> r, std::string_view what, const std::string& sandbox_id) {
  if (r) return r;
  return std::unexpected(runtime_error(r.error(), what, sandbox_id));
}

}  // namespace

DiagnosticsRunner::DiagnosticsRunner(std::shared_ptr<RuntimeDiagnostics> source,
                                     DiagnosticsOptions options)
    : source_(std::move(source)),
      options_(options),
      pool_(options.threads > 0 ? options.threads : 1, "diagnostics") {}

DiagnosticsRunner::~DiagnosticsRunner() { shutdown(); }

void DiagnosticsRunner::shutdown() { pool_.shutdown(); }

Result<void> DiagnosticsRunner::submit(std::function<void()> task) {
  if (!source_) {
    return fail(ErrorCode::kUnavailable, "this server has no runtime to ask for diagnostics",
                "runtime");
  }
  if (pool_.queued() >= options_.max_queued) {
    return fail(ErrorCode::kResourceExhausted,
                std::string("too many diagnostics requests are waiting (") +
                    std::to_string(options_.max_queued) + "); retry later",
                "diagnostics");
  }
  if (!pool_.submit(std::move(task))) {
    return fail(ErrorCode::kUnavailable, "the server is shutting down", "runtime");
  }
  return {};
}

void DiagnosticsRunner::logs_async(std::string sandbox_id, LogQuery query,
                                   std::function<void(Result<std::optional<LogOutput>>)> done) {
  auto shared = std::make_shared<std::function<void(Result<std::optional<LogOutput>>)>>(
      std::move(done));
  auto ok = submit([this, id = sandbox_id, query, shared] {
    (*shared)(tagged(source_->logs(id, query), "logs", id));
  });
  if (!ok) (*shared)(std::unexpected(ok.error()));
}

void DiagnosticsRunner::describe_async(
    std::string sandbox_id, std::function<void(Result<std::optional<std::string>>)> done) {
  auto shared = std::make_shared<std::function<void(Result<std::optional<std::string>>)>>(
      std::move(done));
  auto ok = submit([this, id = sandbox_id, shared] {
    (*shared)(tagged(source_->describe(id), "inspect", id));
  });
  if (!ok) (*shared)(std::unexpected(ok.error()));
}

void DiagnosticsRunner::snapshot_async(std::string sandbox_id, LogQuery query,
                                       std::function<void(RuntimeSnapshot)> done) {
  auto shared = std::make_shared<std::function<void(RuntimeSnapshot)>>(std::move(done));
  auto ok = submit([this, id = sandbox_id, query, shared] {
    RuntimeSnapshot snap;
    snap.description = tagged(source_->describe(id), "inspect", id);
    // An engine that is away for one call is away for the next: do not wait twice.
    if (snap.description || (snap.description.error().code != ErrorCode::kUnavailable &&
                             snap.description.error().code != ErrorCode::kDeadlineExceeded)) {
      snap.logs = tagged(source_->logs(id, query), "logs", id);
    } else {
      snap.logs = std::unexpected(snap.description.error());
    }
    (*shared)(std::move(snap));
  });
  if (!ok) {
    RuntimeSnapshot snap;
    snap.description = std::unexpected(ok.error());
    snap.logs = std::unexpected(ok.error());
    (*shared)(std::move(snap));
  }
}

}  // namespace sbx
