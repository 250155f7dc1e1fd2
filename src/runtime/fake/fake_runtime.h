// FakeRuntime: an in-memory Runtime for unit tests of the workers and the service.
//
// It keeps containers in a map and follows the Runtime contract (idempotent operations,
// list of labelled containers only, watch events), without processes: containers run
// until told otherwise. Fault injection:
//   fail_next(n, code)        the next n calls (any operation) fail with `code`
//   fail_next_of(op, n, code) the next n calls of operation `op` ("apply_pool", ...) fail
//   set_unreachable(true)     every call fails with kUnavailable until cleared
//   add_missing_image(uri)    create_and_start of that image fails with kNotFound
//   simulate_exit(id, code)   the container's process exits (die; oom first if asked)
//   simulate_vanish(id)       the container disappears behind our back (destroy)
//   add_foreign_container()   a container without the sandbox label (never listed)
//   add_container_of(id, instance)  a sandbox container made by another sandboxd (its
//                             instance id) or by a version before identities ("")
//   break_watchers()          every running watch() returns kUnavailable
//   set_reports_readiness(true)  behave like Kubernetes: create_and_start leaves a kCreated
//                             container that is not ready (RuntimeInfo::ready false) until
//   simulate_ready(id, addr)  makes it Running and ready at `addr` (a kStarted event), or
//   simulate_not_starting(id, reason, message, permanent)  gives it a reason for not
//                             starting (a kDied event when permanent)
//   set_logs(id, text)        what container_logs() answers for it (diagnostics)
//   set_manages_pools(true)   behave like Kubernetes provider batchsandbox: apply_pool /
//                             delete_pool / list_pools keep an in-memory set of pools;
//   set_pool_status(name, total, allocated, available)  what the "controller" reports;
//   add_foreign_pool(name)    a pool of that name made by someone else
// and observation: calls("pause"), last_spec(id), pool_spec(name).
//
// Pools (manages_pools() true; false, the default, keeps the Runtime defaults: every pool
// method is kUnimplemented, field "runtime.pools"): apply_pool follows the contract (same
// generation: capacity patched, status kept; another generation: replaced, status reset to
// not reported; a foreign pool: kFailedPrecondition) and refuses a template with a sandbox
// id, a pool_ref or no image (kInvalidArgument, field "template"). create_and_start with a
// pool_ref needs manages_pools() (else kInvalidArgument, field "extensions.poolRef") and a
// pool of this fake of that name (else kFailedPrecondition, same field); it then creates the
// container as usual and, when the pool's status reports an available pod, moves one from
// available to allocated (as the controller's allocation would).
//
// Like DockerRuntime, the containers it creates carry its instance id (constructor or
// set_instance_id(); "" = none) in ContainerStatus/RuntimeEvent::instance_id, and it drops
// reserved user labels (is_reserved_label) from the spec it keeps (last_spec).
//
// Thread-safe: one mutex guards everything; watch() waits on a condition variable.
// Event times come from the injected Clock (borrowed; must outlive the fake).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/common/clock.h"
#include "src/runtime/runtime.h"

namespace sbx {

class FakeRuntime final : public Runtime {
 public:
  explicit FakeRuntime(const Clock& clock, std::string instance_id = {});

  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) override;
  Result<void> pause(const std::string& sandbox_id) override;
  Result<void> resume(const std::string& sandbox_id) override;
  Result<void> remove(const std::string& sandbox_id) override;
  Result<std::optional<ContainerStatus>> inspect(const std::string& sandbox_id) override;
  Result<std::vector<ContainerStatus>> list() override;
  Result<void> ping() override;
  Result<void> watch(std::optional<Micros> since, const EventCallback& on_event,
                     std::stop_token stop) override;

  void fail_next(int n, ErrorCode code = ErrorCode::kUnavailable);
  void fail_next_of(std::string operation, int n, ErrorCode code = ErrorCode::kUnavailable);
  void set_unreachable(bool unreachable);
  void add_missing_image(const std::string& image_uri);
  // False when the sandbox has no running or paused container.
  bool simulate_exit(const std::string& sandbox_id, int exit_code, bool oom_killed = false);
  bool simulate_vanish(const std::string& sandbox_id);
  std::string add_foreign_container();  // returns its runtime id
  // A running labelled container of sandbox `sandbox_id` created by the sandboxd with
  // `instance_id` ("" = an earlier version, no instance label). Returns its runtime id.
  std::string add_container_of(const std::string& sandbox_id, const std::string& instance_id);
  // The instance id given to containers created from now on.
  void set_instance_id(std::string instance_id);
  void break_watchers();
  // Records the expiry (renewed_expiry()); an absent sandbox is success, as the contract says.
  Result<void> renew(const std::string& sandbox_id, Micros expires_at) override;
  std::optional<Micros> renewed_expiry(const std::string& sandbox_id) const;
  // create_and_start reports every pvc volume with createIfNotExists as created
  // (RuntimeInfo::created_volumes); remove_volumes records the names (removed_volumes()).
  Result<void> remove_volumes(const std::string& sandbox_id,
                              const std::vector<std::string>& names) override;
  std::vector<std::string> removed_volumes(const std::string& sandbox_id) const;
  void set_reports_readiness(bool on);
  bool reports_readiness() const override;
  // False when the sandbox has no container waiting to become ready (kCreated).
  bool simulate_ready(const std::string& sandbox_id, const std::string& address);
  bool simulate_not_starting(const std::string& sandbox_id, const std::string& reason,
                             const std::string& message, bool permanent);

