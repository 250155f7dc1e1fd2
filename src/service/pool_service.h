// PoolService: warm pools (events/pool.h). Pool commands become events of the
// `pool-<name>` stream, as SandboxService does for sandboxes:
//
//   command -> load the pool from the in-memory projection (EventStore::get_pool)
//           -> decide_pool(state, command, now)  (pure)
//           -> append with the expected stream version (exactly the stream's version, or
//              no_stream for a name never used)
//
// Members are sandboxes the pool keeper (src/workers/pool_keeper.h) creates through
// create_member(); a create with extensions.poolRef claims one in SandboxService::create.
// The counts a pool reports (PoolCounts) are derived from the sandbox projection at the
// time of the read: nothing about members is stored in the pool's stream.
//
// Cluster-managed pools (PoolOptions::cluster_managed: Runtime::manages_pools(), Kubernetes
// provider batchsandbox): the events are the same, but the keeper makes each live pool a
// pool of the cluster (Runtime::apply_pool) instead of creating members. create_member
// then refuses (kFailedPrecondition, field "pool"), counts() are the last ones the keeper
// reported (set_cluster_counts) and a create with poolRef is created with spec.pool_ref
// (the constructor hands SandboxService::set_cluster_pools the pools' available counts;
// shutdown() takes them back).
//
// Create: the template is a create request without metadata, timeout, snapshotId or
// image credentials (the API refuses those; the service too: a template without
// image.uri, with image.auth or with a snapshotId is kInvalidArgument, field
// "template.image.uri" / "template.image.auth" / "template.snapshotId"; metadata, timeout
// and idempotency key are ignored). The service checks it as SandboxService checks a
// create (SandboxService::validate_template: networkPolicy needs egress.image, volumes
// their rules, ...), then the capacity (validate_pool_capacity with
// PoolOptions::max_members). Errors, in the order checked: kUnimplemented (field
// "runtime.pools": pools disabled), the fence and storage refusals of every client
// mutation (kUnavailable, field "lease" / "store"), kInvalidArgument (field "name",
// "template.<field>", "capacitySpec.<field>"), kAlreadyExists (field "name"). A name used
// by a deleted pool may be used again: the new pool is a new generation.
// Update: the capacity only (kNotFound field "pool", kInvalidArgument as above); the keeper
// acts on the new bounds at its next pass.
// Delete: kNotFound (field "pool"); the pool leaves the projection at once (GET answers
// 404), its unclaimed members are deleted by the keeper (claimed ones stay: they are
// ordinary sandboxes).
//
// Thread-safety: every method is thread-safe. The store, clock and sandbox service must
// outlive it; shutdown() (also run by the destructor) finishes queued mutations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/pool.h"
#include "events/result.h"
#include "src/common/clock.h"
#include "src/service/sandbox_service.h"
#include "src/service/work_pool.h"
#include "store/event_store.h"

namespace sbx {

struct PoolOptions {
  // pools.enabled: false refuses every pool route and poolRef with kUnimplemented (field
  // "runtime.pools").
  bool enabled = true;
  // pools.max_members: the largest value any capacity field may take (validation).
  std::int64_t max_members = 256;
  // pools.max_pools: pools that may exist at once; one more is kResourceExhausted (field
  // "pools.max_pools"). With max_members it bounds what pool requests can make the server
  // start (max_pools x max_members containers).
  std::int64_t max_pools = 32;
  // Not a config key: the server sets it from Runtime::manages_pools() (Kubernetes provider
  // batchsandbox). True: the cluster's pool controller keeps the members (the Pool CRD), so
  // create_member refuses, a pool's counts are the last ones the pool keeper reported
  // (set_cluster_counts), and a create with poolRef is an ordinary create whose
  // spec.pool_ref names the pool (CreateResult::pool_claim "cluster").
  bool cluster_managed = false;
};

// What a pool holds right now (the reference's PoolStatus plus `warming`).
struct PoolCounts {
  std::int64_t available = 0;  // Running members no client claimed
  std::int64_t warming = 0;    // Pending members no client claimed
  std::int64_t allocated = 0;  // claimed members still live
  std::int64_t total = 0;      // available + warming + allocated (failed/stopping: no)
  bool operator==(const PoolCounts&) const = default;
};

struct PoolView {
  std::shared_ptr<const Pool> pool;
  PoolCounts counts;
};

// A pool create as the API parsed it.
// The largest template (its JSON text, kept in the pool's record and served by every read).
inline constexpr std::size_t kMaxPoolTemplateBytes = 64 * 1024;

struct CreatePoolRequest {
  std::string name;
  // The template as a create request (spec, and image_auth must be empty); metadata,
  // timeout_seconds and idempotency_key are ignored.
  CreateRequest template_request;
  std::string template_json;  // the template as sent, compact JSON (served back by GET)
  PoolCapacity capacity;
};

class PoolService {
 public:
  PoolService(EventStore& store, const Clock& clock, SandboxService& sandboxes,
              PoolOptions options);
  ~PoolService();
  PoolService(const PoolService&) = delete;
  PoolService& operator=(const PoolService&) = delete;

