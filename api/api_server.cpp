#include "api/api_server.h"

#include <signal.h>

#include <algorithm>
#include <thread>

#include "api/http_handler.h"
#include "api/server_impl.h"
#include "src/common/log.h"

namespace sbx::api {

using namespace Pistache;

namespace {

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

// --- ApiServer::Impl (the parts not about one request) -------------------------------------

ApiServer::Impl::Impl(ApiDeps d, ApiOptions o)
    : deps(std::move(d)),
      options(std::move(o)),
      runtime_prefix(runtime_prefix_of(options.runtime_type)),
      streamer(deps.reads.stream_events(options.sse_heartbeat)),
      parked(deps.service, options.max_parked) {}

void ApiServer::Impl::begin_request() {
  std::lock_guard lock(mu_);
  ++in_flight_;
}

void ApiServer::Impl::end_request() {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ > 0) --in_flight_;
  }
  idle_cv_.notify_all();
}

bool ApiServer::Impl::wait_idle(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, limit, [&] { return in_flight_ == 0; });
}

std::size_t ApiServer::Impl::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

void ApiServer::Impl::do_shutdown() {
  stopping = true;
  // Parked requests answer now with the state reached.
  parked.answer_all_now();
  // Proxied connections end now (their clients see the connection close).
  if (proxy) proxy->shutdown();
  // Mutations already running answer when their append completes.
  if (!wait_idle(std::chrono::seconds(10))) {
    logger("api")->warn("shutdown: {} requests still unanswered after 10 s", in_flight());
  }
  streamer->shutdown();
  // Answers are queued on the transport threads; give them a moment to reach the wire.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (endpoint) endpoint->shutdown();
}

// --- ApiServer ----------------------------------------------------------------------------

ApiServer::ApiServer(ApiDeps deps, ApiOptions options)
    : impl_(std::make_shared<Impl>(std::move(deps), std::move(options))) {}

ApiServer::~ApiServer() { shutdown(); }

void ApiServer::set_metrics_provider(std::function<std::string()> provider) {
  impl_->metrics_provider = std::move(provider);
}

Result<std::uint16_t> ApiServer::start() {
  if (impl_->started)
    return fail(ErrorCode::kFailedPrecondition, "the API server was already started");
  ::signal(SIGPIPE, SIG_IGN);
  const ApiOptions& o = impl_->options;
  std::string host = o.host.empty() ? "0.0.0.0" : o.host;
  if (!o.api_key && !is_loopback_host(host)) {
    if (o.insecure_server) {
      logger("api")->warn(
          "!!! NO API KEY and listening on {}: anyone who can reach this address can start "
          "containers on this host (server.insecure_server / OPENSANDBOX_INSECURE_SERVER). Set "
          "server.api_key or OPENSANDBOX_SERVER_API_KEY. !!!",
          host);
    } else {
      logger("api")->warn(
          "!!! NO API KEY: listening on 127.0.0.1 only, not on {} as configured. Set "
          "server.api_key (or OPENSANDBOX_SERVER_API_KEY) to serve the network, or allow an "
          "unauthenticated network bind explicitly with server.insecure_server = true or "
          "OPENSANDBOX_INSECURE_SERVER=YES. !!!",
          host);
      host = "127.0.0.1";
    }
  }
  try {
    Address addr = host == "0.0.0.0" ? Address(Ipv4::any(), Port(o.port)) : Address(host, Port(o.port));
    auto endpoint = std::make_unique<Http::Endpoint>(addr);
    // Read timeouts above the longest parked wait, so the server never cuts its own waits.
    const auto read_timeout = std::max<std::chrono::milliseconds>(
        std::chrono::seconds(60), o.max_wait + std::chrono::seconds(30));
    auto opts = Http::Endpoint::options()
                    .threads(std::max(1, o.threads))
                    .threadsName("sbx-http")
                    .flags(Tcp::Options::ReuseAddr)
                    .backlog(1024)
                    .maxRequestSize(o.max_body_bytes + kMaxHeadBytes + 1024)
                    .headerTimeout(read_timeout)
                    .bodyTimeout(read_timeout)
                    .keepaliveTimeout(std::chrono::seconds(std::max(1, o.keep_alive_seconds)));
    endpoint->init(opts);
    if (impl_->deps.resolve_proxy_target && o.proxy.enabled) {
      proxy::ProxyDeps pd{impl_->deps.resolve_proxy_target, impl_->deps.on_proxy_activity,
                          impl_->deps.verify_route,         o.api_key,
                          impl_->runtime_prefix,            impl_->deps.proxy_metrics};
      impl_->proxy = std::make_unique<proxy::ProxyEngine>(o.proxy, std::move(pd));
      impl_->proxy->start();
    }
    endpoint->setHandler(make_http_handler(impl_.get()));
    endpoint->serveThreaded();
    impl_->bound_port = static_cast<std::uint16_t>(endpoint->getPort());
    impl_->bound_host = host;
    // Requests that are not proxy routes on a connection the proxy took over go back to
    // this server through loopback (or the address bound, when it is not a wildcard).
    if (impl_->proxy) {
      impl_->proxy->set_api_address(host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host,
                                    impl_->bound_port);
    }
    impl_->endpoint = std::move(endpoint);
  } catch (const std::exception& e) {
    if (impl_->proxy) {
      impl_->proxy->shutdown();
      impl_->proxy.reset();
    }
    return fail(ErrorCode::kUnavailable,
                "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + e.what(),
                "server.port");
  }
  impl_->started = true;
  logger("api")->info("listening on {}:{} ({} threads{})", host, impl_->bound_port, o.threads,
                      o.api_key ? ", API key required" : ", no API key: auth is off");
  return impl_->bound_port;
}

void ApiServer::shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    if (!impl_->started) {
      impl_->streamer->shutdown();
      return;
    }
    impl_->do_shutdown();
  });
}

std::uint16_t ApiServer::port() const { return impl_->bound_port; }

std::string ApiServer::bound_host() const { return impl_->bound_host; }

std::size_t ApiServer::connections() const { return impl_->connections.load(); }

std::size_t ApiServer::proxy_connections() const {
  return impl_->proxy ? impl_->proxy->connections() : 0;
}

std::size_t ApiServer::in_flight() const { return impl_->in_flight(); }

}  // namespace sbx::api
