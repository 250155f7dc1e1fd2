#include "src/workers/pool_keeper.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "src/common/log.h"
#include "src/workers/container_spec_mapping.h"

namespace sbx {

PoolPlan plan_pool(const PoolCapacity& c, const PoolCounts& n) {
  PoolPlan plan;
  const std::int64_t buffer = n.available + n.warming;
  std::int64_t create = 0;
  if (buffer < c.buffer_min) create = c.buffer_max - buffer;
  if (n.total + create < c.pool_min) create = c.pool_min - n.total;
  create = std::min(create, c.pool_max - n.total);
  if (create > 0) {
    plan.create = create;
    return plan;
  }
  if (n.available > c.buffer_max) {
    plan.recycle = std::max<std::int64_t>(
        0, std::min(n.available - c.buffer_max, n.total - c.pool_min));
  }
  return plan;
}

namespace {

// Events after which a pool's counts may have changed. With cluster-managed pools only the
// pool events (a pass lists the cluster's pools: sandbox events would make a burst of
// apiserver reads; the counts are refreshed every interval).
bool concerns_pools(const Event& e, bool cluster_managed) {
  if (!pool_name_of(e.stream).empty()) return true;
  if (cluster_managed) return false;
  return std::holds_alternative<SandboxStarted>(e.data) ||
         std::holds_alternative<SandboxClaimed>(e.data) ||
         std::holds_alternative<SandboxFailed>(e.data) ||
         std::holds_alternative<ProvisioningFailed>(e.data) ||
         std::holds_alternative<SandboxTerminated>(e.data);
}

constexpr const char* kActor = "worker:pool-keeper";

}  // namespace

PoolKeeper::PoolKeeper(EventStore& store, const Clock& clock, PoolService& pools,
                       SandboxService& sandboxes, PoolKeeperOptions options, Runtime* runtime)
    : store_(store), clock_(clock), pools_(pools), sandboxes_(sandboxes),
      options_(std::move(options)), runtime_(runtime) {}

PoolKeeper::~PoolKeeper() { stop(); }

Result<void> PoolKeeper::start() {
  if (thread_.joinable()) return fail(ErrorCode::kFailedPrecondition, "pool keeper already started");
  if (pools_.options().cluster_managed && runtime_ == nullptr) {
    return fail(ErrorCode::kFailedPrecondition,
                "the pool keeper of cluster-managed pools needs the runtime");
  }
  listener_id_ = store_.add_commit_listener(
      [this, cluster = pools_.options().cluster_managed](const std::vector<Event>& events,
                                                         const CommitStats&) {
        for (const auto& e : events) {
          if (concerns_pools(e, cluster)) {
            poke();
            return;
          }
        }
      });
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
  return {};
}

void PoolKeeper::stop() {
  if (listener_id_ >= 0) {
    store_.remove_commit_listener(listener_id_);
    listener_id_ = -1;
  }
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }
}

void PoolKeeper::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

PoolKeeperStats PoolKeeper::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void PoolKeeper::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    pass();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, options_.interval, [&] { return poked_; });
    poked_ = false;
    lock.unlock();
    // Commits come in bursts (a claim storm, 50 members starting): one pass per burst.
    if (!stop.stop_requested()) std::this_thread::sleep_for(options_.min_gap);
  }
}

bool PoolKeeper::may_act() const {
  return !sandboxes_.fence_holder() && sandboxes_.runtime_available() && store_.writable();
}

void PoolKeeper::delete_member(const Sandbox& sb, const char* why,
                               std::uint64_t PoolKeeperStats::*counter) {
  DeleteSandbox command{Reason::kReconcile};
  command.only_unclaimed_member = true;
  auto r = sandboxes_.execute(sb.id, Command(command), RequestContext{"", kActor});
  std::lock_guard lock(mu_);
  // kNotFound: already gone; kFailedPrecondition: a client claimed it meanwhile.
  if (r || r.error().code == ErrorCode::kNotFound ||
      r.error().code == ErrorCode::kFailedPrecondition) {
    if (r && r->events > 0) stats_.*counter += 1;
    return;
  }
  stats_.errors += 1;
  logger("pool-keeper")->warn("removing member {} of pool {} ({}) failed: {}", sb.id,
                              sb.spec.pool_name, why, r.error().message);
}

