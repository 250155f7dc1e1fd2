// Test fixture for the HTTP API: a real RocksDB store in a temp dir, the real service, the
// real ApiServer on 127.0.0.1 port 0, and FakeWorker, an in-process stand-in for the
// runtime workers that tails the log and records outcomes through
// SandboxService::execute (started, paused, resumed, terminated), as the real workers do.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "api/api_server.h"
#include "src/common/clock.h"
#include "src/service/event_reads.h"
#include "src/service/pool_service.h"
#include "src/service/sandbox_service.h"
#include "src/service/snapshot_service.h"
#include "store/event_store.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {

using json = nlohmann::json;

// Tails the global log from its head and answers request events like a fast runtime.
class FakeWorker {
 public:
  FakeWorker(EventStore& store, SandboxService& service, bool fail_provisioning = false)
      : store_(store), service_(service), fail_(fail_provisioning), from_(store.head()) {
    thread_ = std::thread([this] { run(); });
  }
  ~FakeWorker() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    const RequestContext ctx{"", "worker:fake"};
    while (!stop_) {
      store_.wait_for_commit(from_, 50'000);
      auto events = store_.read(from_ + 1, 512);
      if (!events) continue;
      for (const auto& e : *events) {
        from_ = e.position;
        // Snapshots (issue 13): committed and removed at once.
        if (snapshots_ != nullptr && !snapshot_id_of(e.stream).empty()) {
          const std::string sid(snapshot_id_of(e.stream));
          if (std::holds_alternative<SnapshotRequested>(e.data)) {
            (void)snapshots_->execute(sid, RecordSnapshotReady{"sha256:fake-" + sid}, ctx);
          } else if (std::holds_alternative<SnapshotDeletionRequested>(e.data)) {
            (void)snapshots_->execute(sid, RecordSnapshotDeleted{}, ctx);
          }
          continue;
        }
        if (!e.stream.starts_with("sandbox-")) continue;
        const std::string id = e.stream.substr(8);
        std::optional<Command> outcome;
        if (std::holds_alternative<SandboxRequested>(e.data)) {
          if (fail_) {
            outcome =
                RecordProvisioningFailed{"DOCKER::SANDBOX_IMAGE_PULL_FAILED", "image not found"};
          } else {
            outcome = RecordStarted{"container-" + id.substr(0, 8)};
          }
        } else if (std::holds_alternative<PauseRequested>(e.data)) {
          outcome = RecordPaused{};
        } else if (std::holds_alternative<ResumeRequested>(e.data)) {
          outcome = RecordResumed{};
        } else if (std::holds_alternative<DeletionRequested>(e.data)) {
          outcome = RecordTerminated{0, "removed"};
        }
        if (outcome) (void)service_.execute(id, *outcome, ctx);
      }
    }
  }

  EventStore& store_;
  SandboxService& service_;
  const bool fail_;
 public:
  SnapshotService* snapshots_ = nullptr;  // set before the first snapshot request
 private:
  std::uint64_t from_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct ApiHarnessOptions {
  ServiceOptions service;
  api::ApiOptions api;
  bool worker = true;  // run a FakeWorker
  bool fail_provisioning = false;
  DiagnosticsRunner* diagnostics = nullptr;  // the diagnostics routes' runtime calls
  // The server proxy's callbacks (ApiDeps); null resolve = no proxy.
  api::proxy::Resolve resolve_proxy_target;
  api::proxy::OnActivity on_proxy_activity;
  api::proxy::VerifyRoute verify_route;
  metrics::ProxyMetrics* proxy_metrics = nullptr;
  // Warm pools (issue 14): the PoolService's options; nullopt = none (the pool routes
  // answer 501). No pool keeper runs: members are made by the test (create_member).
  std::optional<PoolOptions> pools = PoolOptions{};
};

inline ApiHarnessOptions default_harness_options() {
  ApiHarnessOptions o;
  o.service.network_mode = "bridge";
  o.service.port_range_low = 43000;
  o.service.port_range_high = 44999;
  o.service.probe_host_ports = false;
  o.service.endpoint_rules.host = "127.0.0.1";
  o.service.mutation_threads = 8;
  o.api.create_wait_ms = 5000;
  o.api.transition_wait_ms = 5000;
  o.api.host = "127.0.0.1";
  o.api.port = 0;
  o.api.threads = 2;
  o.api.max_wait = std::chrono::milliseconds(5000);
  return o;
}

// Everything of one server process; restart() brings it back on the same data directory.
class ApiHarness {
 public:
  explicit ApiHarness(ApiHarnessOptions options = default_harness_options(), std::string dir = {})
      : options_(std::move(options)) {
    if (dir.empty()) {
      owned_dir_ = std::make_unique<TempDir>("sandboxd-api");
      dir_ = owned_dir_->str();
    } else {
      dir_ = std::move(dir);
    }
    start();
  }
  ~ApiHarness() { stop(); }

