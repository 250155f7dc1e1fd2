// SandboxService: the one place where commands become events.
//
//   command -> load state from the in-memory projection (EventStore::get_sandbox)
//           -> decide(state, command, now)              (events/decider.h, pure)
//           -> append with the expected stream version  (no_stream for a create)
//           -> on kConflict: re-read and retry (bounded by max_conflict_retries)
//
// Every event gets a fresh event id (UUID), the Clock's time, the request id and actor of
// the RequestContext, and reason_of(command).
//
// Create also allocates what only the control plane can: the sandbox id (UUID v7, time-ordered),
// the host ports of the published container ports in bridge mode (plus 18080, the egress
// sidecar's policy API, for a sandbox with a network policy) (recorded in
// SandboxRequested.spec.ports so endpoints resolve while Pending; never two live
// sandboxes on one port), the single slot of host network mode, and the Idempotency-Key
// record (written in the same batch as SandboxRequested, so it survives restarts).
// Ports and the host slot are released when the append fails, and when the sandbox
// reaches Terminated or Failed or is deleted: by execute() before it returns, and by a
// commit listener (for outcomes appended elsewhere) that runs before the waiter's, so they
// are free before any request waiting for that outcome is answered.
//
// Who calls what:
//   api/      create / execute (or their *_async forms, which run on the service's own
//             mutation threads so HTTP threads never block on a durable append), get,
//             list, endpoint, wait_async.
//   workers   execute(id, Record*{...}, ctx) to record runtime outcomes; the expirer
//             execute(id, DeleteSandbox{Reason::kExpired}, ctx); whoever watches the
//             runtime set_runtime_available().
//
// Runtime availability: while runtime_available() is false, commands that need the
// runtime to act (create, pause, resume, a user delete) fail with kUnavailable; reads,
// metadata patches, renewals and every worker/expirer command keep working.
//
// Fencing (Kubernetes: another sandboxd holds the namespace's Lease): while set_fence()
// holds a value, every client mutation (create, pause, resume, renew, metadata patch, a
// user delete) fails at once with kUnavailable, field "lease" (the api's 503
// <RUNTIME>::LEASE_NOT_HELD), its message naming the holder; reads keep working, and so
// do the Record* outcomes of runtime calls already made and the expirer's/reconciler's
// deletions (the lease keeps this instance's workers from acting on them).
//
// Pause support: with ServiceOptions::pause_supported false, pause and resume fail at
// once with kUnimplemented, field "runtime.pause" (checked before anything else, even
// whether the sandbox exists: the answer is the same for every sandbox).
//
// Errors: kUnimplemented (pause/resume without pause support), kInvalidArgument (field set: request values such as timeout above the cap,
// networkPolicy without bridge mode or egress.image, secureAccess on Docker), kUnimplemented
// (field set: networkPolicy on Kubernetes, volumes; field "runtime.snapshots": snapshotId
// on a runtime without snapshots), kNotFound (field "snapshotId": no such snapshot),
// kFailedPrecondition (field "snapshotId": the snapshot is not Ready), kNotFound,
// kFailedPrecondition (the decider's state checks; message names the state), kConflict (host
// network mode already holds a live sandbox: field "docker.network_mode"; or the retries ran out),
// kResourceExhausted (port range full: field "docker.port_range"), kUnavailable (runtime flag,
// store closed, shutting down), kDataLoss / kInternal from the store.
//
// Thread-safety: every method is thread-safe. Lifetime: the EventStore and Clock must
// outlive the service; shutdown() (also run by the destructor) finishes queued
// mutations, cancels pending waits and detaches from the store.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <string_view>
#include <utility>
#include <vector>

#include "events/command.h"
#include "events/pool.h"
#include "events/result.h"
#include "events/sandbox.h"
#include "src/common/clock.h"
#include "src/service/egress_policy.h"
#include "src/service/endpoint_resolver.h"
#include "src/service/port_allocator.h"
#include "src/service/service_options.h"
#include "src/service/transition_waiter.h"
#include "src/service/work_pool.h"
#include "store/event_store.h"