void PoolKeeper::pass() {
  std::lock_guard pass_lock(pass_mu_);
  {
    std::lock_guard lock(mu_);
    stats_.passes += 1;
  }
  if (!may_act()) return;
  const Micros now = clock_.now();
  if (pools_.options().cluster_managed) {
    if (runtime_ != nullptr) cluster_pass(now);
    return;
  }

  std::map<std::string, std::shared_ptr<const Pool>, std::less<>> pools;
  for (auto& p : store_.list_pools()) pools.emplace(p->name, std::move(p));

  // Per pool: the available members (oldest first, for recycling) and whether one failed.
  std::map<std::string, std::vector<std::shared_ptr<const Sandbox>>, std::less<>> available;
  std::map<std::string, bool, std::less<>> failed;
  for (const auto& sb : store_.list_sandboxes()) {
    if (!sb->is_unclaimed_member()) continue;
    if (sb->state == SandboxState::kStopping || sb->deleted) continue;
    auto it = pools.find(sb->spec.pool_name);
    const bool orphan = it == pools.end() || it->second->generation != sb->spec.pool_generation;
    if (orphan) {
      delete_member(*sb, "its pool is gone", &PoolKeeperStats::members_drained);
      continue;
    }
    if (sb->state == SandboxState::kFailed) {
      failed[sb->spec.pool_name] = true;
      logger("pool-keeper")->warn("member {} of pool {} failed ({}: {}); replacing it", sb->id,
                                  sb->spec.pool_name, sb->status_reason, sb->status_message);
      delete_member(*sb, "it failed", &PoolKeeperStats::members_replaced);
      continue;
    }
    if (sb->state == SandboxState::kRunning) available[sb->spec.pool_name].push_back(sb);
  }

  for (const auto& [name, pool] : pools) {
    Backoff& backoff = backoff_[name];
    if (failed[name]) {
      backoff.delay = backoff.delay.count() == 0
                          ? options_.failure_backoff_initial
                          : std::min(backoff.delay * 2, options_.failure_backoff_max);
      backoff.not_before =
          now + std::chrono::duration_cast<std::chrono::microseconds>(backoff.delay).count();
    } else if (!available[name].empty()) {
      backoff = Backoff{};
    }
    const PoolCounts counts = pools_.counts(*pool);
    const PoolPlan plan = plan_pool(pool->capacity, counts);
    if (plan.create > 0 && now >= backoff.not_before) {
      const std::int64_t n = std::min(plan.create, options_.max_creates_per_pass);
      for (std::int64_t i = 0; i < n; ++i) {
        auto r = pools_.create_member(*pool, RequestContext{"", kActor});
        std::lock_guard lock(mu_);
        if (r) {
          stats_.members_created += 1;
        } else {
          stats_.errors += 1;
          logger("pool-keeper")->warn("creating a member of pool {} failed: {}", name,
                                      r.error().message);
          break;
        }
      }
    }
    if (plan.recycle > 0) {
      auto& members = available[name];
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
        return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
      });
      const auto n = std::min<std::size_t>(members.size(), static_cast<std::size_t>(plan.recycle));
      for (std::size_t i = 0; i < n; ++i) {
        delete_member(*members[i], "surplus above bufferMax", &PoolKeeperStats::members_recycled);
      }
    }
  }
  // Forget the backoff of pools that are gone.
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    it = pools.contains(it->first) ? std::next(it) : backoff_.erase(it);
  }
}

// --- cluster-managed pools --------------------------------------------------------------------