  void start() {
    auto s = EventStore::open(StoreOptions{.path = dir_, .sync = false});
    if (!s) throw std::runtime_error("store: " + s.error().message);
    store_ = std::move(*s);
    service_ = std::make_unique<SandboxService>(*store_, clock_, options_.service);
    reads_ = std::make_unique<EventReads>(*store_);
    snapshots_ = std::make_unique<SnapshotService>(*store_, clock_, *service_,
                                                   options_.service.snapshots_supported);
    if (options_.pools) {
      pools_ = std::make_unique<PoolService>(*store_, clock_, *service_, *options_.pools);
    }
    if (options_.worker) {
      worker_ = std::make_unique<FakeWorker>(*store_, *service_, options_.fail_provisioning);
      worker_->snapshots_ = snapshots_.get();
    }
    api::ApiDeps deps{*service_, *reads_, health_details, http_metrics};
    deps.diagnostics = options_.diagnostics;
    deps.snapshots = snapshots_.get();
    deps.pools = pools_.get();
    deps.resolve_proxy_target = options_.resolve_proxy_target;
    deps.on_proxy_activity = options_.on_proxy_activity;
    deps.verify_route = options_.verify_route;
    deps.proxy_metrics = options_.proxy_metrics;
    server_ = std::make_unique<api::ApiServer>(std::move(deps), options_.api);
    if (metrics_provider) server_->set_metrics_provider(metrics_provider);
    auto port = server_->start();
    if (!port) throw std::runtime_error("server: " + port.error().message);
    port_ = *port;
  }
  void stop() {
    if (server_) server_->shutdown();
    if (worker_) worker_->stop();
    if (snapshots_) snapshots_->shutdown();
    if (pools_) pools_->shutdown();
    if (service_) service_->shutdown();
    server_.reset();
    worker_.reset();
    reads_.reset();
    snapshots_.reset();
    pools_.reset();
    service_.reset();
    store_.reset();
  }
  void restart() {
    stop();
    start();
  }

  std::uint16_t port() const { return port_; }
  EventStore& store() { return *store_; }
  SandboxService& service() { return *service_; }
  SnapshotService& snapshots() { return *snapshots_; }
  PoolService& pools() { return *pools_; }
  api::ApiServer& server() { return *server_; }
  const std::string& dir() const { return dir_; }

  std::function<json()> health_details;
  metrics::HttpMetrics* http_metrics = nullptr;
  std::function<std::string()> metrics_provider;

 private:
  ApiHarnessOptions options_;
  std::unique_ptr<TempDir> owned_dir_;
  std::string dir_;
  SystemClock clock_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<SandboxService> service_;
  std::unique_ptr<SnapshotService> snapshots_;
  std::unique_ptr<PoolService> pools_;
  std::unique_ptr<EventReads> reads_;
  std::unique_ptr<FakeWorker> worker_;
  std::unique_ptr<api::ApiServer> server_;
  std::uint16_t port_ = 0;
};

inline std::string create_body(const json& overrides = json::object()) {
  json j = {{"image", {{"uri", "busybox:latest"}}},
            {"entrypoint", {"sleep", "infinity"}},
            {"timeout", 3600},
            {"resourceLimits", {{"cpu", "500m"}, {"memory", "512Mi"}}}};
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    if (it->is_null() && it.key().starts_with("-")) {
      j.erase(it.key().substr(1));
    } else {
      j[it.key()] = *it;
    }
  }
  return j.dump();
}

inline json body_json(const HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "not JSON: " << r.body;
  return j;
}

}  // namespace sbx::testing
