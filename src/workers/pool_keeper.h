// PoolKeeper: keeps every warm pool (events/pool.h) within its capacity.
//
// One thread. A pass looks at the pools and the live sandboxes in memory (no runtime
// call: the provisioner does the container work of every member it creates) and:
//   - creates members (PoolService::create_member, actor "worker:pool-keeper") as
//     plan_pool() says: the warm buffer (available + warming) refilled to bufferMax when it
//     fell below bufferMin, total raised to poolMin, never above poolMax;
//   - recycles available members beyond bufferMax (oldest first, never below poolMin);
//   - drains the unclaimed members of deleted pools and of older generations of a
//     re-created pool;
//   - removes the records of unclaimed members that failed (died, or their provisioning
//     failed): the next pass replaces them. After a member failed, that pool's next
//     creations wait (1 s, doubling to 60 s; reset when a member reaches Running), so a
//     template that cannot start does not make containers in a loop.
// Every removal is a DeleteSandbox with reason reconcile: the provisioner removes the
// container, the log says who did it. Claimed members are never touched (they are
// ordinary sandboxes).
//
// Cluster-managed pools (PoolService::options().cluster_managed: the runtime's cluster keeps
// the members, Runtime::manages_pools()): no member is created, recycled or drained. A
// pass instead reconciles the live pools of the log onto the runtime:
//   - Runtime::list_pools() (the pools of this instance as the cluster has them);
//   - every live pool that list lacks, or has with another generation or capacity:
//     Runtime::apply_pool{name, generation, template, capacity}, the template being the
//     pool's template_spec made a ContainerSpec the way the provisioner makes a sandbox's
//     (to_container_spec, container_spec_mapping.h; network mode the service's), without
//     sandbox id, pool_ref or deadline;
//   - every pool list reports that is no live pool of the log: Runtime::delete_pool;
//   - PoolService::set_cluster_counts from list_pools() (re-read after a change): per pool
//     its generation and {available, allocated, total, warming = total - allocated -
//     available when positive}; all zero while the controller reported nothing.
// A failed list, apply or delete is logged and counted (stats().errors); the next pass
// (the interval) retries, an apply of the same pool only after its backoff (failure_backoff
// doubling, reset when it succeeds). A template the mapping refuses is a failed apply (the
// pool stays absent from the cluster; its counts are zero).
//
// Passes run at start, after commits that may change a pool's counts (pool events,
// member starts, claims, failures, terminations; cluster-managed: pool events only, the
// cluster's counts are re-read every interval), and every `interval` (which also
// retries after errors), at most one pass per `min_gap`. Nothing is done while the
// service is fenced (another instance holds the lease), the runtime is unavailable or the
// store cannot write.
//
// Thread-safety: start()/stop() from the owning thread; pass() and poke() from any thread
// (passes are serialised). The store, clock, services and runtime must outlive the keeper.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "events/pool.h"
#include "events/result.h"
#include "src/common/clock.h"
#include "src/runtime/runtime.h"
#include "src/service/pool_service.h"
#include "src/service/sandbox_service.h"
#include "store/event_store.h"

namespace sbx {

// What one pass does for one pool: how many members to create and how many available
// members to recycle (never both).
struct PoolPlan {
  std::int64_t create = 0;
  std::int64_t recycle = 0;
  bool operator==(const PoolPlan&) const = default;
};
PoolPlan plan_pool(const PoolCapacity& capacity, const PoolCounts& counts);

struct PoolKeeperOptions {
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds min_gap{20};
  // Members created per pool in one pass (the rest in the following passes).
  std::int64_t max_creates_per_pass = 64;
  std::chrono::milliseconds failure_backoff_initial{1000};
  std::chrono::milliseconds failure_backoff_max{60'000};
};

struct PoolKeeperStats {
  std::uint64_t passes = 0;
  std::uint64_t members_created = 0;
  std::uint64_t members_recycled = 0;   // surplus above bufferMax
  std::uint64_t members_drained = 0;    // of deleted pools / older generations
  std::uint64_t members_replaced = 0;   // failed members removed
  std::uint64_t errors = 0;
  // Cluster-managed pools: successful Runtime::apply_pool / delete_pool calls.
  std::uint64_t pools_applied = 0;
  std::uint64_t pools_deleted = 0;
};

class PoolKeeper {
 public:
  // `runtime` is needed (non-null) when pools.options().cluster_managed (start() refuses
  // with kFailedPrecondition without it); unused otherwise.
  PoolKeeper(EventStore& store, const Clock& clock, PoolService& pools,
             SandboxService& sandboxes, PoolKeeperOptions options, Runtime* runtime = nullptr);
  ~PoolKeeper();  // stop()
  PoolKeeper(const PoolKeeper&) = delete;
  PoolKeeper& operator=(const PoolKeeper&) = delete;

  [[nodiscard]] Result<void> start();
  void stop();  // joins; idempotent
  void poke();  // a pass soon

  // One synchronous pass (see above). Serialised with the thread's passes.
  void pass();

  PoolKeeperStats stats() const;

 private:
  void run(std::stop_token stop);
  bool may_act() const;
  void delete_member(const Sandbox& sb, const char* why, std::uint64_t PoolKeeperStats::*counter);
  // The pass of a cluster-managed keeper (see above); under pass_mu_.
  void cluster_pass(Micros now);
  void count_error();

  EventStore& store_;
  const Clock& clock_;
  PoolService& pools_;
  SandboxService& sandboxes_;
  const PoolKeeperOptions options_;
  Runtime* const runtime_;

  std::mutex pass_mu_;  // one pass at a time
  struct Backoff {
    Micros not_before = 0;
    std::chrono::milliseconds delay{0};
  };
  std::map<std::string, Backoff, std::less<>> backoff_;  // by pool name; pass_mu_

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  bool poked_ = false;  // mu_
  PoolKeeperStats stats_;  // mu_
  int listener_id_ = -1;
  std::jthread thread_;
};

}  // namespace sbx