void PoolKeeper::count_error() {
  std::lock_guard lock(mu_);
  stats_.errors += 1;
}

void PoolKeeper::cluster_pass(Micros now) {
  auto log = logger("pool-keeper");
  auto listed = runtime_->list_pools();
  if (!listed) {
    count_error();
    log->warn("listing the cluster's pools failed: {}", listed.error().message);
    return;
  }
  std::map<std::string, std::shared_ptr<const Pool>, std::less<>> pools;
  for (auto& p : store_.list_pools()) pools.emplace(p->name, std::move(p));
  std::map<std::string, const RuntimePoolStatus*, std::less<>> in_cluster;
  for (const auto& st : *listed) in_cluster.emplace(st.name, &st);

  bool changed = false;
  for (const auto& [name, pool] : pools) {
    auto found = in_cluster.find(name);
    if (found != in_cluster.end() && found->second->generation == pool->generation &&
        found->second->capacity == pool->capacity) {
      backoff_.erase(name);
      continue;
    }
    Backoff& backoff = backoff_[name];
    if (now < backoff.not_before) continue;
    auto failed = [&](const std::string& what) {
      backoff.delay = backoff.delay.count() == 0
                          ? options_.failure_backoff_initial
                          : std::min(backoff.delay * 2, options_.failure_backoff_max);
      backoff.not_before =
          now + std::chrono::duration_cast<std::chrono::microseconds>(backoff.delay).count();
      count_error();
      log->warn("making pool {} (generation {}) in the cluster failed: {}; retrying in {} ms",
                name, pool->generation, what, backoff.delay.count());
    };
    // The members' container spec, made as the provisioner makes a sandbox's: the mapping
    // needs an id to check the spec; a pool template has none.
    SandboxSpec t = pool->template_spec;
    t.network_mode = sandboxes_.options().network_mode;
    t.pool_name.clear();
    t.pool_ref.clear();
    auto spec = to_container_spec(std::string("pool-") + name, t, {});
    if (!spec) {
      failed("its template is not a valid container spec (" + spec.error().message + ")");
      continue;
    }
    spec->sandbox_id.clear();
    spec->expires_at.reset();
    auto applied = runtime_->apply_pool(
        RuntimePoolSpec{name, pool->generation, std::move(*spec), pool->capacity});
    if (!applied) {
      failed(applied.error().message);
      continue;
    }
    backoff_.erase(name);
    changed = true;
    std::lock_guard lock(mu_);
    stats_.pools_applied += 1;
  }
  for (const auto& st : *listed) {
    if (pools.contains(st.name)) continue;
    auto deleted = runtime_->delete_pool(st.name);
    if (!deleted) {
      count_error();
      log->warn("deleting pool {} from the cluster (it is no longer a pool of the log) failed: {}",
                st.name, deleted.error().message);
      continue;
    }
    changed = true;
    std::lock_guard lock(mu_);
    stats_.pools_deleted += 1;
  }
  // Forget the backoff of pools that are gone.
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    it = pools.contains(it->first) ? std::next(it) : backoff_.erase(it);
  }

  if (changed) {
    auto again = runtime_->list_pools();
    if (!again) {
      count_error();
      log->warn("listing the cluster's pools failed: {}", again.error().message);
      return;
    }
    listed = std::move(again);
  }
  std::map<std::string, PoolService::ClusterCounts> counts;
  for (const auto& st : *listed) {
    PoolService::ClusterCounts c;
    c.generation = st.generation;
    if (st.reported) {
      c.counts.available = std::max<std::int64_t>(0, st.available);
      c.counts.allocated = std::max<std::int64_t>(0, st.allocated);
      c.counts.total = std::max<std::int64_t>(0, st.total);
      c.counts.warming =
          std::max<std::int64_t>(0, c.counts.total - c.counts.allocated - c.counts.available);
    }
    counts.emplace(st.name, c);
  }
  pools_.set_cluster_counts(std::move(counts));
}

}  // namespace sbx
