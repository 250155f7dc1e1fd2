#include "src/service/sandbox_service.h"

#include <algorithm>
#include <charconv>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "events/decider.h"
#include "src/common/egress_token.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/service/volume_checks.h"

namespace sbx {
namespace {

bool needs_runtime(const Command& command) {
  if (std::holds_alternative<CreateSandbox>(command) ||
      std::holds_alternative<PauseSandbox>(command) ||
      std::holds_alternative<ResumeSandbox>(command)) {
    return true;
  }
  if (const auto* d = std::get_if<DeleteSandbox>(&command)) return d->reason == Reason::kUser;
  return false;
}

// Commands a client sends through the API (every one but the workers' Record* outcomes
// and the expirer's and reconciler's deletions): what a fenced instance refuses.
bool is_client_mutation(const Command& command) {
  if (const auto* d = std::get_if<DeleteSandbox>(&command)) return d->reason == Reason::kUser;
  return std::holds_alternative<CreateSandbox>(command) ||
         std::holds_alternative<PauseSandbox>(command) ||
         std::holds_alternative<ResumeSandbox>(command) ||
         std::holds_alternative<RenewExpiration>(command) ||
         std::holds_alternative<PatchMetadata>(command) ||
         std::holds_alternative<ChangeNetworkPolicy>(command);
}

Error pause_unsupported_error(const ServiceOptions& o) {
  std::string runtime = o.runtime_type;
  return Error(ErrorCode::kUnimplemented,
               "pause is not supported by the " + runtime + " runtime: " +
                   (runtime == "kubernetes" ? "Kubernetes cannot freeze a pod's processes; "
                                              "delete the sandbox or keep it running"
                                            : "this runtime cannot freeze a sandbox's processes"),
               "runtime.pause");
}

Error fenced_error(const std::string& holder) {
  return Error(ErrorCode::kUnavailable,
               holder +
                   "; this sandboxd refuses lifecycle changes until the lease is free (reads keep "
                   "working)",
               "lease");
}

std::string runtime_prefix(const ServiceOptions& o) {
  return o.runtime_type == "kubernetes" ? "Kubernetes" : "Docker";
}

Error unavailable_error(const ServiceOptions& o) {
  return Error(ErrorCode::kUnavailable,
               "the " + runtime_prefix(o) +
                   " runtime is not reachable; lifecycle changes are refused until it is back "
                   "(reads keep working)");
}

// The store cannot write (disk full or failing): a mutation that would start runtime work
// is refused up front, with the store's own field so the API says storage, not runtime.
// Other mutations reach the store, which refuses them the same way (or resumes).
Error storage_error() {
  return Error(ErrorCode::kUnavailable,
               "storage unavailable: the event store cannot write (disk full or failing); "
               "lifecycle changes are refused, reads keep working",
               "store");
}

// Turns decided payloads into envelopes ready to append.
std::vector<Event> envelopes(std::string_view sandbox_id, std::vector<EventData> data, Micros now,
                             const RequestContext& ctx, Reason reason) {
  std::vector<Event> out;
  out.reserve(data.size());
  for (auto& d : data) {
    Event e;
    e.stream = stream_of(sandbox_id);
    e.time = now;
    e.event_id = new_uuid();
    e.request_id = ctx.request_id;
    e.actor = ctx.actor;
    e.reason = reason;
    e.data = std::move(d);
    out.push_back(std::move(e));
  }
  return out;
}

// The HTTP status the answer to a create carries, by the outcome its idempotency record
// remembers (a replay repeats the first answer's status).
int http_status_of(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::kAccepted:
      return 202;
  }
  return 202;
}

// The sandbox as the store's projection folded the append (AppendResult::sandbox): the
// store runs `evolve`, once; this only takes its result.
Result<Sandbox> appended_sandbox(const AppendResult& r, std::string_view sandbox_id) {
  if (r.sandbox == nullptr) {
    return fail(ErrorCode::kInternal,
                "the store projected no sandbox for the append to sandbox " +
                    std::string(sandbox_id));
  }
  return *r.sandbox;
}

}  // namespace

