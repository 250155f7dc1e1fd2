// Server: the composition root. Builds every part of sandboxd from a validated Config,
// in dependency order, and owns them:
//
//   metrics registry -> migrations -> event store -> (ServerStarted event) -> service ->
//   runtime (Docker) -> workers (provisioner, expirer, reconciler) -> HTTP API
//
// and stops them in reverse: the API stops accepting and finishes in-flight requests, the
// workers stop (their checkpoints are in the store), the service completes parked waits,
// and the store closes cleanly. Nothing else in the code base wires modules together.
//
// A Docker engine that does not answer at start is not fatal: the server logs one
// warning, serves reads, answers mutations 503 and /health says `runtime: down` until
// the reconciler sees the engine again.
//
// Thread-safety: create/start/stop from one thread (main). Errors of create/start:
// kFailedPrecondition (store schema newer than this binary, unsupported runtime type),
// kUnavailable (data directory unusable, port in use), kInvalidArgument.
#pragma once

#include <cstdint>
#include <memory>

#include "events/result.h"
#include "src/config/config.h"

namespace sbx {

class Server {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(const Config& config);
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
  std::unique_ptr<Parts> parts_;
};

}  // namespace sbx