namespace sbx {

// Who asked: recorded on every event the command causes.
struct RequestContext {
  std::string request_id;  // X-Request-ID (may be empty)
  std::string actor;       // "api", "api:<key-id>", "worker:provisioner", "expirer", ...
};

// A create request as the API validated it. The service fills spec.network_mode and
// spec.ports, and for a snapshotId the snapshot's image (spec.image_uri) and, when none
// was given, the default entrypoint `tail -f /dev/null`.
struct CreateRequest {
  SandboxSpec spec;  // image or snapshot, entrypoint, env, limits, platform, opaque JSON
  // image.auth: never logged. The service sets spec.image_auth_provided and hands the
  // credentials to the store's secrets area with the append (EventStore AppendRequest).
  std::optional<ImageAuth> image_auth;
  std::map<std::string, std::string> metadata;
  std::optional<std::int64_t> timeout_seconds;  // nullopt: manual cleanup, never expires
  bool secure_access = false;
  std::string idempotency_key;  // empty: none
  // extensions.poolRef: take a warm member of this pool (events/pool.h) instead of
  // provisioning; spec may then leave image, entrypoint and limits empty (the pool's
  // template). When no member is available the sandbox is created cold from the template,
  // unless `pool_warm_only` (extensions.poolWarmOnly = "true"): then kResourceExhausted,
  // field "poolRef" (the api's 429 <RT>::POOL_CAPACITY_EXHAUSTED).
  // When the cluster keeps the pools (set_cluster_pools): no member is claimed; the sandbox
  // is created from the template with spec.pool_ref = the pool's name (the runtime takes
  // its pod from the cluster's pool), refused as above with pool_warm_only while the
  // cluster reports no available pod. (spec.pool_ref of a request is ignored: only
  // pool_ref sets it.)
  std::string pool_ref;
  bool pool_warm_only = false;
};

struct CreateResult {
  Sandbox sandbox;        // as appended (Pending), or the earlier sandbox on a replay
  bool replayed = false;  // the Idempotency-Key matched an earlier create
  int http_status = 202;  // the status the first answer carried (replays repeat it)
  // How a create with poolRef was served: "warm" (a member was claimed: the sandbox is
  // already Running), "cold" (created from the template) or "cluster" (created with
  // spec.pool_ref: the cluster's pool controller hands it a warm pod); "" without poolRef.
  std::string pool_claim;
};

struct CommandResult {
  Sandbox sandbox;                  // the state right after the command's events
  std::uint64_t last_position = 0;  // 0 when the command changed nothing
  std::size_t events = 0;           // how many events were appended
};

struct ListQuery {
  std::vector<SandboxState> states;                           // OR; empty = any
  // A state filter was given but names no known state (?state=Unknown): nothing matches,
  // as the reference server answers (200 with no items), instead of "any state".
  bool no_state_matches = false;
  std::vector<std::pair<std::string, std::string>> metadata;  // AND, exact
  int page = 1;                                               // >= 1
  int page_size = 20;                                         // >= 1
};

struct ListPage {
  std::vector<std::shared_ptr<const Sandbox>> items;  // createdAt descending
  std::size_t total_items = 0;
  int page = 1;
  int page_size = 20;
  std::size_t total_pages = 0;
  bool has_next_page = false;
};

class SandboxService {
 public:
  using Predicate = TransitionWaiter::Predicate;
  using WaitCallback = TransitionWaiter::Callback;

  // Seeds the port allocator and the host slot from the live projection and registers a
  // commit listener on `store`.
  SandboxService(EventStore& store, const Clock& clock, ServiceOptions options);
  ~SandboxService();
  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // --- reads (memory only) -------------------------------------------------------------
  // nullptr when absent, Terminated or deleted.
  std::shared_ptr<const Sandbox> get(std::string_view sandbox_id) const;
  ListPage list(const ListQuery& query) const;
  // Port 18080 of a sandbox with a network policy carries the header
  // OPENSANDBOX-EGRESS-AUTH: <its egress token> (src/common/egress_token.h).
  [[nodiscard]] Result<Endpoint> endpoint(std::string_view sandbox_id, int port) const;

  // --- mutations (block the caller for one durable append, never on a runtime) ---------
  [[nodiscard]] Result<CreateResult> create(CreateRequest request, const RequestContext& ctx);
  // Warm pools (src/service/pool_service.h): creates one member of pool `pool_name`, made
  // by its generation `generation`, through the ordinary create path (validation, ports,
  // one append; the provisioner starts it like any sandbox). The SandboxRequested carries
  // spec.pool_name/pool_generation; metadata, timeout (no deadline), idempotency key,
  // image credentials, secureAccess and poolRef of `request` are dropped. Errors: those of
  // create(), and kInvalidArgument (field "pool") without a pool name or generation.
  [[nodiscard]] Result<CreateResult> create_member(CreateRequest request, std::string pool_name,
                                                   std::uint64_t generation,
                                                   const RequestContext& ctx);
  // Whether a pool's template (a create request) passes every check a create runs
  // (validate_create: timeout, networkPolicy, volumes, ...). The error's field is the
  // create's field prefixed with "template." ("template.networkPolicy").
  [[nodiscard]] Result<void> validate_template(const CreateRequest& request) const;
  // The generic path: any command for an existing sandbox (API commands, and the Record*
  // outcomes of the runtime workers). Commands the decider finds already reflected in the
  // state append nothing and succeed (events == 0).
  [[nodiscard]] Result<CommandResult> execute(std::string_view sandbox_id, const Command& command,
                                              const RequestContext& ctx);