SandboxService::SandboxService(EventStore& store, const Clock& clock, ServiceOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      ports_(options_.port_range_low, options_.port_range_high, options_.probe_host_ports,
             options_.port_bind_ip),
      // Registered before waiter_'s subscription, which delivers a commit on its own
      // thread after every listener ran: a sandbox's ports and host slot are free before
      // any request waiting for its end is answered (a client that deleted a sandbox may
      // create the next one at once).
      listener_id_(store.add_commit_listener(
          [this](const std::vector<Event>& events, const CommitStats&) { on_commit(events); })),
      waiter_(store),
      pool_(options_.mutation_threads, "sbx-mutate") {
  // Seed from the live projection: ports and the host slot of every non-final sandbox.
  std::size_t seeded = 0;
  std::vector<std::string> seeded_ids;
  for (const auto& sb : store_.list_sandboxes()) {
    if (is_final(sb->state)) continue;
    seeded_ids.push_back(sb->id);
    if (sb->spec.network_mode == "host") {
      std::lock_guard lock(host_mu_);
      host_holders_.insert(sb->id);
    }
    if (!sb->spec.ports.empty()) {
      std::vector<int> held;
      for (const auto& [container, host] : sb->spec.ports) held.push_back(host);
      ports_.mark_used(sb->id, held);
      seeded += held.size();
    }
  }
  // One that ended between the listing and its seeding was released before it was seeded.
  for (const auto& id : seeded_ids) {
    auto sb = store_.get_sandbox(id);
    if (!sb || is_final(sb->state)) release_resources(id);
  }
  logger("service")->info("sandbox service ready: network mode {}, {} host ports in use",
                          options_.network_mode, seeded);
}

SandboxService::~SandboxService() { shutdown(); }

void SandboxService::shutdown() {
  std::call_once(shutdown_once_, [this] {
    pool_.shutdown();
    waiter_.shutdown();
    store_.remove_commit_listener(listener_id_);
  });
}

// --- reads --------------------------------------------------------------------------------

std::shared_ptr<const Sandbox> SandboxService::get(std::string_view sandbox_id) const {
  auto sb = store_.get_sandbox(sandbox_id);
  // A warm pool's unclaimed member belongs to its pool, not to any client.
  if (sb && sb->is_unclaimed_member()) return nullptr;
  return sb;
}

ListPage SandboxService::list(const ListQuery& query) const {
  auto all = store_.list_sandboxes();
  std::vector<std::shared_ptr<const Sandbox>> matched;
  matched.reserve(all.size());
  for (auto& sb : all) {
    if (query.no_state_matches) continue;
    if (sb->is_unclaimed_member()) continue;
    if (!query.states.empty() &&
        std::find(query.states.begin(), query.states.end(), sb->state) == query.states.end()) {
      continue;
    }
    bool ok = true;
    for (const auto& [k, v] : query.metadata) {
      auto it = sb->metadata.find(k);
      if (it == sb->metadata.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) matched.push_back(std::move(sb));
  }
  ListPage page;
  page.page = std::max(1, query.page);
  page.page_size = std::max(1, query.page_size);
  page.total_items = matched.size();
  const auto size = static_cast<std::size_t>(page.page_size);
  page.total_pages = (matched.size() + size - 1) / size;
  const std::size_t begin =
      std::min(matched.size(), (static_cast<std::size_t>(page.page) - 1) * size);
  const std::size_t end = std::min(matched.size(), begin + size);
  // Newest first; ties by id so pages are stable. Only the prefix up to this page needs
  // ordering.
  auto newer = [](const auto& a, const auto& b) {
    if (a->client_created_at() != b->client_created_at())
      return a->client_created_at() > b->client_created_at();
    return a->id < b->id;
  };
  std::partial_sort(matched.begin(), matched.begin() + static_cast<std::ptrdiff_t>(end),
                    matched.end(), newer);
  page.items.assign(std::make_move_iterator(matched.begin() + static_cast<std::ptrdiff_t>(begin)),
                    std::make_move_iterator(matched.begin() + static_cast<std::ptrdiff_t>(end)));
  page.has_next_page = static_cast<std::size_t>(page.page) < page.total_pages;
  return page;
}

Result<Endpoint> SandboxService::endpoint(std::string_view sandbox_id, int port) const {
  if (port < 1 || port > 65535) {
    return fail(ErrorCode::kInvalidArgument,
                "port must be an integer in 1..65535, got " + std::to_string(port), "port");
  }
  auto sb = get(sandbox_id);
  if (!sb) return fail(ErrorCode::kNotFound, "sandbox " + std::string(sandbox_id) + " not found");
  auto out = resolve_endpoint(*sb, port, options_.endpoint_rules);
  if (out && port == kEgressPort && !sb->spec.network_policy_json.empty()) {
    const std::string token = egress_token(store_.egress_token_key(), sb->id);
    if (!token.empty()) out->headers[std::string(kEgressAuthHeader)] = token;
  }
  return out;
}

// --- server proxy ---------------------------------------------------------------------------

Result<ProxyTarget> SandboxService::proxy_target(std::string_view sandbox_id, int port) const {
  auto sb = get(sandbox_id);
  if (!sb || is_final(sb->state)) {
    return fail(ErrorCode::kNotFound, "sandbox " + std::string(sandbox_id) + " not found");
  }
  return resolve_proxy_target(*sb, port, options_.endpoint_rules.runtime,
                              proxy_connect_host(options_.port_bind_ip));
}

namespace {
// extensions["access.renew.extend.seconds"] as the API validated it (300..86400), or 0.
std::int64_t access_renew_seconds(const std::string& extensions_json) {
  if (extensions_json.find("access.renew.extend.seconds") == std::string::npos) return 0;
  auto j = nlohmann::json::parse(extensions_json, nullptr, false);
  if (!j.is_object()) return 0;
  auto it = j.find("access.renew.extend.seconds");
  if (it == j.end() || !it->is_string()) return 0;
  const std::string& v = it->get_ref<const std::string&>();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n <= 0) return 0;
  return n;
}
}  // namespace

void SandboxService::note_proxy_access(std::string_view sandbox_id) {
  if (!options_.renew_on_access) return;
  auto sb = store_.get_sandbox(sandbox_id);
  if (!sb || sb->state != SandboxState::kRunning || !sb->expires_at) return;
  const Micros now = clock_.now();
  {
    std::lock_guard lock(renew_mu_);
    auto [it, inserted] = last_access_renew_.try_emplace(std::string(sandbox_id), now);
    if (!inserted) {
      if (now - it->second < options_.renew_min_interval) return;
      it->second = now;
    }
  }
  const std::int64_t extend = access_renew_seconds(sb->spec.extensions_json);
  if (extend <= 0) return;
  const Micros candidate = now + extend * kMicrosPerSecond;
  if (candidate <= *sb->expires_at) return;
  access_renewals_.fetch_add(1);
  RequestContext ctx{"", "proxy:renew-intent"};
  const std::string id(sandbox_id);
  execute_async(id, Command(RenewExpiration{candidate}), std::move(ctx),
                [id](Result<CommandResult> r) {
                  if (!r) {
                    logger("service")->warn("renew on proxied access of {} failed: {}", id,
                                            r.error().message);
                  }
                });
}

// --- create -------------------------------------------------------------------------------

Result<void> SandboxService::validate_create(const CreateRequest& r) const {
  if (r.timeout_seconds) {
    if (*r.timeout_seconds < 60) {
      return fail(ErrorCode::kInvalidArgument,
                  "timeout must be at least 60 seconds, got " + std::to_string(*r.timeout_seconds),
                  "timeout");
    }
    if (options_.max_sandbox_timeout_seconds &&
        *r.timeout_seconds > *options_.max_sandbox_timeout_seconds) {
      return fail(ErrorCode::kInvalidArgument,
                  "timeout " + std::to_string(*r.timeout_seconds) +
                      " s exceeds server.max_sandbox_timeout_seconds (" +
                      std::to_string(*options_.max_sandbox_timeout_seconds) + " s)",
                  "timeout");
    }
  }
  if (!r.spec.network_policy_json.empty()) {
    const bool bridge = !is_host_mode();
    const bool egress = options_.egress_image && !options_.egress_image->empty();
    if (!bridge || !egress) {
      std::string missing;
      if (!bridge) missing = "docker.network_mode is \"host\" (a network policy needs bridge mode)";
      if (!egress) {
        if (!missing.empty()) missing += " and ";
        missing += "egress.image is not configured (the egress sidecar enforces the policy)";
      }
      return fail(ErrorCode::kInvalidArgument, "networkPolicy is not supported here: " + missing,
                  "networkPolicy");
    }
  }
  // Fields this version cannot honour are refused here, before anything is appended, rather
  // than accepted and failed by the provisioner (a client would see 202, then a sandbox that
  // never becomes ready).
  if (!r.spec.network_policy_json.empty() && options_.runtime_type == "kubernetes") {
    return fail(ErrorCode::kUnimplemented,
                "networkPolicy (the egress sidecar) is supported on the Docker runtime only; "
                "nothing was created",
                "networkPolicy");
  }
  // resourceLimits.gpu = "all" has no Kubernetes form (nvidia.com/gpu takes a count).
  if (options_.runtime_type == "kubernetes") {
    if (auto it = r.spec.resource_limits.find("gpu");
        it != r.spec.resource_limits.end() && it->second == "all") {
      return fail(ErrorCode::kInvalidArgument,
                  "resourceLimits.gpu = \"all\" is not supported on Kubernetes; give a count",
                  "resourceLimits.gpu");
    }
  }
  // Volumes (src/service/volume_checks.h): ossfs refused, host paths resolved against
  // storage.allowed_host_paths on the real file system.
  if (auto v = check_create_volumes(r.spec, options_.runtime_type, options_.allowed_host_paths);
      !v) {
    return v;
  }
  if (r.image_auth && options_.runtime_type == "kubernetes") {
    // A pull Secret files credentials under the image's registry host; a reference without
    // one ("team/app:1") names no host to file them under (sandboxd assumes no default
    // registry). The host is the first path segment when it has '.' or ':' or is localhost.
    const std::string& uri = r.spec.image_uri;
    const auto slash = uri.find('/');
    const std::string first = slash == std::string::npos ? "" : uri.substr(0, slash);
    const bool has_host = first.find('.') != std::string::npos ||
                          first.find(':') != std::string::npos || first == "localhost";
    if (!has_host) {
      return fail(ErrorCode::kInvalidArgument,
                  "image.auth on Kubernetes needs image.uri to name its registry host (\"" + uri +
                      "\" has none), e.g. \"registry.internal:5000/team/app:1\"",
                  "image.auth");
    }
  }
  if (r.secure_access && options_.runtime_type != "kubernetes") {
    return fail(ErrorCode::kInvalidArgument,
                "secureAccess is only supported on Kubernetes in ingress gateway mode",
                "secureAccess");
  }
  return {};
}

Result<CreateResult> SandboxService::replay(const IdempotencyRecord& record) const {
  CreateResult out;
  out.replayed = true;
  out.http_status = http_status_of(record.outcome);
  if (auto sb = store_.get_sandbox(record.sandbox_id)) {
    out.sandbox = *sb;
    return out;
  }
  // No longer live (terminated or deleted): answer with the state its history folds to.
  auto events = store_.read_stream(stream_of(record.sandbox_id));
  if (!events) return std::unexpected(events.error());
  if (events->empty()) {
    return fail(ErrorCode::kDataLoss, "idempotency key " + record.key + " names sandbox " +
                                          record.sandbox_id + ", whose stream is empty");
  }
  std::optional<Sandbox> state;
  for (const auto& e : *events) state = evolve(state, e);
  out.sandbox = *state;
  return out;
}

Result<void> SandboxService::resolve_snapshot(CreateRequest& r) const {
  if (r.spec.snapshot_id.empty() || !r.spec.image_uri.empty()) return {};
  if (!options_.snapshots_supported) {
    return fail(ErrorCode::kUnimplemented,
                "creating a sandbox from a snapshot is supported on the Docker runtime only; "
                "nothing was created",
                "runtime.snapshots");
  }
  auto snapshot = store_.get_snapshot(r.spec.snapshot_id);
  if (!snapshot) {
    return fail(ErrorCode::kNotFound, std::string("Snapshot ") + r.spec.snapshot_id + " not found",
                "snapshotId");
  }
  if (snapshot->state != SnapshotState::kReady) {
    return fail(ErrorCode::kFailedPrecondition,
                std::string("Snapshot ") + r.spec.snapshot_id + std::string(" is not ready for restore (state ") +
                    std::string(to_string(snapshot->state)) + ")",
                "snapshotId");
  }
  // The SandboxRequested records both: the snapshot and the image it starts from.
  r.spec.image_uri = snapshot->image_ref;
  if (r.spec.entrypoint.empty()) r.spec.entrypoint = {"tail", "-f", "/dev/null"};
  return {};
}

Result<CreateResult> SandboxService::create(CreateRequest request, const RequestContext& ctx) {
  // Only extensions.poolRef (below, on a cluster that keeps the pools) names a cluster pool.
  request.spec.pool_ref.clear();
  if (!request.pool_ref.empty()) {
    if (auto p = resolve_pool(request); !p) return std::unexpected(p.error());
  }
  if (auto s = resolve_snapshot(request); !s) return std::unexpected(s.error());
  if (auto v = validate_create(request); !v) return std::unexpected(v.error());
  if (auto fence = fence_holder()) return std::unexpected(fenced_error(*fence));
  if (!store_.writable()) return std::unexpected(storage_error());
  if (!runtime_available()) return std::unexpected(unavailable_error(options_));
  if (request.idempotency_key.empty()) return create_locked_key(std::move(request), ctx);

  // One create per key at a time in this process; the store record covers restarts.
  const std::string key = request.idempotency_key;
  {
    std::unique_lock lock(idem_mu_);
    idem_cv_.wait(lock, [&] { return !idem_in_flight_.contains(key); });
    idem_in_flight_.insert(key);
  }
  auto result = create_locked_key(std::move(request), ctx);
  {
    std::lock_guard lock(idem_mu_);
    idem_in_flight_.erase(key);
  }
  idem_cv_.notify_all();
  return result;
}

Result<CreateResult> SandboxService::create_locked_key(CreateRequest request,
                                                       const RequestContext& ctx) {
  const Micros now = clock_.now();
  if (!request.idempotency_key.empty()) {
    auto record = store_.idempotency(request.idempotency_key, now);
    if (!record) return std::unexpected(record.error());
    if (*record) return replay(**record);
  }

  bool from_cluster = false;
  if (!request.pool_ref.empty()) {
    // Looked up again: the pool may have been deleted or re-created since resolve_pool.
    auto pool = store_.get_pool(request.pool_ref);
    if (!pool) {
      return fail(ErrorCode::kNotFound,
                  "Pool '" + request.pool_ref + "' not found (extensions.poolRef).", "poolRef");
    }
    std::shared_ptr<const ClusterPoolAvailability> cluster;
    {
      std::lock_guard lock(cluster_mu_);
      cluster = cluster_available_;
    }
    if (cluster) {
      // The cluster's pool controller hands the sandbox a warm pod: no member to claim here.
      // With warm-only, the controller's last report decides (a pod it reports available
      // may still be taken by a concurrent create: the sandbox then waits for the next).
      if (request.pool_warm_only && (*cluster)(*pool) <= 0) {
        claims_exhausted_.fetch_add(1);
        return fail(ErrorCode::kResourceExhausted,
                    "pool '" + request.pool_ref +
                        "' has no warm pod available in the cluster right now "
                        "(extensions.poolWarmOnly is \"true\", so no sandbox was created); "
                        "retry shortly",
                    "poolRef");
      }
      claims_cluster_.fetch_add(1);
      request.spec.pool_ref = pool->name;
      from_cluster = true;
    } else {
      auto claimed = claim_member(*pool, request, ctx, now);
      if (!claimed) return std::unexpected(claimed.error());
      if (*claimed) {
        claims_warm_.fetch_add(1);
        return std::move(**claimed);
      }
      if (request.pool_warm_only) {
        claims_exhausted_.fetch_add(1);
        return fail(ErrorCode::kResourceExhausted,
                    "pool '" + request.pool_ref +
                        "' has no warm member available right now (extensions.poolWarmOnly is "
                        "\"true\", so no sandbox was created cold); retry shortly",
                    "poolRef");
      }
      claims_cold_.fetch_add(1);
    }
  }

  const std::string id = new_uuid();
  SandboxSpec spec = std::move(request.spec);
  spec.network_mode = options_.network_mode;
  spec.timeout_seconds = request.timeout_seconds;
  // The log records only that registry credentials were given; the credentials go to the
  // store's secrets area in the batch of the append (AppendRequest::secrets).
  spec.image_auth_provided = request.image_auth.has_value();
  spec.ports.clear();

  // Reserve what only one live sandbox may hold, before the append.
  if (is_host_mode()) {
    std::lock_guard lock(host_mu_);
    if (!host_holders_.empty()) {
      return fail(ErrorCode::kConflict,
                  "docker.network_mode is \"host\": the host's ports are shared, so only one live "
                  "sandbox can run at a time (sandbox " +
                      *host_holders_.begin() +
                      " holds it). Delete it first, or set docker.network_mode = \"bridge\" to "
                      "run several sandboxes side by side.",
                  "docker.network_mode");
    }
    host_holders_.insert(id);
  } else {
    // A sandbox with a network policy also publishes its egress sidecar's policy API (18080),
    // on a host port recorded like the others (endpoints resolve it; restarts keep it).
    std::vector<int> published = options_.published_ports;
    if (!spec.network_policy_json.empty() &&
        std::find(published.begin(), published.end(), kEgressPort) == published.end()) {
      published.push_back(kEgressPort);
    }
    auto got = ports_.reserve(id, published.size());
    if (!got) return std::unexpected(got.error());
    for (std::size_t i = 0; i < got->size(); ++i) spec.ports[published[i]] = (*got)[i];
  }

  std::optional<Micros> expires_at;
  if (request.timeout_seconds) expires_at = now + *request.timeout_seconds * kMicrosPerSecond;
  CreateSandbox command{id, std::move(spec), std::move(request.metadata), expires_at};

  auto decided = decide(std::nullopt, command, now);
  if (!decided) {
    release_resources(id);
    return std::unexpected(decided.error());
  }
  AppendRequest append;
  append.stream = stream_of(id);
  append.expected = ExpectedVersion::no_stream();
  append.events = envelopes(id, std::move(*decided), now, ctx, reason_of(command));
  if (!request.idempotency_key.empty()) {
    append.idempotency = IdempotencyRecord{request.idempotency_key, id, RequestOutcome::kAccepted,
                                           now + options_.idempotency_ttl};
  }
  if (request.image_auth) append.secrets = SandboxSecrets{std::move(request.image_auth)};
  auto appended = store_.append(std::move(append));
  if (!appended) {
    release_resources(id);
    return std::unexpected(appended.error());
  }
  auto sandbox = appended_sandbox(*appended, id);
  if (!sandbox) return std::unexpected(sandbox.error());
  CreateResult out;
  out.sandbox = std::move(*sandbox);
  out.http_status = http_status_of(RequestOutcome::kAccepted);
  if (!request.pool_ref.empty()) out.pool_claim = from_cluster ? "cluster" : "cold";
  return out;
}

void SandboxService::set_cluster_pools(ClusterPoolAvailability available) {
  auto next = available ? std::make_shared<const ClusterPoolAvailability>(std::move(available))
                        : nullptr;
  std::lock_guard lock(cluster_mu_);
  cluster_available_ = std::move(next);
}

bool SandboxService::cluster_pools() const {
  std::lock_guard lock(cluster_mu_);
  return cluster_available_ != nullptr;
}

// --- warm pools -------------------------------------------------------------------------------

Result<std::shared_ptr<const Pool>> SandboxService::resolve_pool(CreateRequest& r) const {
  if (!options_.pools_enabled) {
    return fail(ErrorCode::kUnimplemented,
                "warm pools are disabled on this server (pools.enabled = false); create the "
                "sandbox without extensions.poolRef",
                "runtime.pools");
  }
  auto pool = store_.get_pool(r.pool_ref);
  if (!pool) {
    return fail(ErrorCode::kNotFound, "Pool '" + r.pool_ref + "' not found (extensions.poolRef).",
                "poolRef");
  }
  const SandboxSpec& t = pool->template_spec;
  auto refuse = [&](std::string field, const std::string& why) {
    return fail(ErrorCode::kInvalidArgument,
                field + ": " + why + " (the sandbox comes from pool '" + r.pool_ref +
                    "', whose members already run; leave it out or create without poolRef)",
                field);
  };
  SandboxSpec& s = r.spec;
  if (!s.snapshot_id.empty()) return refuse("snapshotId", "cannot be used together with poolRef");
  if (r.image_auth) return refuse("image.auth", "the pool's image is already pulled");
  if (!s.image_uri.empty() && s.image_uri != t.image_uri)
    return refuse("image.uri", "differs from the pool's image \"" + t.image_uri + "\"");
  if (!s.entrypoint.empty() && s.entrypoint != t.entrypoint)
    return refuse("entrypoint", "differs from the pool's entrypoint");
  if (!s.resource_limits.empty() && s.resource_limits != t.resource_limits)
    return refuse("resourceLimits", "differ from the pool's resource limits");
  if (s.platform && s.platform != t.platform)
    return refuse("platform", "differs from the pool's platform");
  if (!s.network_policy_json.empty())
    return refuse("networkPolicy", "cannot be used together with poolRef (pooled sandboxes "
                                   "are pre-created)");
  if (!s.volumes_json.empty())
    return refuse("volumes", "cannot be used together with poolRef (pooled sandboxes are "
                             "pre-created)");
  for (const auto& [key, value] : s.env) {
    auto it = t.env.find(key);
    if (it == t.env.end() || it->second != value)
      return refuse("env", "entry \"" + key +
                               "\" is not in the pool's environment with that value (a running "
                               "container's environment cannot change)");
  }
  // The template holds exactly the create fields a member was made with; the request keeps
  // only its extensions (what is left is filled by the create path).
  std::string extensions = std::move(s.extensions_json);
  s = t;
  s.extensions_json = std::move(extensions);
  return pool;
}

Result<std::optional<CreateResult>> SandboxService::claim_member(const Pool& pool,
                                                                 CreateRequest& request,
                                                                 const RequestContext& ctx,
                                                                 Micros now) {
  std::optional<Micros> expires_at;
  if (request.timeout_seconds) expires_at = now + *request.timeout_seconds * kMicrosPerSecond;
  const int attempts = std::max(1, options_.max_conflict_retries + 1);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::shared_ptr<const Sandbox> pick;
    {
      std::lock_guard lock(claim_mu_);
      // The oldest available member: members cycle, none grows stale in the pool.
      for (auto& sb : store_.list_sandboxes()) {
        if (!sb->is_unclaimed_member() || sb->state != SandboxState::kRunning ||
            sb->spec.pool_name != pool.name || sb->spec.pool_generation != pool.generation ||
            claiming_.contains(sb->id)) {
          continue;
        }
        if (!pick || sb->created_at < pick->created_at ||
            (sb->created_at == pick->created_at && sb->id < pick->id)) {
          pick = std::move(sb);
        }
      }
      if (!pick) return std::optional<CreateResult>();
      claiming_.insert(pick->id);
    }
    const std::string id = pick->id;
    auto release = [&] {
      std::lock_guard lock(claim_mu_);
      claiming_.erase(id);
    };
    ClaimSandbox command{request.metadata, expires_at, request.spec.extensions_json};
    auto decided = decide(*pick, command, now);
    if (!decided) {
      release();
      continue;  // it changed under us (stopping, claimed): the next one
    }
    AppendRequest append;
    append.stream = stream_of(id);
    append.expected = ExpectedVersion::exactly(pick->version);
    append.events = envelopes(id, std::move(*decided), now, ctx, reason_of(Command(command)));
    if (!request.idempotency_key.empty()) {
      append.idempotency = IdempotencyRecord{request.idempotency_key, id,
                                             RequestOutcome::kAccepted,
                                             now + options_.idempotency_ttl};
    }
    auto appended = store_.append(std::move(append));
    release();
    if (!appended) {
      if (appended.error().code == ErrorCode::kConflict) continue;
      return std::unexpected(appended.error());
    }
    auto sandbox = appended_sandbox(*appended, id);
    if (!sandbox) return std::unexpected(sandbox.error());
    CreateResult out;
    out.sandbox = std::move(*sandbox);
    out.http_status = http_status_of(RequestOutcome::kAccepted);
    out.pool_claim = "warm";
    return std::optional<CreateResult>(std::move(out));
  }
  return std::optional<CreateResult>();
}

