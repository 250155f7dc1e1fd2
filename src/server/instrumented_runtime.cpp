#include "src/server/instrumented_runtime.h"

#include <chrono>
#include <utility>

namespace sbx {

InstrumentedRuntime::InstrumentedRuntime(std::unique_ptr<Runtime> inner,
                                         metrics::RuntimeMetrics& metrics)
    : inner_(std::move(inner)), metrics_(metrics) {}

template <typename T, typename Call>
T InstrumentedRuntime::measured(std::string_view operation, Call&& call) {
  const auto begin = std::chrono::steady_clock::now();
  T result = call();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  metrics_.runtime_call_duration_seconds.with({operation}).observe(seconds);
  if (!result) {
    metrics_.runtime_call_errors_total.with({operation, to_string(result.error().code)}).inc();
  }
  return result;
}

Result<RuntimeInfo> InstrumentedRuntime::create_and_start(const ContainerSpec& spec) {
  return measured<Result<RuntimeInfo>>("create_and_start",
                                       [&] { return inner_->create_and_start(spec); });
}

Result<void> InstrumentedRuntime::pause(const std::string& id) {
  return measured<Result<void>>("pause", [&] { return inner_->pause(id); });
}

Result<void> InstrumentedRuntime::resume(const std::string& id) {
  return measured<Result<void>>("resume", [&] { return inner_->resume(id); });
}

Result<void> InstrumentedRuntime::remove(const std::string& id) {
  return measured<Result<void>>("remove", [&] { return inner_->remove(id); });
}

Result<std::optional<ContainerStatus>> InstrumentedRuntime::inspect(const std::string& id) {
  return measured<Result<std::optional<ContainerStatus>>>("inspect",
                                                          [&] { return inner_->inspect(id); });
}

// --- diagnostics (issue 13) ----------------------------------------------------------------

Result<std::optional<ContainerLogs>> InstrumentedRuntime::container_logs(const std::string& id,
                                                                         const LogLimits& limits) {
  return measured<Result<std::optional<ContainerLogs>>>(
      "container_logs", [&] { return inner_->container_logs(id, limits); });
}

Result<std::optional<std::string>> InstrumentedRuntime::describe(const std::string& id) {
  return measured<Result<std::optional<std::string>>>("describe",
                                                      [&] { return inner_->describe(id); });
}

Result<std::vector<ContainerStatus>> InstrumentedRuntime::list() {
  return measured<Result<std::vector<ContainerStatus>>>("list", [&] { return inner_->list(); });
}

Result<void> InstrumentedRuntime::ping() {
  return measured<Result<void>>("ping", [&] { return inner_->ping(); });
}

Result<void> InstrumentedRuntime::renew(const std::string& id, Micros expires_at) {
  return measured<Result<void>>("renew", [&] { return inner_->renew(id, expires_at); });
}

Result<void> InstrumentedRuntime::remove_volumes(const std::string& id,
                                                 const std::vector<std::string>& names) {
  return measured<Result<void>>("remove_volumes",
                                [&] { return inner_->remove_volumes(id, names); });
}

// --- snapshots (issue 13) ---
Result<std::string> InstrumentedRuntime::commit_snapshot(const std::string& sandbox_id,
                                                         const std::string& snapshot_id,
                                                         const std::string& image_ref) {
  return measured<Result<std::string>>(
      "commit_snapshot", [&] { return inner_->commit_snapshot(sandbox_id, snapshot_id, image_ref); });
}

Result<std::optional<std::string>> InstrumentedRuntime::snapshot_image(
    const std::string& snapshot_id, const std::string& image_ref) {
  return measured<Result<std::optional<std::string>>>(
      "snapshot_image", [&] { return inner_->snapshot_image(snapshot_id, image_ref); });
}

Result<void> InstrumentedRuntime::remove_snapshot_image(const std::string& snapshot_id,
                                                        const std::string& image_ref) {
  return measured<Result<void>>("remove_snapshot_image", [&] {
    return inner_->remove_snapshot_image(snapshot_id, image_ref);
  });
}

Result<std::vector<SnapshotImage>> InstrumentedRuntime::list_snapshot_images() {
  return measured<Result<std::vector<SnapshotImage>>>(
      "list_snapshot_images", [&] { return inner_->list_snapshot_images(); });
}

// --- cluster-managed warm pools (issue 14) ---
Result<void> InstrumentedRuntime::apply_pool(const RuntimePoolSpec& spec) {
  return measured<Result<void>>("apply_pool", [&] { return inner_->apply_pool(spec); });
}

Result<void> InstrumentedRuntime::delete_pool(const std::string& name) {
  return measured<Result<void>>("delete_pool", [&] { return inner_->delete_pool(name); });
}

Result<std::vector<RuntimePoolStatus>> InstrumentedRuntime::list_pools() {
  return measured<Result<std::vector<RuntimePoolStatus>>>("list_pools",
                                                          [&] { return inner_->list_pools(); });
}

Result<void> InstrumentedRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                        std::stop_token stop) {
  auto r = inner_->watch(since, on_event, std::move(stop));
  if (!r) metrics_.runtime_call_errors_total.with({"watch", to_string(r.error().code)}).inc();
  return r;
}

}  // namespace sbx