  const PoolOptions& options() const { return options_; }

  // --- reads (memory only) ---
  std::optional<PoolView> get(std::string_view name) const;  // nullopt: absent or deleted
  std::vector<PoolView> list() const;                         // by name
  // The members of `pool` (its name and generation), live sandboxes only. Cluster-managed:
  // the cluster's counts of the pool (set_cluster_counts), all zero when none were
  // reported for this generation.
  PoolCounts counts(const Pool& pool) const;

  // --- mutations (one durable append) ---
  [[nodiscard]] Result<PoolView> create(CreatePoolRequest request, const RequestContext& ctx);
  [[nodiscard]] Result<PoolView> update_capacity(const std::string& name,
                                                 const PoolCapacity& capacity,
                                                 const RequestContext& ctx);
  [[nodiscard]] Result<void> remove(const std::string& name, const RequestContext& ctx);

  // The same on the service's own mutation thread; `done` runs there (or at once with
  // kUnavailable after shutdown began).
  void create_async(CreatePoolRequest request, RequestContext ctx,
                    std::function<void(Result<PoolView>)> done);
  void update_capacity_async(std::string name, PoolCapacity capacity, RequestContext ctx,
                             std::function<void(Result<PoolView>)> done);
  void remove_async(std::string name, RequestContext ctx,
                    std::function<void(Result<void>)> done);

  // --- for the pool keeper ---
  // Creates one member of `pool` (a SandboxRequested whose spec is the pool's template with
  // spec.pool_name/pool_generation set, no metadata, no deadline), actor `ctx.actor`.
  // kNotFound (field "pool") when `pool` is no longer the current generation of its name
  // (deleted, or deleted and created again); the errors of SandboxService::create_member.
  // Cluster-managed: kFailedPrecondition (field "pool"), nothing appended.
  [[nodiscard]] Result<Sandbox> create_member(const Pool& pool, const RequestContext& ctx);

  // --- cluster-managed pools (options().cluster_managed) ---
  struct ClusterCounts {
    std::uint64_t generation = 0;  // the generation the cluster's pool was made for
    PoolCounts counts;
  };
  // The pool keeper's latest Runtime::list_pools(), by pool name. counts() of a pool with no
  // entry, or with an entry of another generation, is all zero. Thread-safe.
  void set_cluster_counts(std::map<std::string, ClusterCounts> counts);
  // The latest map given to set_cluster_counts (empty before the first).
  std::map<std::string, ClusterCounts> cluster_counts() const;

  void shutdown();

 private:
  // pools.enabled; for a client's mutation also the fence and the store's writability.
  [[nodiscard]] Result<void> admit(bool client) const;
  // Loads the pool, decide_pool, appends with the expected version; on kConflict re-reads
  // and decides again (bounded). Returns the pool as the append left it (the current one
  // when the command appended nothing).
  [[nodiscard]] Result<std::shared_ptr<const Pool>> run(const std::string& name,
                                                        const PoolCommand& command,
                                                        const RequestContext& ctx);

  EventStore& store_;
  const Clock& clock_;
  SandboxService& sandboxes_;
  const PoolOptions options_;
  using ClusterMap = std::map<std::string, ClusterCounts, std::less<>>;
  mutable std::mutex cluster_mu_;
  std::shared_ptr<const ClusterMap> cluster_;  // cluster_mu_; never null
  WorkPool work_;
};

}  // namespace sbx