// --- generic commands -----------------------------------------------------------------------

Result<CommandResult> SandboxService::execute(std::string_view sandbox_id, const Command& command,
                                              const RequestContext& ctx) {
  if (std::holds_alternative<CreateSandbox>(command)) {
    return fail(ErrorCode::kInvalidArgument, "use create() to create a sandbox");
  }
  if (!options_.pause_supported && (std::holds_alternative<PauseSandbox>(command) ||
                                    std::holds_alternative<ResumeSandbox>(command))) {
    return std::unexpected(pause_unsupported_error(options_));
  }
  if (is_client_mutation(command)) {
    if (auto fence = fence_holder()) return std::unexpected(fenced_error(*fence));
  }
  if (needs_runtime(command) && !store_.writable()) return std::unexpected(storage_error());
  if (needs_runtime(command) && !runtime_available()) {
    return std::unexpected(unavailable_error(options_));
  }
  if (const auto* renew = std::get_if<RenewExpiration>(&command);
      renew && options_.max_sandbox_timeout_seconds) {
    const Micros latest = clock_.now() + *options_.max_sandbox_timeout_seconds * kMicrosPerSecond;
    if (renew->expires_at > latest) {
      return fail(ErrorCode::kInvalidArgument,
                  "expiresAt " + format_rfc3339(renew->expires_at) + " is more than " +
                      std::to_string(*options_.max_sandbox_timeout_seconds) +
                      " s from now, the limit server.max_sandbox_timeout_seconds sets (latest " +
                      format_rfc3339(latest) + ")",
                  "expiresAt");
    }
  }
  const int attempts = std::max(1, options_.max_conflict_retries + 1);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto current = store_.get_sandbox(sandbox_id);
    // Clients never see a pool's unclaimed member: for them it does not exist.
    if (current && current->is_unclaimed_member() && is_client_mutation(command)) {
      current = nullptr;
    }
    std::optional<Sandbox> state;
    if (current) state = *current;
    const Micros now = clock_.now();
    auto decided = decide(state, command, now);
    if (!decided) return std::unexpected(decided.error());
    if (decided->empty()) return CommandResult{std::move(*state), 0, 0};

    AppendRequest append;
    append.stream = stream_of(sandbox_id);
    append.expected = ExpectedVersion::exactly(state->version);
    append.events = envelopes(sandbox_id, std::move(*decided), now, ctx, reason_of(command));
    const std::size_t events = append.events.size();
    auto appended = store_.append(std::move(append));
    if (!appended) {
      if (appended.error().code == ErrorCode::kConflict) continue;  // re-read and retry
      return std::unexpected(appended.error());
    }
    auto sandbox = appended_sandbox(*appended, sandbox_id);
    if (!sandbox) return std::unexpected(sandbox.error());
    CommandResult out;
    out.events = events;
    out.last_position = appended->last_position;
    out.sandbox = std::move(*sandbox);
    // The commit listener releases too, but the store wakes the appender before it runs the
    // listeners: release here so the ports are free once this call returns.
    if (is_final(out.sandbox.state)) release_resources(out.sandbox.id);
    return out;
  }
  return fail(ErrorCode::kConflict, "sandbox " + std::string(sandbox_id) +
                                        " changed concurrently " + std::to_string(attempts) +
                                        " times in a row; try again");
}

