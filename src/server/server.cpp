#include "src/server/server.h"

#include <unistd.h>

#include <atomic>
#include <functional>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

#include "api/api_server.h"
#include "migrations/migrations.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/metrics/http_metrics.h"
#include "src/metrics/proxy_metrics.h"
#include "src/metrics/process_metrics.h"
#include "src/metrics/registry.h"
#include "src/metrics/snapshot_metrics.h"
#include "src/metrics/runtime_metrics.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "src/metrics/worker_metrics.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/server/api_options.h"
#include "src/server/egress_policy_client.h"
#include "src/server/log_metrics.h"
#include "src/server/reference_adoption.h"
#include "src/server/proxy_wiring.h"
#include "src/server/runtime_factory.h"
#include "src/server/instrumented_runtime.h"
#include "src/server/kubernetes_options.h"
#include "src/server/runtime_diagnostics_source.h"
#include "src/server/runtime_options.h"
#include "src/server/service_options_from.h"
#include "src/server/version.h"
#include "src/service/event_reads.h"
#include "src/service/sandbox_service.h"
#include "src/service/pool_service.h"
#include "src/service/snapshot_service.h"
#include "src/workers/pool_keeper.h"
#include "src/workers/snapshotter.h"
#include "src/workers/workers.h"
#include "store/event_store.h"

namespace sbx {

struct Server::Parts {
  Config config;
  SystemClock clock;
  SpdlogSink log_sink;  // what store/ and migrations/ log through
  metrics::Registry registry;
  std::optional<metrics::HttpMetrics> http_metrics;
  std::optional<metrics::ProxyMetrics> proxy_metrics;
  std::optional<metrics::StoreMetrics> store_metrics;
  std::optional<metrics::SandboxMetrics> sandbox_metrics;
  std::optional<metrics::WorkerMetrics> worker_metrics;
  std::optional<metrics::RuntimeMetrics> runtime_metrics;
  std::optional<metrics::ProcessMetrics> process_metrics;
  std::unique_ptr<EventStore> store;
  std::unique_ptr<LogMetrics> log_metrics;
  std::unique_ptr<SandboxService> service;
  std::unique_ptr<EventReads> reads;  // the api's read port onto the log
  std::unique_ptr<Runtime> runtime;
  // Runs the diagnostics routes' runtime calls (issue 13); after the runtime it calls, before
  // the api that holds it (destroyed in reverse).
  std::unique_ptr<DiagnosticsRunner> diagnostics;
  std::unique_ptr<Workers> workers;
  // Docker with proxy.connect_in_netns: the sandboxes' network namespaces for the proxy;
  // before the api whose proxy threads read it (destroyed in reverse).
  std::unique_ptr<NetnsCache> netns;
  std::unique_ptr<api::ApiServer> api;
  // Snapshots (issue 13): the service always, the worker on runtimes that take snapshots.
  std::unique_ptr<SnapshotService> snapshots;
  std::unique_ptr<Snapshotter> snapshotter;
  std::optional<metrics::SnapshotMetrics> snapshot_metrics;
  metrics::CallbackHandle snapshots_by_state;  // before the store goes: reads it
  // Warm pools (issue 14): the service and its keeper (which runs with the workers: only
  // while this instance may mutate).
  std::unique_ptr<PoolService> pools;
  std::unique_ptr<PoolKeeper> pool_keeper;
  std::vector<metrics::CallbackHandle> pool_metrics;  // before the store goes: reads it
  // Kubernetes only: the Lease that fences a second sandboxd on the namespace. The workers
  // run, and mutations are served, only while it is held (on_lease() starts and stops them).
  std::unique_ptr<KubeClient> lease_client;
  std::unique_ptr<LeaseElector> lease;
  std::mutex workers_mu;  // on_lease() (the elector's thread) against stop() (main)
  bool stopped = false;   // workers_mu
  // Kubernetes only: scrape-time metrics of the pod informer and the Lease. Last, so they
  // are unregistered before the runtime and the elector they read go away.
  std::vector<metrics::CallbackHandle> kubernetes_metrics;
};

namespace {

std::string lease_identity(const std::string& instance_id) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "sandboxd") + "/" + instance_id;
}

