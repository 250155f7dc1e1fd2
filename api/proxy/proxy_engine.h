// ProxyEngine: the server proxy. It owns the client connections that HttpHandler took away
// from Pistache (a request whose target is a proxy route, api/proxy/proxy_path.h) and
// relays them, over Boost.Beast/Asio, to the sandbox's port (Resolve) or, for the other
// requests of such a connection, unchanged to the API server itself (set_api_address).
//
// What it does per request: authorizes (API key for /sandboxes/{id}/proxy/{port} when
// `api_key` is set; VerifyRoute for /proxy/{route}), resolves, calls OnActivity, strips
// the client's OPEN-SANDBOX-API-KEY (always), Authorization and Cookie (unless
// forward_credentials) and the hop-by-hop headers (and those named in Connection), sets
// Host and X-Forwarded-For/-Proto/-Host/-Prefix, re-frames bodies (Content-Length kept,
// chunked re-chunked) and streams both ways through one bounded buffer per direction
// (backpressure: nothing is read while the other side does not take what was read). An
// upgrade answered 101 becomes a raw byte relay until both sides closed. Upstream
// connections are kept alive in a small idle pool per target.
//
// Errors are answered as JSON {code,message} with X-Request-ID, then the connection is
// closed: 400 malformed head or ambiguous framing (Content-Length with Transfer-Encoding,
// repeated Content-Length), 431 head over kMaxHeadBytes, 401 key, 403 signed route, 404 id,
// 400 port, 502 SANDBOX::PROXY_UPSTREAM_UNREACHABLE, 504 SANDBOX::PROXY_UPSTREAM_TIMEOUT
// (connect_timeout, or no response head within idle_timeout), 503 SANDBOX::PROXY_BUSY
// (more than max_connections client connections), 503 SANDBOX::SHUTTING_DOWN; the
// ApiError of Resolve/VerifyRoute as returned. A head not complete within header_timeout
// is 408, no byte either way for idle_timeout (also on a WebSocket or an event stream)
// closes the connection; timeouts are checked every quarter of the shortest one (5..500 ms).
// A request with `OpenSandbox-Access-Renew: skip` does not call OnActivity (the header is
// consumed); a root-relative Location of an answer is prefixed with the proxy route used.
//
// Threads: `threads` io threads, each with its own io_context; a connection lives on one of
// them (assigned in turn). adopt(),
// set_api_address(), connections() are thread-safe. start() once; shutdown() (idempotent)
// closes every connection and joins the threads within about a second; the destructor
// calls it. The callbacks and the ProxyMetrics must outlive the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/proxy/proxy_options.h"
#include "src/metrics/proxy_metrics.h"

namespace sbx::api::proxy {

struct ProxyDeps {
  Resolve resolve;                      // required
  OnActivity on_activity;               // may be null
  VerifyRoute verify_route;             // null: /proxy/{route} answers 404
  std::optional<std::string> api_key;   // unset/empty: no key required
  std::string runtime_prefix = "DOCKER";
  metrics::ProxyMetrics* metrics = nullptr;  // null: not recorded
};

class ProxyEngine {
 public:
  ProxyEngine(ProxyOptions options, ProxyDeps deps);
  ~ProxyEngine();
  ProxyEngine(const ProxyEngine&) = delete;
  ProxyEngine& operator=(const ProxyEngine&) = delete;

  void start();
  // Where requests that are not proxy routes go (the API server's bound address).
  void set_api_address(std::string host, std::uint16_t port);
  // Takes ownership of `fd` (a connected TCP socket, closed by the engine in every case):
  // `already_read` are the bytes read from it so far (at least one complete request head,
  // maybe part of its body), `client_address` the peer's IP for X-Forwarded-For.
  void adopt(int fd, std::string already_read, std::string client_address);
  void shutdown();
  // Client connections held now.
  std::size_t connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sbx::api::proxy