  // The same, run on the service's mutation threads; `done` runs there too. After
  // shutdown() began, `done` runs at once on the caller's thread with kUnavailable; with
  // max_queued_mutations already queued, at once with kResourceExhausted.
  void create_async(CreateRequest request, RequestContext ctx,
                    std::function<void(Result<CreateResult>)> done);
  void execute_async(std::string sandbox_id, Command command, RequestContext ctx,
                     std::function<void(Result<CommandResult>)> done);

  // --- network policy (the egress sidecar's API) ----------------------------------------
  // The client that reaches sidecars (set once by the composition root, before serving;
  // without one every policy call is kUnavailable, field "egress").
  void set_egress_client(std::shared_ptr<EgressPolicyClient> client);
  // Forwards `method` ("GET", "PUT", "PATCH", "DELETE") with `body` (already validated
  // JSON, "" for GET) to the policy API of sandbox `sandbox_id`'s egress sidecar and returns
  // the sidecar's answer. A 2xx answer to a change is then recorded as NetworkPolicyChanged
  // {method, body} in the sandbox's stream (its append error is returned if that fails).
  // Errors: kNotFound; kFailedPrecondition field "networkPolicy" (created without a
  // policy); kFailedPrecondition (not Running; the message names the state); kUnavailable
  // field "egress" (the sidecar cannot be reached); the fence and storage refusals of a
  // client mutation for changes.
  [[nodiscard]] Result<EgressReply> network_policy(std::string_view sandbox_id,
                                                   const std::string& method,
                                                   const std::string& body,
                                                   const RequestContext& ctx);
  // The same on the mutation threads (see create_async for the refusals).
  void network_policy_async(std::string sandbox_id, std::string method, std::string body,
                            RequestContext ctx, std::function<void(Result<EgressReply>)> done);

  // --- server proxy (issue 13) -----------------------------------------------------------
  // Where the proxy connects for port `port` of a Running sandbox (endpoint_resolver.h
  // resolve_proxy_target; Docker's published ports on docker.port_bind_ip, never a bridge
  // address). kNotFound when absent or final. Memory only; any thread.
  [[nodiscard]] Result<ProxyTarget> proxy_target(std::string_view sandbox_id, int port) const;
  // A request reached the sandbox through the proxy. With options().renew_on_access and a
  // sandbox created with extensions["access.renew.extend.seconds"] = N, its expiry becomes
  // max(now + N, current) (an ExpirationRenewed event, actor "proxy:renew-intent", run on
  // the mutation threads), at most once per renew_min_interval per sandbox; a renewal that
  // would not move the expiry appends nothing. Never blocks the caller (a map lookup).
  void note_proxy_access(std::string_view sandbox_id);
  // --- warm pools (issue 14) --------------------------------------------------------------
  // Creates with poolRef served by a claim, by a cold create from the template, by a
  // create handed to the cluster's pool (spec.pool_ref), and refused because the pool was
  // empty and the client asked for a warm member only.
  struct PoolClaimCounts {
    std::uint64_t warm = 0;
    std::uint64_t cold = 0;
    std::uint64_t exhausted = 0;
    std::uint64_t cluster = 0;
  };
  PoolClaimCounts pool_claims() const {
    return {claims_warm_.load(), claims_cold_.load(), claims_exhausted_.load(),
            claims_cluster_.load()};
  }
  // Cluster-managed pools (PoolOptions::cluster_managed; PoolService sets this when it is
  // made and clears it at shutdown). Non-empty: pools live in the runtime's cluster, so a
  // create with poolRef claims no member but is created with spec.pool_ref (see
  // CreateRequest::pool_ref), and `available` answers how many warm pods the cluster
  // reports for a pool (PoolService::counts: 0 while unknown), which only the warm-only
  // refusal reads. Empty: members as before. Any thread; `available` runs on the creating
  // thread and must not call back into this service.
  using ClusterPoolAvailability = std::function<std::int64_t(const Pool&)>;
  void set_cluster_pools(ClusterPoolAvailability available);
  bool cluster_pools() const;

  // Renewals note_proxy_access started (for tests and metrics).
  std::uint64_t access_renewals() const { return access_renewals_.load(); }

