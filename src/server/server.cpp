#include "src/server/server.h"

#include <atomic>
#include <filesystem>
#include <optional>

#include "api/api_server.h"
#include "migrations/migrations.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/metrics/http_metrics.h"
#include "src/metrics/process_metrics.h"
#include "src/metrics/registry.h"
#include "src/metrics/runtime_metrics.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "src/metrics/worker_metrics.h"
#include "src/server/api_options.h"
#include "src/server/log_metrics.h"
#include "src/server/runtime_factory.h"
#include "src/server/runtime_options.h"
#include "src/server/service_options_from.h"
#include "src/server/version.h"
#include "src/service/event_reads.h"
#include "src/service/sandbox_service.h"
#include "src/workers/workers.h"
#include "store/event_store.h"

namespace sbx {

struct Server::Parts {
  Config config;
  SystemClock clock;
  SpdlogSink log_sink;  // what store/ and migrations/ log through
  metrics::Registry registry;
  std::optional<metrics::HttpMetrics> http_metrics;
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
  std::unique_ptr<Workers> workers;
  std::unique_ptr<api::ApiServer> api;
  bool stopped = false;
};

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
  p->store_metrics.emplace(p->registry);
  p->sandbox_metrics.emplace(p->registry);
  p->worker_metrics.emplace(p->registry);
  p->runtime_metrics.emplace(p->registry);
  if (auto pm = metrics::ProcessMetrics::attach(p->registry))
    p->process_metrics.emplace(std::move(*pm));

  // The store: migrate first (creates a new directory at the newest schema), then open.
  const std::string& path = config.store.path;
  std::error_code ec;
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

  p->service = std::make_unique<SandboxService>(*p->store, p->clock, service_options_from(config));
  p->reads = std::make_unique<EventReads>(*p->store);

  auto runtime = runtimes.create(config, RuntimeDeps{.instance_id = p->store->instance_id()});
  if (!runtime) return std::unexpected(runtime.error());
  p->runtime = std::move(*runtime);
  if (auto ping = p->runtime->ping(); !ping) {
    log->warn("{} is not reachable ({}); serving reads, mutations answer 503 until it is",
              runtimes.describe(config), ping.error().message);
    p->service->set_runtime_available(false);
  }

  Parts* raw = p.get();
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

  api::ApiDeps deps{*p->service, *p->reads, {}, &*p->http_metrics};
  // The API reports runtime {type, available} and store {head, liveSandboxes} itself;
  // the composition root adds what only it knows.
  deps.health_details = [raw] {
    return nlohmann::json{{"version", kVersion}, {"dockerHost", raw->config.docker.host}};
  };
  p->api = std::make_unique<api::ApiServer>(std::move(deps), api_options_from(config));
  p->api->set_metrics_provider([raw] { return raw->registry.expose(); });
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

Result<std::uint16_t> Server::start() {
  auto log = logger("server");
  if (auto w = parts_->workers->start(); !w) return std::unexpected(w.error());
  auto port = parts_->api->start();
  if (!port) return port;
  log->info("sandboxd {} listening on {}:{} (runtime docker at {}, network mode {})", kVersion,
            parts_->api->bound_host(), *port, parts_->config.docker.host,
            parts_->config.docker.network_mode);
  return port;
}

void Server::stop() {
  if (!parts_ || parts_->stopped) return;
  parts_->stopped = true;
  if (parts_->api) parts_->api->shutdown();
  if (parts_->workers) parts_->workers->stop();
  if (parts_->service) parts_->service->shutdown();
  parts_->log_metrics.reset();
  if (parts_->store) parts_->store->close();
}

}  // namespace sbx
