// ApiServer: the OpenSandbox lifecycle REST API over Pistache 0.0.5.
//
// Every route is served at `/` and under `/v1` (GET /health only at the root):
//   POST   /sandboxes                       202 CreateSandboxResponse (Idempotency-Key,
//                                           Prefer: respond-async)
//   GET    /sandboxes                       200 list (state, metadata, page, pageSize)
//   GET    /sandboxes/{id}                  200 Sandbox | 404
//   DELETE /sandboxes/{id}                  204
//   PATCH  /sandboxes/{id}/metadata         200 Sandbox (RFC 7396)
//   POST   /sandboxes/{id}/pause|resume     202, empty
//   POST   /sandboxes/{id}/renew-expiration 200 {"expiresAt"}
//   GET    /sandboxes/{id}/endpoints/{port} 200 {"endpoint"} (no scheme)
//   GET    /sandboxes/{id}/events           200 full history, also after delete
//   GET    /events?since=N                  server-sent events of the global log
//   GET    /sandboxes/{id}/diagnostics/logs|inspect|events|summary
//                                           200 text/plain (api/diagnostics_handlers.cpp)
//   POST   /pools                           201 PoolResponse (warm pools, issue 14:
//   GET    /pools                           200 {items}      api/pool_handlers.cpp)
//   GET    /pools/{name}                    200 PoolResponse | 404
//   PUT    /pools/{name}                    200 PoolResponse (capacitySpec only)
//   DELETE /pools/{name}                    204
//   GET    /health  /openapi.json  /docs  /redoc  /metrics
//   *      /sandboxes/{id}/proxy/{port}[/{path...}], /proxy/{route}[/{path...}]
//          the server proxy: a connection whose request names one of these is taken away
//          from Pistache and served by the ProxyEngine from then on (api/proxy/).
// Contract details (status codes, error codes, validation) are in
// ../shared/design/API.md and in our OpenAPI document (api/openapi.json). The routes are
// one declarative table (api/routes.cpp); handlers are grouped by resource (handlers.h).
//
// Threads: `threads` Pistache workers parse requests and answer reads in place. They never
// block: mutations run on the service's mutation threads, and a request that waits for an
// outcome is parked (its response is sent later by whichever thread completes the wait).
// Server-sent events are written by one streamer thread.
//
// Auth: with `api_key` set, every route but /health, /docs, /redoc, /openapi.json (and
// /metrics unless `metrics_auth`) needs header OPEN-SANDBOX-API-KEY (constant-time
// compare): 401 MISSING_API_KEY / INVALID_API_KEY otherwise; /health then shows only its
// status to a caller without the key. Without `api_key` the server binds loopback only
// unless `insecure_server`. Bodies of POST /sandboxes, PATCH …/metadata, POST
// …/renew-expiration, POST /pools and PUT /pools/{name} must be `Content-Type: application/json` (415 otherwise: a browser
// page cannot send that cross-site without a preflight). A path id that is not a sandbox
// id (a lowercase UUID) is 404 without a lookup. Every answer carries
// X-Request-ID (the client's, trimmed, or a fresh UUID), which is also recorded on the
// events the request causes.
//
// Reads of the log (history, the event stream, /health's store facts) go through the
// service's read port (src/service/event_reads.h), never the store itself.
//
// Lifecycle: construct, optionally set_metrics_provider(), start() (binds; returns the
// port, useful with port 0), shutdown() (new requests get 503, parked requests are
// answered with the state reached, event streams end, in-flight answers are flushed,
// then the listener stops). The destructor calls shutdown(). Not copyable. start() and
// shutdown() must not run concurrently with each other; everything else is thread-safe.
// The SandboxService, EventReads and HttpMetrics passed in must outlive the server.
//
// Errors: start() returns kUnavailable when the address cannot be bound (message names
// it), kFailedPrecondition when called twice.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/docs_pages.h"
#include "api/proxy/proxy_options.h"
#include "events/result.h"
#include "src/metrics/http_metrics.h"
#include "src/service/diagnostics_runner.h"
#include "src/metrics/proxy_metrics.h"
#include "src/service/event_reads.h"
#include "src/service/pool_service.h"
#include "src/service/sandbox_service.h"
#include "src/service/snapshot_service.h"