// --- async ----------------------------------------------------------------------------------

Result<void> SandboxService::admit_mutation() const {
  const std::size_t queued = pool_.queued();
  if (queued >= options_.max_queued_mutations) {
    return fail(ErrorCode::kResourceExhausted,
                "the server is busy: " + std::to_string(queued) +
                    " mutations are queued (server.max_queued_mutations); retry later",
                "server.max_queued_mutations");
  }
  return {};
}

void SandboxService::create_async(CreateRequest request, RequestContext ctx,
                                  std::function<void(Result<CreateResult>)> done) {
  if (auto ok = admit_mutation(); !ok) {
    done(std::unexpected(ok.error()));
    return;
  }
  auto task = std::make_shared<
      std::tuple<CreateRequest, RequestContext, std::function<void(Result<CreateResult>)>>>(
      std::move(request), std::move(ctx), std::move(done));
  const bool queued = pool_.submit([this, task] {
    auto& [req, c, cb] = *task;
    cb(create(std::move(req), c));
  });
  if (!queued) {
    std::get<2> (*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

void SandboxService::execute_async(std::string sandbox_id, Command command, RequestContext ctx,
                                   std::function<void(Result<CommandResult>)> done) {
  if (auto ok = admit_mutation(); !ok) {
    done(std::unexpected(ok.error()));
    return;
  }
  auto task = std::make_shared<
      std::tuple<std::string, Command, RequestContext, std::function<void(Result<CommandResult>)>>>(
      std::move(sandbox_id), std::move(command), std::move(ctx), std::move(done));
  const bool queued = pool_.submit([this, task] {
    auto& [id, cmd, c, cb] = *task;
    cb(execute(id, cmd, c));
  });
  if (!queued) {
    std::get<3> (*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

void SandboxService::wait_async(std::string sandbox_id, Predicate predicate,
                                std::chrono::milliseconds timeout, WaitCallback callback) {
  waiter_.wait_async(std::move(sandbox_id), std::move(predicate), timeout, std::move(callback));
}

std::size_t SandboxService::pending_waits() const { return waiter_.pending(); }

void SandboxService::set_runtime_available(bool available) {
  const bool before = runtime_available_.exchange(available);
  if (before != available) {
    logger("service")->warn("runtime is now {}", available ? "available" : "unavailable");
  }
}

bool SandboxService::runtime_available() const { return runtime_available_.load(); }

void SandboxService::set_fence(std::optional<std::string> holder) {
  const bool fenced = holder.has_value();
  bool changed = false;
  {
    std::lock_guard lock(fence_mu_);
    changed = fence_.has_value() != fenced;
    fence_ = std::move(holder);
    fenced_.store(fenced);
  }
  if (changed) {
    logger("service")->warn("lifecycle changes are now {}", fenced ? "fenced" : "served");
  }
}

std::optional<std::string> SandboxService::fence_holder() const {
  if (!fenced_.load()) return std::nullopt;
  std::lock_guard lock(fence_mu_);
  return fence_;
}

// --- network policy ---------------------------------------------------------------------------

void SandboxService::set_egress_client(std::shared_ptr<EgressPolicyClient> client) {
  std::lock_guard lock(egress_mu_);
  egress_client_ = std::move(client);
}

Result<EgressReply> SandboxService::network_policy(std::string_view sandbox_id,
                                                   const std::string& method,
                                                   const std::string& body,
                                                   const RequestContext& ctx) {
  const bool change = method != "GET";
  if (change) {
    if (auto fence = fence_holder()) return std::unexpected(fenced_error(*fence));
    if (!store_.writable()) return std::unexpected(storage_error());
  }
  auto sb = get(sandbox_id);
  if (!sb || sb->deleted) {
    return fail(ErrorCode::kNotFound, "sandbox " + std::string(sandbox_id) + " not found");
  }
  if (sb->spec.network_policy_json.empty()) {
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sb->id +
                    " was created without a networkPolicy, so it has no egress sidecar to ask",
                "networkPolicy");
  }
  if (sb->state != SandboxState::kRunning) {
    return fail(ErrorCode::kFailedPrecondition,
                "sandbox " + sb->id + " is " + std::string(to_string(sb->state)) +
                    "; its network policy can be read or changed only while it is Running");
  }
  const auto port = sb->spec.ports.find(kEgressPort);
  const std::string token = egress_token(store_.egress_token_key(), sb->id);
  std::shared_ptr<EgressPolicyClient> client;
  {
    std::lock_guard lock(egress_mu_);
    client = egress_client_;
  }
  if (port == sb->spec.ports.end() || token.empty() || !client) {
    return fail(ErrorCode::kUnavailable,
                "the egress sidecar of sandbox " + sb->id + " cannot be reached from here",
                "egress");
  }
  auto reply = client->call(method, port->second, token, body);
  if (!reply) {
    Error e = reply.error();
    e.code = ErrorCode::kUnavailable;
    e.field = "egress";
    e.message = "the egress sidecar of sandbox " + sb->id + " did not answer: " + e.message;
    return std::unexpected(std::move(e));
  }
  if (change && reply->status >= 200 && reply->status < 300) {
    auto recorded = execute(sandbox_id, ChangeNetworkPolicy{method, body}, ctx);
    if (!recorded) return std::unexpected(recorded.error());
  }
  return reply;
}

void SandboxService::network_policy_async(std::string sandbox_id, std::string method,
                                          std::string body, RequestContext ctx,
                                          std::function<void(Result<EgressReply>)> done) {
  if (auto ok = admit_mutation(); !ok) {
    done(std::unexpected(ok.error()));
    return;
  }
  auto task = std::make_shared<std::tuple<std::string, std::string, std::string, RequestContext,
                                          std::function<void(Result<EgressReply>)>>>(
      std::move(sandbox_id), std::move(method), std::move(body), std::move(ctx), std::move(done));
  const bool queued = pool_.submit([this, task] {
    auto& [id, m, b, c, cb] = *task;
    cb(network_policy(id, m, b, c));
  });
  if (!queued) {
    std::get<4> (*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

// --- resource release -------------------------------------------------------------------------

void SandboxService::release_resources(const std::string& sandbox_id) {
  ports_.release(sandbox_id);
  {
    std::lock_guard lock(renew_mu_);
    last_access_renew_.erase(sandbox_id);
  }
  std::lock_guard lock(host_mu_);
  host_holders_.erase(sandbox_id);
}

void SandboxService::on_commit(const std::vector<Event>& events) {
  std::string last;
  for (const auto& e : events) {
    const std::string_view id = sandbox_id_of(e.stream);
    if (id.empty() || id == last) continue;
    last = std::string(id);
    auto sb = store_.get_sandbox(id);
    if (!sb || is_final(sb->state)) release_resources(last);
  }
}

// --- warm pools -----------------------------------------------------------------------------

Result<CreateResult> SandboxService::create_member(CreateRequest request, std::string pool_name,
                                                   std::uint64_t generation,
                                                   const RequestContext& ctx) {
  if (pool_name.empty() || generation == 0) {
    return fail(ErrorCode::kInvalidArgument,
                "a pool member needs the name and generation of its pool", "pool");
  }
  // A member belongs to its pool: nothing of a client's create reaches it. A claim later
  // gives it the client's metadata and deadline (SandboxClaimed).
  request.metadata.clear();
  request.timeout_seconds.reset();
  request.idempotency_key.clear();
  request.image_auth.reset();
  request.secure_access = false;
  request.pool_ref.clear();
  request.pool_warm_only = false;
  request.spec.pool_ref.clear();
  request.spec.pool_name = std::move(pool_name);
  request.spec.pool_generation = generation;
  if (auto v = validate_create(request); !v) return std::unexpected(v.error());
  if (auto fence = fence_holder()) return std::unexpected(fenced_error(*fence));
  if (!store_.writable()) return std::unexpected(storage_error());
  if (!runtime_available()) return std::unexpected(unavailable_error(options_));
  return create_locked_key(std::move(request), ctx);
}

Result<void> SandboxService::validate_template(const CreateRequest& request) const {
  auto v = validate_create(request);
  if (v) return {};
  Error e = std::move(v.error());
  e.field = e.field.empty() ? std::string("template") : std::string("template.") + e.field;
  return std::unexpected(std::move(e));
}

}  // namespace sbx
