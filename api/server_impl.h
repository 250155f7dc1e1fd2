// ApiServer::Impl: the state of one API server that requests still being answered share
// (through Exchange, which holds it by shared_ptr): dependencies and options, the event
// stream, the in-flight count, the parked exchanges, the Pistache endpoint. Internal to
// api/: api_server.cpp starts and stops it, http_handler.cpp feeds requests in, routes.cpp
// dispatches them to the handlers of sandbox_handlers.cpp, event_handlers.cpp and
// operations_handlers.cpp.
//
// Thread-safety: the fields set before start() (deps, options, metrics_provider) are
// read-only afterwards; the rest say how they are guarded.
#pragma once

#include "api/pistache.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "api/api_server.h"
#include "api/exchange.h"
#include "api/proxy/proxy_engine.h"
#include "src/service/event_streamer.h"

namespace sbx::api {

struct ApiServer::Impl : std::enable_shared_from_this<ApiServer::Impl> {
  Impl(ApiDeps d, ApiOptions o);

  ApiDeps deps;
  ApiOptions options;
  std::string runtime_prefix;                // "DOCKER" / "KUBERNETES"
  std::unique_ptr<EventStreamer> streamer;   // GET /events subscribers
  ParkedExchanges parked;
  std::function<std::string()> metrics_provider;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint;
  // The server proxy; null when not configured (set by start() before the endpoint serves,
  // read-only afterwards).
  std::unique_ptr<proxy::ProxyEngine> proxy;
  std::uint16_t bound_port = 0;
  std::string bound_host;  // set by start()
  std::atomic<std::size_t> connections{0};
  bool started = false;
  std::atomic<bool> stopping{false};
  std::once_flag shutdown_once;

  void begin_request();
  void end_request();
  // Until no request is in flight, at most `limit`; false if some still are.
  bool wait_idle(std::chrono::milliseconds limit);
  std::size_t in_flight() const;

  // A parsed request: routes it (routes.cpp). `target` is the request target as sent
  // (path and query; repeated query keys kept). `peer` and `transport` are null when the
  // request did not come through HttpHandler::onInput. `on_sent` (may be null) runs on the
  // answering thread once the answer was handed to the transport (Exchange::set_on_sent;
  // the hand-off to the proxy waits for it on a pipelining connection).
  void dispatch(const Pistache::Http::Request& req, std::string_view target,
                Pistache::Http::ResponseWriter w, Pistache::Tcp::Transport* transport,
                const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                std::function<void()> on_sent = {});
  // An answer before (or instead of) routing: a refused connection or a malformed request
  // (http_handler.cpp). With `close_peer`, the connection is closed once it is written.
  void reject_early(Pistache::Http::ResponseWriter w, const ApiError& error,
                    const std::shared_ptr<Pistache::Tcp::Peer>& close_peer,
                    Pistache::Tcp::Transport* transport = nullptr);
  void do_shutdown();

 private:
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::size_t in_flight_ = 0;  // guarded by mu_
};

}  // namespace sbx::api
