// Server: the composition root. Builds every part of sandboxd from a validated Config,
// in dependency order, and owns them:
//
//   metrics registry -> migrations -> event store -> (ServerStarted event) -> service ->
//   runtime (RuntimeFactory, by runtime.type) -> workers (provisioner, expirer, reconciler)
//   -> HTTP API
//
// and stops them in reverse: the API stops accepting and finishes in-flight requests, the
// workers stop (their checkpoints are in the store), the service completes parked waits,
// and the store closes cleanly. Nothing else in the code base wires modules together.
//
// The Config -> options mappings live beside this file (runtime_options.h for the runtime
// and the workers). A runtime.type without a registration in builtin_runtime_factory() is
// refused before the store is touched.
//
// A Docker engine that does not answer at start is not fatal: the server logs one
// warning, serves reads, answers mutations 503 and /health says `runtime: down` until
// the reconciler sees the engine again.
//
// Nor is a data directory that refuses writes (disk full): migrations that are not needed
// write nothing, the store opens read-only (StoreOptions::read_only_if_unwritable), the
// ServerStarted event is skipped with an error log, and the server serves reads while every
// mutation answers 503 SANDBOX::STORAGE_UNAVAILABLE (the store's kUnavailable, field
// "store"), until it is restarted with a writable disk. A write that fails while running
// degrades the store the same way (store/event_store.h). sandboxd_store_writable says which.
//
// On Kubernetes a Lease (kubernetes.lease_name in kubernetes.namespace) fences a second
// sandboxd on the same namespace: until this one holds it, the workers do not run and every
// mutation answers 503 KUBERNETES::LEASE_NOT_HELD naming the holder, while reads are served;
// it takes over when the holder stops renewing (within kubernetes.lease_duration_seconds),
// and stop() releases it for a successor at once.
//
// Thread-safety: create/start/stop from one thread (main). Errors of create/start:
// kFailedPrecondition (store schema newer than this binary, unsupported runtime type),
// kUnavailable (data directory unusable, port in use), kInvalidArgument.
#pragma once

#include <cstdint>
#include <memory>

#include "events/result.h"
#include "src/config/config.h"

namespace rocksdb {
class Env;
}

namespace sbx {

class KubernetesRuntime;

// Test seams, never set in production.
struct ServerHooks {
  rocksdb::Env* store_env = nullptr;  // the store's RocksDB environment (fault injection)
};

class Server {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(const Config& config,
                                                              const ServerHooks& hooks = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the workers and the HTTP API; returns the bound port (server.port 0 = ephemeral).
  [[nodiscard]] Result<std::uint16_t> start();
  // Graceful and idempotent.
  void stop();

 private:
  struct Parts;
  explicit Server(std::unique_ptr<Parts> parts);
  // The Lease changed hands (Kubernetes): start the workers and serve mutations, or stop
  // them and serve reads only. Runs on the elector's thread.
  static void on_lease(Parts& parts, bool leading);
  // Docker, docker.adopt_reference_sandboxes: the reference server's sandboxes on the engine
  // become adopted sandboxes (reference_adoption.h). Never fatal (logged).
  static void adopt_at_startup(Parts& parts, bool engine_reachable);
  // sandboxd_kubernetes_* (pod informer and Lease), read at each scrape.
  [[nodiscard]] static Result<void> add_kubernetes_metrics(Parts& parts, KubernetesRuntime& kube);
  std::unique_ptr<Parts> parts_;
};

}  // namespace sbx
