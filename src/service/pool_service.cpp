#include "src/service/pool_service.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "events/pool_decider.h"
#include "events/uuid.h"

namespace sbx {
namespace {

constexpr int kMaxConflictRetries = 8;

Error disabled_error() {
  return Error(ErrorCode::kUnimplemented,
               "warm pools are disabled on this server (pools.enabled = false)", "runtime.pools");
}

Error storage_error() {
  return Error(ErrorCode::kUnavailable,
               "storage unavailable: the event store cannot write (disk full or failing); "
               "pool changes are refused, reads keep working",
               "store");
}

Error not_found(const std::string& name) {
  return Error(ErrorCode::kNotFound, "pool " + name + " not found", "pool");
}

// What a member is made from: the template's create fields; ports, network mode and the
// pool fields are filled per member (Pool::template_spec).
SandboxSpec template_spec_of(const SandboxSpec& s) {
  SandboxSpec t;
  t.image_uri = s.image_uri;
  t.entrypoint = s.entrypoint;
  t.env = s.env;
  t.resource_limits = s.resource_limits;
  t.platform = s.platform;
  t.network_policy_json = s.network_policy_json;
  t.volumes_json = s.volumes_json;
  return t;
}

// Adds `sb` to `counts` (PoolCounts' rules); the caller checked it is a member.
void count_member(const Sandbox& sb, PoolCounts& counts) {
  if (sb.claimed_at) {
    if (!is_final(sb.state)) ++counts.allocated;
  } else if (sb.state == SandboxState::kRunning) {
    ++counts.available;
  } else if (sb.state == SandboxState::kPending) {
    ++counts.warming;
  } else {
    return;  // pausing, stopping, failed, ...: not part of the pool
  }
  ++counts.total;
}

std::vector<Event> pool_envelopes(std::vector<EventData> data, Micros now,
                                  const RequestContext& ctx) {
  std::vector<Event> out;
  out.reserve(data.size());
  for (auto& d : data) {
    Event e;
    e.time = now;
    e.event_id = new_uuid();
    e.request_id = ctx.request_id;
    e.actor = ctx.actor;
    e.reason = Reason::kUser;
    e.data = std::move(d);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

PoolService::PoolService(EventStore& store, const Clock& clock, SandboxService& sandboxes,
                         PoolOptions options)
    : store_(store),
      clock_(clock),
      sandboxes_(sandboxes),
      options_(options),
      cluster_(std::make_shared<const ClusterMap>()),
      work_(1, "pool-mut") {
  if (options_.cluster_managed) {
    sandboxes_.set_cluster_pools([this](const Pool& pool) { return counts(pool).available; });
  }
}

PoolService::~PoolService() { shutdown(); }

void PoolService::shutdown() {
  work_.shutdown();
  if (options_.cluster_managed) sandboxes_.set_cluster_pools(nullptr);
}

// --- cluster-managed pools --------------------------------------------------------------------

void PoolService::set_cluster_counts(std::map<std::string, ClusterCounts> counts) {
  auto next = std::make_shared<const ClusterMap>(std::make_move_iterator(counts.begin()),
                                                 std::make_move_iterator(counts.end()));
  std::lock_guard lock(cluster_mu_);
  cluster_ = std::move(next);
}

std::map<std::string, PoolService::ClusterCounts> PoolService::cluster_counts() const {
  std::shared_ptr<const ClusterMap> now;
  {
    std::lock_guard lock(cluster_mu_);
    now = cluster_;
  }
  return {now->begin(), now->end()};
}

// --- reads ------------------------------------------------------------------------------------

PoolCounts PoolService::counts(const Pool& pool) const {
  if (options_.cluster_managed) {
    std::shared_ptr<const ClusterMap> now;
    {
      std::lock_guard lock(cluster_mu_);
      now = cluster_;
    }
    auto it = now->find(pool.name);
    if (it == now->end() || it->second.generation != pool.generation) return {};
    return it->second.counts;
  }
  PoolCounts c;
  for (const auto& sb : store_.list_sandboxes()) {
    if (sb->spec.pool_name != pool.name || sb->spec.pool_generation != pool.generation) continue;
    count_member(*sb, c);
  }
  return c;
}

std::optional<PoolView> PoolService::get(std::string_view name) const {
  auto pool = store_.get_pool(name);
  if (!pool) return std::nullopt;
  PoolCounts c = counts(*pool);
  return PoolView{std::move(pool), c};
}

std::vector<PoolView> PoolService::list() const {
  auto pools = store_.list_pools();
  if (pools.empty()) return {};
  std::sort(pools.begin(), pools.end(), [](const auto& a, const auto& b) { return a->name < b->name; });
  if (options_.cluster_managed) {
    std::vector<PoolView> out;
    out.reserve(pools.size());
    for (auto& p : pools) {
      const PoolCounts c = counts(*p);
      out.push_back(PoolView{std::move(p), c});
    }
    return out;
  }
  // One pass over the sandboxes for every pool.
  std::map<std::pair<std::string_view, std::uint64_t>, PoolCounts> by_pool;
  for (const auto& p : pools) by_pool[{p->name, p->generation}];
  const auto sandboxes = store_.list_sandboxes();
  for (const auto& sb : sandboxes) {
    if (sb->spec.pool_name.empty()) continue;
    auto it = by_pool.find({sb->spec.pool_name, sb->spec.pool_generation});
    if (it != by_pool.end()) count_member(*sb, it->second);
  }
  std::vector<PoolView> out;
  out.reserve(pools.size());
  for (auto& p : pools) {
    const PoolCounts c = by_pool[{p->name, p->generation}];
    out.push_back(PoolView{std::move(p), c});
  }
  return out;
}

// --- mutations --------------------------------------------------------------------------------

Result<void> PoolService::admit(bool client) const {
  if (!options_.enabled) return std::unexpected(disabled_error());
  if (!client) return {};
  if (auto fence = sandboxes_.fence_holder()) {
    return fail(ErrorCode::kUnavailable,
                *fence + "; this sandboxd refuses pool changes until the lease is free "
                         "(reads keep working)",
                "lease");
  }
  if (!store_.writable()) return std::unexpected(storage_error());
  return {};
}

Result<std::shared_ptr<const Pool>> PoolService::run(const std::string& name,
                                                     const PoolCommand& command,
                                                     const RequestContext& ctx) {
  const bool creating = std::holds_alternative<CreatePool>(command);
  const std::string stream = pool_stream_of(name);
  for (int attempt = 0; attempt <= kMaxConflictRetries; ++attempt) {
    auto current = store_.get_pool(name);
    std::optional<Pool> state;
    if (current) state = *current;
    if (!creating && !current) return std::unexpected(not_found(name));
    const Micros now = clock_.now();
    auto decided = decide_pool(state, command, now);
    if (!decided) return std::unexpected(decided.error());
    if (decided->empty()) return current;
    AppendRequest append;
    append.stream = stream;
    if (current) {
      append.expected = ExpectedVersion::exactly(current->version);
    } else {
      // A name never used has no stream; a deleted pool's stream goes on (a new generation).
      const std::uint64_t version = store_.stream_version(stream);
      append.expected =
          version == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(version);
    }
    append.events = pool_envelopes(std::move(*decided), now, ctx);
    auto appended = store_.append(std::move(append));
    if (!appended) {
      if (appended.error().code == ErrorCode::kConflict) continue;  // re-read and decide again
      return std::unexpected(appended.error());
    }
    if (!appended->pool) {
      return fail(ErrorCode::kInternal, "pool " + name + " was not projected");
    }
    return appended->pool;
  }
  return fail(ErrorCode::kConflict, "pool " + name + " changed concurrently " +
                                        std::to_string(kMaxConflictRetries + 1) +
                                        " times in a row; try again");
}

Result<PoolView> PoolService::create(CreatePoolRequest request, const RequestContext& ctx) {
  if (auto ok = admit(true); !ok) return std::unexpected(ok.error());
  if (!is_valid_pool_name(request.name)) {
    return fail(ErrorCode::kInvalidArgument,
                "name must be 1 to " + std::to_string(kMaxPoolNameLength) +
                    " characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
                "name");
  }
  // What a member is created from; a template's metadata, timeout and idempotency key mean
  // nothing (a claim brings the client's).
  CreateRequest& t = request.template_request;
  t.metadata.clear();
  t.timeout_seconds.reset();
  t.idempotency_key.clear();
  if (t.spec.image_uri.empty()) {
    return fail(ErrorCode::kInvalidArgument, "template.image.uri is required: members are "
                "created from it", "template.image.uri");
  }
  if (t.image_auth) {
    return fail(ErrorCode::kInvalidArgument,
                "template.image.auth is not accepted: registry credentials are never stored "
                "with a pool (pull the image first, or use a registry that needs none)",
                "template.image.auth");
  }
  if (!t.spec.snapshot_id.empty()) {
    return fail(ErrorCode::kInvalidArgument, "template.snapshotId is not accepted in a pool",
                "template.snapshotId");
  }
  if (request.template_json.size() > kMaxPoolTemplateBytes) {
    return fail(ErrorCode::kInvalidArgument,
                "template is " + std::to_string(request.template_json.size()) +
                    " bytes of JSON; at most " + std::to_string(kMaxPoolTemplateBytes) +
                    " are accepted",
                "template");
  }
  if (auto ok = sandboxes_.validate_template(t); !ok) return std::unexpected(ok.error());
  if (static_cast<std::int64_t>(store_.list_pools().size()) >= options_.max_pools &&
      !store_.get_pool(request.name)) {
    return fail(ErrorCode::kResourceExhausted,
                std::to_string(options_.max_pools) +
                    " pools exist, the most pools.max_pools allows; delete one first",
                "pools.max_pools");
  }
  CreatePool command;
  command.name = request.name;
  command.template_spec = template_spec_of(t.spec);
  command.template_json = std::move(request.template_json);
  command.capacity = request.capacity;
  command.max_members = options_.max_members;
  auto pool = run(request.name, command, ctx);
  if (!pool) return std::unexpected(pool.error());
  PoolCounts c = counts(**pool);
  return PoolView{std::move(*pool), c};
}

Result<PoolView> PoolService::update_capacity(const std::string& name, const PoolCapacity& capacity,
                                              const RequestContext& ctx) {
  if (auto ok = admit(true); !ok) return std::unexpected(ok.error());
  auto pool = run(name, UpdatePoolCapacity{capacity, options_.max_members}, ctx);
  if (!pool) return std::unexpected(pool.error());
  PoolCounts c = counts(**pool);
  return PoolView{std::move(*pool), c};
}

Result<void> PoolService::remove(const std::string& name, const RequestContext& ctx) {
  if (auto ok = admit(true); !ok) return std::unexpected(ok.error());
  auto pool = run(name, DeletePool{}, ctx);
  if (!pool) return std::unexpected(pool.error());
  return {};
}

Result<Sandbox> PoolService::create_member(const Pool& pool, const RequestContext& ctx) {
  if (auto ok = admit(false); !ok) return std::unexpected(ok.error());
  if (options_.cluster_managed) {
    return fail(ErrorCode::kFailedPrecondition,
                "pool " + pool.name +
                    " is kept by the cluster's pool controller (the runtime manages pools): "
                    "sandboxd creates no members",
                "pool");
  }
  auto current = store_.get_pool(pool.name);
  if (pool.deleted || !current || current->generation != pool.generation) {
    return fail(ErrorCode::kNotFound,
                "pool " + pool.name + " generation " + std::to_string(pool.generation) +
                    " is gone (deleted, or replaced by a newer generation)",
                "pool");
  }
  CreateRequest request;
  request.spec = pool.template_spec;
  auto created = sandboxes_.create_member(std::move(request), pool.name, pool.generation, ctx);
  if (!created) return std::unexpected(created.error());
  return std::move(created->sandbox);
}

// --- async ------------------------------------------------------------------------------------

void PoolService::create_async(CreatePoolRequest request, RequestContext ctx,
                               std::function<void(Result<PoolView>)> done) {
  auto task = std::make_shared<
      std::tuple<CreatePoolRequest, RequestContext, std::function<void(Result<PoolView>)>>>(
      std::move(request), std::move(ctx), std::move(done));
  if (!work_.submit([this, task] {
        auto& [r, c, cb] = *task;
        cb(create(std::move(r), c));
      })) {
    std::get<2>(*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

void PoolService::update_capacity_async(std::string name, PoolCapacity capacity,
                                        RequestContext ctx,
                                        std::function<void(Result<PoolView>)> done) {
  auto task = std::make_shared<std::tuple<std::string, PoolCapacity, RequestContext,
                                          std::function<void(Result<PoolView>)>>>(
      std::move(name), capacity, std::move(ctx), std::move(done));
  if (!work_.submit([this, task] {
        auto& [n, cap, c, cb] = *task;
        cb(update_capacity(n, cap, c));
      })) {
    std::get<3>(*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

void PoolService::remove_async(std::string name, RequestContext ctx,
                               std::function<void(Result<void>)> done) {
  auto task = std::make_shared<
      std::tuple<std::string, RequestContext, std::function<void(Result<void>)>>>(
      std::move(name), std::move(ctx), std::move(done));
  if (!work_.submit([this, task] {
        auto& [n, c, cb] = *task;
        cb(remove(n, c));
      })) {
    std::get<2>(*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

}  // namespace sbx