std::string not_leading_message(const Config& c, const std::string& holder) {
  return (holder.empty() ? std::string("another sandboxd")
                         : "another sandboxd (" + holder + ")") +
         " holds the lease " + c.kubernetes.namespace_ + "/" + c.kubernetes.lease_name;
}

// secure_runtime at startup: `type` is logged (informational); on Docker, docker_runtime must
// be one of the engine's runtimes. An engine that did not answer the ping cannot be asked:
// the check is left to the first create (DockerRuntime::create_and_start), as everything
// else that needs the engine.
Result<void> check_secure_runtime(const Config& config, Runtime& runtime, bool reachable) {
  auto log = logger("server");
  const auto& sr = config.secure_runtime;
  const bool docker = config.runtime.type == RuntimeType::kDocker;
  if (sr.docker_runtime && !docker) {
    log->warn("secure_runtime.docker_runtime = \"{}\" is used only with runtime.type = "
              "\"docker\" (ignored; on Kubernetes set secure_runtime.k8s_runtime_class)",
              *sr.docker_runtime);
  } else if (sr.docker_runtime) {
    auto* engine =
        dynamic_cast<DockerRuntime*>(&static_cast<InstrumentedRuntime&>(runtime).inner());
    auto ok = engine == nullptr || !reachable ? Result<void>() : engine->check_oci_runtime();
    if (!ok && ok.error().code == ErrorCode::kFailedPrecondition) {
      return std::unexpected(ok.error());
    }
    if (!reachable || !ok) {
      log->warn("secure_runtime.docker_runtime = \"{}\" could not be checked against the Docker "
                "engine's runtimes ({}); it is checked before the first create",
                *sr.docker_runtime, ok ? "the engine is unreachable" : ok.error().message);
    }
  }
  if (sr.type) {
    log->info("secure_runtime.type = \"{}\" (informational); sandbox containers run with {}",
              *sr.type,
              docker ? (sr.docker_runtime ? "the Docker runtime \"" + *sr.docker_runtime + "\""
                                          : std::string("the Docker engine's default runtime"))
                     : (sr.k8s_runtime_class
                            ? "the RuntimeClass \"" + *sr.k8s_runtime_class + "\""
                            : std::string("the cluster's default RuntimeClass")));
  } else if (sr.docker_runtime && docker) {
    log->info("sandbox containers run with the Docker runtime \"{}\" "
              "(secure_runtime.docker_runtime)",
              *sr.docker_runtime);
  }
  return {};
}

}  // namespace

Result<void> Server::add_kubernetes_metrics(Parts& p, KubernetesRuntime& kube) {
  using metrics::CallbackSample;
  using metrics::MetricType;
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    std::function<double()> read;
  };
  const PodInformer* informer = &kube.informer();
  Parts* parts = &p;
  const std::vector<Def> defs = {
      {"sandboxd_kubernetes_pods_cached", "Sandbox pods in the informer's cache.",
       MetricType::kGauge, [informer] { return double(informer->stats().objects); }},
      {"sandboxd_kubernetes_informer_healthy",
       "1 while the pod informer can list and watch the API server, else 0.", MetricType::kGauge,
       [informer] { return informer->healthy() ? 1.0 : 0.0; }},
      {"sandboxd_kubernetes_informer_lists_total",
       "Complete pod LISTs (the first and every relist).", MetricType::kCounter,
       [informer] { return double(informer->stats().lists); }},
      {"sandboxd_kubernetes_informer_gone_total",
       "410 Gone answers to the pod watch (each one is followed by a relist).",
       MetricType::kCounter, [informer] { return double(informer->stats().gone); }},
      {"sandboxd_kubernetes_informer_watch_restarts_total",
       "Pod watches started again after one ended or broke.", MetricType::kCounter,
       [informer] { return double(informer->stats().watch_restarts); }},
      {"sandboxd_kubernetes_lease_held",
       "1 while this sandboxd holds the namespace's Lease and runs its workers, else 0.",
       MetricType::kGauge,
       [parts] {
         return parts->lease && parts->lease->leading() && !parts->service->fence_holder() ? 1.0
                                                                                          : 0.0;
       }},
  };
  for (const Def& def : defs) {
    auto handle = p.registry.add_callback(def.name, def.help, def.type, {},
                                          [read = def.read]() -> std::vector<CallbackSample> {
                                            return {{{}, read()}};
                                          });
    if (!handle) return std::unexpected(handle.error());
    p.kubernetes_metrics.push_back(std::move(*handle));
  }
  return {};
}