namespace sbx::api {

struct ApiOptions {
  std::string host = "0.0.0.0";          // server.host
  std::uint16_t port = 8080;             // server.port; 0 = ephemeral (start() returns it)
  int threads = 2;                       // server.threads
  std::size_t max_body_bytes = 1048576;  // server.max_body_bytes -> 413 above
  std::optional<std::string> api_key;    // server.api_key; unset/empty = auth off
  bool metrics_auth = false;             // server.metrics_auth
  int keep_alive_seconds = 30;           // server.timeout_keep_alive
  std::string runtime_type = "docker";   // error code prefix: DOCKER:: / KUBERNETES::
  std::chrono::milliseconds sse_heartbeat{15000};
  // Where /docs and /redoc load the swagger-ui-dist and redoc packages from.
  std::string docs_assets_base = std::string(kDefaultDocsAssetsBase);
  // How long a mutating request waits for its outcome unless Prefer: respond-async
  // (server.create_wait_ms for POST /sandboxes, server.transition_wait_ms for the others);
  // 0 = answer at once.
  std::int64_t create_wait_ms = 30000;
  std::int64_t transition_wait_ms = 10000;
  // Longest any request may be parked (create/transition waits); the HTTP read timeouts
  // are set above it so a parked connection is never cut by the server itself.
  std::chrono::milliseconds max_wait{30000};
  // storage.allowed_host_paths: prefixes a `host` volume of a create may mount; empty =
  // none allowed.
  std::vector<std::string> allowed_host_paths;
  // server.insecure_server: without api_key, bind `host` even when it is not loopback.
  // Otherwise an unauthenticated server listens on 127.0.0.1 only (and says so loudly).
  bool insecure_server = false;
  // Caps (server.max_connections, ...): see config.h. 0 for max_parked = never wait.
  std::size_t max_connections = 1024;
  std::size_t max_parked = 4096;
  std::size_t max_event_streams = 256;
  std::size_t event_stream_buffer_bytes = 1 << 20;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // The server proxy (api/proxy/proxy_engine.h): served on this same port when `enabled`
  // and ApiDeps::resolve_proxy_target is set.
  proxy::ProxyOptions proxy;
  // --- endpoints of the server proxy (issue 13) ---
  // server.eip: the base of server-proxied endpoints; unset = the Host the client used.
  std::optional<std::string> public_base;
  // proxy.signing_secret: the HMAC key of signed routes; empty = `expires` refused (400).
  std::string route_signing_secret;
  // --- diagnostics (issue 13) ---
  // The most bytes of container output GET …/diagnostics/logs (and summary) reads; beyond,
  // the rest is not read and the answer says it was truncated.
  std::size_t diagnostics_log_bytes = std::size_t{1} << 20;
};

struct ApiDeps {
  SandboxService& service;
  EventReads& reads;  // the history and watch endpoints, /health's store facts
  // Extra members merged into the /health document (e.g. runtime details); may be empty.
  std::function<nlohmann::json()> health_details;
  // Request counts and latencies by route template and status; null = not recorded.
  metrics::HttpMetrics* http_metrics = nullptr;
  // Runs the runtime calls of GET …/diagnostics/logs|inspect|summary off the HTTP threads;
  // null = those answer 503 (events still work). Must outlive the server.
  DiagnosticsRunner* diagnostics = nullptr;
  // Snapshots (issue 13); null: the snapshot routes answer 501 SNAPSHOT::NOT_SUPPORTED.
  SnapshotService* snapshots = nullptr;
  // Warm pools (issue 14: /pools routes); null, or PoolService::options().enabled false:
  // the pool routes answer 501 <RUNTIME>::POOL_NOT_SUPPORTED. Must outlive the server.
  PoolService* pools = nullptr;
  // The server proxy's callbacks (api/proxy/proxy_options.h). Null resolve_proxy_target (or
  // ApiOptions::proxy.enabled false): proxy routes answer 501
  // SANDBOX::SERVER_PROXY_NOT_SUPPORTED. Null verify_route: /proxy/{route} answers 404.
  proxy::Resolve resolve_proxy_target;
  proxy::OnActivity on_proxy_activity;
  proxy::VerifyRoute verify_route;
  // sandboxd_proxy_* metrics; null = not recorded.
  metrics::ProxyMetrics* proxy_metrics = nullptr;
};

class ApiServer {
 public:
  ApiServer(ApiDeps deps, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The body of GET /metrics (Prometheus text). Set before start(); without it /metrics
  // answers 404.
  void set_metrics_provider(std::function<std::string()> provider);

  [[nodiscard]] Result<std::uint16_t> start();
  void shutdown();

  std::uint16_t port() const;
  // The address actually bound (127.0.0.1 instead of `host` for an unauthenticated server
  // that may not listen on the network); empty before start().
  std::string bound_host() const;
  // Requests whose answer has not been written yet (parked waits included).
  std::size_t in_flight() const;
  // Client connections open now (those that sent at least one byte), not counting those
  // handed to the proxy.
  std::size_t connections() const;
  // Client connections held by the server proxy now (0 without it).
  std::size_t proxy_connections() const;

  struct Impl;  // the state requests share (server_impl.h)

 private:
  std::shared_ptr<Impl> impl_;  // shared with requests still being answered
};

}  // namespace sbx::api