  // --- waiting --------------------------------------------------------------------------
  // See transition_waiter.h: completes when `predicate` holds for the projection, when
  // the sandbox disappears, at the timeout, or at shutdown. No thread is held meanwhile.
  void wait_async(std::string sandbox_id, Predicate predicate, std::chrono::milliseconds timeout,
                  WaitCallback callback);

  // --- runtime availability -------------------------------------------------------------
  void set_runtime_available(bool available);
  bool runtime_available() const;

  // --- fencing ----------------------------------------------------------------------------
  // nullopt: this instance may mutate. A value: another instance holds the lease; the
  // value names it and becomes the start of every refusal's message, e.g. "the lease
  // sandboxes/sandboxd is held by sandboxd-1". Any thread.
  void set_fence(std::optional<std::string> holder);
  // The current fence value (nullopt when not fenced).
  std::optional<std::string> fence_holder() const;

  const ServiceOptions& options() const { return options_; }
  const PortAllocator& ports() const { return ports_; }
  std::size_t pending_waits() const;

  void shutdown();

 private:
  [[nodiscard]] Result<void> validate_create(const CreateRequest& request) const;
  // snapshotId without image.uri: the snapshot must exist (kNotFound, field "snapshotId")
  // and be Ready (kFailedPrecondition, field "snapshotId"); its image becomes image.uri and
  // the entrypoint defaults to `tail -f /dev/null` (the reference's default). Without
  // runtime support: kUnimplemented, field "runtime.snapshots".
  [[nodiscard]] Result<void> resolve_snapshot(CreateRequest& request) const;
  [[nodiscard]] Result<void> admit_mutation() const;
  // extensions.poolRef: the pool must exist (kNotFound, field "poolRef"); the request may
  // not ask for what its members do not have (kInvalidArgument naming the field: a
  // different image.uri, entrypoint, resourceLimits, platform, an env entry the template
  // does not set to that value, networkPolicy, volumes, snapshotId, image.auth). Fills the
  // spec from the template. Returns the pool.
  [[nodiscard]] Result<std::shared_ptr<const Pool>> resolve_pool(CreateRequest& request) const;
  // Takes an available member of `pool` for `request` (a SandboxClaimed appended with the
  // member's exact version; a conflict moves on to the next member). nullopt: no member
  // was available.
  [[nodiscard]] Result<std::optional<CreateResult>> claim_member(const Pool& pool,
                                                                 CreateRequest& request,
                                                                 const RequestContext& ctx,
                                                                 Micros now);
  [[nodiscard]] Result<CreateResult> create_locked_key(CreateRequest request,
                                                       const RequestContext& ctx);
  [[nodiscard]] Result<CreateResult> replay(const IdempotencyRecord& record) const;
  void on_commit(const std::vector<Event>& events);
  void release_resources(const std::string& sandbox_id);
  bool is_host_mode() const { return options_.network_mode == "host"; }

  EventStore& store_;
  const Clock& clock_;
  const ServiceOptions options_;
  PortAllocator ports_;
  std::atomic<bool> runtime_available_{true};
  std::atomic<bool> fenced_{false};           // == fence_.has_value(); the lock-free fast path
  mutable std::mutex fence_mu_;
  std::optional<std::string> fence_;          // guarded by fence_mu_

  std::mutex host_mu_;
  std::set<std::string, std::less<>> host_holders_;  // live sandboxes in host network mode

  std::mutex idem_mu_;
  std::condition_variable idem_cv_;
  std::set<std::string, std::less<>> idem_in_flight_;

  mutable std::mutex egress_mu_;
  std::shared_ptr<EgressPolicyClient> egress_client_;  // guarded by egress_mu_

  std::mutex renew_mu_;
  std::unordered_map<std::string, Micros> last_access_renew_;  // guarded by renew_mu_
  std::atomic<std::uint64_t> access_renewals_{0};

  std::mutex claim_mu_;
  std::set<std::string, std::less<>> claiming_;  // members a claim is being appended for
  std::atomic<std::uint64_t> claims_warm_{0};
  std::atomic<std::uint64_t> claims_cold_{0};
  std::atomic<std::uint64_t> claims_exhausted_{0};
  std::atomic<std::uint64_t> claims_cluster_{0};
  mutable std::mutex cluster_mu_;
  std::shared_ptr<const ClusterPoolAvailability> cluster_available_;  // cluster_mu_; null: off

  int listener_id_ = -1;
  TransitionWaiter waiter_;
  WorkPool pool_;
  std::once_flag shutdown_once_;
};

}  // namespace sbx