// docker.adopt_reference_sandboxes: the reference server's sandboxes on the engine become
// adopted sandboxes (src/server/reference_adoption.h). Never fatal: the server runs without.
void Server::adopt_at_startup(Parts& p, bool engine_reachable) {
  const Config& config = p.config;
  if (config.runtime.type != RuntimeType::kDocker) return;
  auto log = logger("server");
  if (!config.docker.adopt_reference_sandboxes) {
    log->info("docker.adopt_reference_sandboxes = false: the reference server's sandboxes are "
              "not adopted");
    return;
  }
  if (!engine_reachable || !p.store->writable()) {
    log->warn("not adopting the reference server's sandboxes now: {}",
              engine_reachable ? "the store cannot write" : "the engine is not reachable");
    return;
  }
  auto* docker =
      dynamic_cast<DockerRuntime*>(&static_cast<InstrumentedRuntime&>(*p.runtime).inner());
  if (docker == nullptr) return;
  ReferenceAdoptionOptions options;
  options.actor = "server";
  options.metadata_dir = default_reference_metadata_dir();
  if (auto r = adopt_reference_sandboxes(*docker, *p.store, p.clock, options); !r) {
    log->warn("adopting the reference server's sandboxes failed ({}); serving without them",
              r.error().message);
  }
}

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(const Config& config, const ServerHooks& hooks) {
  auto log = logger("server");
  // An unsupported runtime.type is refused before anything is touched.
  const RuntimeFactory runtimes = builtin_runtime_factory();
  if (auto ok = runtimes.check(config); !ok) return std::unexpected(ok.error());
  auto p = std::make_unique<Parts>();
  p->config = config;
  p->http_metrics.emplace(p->registry);
  p->proxy_metrics.emplace(p->registry);
  p->store_metrics.emplace(p->registry);
  p->sandbox_metrics.emplace(p->registry);
  p->worker_metrics.emplace(p->registry);
  p->runtime_metrics.emplace(p->registry);
  if (auto pm = metrics::ProcessMetrics::attach(p->registry))
    p->process_metrics.emplace(std::move(*pm));

  // The store: migrate first (creates a new directory at the newest schema), then open.
  const std::string& path = config.store.path;
  std::error_code ec;
  // An existing file there is someone else's data (the reference server's SQLite database
  // at a store.path copied from its config): refused, never opened or migrated.
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_directory(path, ec)) {
    return fail(ErrorCode::kInvalidArgument,
                "store.path " + path +
                    " is an existing file, not a sandboxd store (a directory); it is not "
                    "opened. Point store.path at a directory (the reference server's database "
                    "file cannot be shared)",
                "store.path");
  }
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return fail(ErrorCode::kUnavailable, "cannot create store.path " + path + ": " + ec.message(),
                "store.path");
  }
  MigrateOptions mo;
  mo.env = hooks.store_env;
  mo.log_sink = &p->log_sink;
  auto migrated = migrate(path, p->clock, mo);
  if (!migrated) return std::unexpected(migrated.error());
  StoreOptions so;
  so.path = path;
  so.sync = config.store.sync;
  so.read_only_if_unwritable = true;  // a full disk still serves reads
  so.env = hooks.store_env;
  so.log_sink = &p->log_sink;
  so.clock = &p->clock;
  auto store = EventStore::open(so);
  if (!store) return std::unexpected(store.error());
  p->store = std::move(*store);
  if (!config.store.sync)
    log->warn("store.sync = false: the last acknowledged writes may be lost on power failure");
  log->info("store {} opened: head {}, {} live sandboxes, instance {}", path, p->store->head(),
            p->store->live_sandbox_count(), p->store->instance_id());
  p->log_metrics = std::make_unique<LogMetrics>(*p->store, *p->store_metrics, *p->sandbox_metrics);

  // The runtime, before anything is recorded: a configuration the engine cannot serve
  // (secure_runtime.docker_runtime it lacks) refuses the start.
  auto runtime = runtimes.create(config, RuntimeDeps{.instance_id = p->store->instance_id()});
  if (!runtime) return std::unexpected(runtime.error());
  p->runtime = std::make_unique<InstrumentedRuntime>(std::move(*runtime), *p->runtime_metrics);
  auto ping = p->runtime->ping();
  if (auto ok = check_secure_runtime(config, *p->runtime, ping.has_value()); !ok) {
    return std::unexpected(ok.error());
  }

  // A control-plane fact for the audit trail.
  AppendRequest started;
  started.stream = std::string(kSystemStream);
  started.expected = ExpectedVersion::any();
  Event ev;
  ev.event_id = new_uuid();
  ev.time = p->clock.now();
  ev.actor = "server";
  ev.reason = Reason::kRuntime;
  ev.data = ServerStarted{kVersion, p->store->live_sandbox_count()};
  started.events.push_back(std::move(ev));
  // Not fatal: a disk that refuses writes must not stop the server from serving reads.
  if (!p->store->writable()) {
    log->error("the store cannot write: serving reads only; mutations answer 503 "
               "SANDBOX::STORAGE_UNAVAILABLE until sandboxd restarts with a writable disk");
  } else if (auto r = p->store->append(std::move(started)); !r) {
    log->error("recording ServerStarted failed ({}); serving anyway", r.error().message);
  }

  if (!ping) {
    log->warn("{} is not reachable ({}); serving reads, mutations answer 503 until it is",
              runtimes.describe(config), ping.error().message);
  }
  // Before the service (its port allocator seeds from the live projection, adopted
  // sandboxes' host ports included) and before the workers start.
  adopt_at_startup(*p, ping.has_value());

  p->service = std::make_unique<SandboxService>(*p->store, p->clock, service_options_from(config));
  // The policy routes reach egress sidecars on their published 18080 host port.
  p->service->set_egress_client(std::make_shared<HttpEgressPolicyClient>(
      HttpEgressPolicyClient::host_for(config.docker.port_bind_ip),
      std::chrono::milliseconds(10'000)));
  p->reads = std::make_unique<EventReads>(*p->store);
  if (!ping) p->service->set_runtime_available(false);

  Parts* raw = p.get();
  if (config.runtime.type == RuntimeType::kKubernetes) {
    auto client_options = kube_client_options_from(config, process_environment());
    if (!client_options) return std::unexpected(client_options.error());
    auto client = KubeClient::create(std::move(*client_options));
    if (!client) return std::unexpected(client.error());
    p->lease_client = std::move(*client);
    p->lease = std::make_unique<LeaseElector>(
        *p->lease_client, lease_options_from(config, lease_identity(p->store->instance_id())),
        [raw](bool leading) { on_lease(*raw, leading); }, p->clock);
    p->service->set_fence("this sandboxd has not acquired the lease " +
                          config.kubernetes.namespace_ + "/" + config.kubernetes.lease_name +
                          " yet");
  }
  if (auto* kube = dynamic_cast<KubernetesRuntime*>(
          &static_cast<InstrumentedRuntime&>(*p->runtime).inner())) {
    if (auto r = add_kubernetes_metrics(*p, *kube); !r) return std::unexpected(r.error());
  }
  Recorder recorder = [raw](const std::string& id, const Command& cmd,
                            const RecordContext& ctx) -> Result<void> {
    auto r = raw->service->execute(id, cmd, RequestContext{ctx.request_id, ctx.actor});
    if (!r) return std::unexpected(r.error());
    return {};
  };
  p->workers = std::make_unique<Workers>(
      *p->store, *p->runtime, p->clock, std::move(recorder), worker_options_from(config),
      WorkerMetricsRefs{&*p->worker_metrics, &*p->sandbox_metrics},
      [raw](bool available) { raw->service->set_runtime_available(available); });

  // Snapshots (issue 13).
  p->snapshots = std::make_unique<SnapshotService>(*p->store, p->clock, *p->service,
                                                   p->runtime->supports_snapshots());
  p->snapshot_metrics.emplace(p->registry);
  {
    auto h = p->snapshot_metrics->expose_snapshots_by_state([raw] {
      std::map<SnapshotState, double> counts;
      for (SnapshotState s : kAllSnapshotStates) counts[s] = 0;
      for (const auto& sn : raw->store->list_snapshots()) counts[sn->state] += 1;
      std::vector<metrics::CallbackSample> out;
      for (const auto& [state, n] : counts) out.push_back({{std::string(to_string(state))}, n});
      return out;
    });
    if (!h) return std::unexpected(h.error());
    p->snapshots_by_state = std::move(*h);
  }
  if (p->runtime->supports_snapshots()) {
    p->snapshotter = std::make_unique<Snapshotter>(
        *p->store, *p->runtime,
        [raw](const std::string& id, const SnapshotCommand& cmd) -> Result<void> {
          auto r = raw->snapshots->execute(id, cmd, RequestContext{"", "worker:snapshotter"});
          if (!r) return std::unexpected(r.error());
          return {};
        },
        [raw](const std::string& kind, const std::string& detail) {
          AppendRequest req;
          req.stream = std::string(kSystemStream);
          req.expected = ExpectedVersion::any();
          Event e;
          e.time = raw->clock.now();
          e.actor = "worker:snapshotter";
          e.reason = Reason::kReconcile;
          e.data = ReconcileFinding{kind, "", detail};
          req.events.push_back(std::move(e));
          if (auto r = raw->store->append(std::move(req)); !r) {
            logger("server")->warn("recording {} failed: {}", kind, r.error().message);
          }
        },
        &*p->snapshot_metrics);
  }

  // Warm pools (issue 14).
  // A runtime whose cluster keeps the pools (Kubernetes provider batchsandbox): the keeper
  // makes each pool a Pool of the cluster and a create with poolRef is handed to it.
  PoolOptions pool_options{config.pools.enabled, config.pools.max_members, config.pools.max_pools};
  pool_options.cluster_managed = p->runtime->manages_pools();
  p->pools = std::make_unique<PoolService>(*p->store, p->clock, *p->service, pool_options);
  if (config.pools.enabled) {
    PoolKeeperOptions keeper;
    keeper.interval = std::chrono::milliseconds(config.pools.keeper_interval_ms);
    p->pool_keeper = std::make_unique<PoolKeeper>(*p->store, p->clock, *p->pools, *p->service,
                                                  keeper, p->runtime.get());
  }
  {
    auto members = p->registry.add_callback(
        "sandboxd_pool_members", "Members of each warm pool, by state (available, warming, "
        "allocated).", metrics::MetricType::kGauge, {"pool", "state"}, [raw] {
          std::vector<metrics::CallbackSample> out;
          for (const auto& v : raw->pools->list()) {
            out.push_back({{v.pool->name, "available"}, static_cast<double>(v.counts.available)});
            out.push_back({{v.pool->name, "warming"}, static_cast<double>(v.counts.warming)});
            out.push_back({{v.pool->name, "allocated"}, static_cast<double>(v.counts.allocated)});
          }
          return out;
        });
    if (!members) return std::unexpected(members.error());
    p->pool_metrics.push_back(std::move(*members));
    auto claims = p->registry.add_callback(
        "sandboxd_pool_claims_total", "Creates that named a pool, by how they were served "
        "(warm: a member was claimed; cold: created from the template; cluster: handed to the "
        "cluster's pool; exhausted: refused).",
        metrics::MetricType::kCounter, {"result"}, [raw] {
          const auto c = raw->service->pool_claims();
          return std::vector<metrics::CallbackSample>{
              {{"warm"}, static_cast<double>(c.warm)},
              {{"cold"}, static_cast<double>(c.cold)},
              {{"cluster"}, static_cast<double>(c.cluster)},
              {{"exhausted"}, static_cast<double>(c.exhausted)}};
        });
    if (!claims) return std::unexpected(claims.error());
    p->pool_metrics.push_back(std::move(*claims));
    auto keeper_errors = p->registry.add_callback(
        "sandboxd_pool_keeper_errors_total", "Pool keeper actions that failed (a member's "
        "create or removal; with a cluster that keeps the pools, a list, apply or delete of "
        "its pools); each is logged and retried.",
        metrics::MetricType::kCounter, {}, [raw] {
          const double errors =
              raw->pool_keeper ? static_cast<double>(raw->pool_keeper->stats().errors) : 0.0;
          return std::vector<metrics::CallbackSample>{{{}, errors}};
        });
    if (!keeper_errors) return std::unexpected(keeper_errors.error());
    p->pool_metrics.push_back(std::move(*keeper_errors));
  }

  api::ApiDeps deps{*p->service, *p->reads, {}, &*p->http_metrics};
  // Diagnostics (issue 13): logs and inspect through the instrumented runtime.
  p->diagnostics = std::make_unique<DiagnosticsRunner>(
      std::make_shared<RuntimeDiagnosticsSource>(*p->runtime, p->clock));
  deps.diagnostics = p->diagnostics.get();
  deps.snapshots = p->snapshots.get();
  deps.pools = p->pools.get();
  // The server proxy (issue 13): targets and renew-intent from the service, signed routes
  // checked with proxy.signing_secret.
  {
    // Docker on this host: reach sandboxes from inside their network namespaces.
    if (config.runtime.type == RuntimeType::kDocker && config.proxy.connect_in_netns &&
        config.docker.host.starts_with("unix://")) {
      p->netns = std::make_unique<NetnsCache>(*p->runtime);
    }
    ProxyCallbacks cb = proxy_callbacks(*p->service, p->clock,
                                        config.proxy.signing_secret.value_or(""),
                                        std::string(api::runtime_prefix_of(to_string(config.runtime.type))),
                                        p->netns.get());
    deps.resolve_proxy_target = std::move(cb.resolve);
    deps.on_proxy_activity = std::move(cb.on_activity);
    deps.verify_route = std::move(cb.verify_route);
    deps.proxy_metrics = &*p->proxy_metrics;
  }
  // The API reports runtime {type, available} and store {head, liveSandboxes} itself;
  // the composition root adds what only it knows.
  deps.health_details = [raw] {
    nlohmann::json details{{"version", kVersion}};
    if (raw->config.runtime.type == RuntimeType::kDocker) {
      details["dockerHost"] = raw->config.docker.host;
    } else {
      details["kubernetes"] = {{"namespace", raw->config.kubernetes.namespace_},
                               {"provider", to_string(raw->config.kubernetes.workload_provider)}};
    }
    if (raw->lease) {
      // Whether this instance serves mutations (it holds the namespace's Lease), and who does.
      // "held": it holds the lease and its workers run (mutations are served).
      details["lease"] = {{"name", raw->config.kubernetes.lease_name},
                          {"held", raw->lease->leading() && !raw->service->fence_holder()},
                          {"holder", raw->lease->holder()}};
    }
    return details;
  };
  p->api = std::make_unique<api::ApiServer>(std::move(deps), api_options_from(config));
  p->api->set_metrics_provider([raw] { return raw->registry.expose(); });
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

void Server::on_lease(Parts& p, bool leading) {
  auto log = logger("server");
  std::lock_guard lock(p.workers_mu);
  if (p.stopped) return;
  if (leading) {
    if (auto w = p.workers->start(); !w) {
      log->error("acquired the lease but the workers did not start ({}); still serving reads "
                 "only",
                 w.error().message);
      return;
    }
    p.service->set_fence(std::nullopt);
    log->info("acquired the lease {}/{}: workers started, serving mutations",
              p.config.kubernetes.namespace_, p.config.kubernetes.lease_name);
  } else {
    p.service->set_fence(not_leading_message(p.config, p.lease->holder()));
    p.workers->stop();
    log->error("lost the lease {}/{} (holder now {}): workers stopped, serving reads only until "
               "it is held again",
               p.config.kubernetes.namespace_, p.config.kubernetes.lease_name,
               p.lease->holder().empty() ? "unknown" : p.lease->holder());
  }
}

Result<std::uint16_t> Server::start() {
  auto log = logger("server");
  if (!parts_->lease) {
    if (auto w = parts_->workers->start(); !w) return std::unexpected(w.error());
  }
  if (parts_->snapshotter) {
    if (auto s = parts_->snapshotter->start(); !s) return std::unexpected(s.error());
  }
  if (parts_->pool_keeper) {
    if (auto s = parts_->pool_keeper->start(); !s) return std::unexpected(s.error());
  }
  auto port = parts_->api->start();
  if (!port) return port;
  const RuntimeFactory runtimes = builtin_runtime_factory();
  if (parts_->config.runtime.type == RuntimeType::kDocker) {
    log->info("sandboxd {} listening on {}:{} (runtime: {}, network mode {})", kVersion,
              parts_->api->bound_host(), *port, runtimes.describe(parts_->config),
              parts_->config.docker.network_mode);
  } else {
    log->info("sandboxd {} listening on {}:{} (runtime: {})", kVersion, parts_->api->bound_host(),
              *port, runtimes.describe(parts_->config));
  }
  if (parts_->lease) {
    log->info("waiting for the lease {}/{}: serving reads only until it is held",
              parts_->config.kubernetes.namespace_, parts_->config.kubernetes.lease_name);
    parts_->lease->start();
  }
  return port;
}

void Server::stop() {
  if (!parts_) return;
  {
    std::lock_guard lock(parts_->workers_mu);
    if (parts_->stopped) return;
    parts_->stopped = true;
  }
  // The lease first (released for a successor at once), then the API, then the workers.
  if (parts_->lease) parts_->lease->stop();
  if (parts_->api) parts_->api->shutdown();
  if (parts_->diagnostics) parts_->diagnostics->shutdown();
  if (parts_->snapshotter) parts_->snapshotter->stop();
  if (parts_->snapshots) parts_->snapshots->shutdown();
  if (parts_->pool_keeper) parts_->pool_keeper->stop();
  if (parts_->pools) parts_->pools->shutdown();
  if (parts_->workers) parts_->workers->stop();
  if (parts_->service) parts_->service->shutdown();
  parts_->log_metrics.reset();
  parts_->snapshots_by_state = metrics::CallbackHandle();
  parts_->pool_metrics.clear();
  if (parts_->store) parts_->store->close();
}

}  // namespace sbx