  // --- diagnostics (issue 13) -----------------------------------------------------------
  // container_logs(): the text set by set_logs() (default ""), its last limits.tail lines,
  // then cut at limits.max_bytes (truncated); limits.since is ignored. describe(): the
  // runtime id, state and exit code, and the spec's env keys with "***". Both answer
  // nullopt for a sandbox without a container and honour the injected faults.
  Result<std::optional<ContainerLogs>> container_logs(const std::string& sandbox_id,
                                                      const LogLimits& limits) override;
  Result<std::optional<std::string>> describe(const std::string& sandbox_id) override;
  void set_logs(const std::string& sandbox_id, std::string text);
  // --- snapshots (issue 13) ---
  // Images live in a map by ref; commit_snapshot needs a running or paused container and
  // leaves its state as it was; set_supports_snapshots(false) behaves like Kubernetes.
  bool supports_snapshots() const override;
  void set_supports_snapshots(bool on);
  Result<std::string> commit_snapshot(const std::string& sandbox_id, const std::string& snapshot_id,
                                      const std::string& image_ref) override;
  Result<std::optional<std::string>> snapshot_image(const std::string& snapshot_id,
                                                    const std::string& image_ref) override;
  Result<void> remove_snapshot_image(const std::string& snapshot_id,
                                     const std::string& image_ref) override;
  Result<std::vector<SnapshotImage>> list_snapshot_images() override;
  // An image labelled for `snapshot_id` that no commit made (an orphan, or a commit that
  // finished while sandboxd was down).
  void add_snapshot_image(const std::string& snapshot_id, const std::string& image_ref);

  // --- cluster-managed warm pools (issue 14) ---
  bool manages_pools() const override;
  void set_manages_pools(bool on);
  Result<void> apply_pool(const RuntimePoolSpec& spec) override;
  Result<void> delete_pool(const std::string& name) override;
  Result<std::vector<RuntimePoolStatus>> list_pools() override;
  // False when this fake has no pool `name` of its own.
  bool set_pool_status(const std::string& name, std::int64_t total, std::int64_t allocated,
                       std::int64_t available);
  void add_foreign_pool(const std::string& name);
  // The spec of pool `name` as the last apply_pool left it; nullopt when absent or foreign.
  std::optional<RuntimePoolSpec> pool_spec(const std::string& name) const;

  int calls(std::string_view operation) const;  // "create_and_start", "pause", ...
  // The spec of the last valid create_and_start call for the sandbox (kept after remove).
  std::optional<ContainerSpec> last_spec(const std::string& sandbox_id) const;

 private:
  struct Container {
    ContainerStatus status;
    bool labelled = true;
  };

  // Counts the call and applies injected faults; under mu_.
  Result<void> enter(std::string_view operation);
  void emit(RuntimeEventKind kind, const Container& c, std::optional<int> exit_code);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::string instance_id_;  // guarded by mu_
  std::condition_variable_any cv_;
  std::map<std::string, Container> containers_;  // by sandbox id (foreign: by runtime id)
  std::vector<RuntimeEvent> events_;
  std::map<std::string, ContainerSpec> specs_;  // last valid spec per sandbox id
  std::map<std::string, int, std::less<>> calls_;
  std::set<std::string> missing_images_;
  int fail_remaining_ = 0;
  std::map<std::string, std::pair<int, ErrorCode>, std::less<>> fail_of_;  // by operation
  ErrorCode fail_code_ = ErrorCode::kUnavailable;
  bool unreachable_ = false;
  bool reports_readiness_ = false;
  std::map<std::string, Micros> renewed_;  // sandbox id -> last expiry given to renew()
  std::map<std::string, std::vector<std::string>> removed_volumes_;  // by sandbox id
  std::map<std::string, std::string> logs_;  // set_logs(), by sandbox id
  bool supports_snapshots_ = true;
  std::map<std::string, SnapshotImage> images_;  // snapshot images by ref
  struct FakePool {
    RuntimePoolSpec spec;
    RuntimePoolStatus status;
    bool foreign = false;
  };
  bool manages_pools_ = false;
  std::map<std::string, FakePool> pools_;  // by name
  std::uint64_t watch_generation_ = 0;
  std::uint64_t next_id_ = 1;
};

}  // namespace sbx
