// InstrumentedRuntime: a Runtime that forwards every call to another one and measures it:
//
//   sandboxd_runtime_call_duration_seconds{operation}   every call, by Runtime method
//   sandboxd_runtime_call_errors_total{operation,code}  calls that answered an error
//
// operation is "create_and_start", "pause", "resume", "remove", "inspect", "list", "ping",
// "renew", "remove_volumes", "container_logs", "describe", "apply_pool", "delete_pool",
// "list_pools"; code is to_string(ErrorCode). An absent sandbox answered by inspect() (nullopt)
// or remove() (success) is an outcome, not an error. watch() is long-lived: only its errors
// (a broken stream) are counted, under operation "watch".
//
// The composition root wraps the runtime the factory built, so the workers' calls to Docker
// or Kubernetes show up the same way. Thread-safe as the wrapped runtime; it owns it.
#pragma once

#include <memory>

#include "src/metrics/runtime_metrics.h"
#include "src/runtime/runtime.h"

namespace sbx {

class InstrumentedRuntime final : public Runtime {
 public:
  InstrumentedRuntime(std::unique_ptr<Runtime> inner, metrics::RuntimeMetrics& metrics);

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) override;
  Result<void> pause(const std::string& sandbox_id) override;
  Result<void> resume(const std::string& sandbox_id) override;
  Result<void> remove(const std::string& sandbox_id) override;
  Result<std::optional<ContainerStatus>> inspect(const std::string& sandbox_id) override;
  Result<std::vector<ContainerStatus>> list() override;
  Result<void> ping() override;
  Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                     std::stop_token stop) override;
  bool reports_readiness() const override { return inner_->reports_readiness(); }
  bool supports_pause() const override { return inner_->supports_pause(); }
  // --- snapshots (issue 13) ---
  bool supports_snapshots() const override { return inner_->supports_snapshots(); }
  Result<std::string> commit_snapshot(const std::string& sandbox_id, const std::string& snapshot_id,
                                      const std::string& image_ref) override;
  Result<std::optional<std::string>> snapshot_image(const std::string& snapshot_id,
                                                    const std::string& image_ref) override;
  Result<void> remove_snapshot_image(const std::string& snapshot_id,
                                     const std::string& image_ref) override;
  Result<std::vector<SnapshotImage>> list_snapshot_images() override;
  Result<void> renew(const std::string& sandbox_id, Micros expires_at) override;
  Result<void> remove_volumes(const std::string& sandbox_id,
                              const std::vector<std::string>& names) override;

  // --- diagnostics (issue 13): operations "container_logs", "describe" ----------------
  Result<std::optional<ContainerLogs>> container_logs(const std::string& sandbox_id,
                                                      const LogLimits& limits) override;
  Result<std::optional<std::string>> describe(const std::string& sandbox_id) override;

  // --- cluster-managed warm pools (issue 14) ---
  bool manages_pools() const override { return inner_->manages_pools(); }
  Result<void> apply_pool(const RuntimePoolSpec& spec) override;
  Result<void> delete_pool(const std::string& name) override;
  Result<std::vector<RuntimePoolStatus>> list_pools() override;

  Runtime& inner() { return *inner_; }

 private:
  template <typename T, typename Call>
  T measured(std::string_view operation, Call&& call);

  std::unique_ptr<Runtime> inner_;
  metrics::RuntimeMetrics& metrics_;
};

}  // namespace sbx
