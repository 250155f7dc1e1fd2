#include "api/routes.h"

#include <algorithm>
#include <string>

#include "api/handlers.h"
#include "api/proxy/proxy_path.h"
#include "api/server_impl.h"
#include "src/common/uuid.h"

namespace sbx::api {

using namespace Pistache;
using Http::Method;

namespace {

// GET before POST and GET before DELETE: the Allow header of a 405 lists a template's
// methods in this order.
constexpr Route kRoutes[] = {
    {Method::Get, "/health", Auth::kHealth, handlers::health, Body::kAny, Prefixes::kRootOnly},
    {Method::Get, "/sandboxes", Auth::kApiKey, handlers::list_sandboxes},
    {Method::Post, "/sandboxes", Auth::kApiKey, handlers::create_sandbox, Body::kJson},
    {Method::Get, "/sandboxes/{id}", Auth::kApiKey, handlers::get_sandbox},
    {Method::Delete, "/sandboxes/{id}", Auth::kApiKey, handlers::delete_sandbox},
    {Method::Patch, "/sandboxes/{id}/metadata", Auth::kApiKey, handlers::patch_metadata,
     Body::kJson},
    {Method::Post, "/sandboxes/{id}/pause", Auth::kApiKey, handlers::pause_sandbox},
    {Method::Post, "/sandboxes/{id}/resume", Auth::kApiKey, handlers::resume_sandbox},
    {Method::Post, "/sandboxes/{id}/renew-expiration", Auth::kApiKey, handlers::renew_expiration,
     Body::kJson},
    {Method::Get, "/sandboxes/{id}/endpoints/{port}", Auth::kApiKey, handlers::get_endpoint},
    {Method::Get, "/sandboxes/{id}/networkpolicy", Auth::kApiKey, handlers::network_policy},
    {Method::Put, "/sandboxes/{id}/networkpolicy", Auth::kApiKey, handlers::network_policy,
     Body::kJson},
    {Method::Patch, "/sandboxes/{id}/networkpolicy", Auth::kApiKey, handlers::network_policy,
     Body::kJson},
    {Method::Delete, "/sandboxes/{id}/networkpolicy", Auth::kApiKey, handlers::network_policy,
     Body::kJson},
    {Method::Get, "/sandboxes/{id}/events", Auth::kApiKey, handlers::sandbox_history},
    {Method::Get, "/events", Auth::kApiKey, handlers::watch_events},
    // diagnostics (issue 13)
    {Method::Get, "/sandboxes/{id}/diagnostics/logs", Auth::kApiKey, handlers::diagnostics_logs},
    {Method::Get, "/sandboxes/{id}/diagnostics/inspect", Auth::kApiKey,
     handlers::diagnostics_inspect},
    {Method::Get, "/sandboxes/{id}/diagnostics/events", Auth::kApiKey,
     handlers::diagnostics_events},
    {Method::Get, "/sandboxes/{id}/diagnostics/summary", Auth::kApiKey,
     handlers::diagnostics_summary},
    {Method::Get, "/openapi.json", Auth::kPublic, handlers::openapi},
    {Method::Get, "/docs", Auth::kPublic, handlers::swagger_ui},
    {Method::Get, "/redoc", Auth::kPublic, handlers::redoc},
    {Method::Get, "/metrics", Auth::kMetrics, handlers::metrics},
    // Snapshots (issue 13).
    {Method::Post, "/sandboxes/{id}/snapshots", Auth::kApiKey, handlers::create_snapshot,
     Body::kJson},
    {Method::Get, "/snapshots", Auth::kApiKey, handlers::list_snapshots},
    {Method::Get, "/snapshots/{snapshotId}", Auth::kApiKey, handlers::get_snapshot},
    {Method::Delete, "/snapshots/{snapshotId}", Auth::kApiKey, handlers::delete_snapshot},
    // Warm pools (issue 14).
    {Method::Get, "/pools", Auth::kApiKey, handlers::list_pools},
    {Method::Post, "/pools", Auth::kApiKey, handlers::create_pool, Body::kJson},
    {Method::Get, "/pools/{name}", Auth::kApiKey, handlers::get_pool},
    {Method::Put, "/pools/{name}", Auth::kApiKey, handlers::update_pool, Body::kJson},
    {Method::Delete, "/pools/{name}", Auth::kApiKey, handlers::delete_pool},
};

// "application/json", any case, with or without parameters ("; charset=utf-8").
bool is_json_content_type(const Http::Request& req) {
  auto ct = req.headers().tryGetRaw("Content-Type");
  if (!ct) return false;
  const std::string value = ct->value();
  std::string_view v = trim(value);
  v = trim(v.substr(0, v.find(';')));
  return iequals(v, "application/json");
}

// A sandbox id as the service makes them: a lowercase UUID.
bool is_sandbox_id(std::string_view s) {
  return is_uuid(s) &&
         std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace

std::span<const Route> api_routes() { return kRoutes; }

const Router& api_router() {
  static const Router router = Router::make(kRoutes).value();
  return router;
}

void ApiServer::Impl::dispatch(const Http::Request& req, std::string_view target,
                               Http::ResponseWriter w, Tcp::Transport* transport,
                               const std::shared_ptr<Tcp::Peer>& peer,
                               std::function<void()> on_sent) {
  std::optional<std::string_view> rid_header;
  std::string rid_raw;
  if (auto raw = req.headers().tryGetRaw("X-Request-ID")) {
    rid_raw = raw->value();
    rid_header = rid_raw;
  }
  auto ex = std::make_shared<Exchange>(shared_from_this(), std::move(w),
                                       request_id_from(rid_header),
                                       Http::methodString(req.method()));
  if (on_sent) ex->set_on_sent(std::move(on_sent));

  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view raw_query =
      qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);

  RouteMatch match;
  api_router().match(req.method(), path, match);
  if (match.result() == RouteMatch::Result::kNotFound) {
    if (proxy::is_proxy_target(path)) {  // reaches here only without a ProxyEngine
      ex->send_error(api_error(ApiErrorKind::kServerProxyNotSupported,
                               "this server has no server proxy (proxy.enabled = false or no "
                               "proxy target resolver)"));
      return;
    }
    ex->send_error(api_error(ApiErrorKind::kRouteNotFound, "no route for " + std::string(path)));
    return;
  }
  ex->set_route(match.label());
  if (match.result() == RouteMatch::Result::kMethodNotAllowed) {
    const std::string allow(match.allow());
    ex->send(405,
             render_error(api_error(ApiErrorKind::kMethodNotAllowed,
                                    std::string(Http::methodString(req.method())) +
                                        " is not allowed on " + std::string(match.label()) +
                                        " (allowed: " + allow + ")")),
             &json_mime(), {{"Allow", allow}});
    return;
  }
  const Route& route = *match.route();

  // Auth.
  const bool auth_on = options.api_key && !options.api_key->empty();
  const auto holds_key = [&] {
    auto key = req.headers().tryGetRaw("OPEN-SANDBOX-API-KEY");
    return key && constant_time_equals(trim(key->value()), *options.api_key);
  };
  if (route.auth == Auth::kHealth) {
    // Answered whatever else holds (shutdown, body, query): health is how operators look.
    const QueryParams no_query;
    return route.handler(
        Call{*this, req, ex, match, no_query, transport, peer, !auth_on || holds_key()});
  }
  const bool needs_key =
      route.auth == Auth::kApiKey || (route.auth == Auth::kMetrics && options.metrics_auth);
  if (auth_on && needs_key) {
    auto key = req.headers().tryGetRaw("OPEN-SANDBOX-API-KEY");
    if (!key || trim(key->value()).empty()) {
      ex->send_error(api_error(ApiErrorKind::kMissingApiKey,
                               "authentication required: send the API key in header "
                               "OPEN-SANDBOX-API-KEY"));
      return;
    }
    if (!constant_time_equals(trim(key->value()), *options.api_key)) {
      ex->send_error(api_error(ApiErrorKind::kInvalidApiKey, "the API key is not valid"));
      return;
    }
  }

  if (stopping) {
    ex->send_error(api_error(ApiErrorKind::kShuttingDown, "the server is shutting down"));
    return;
  }
  if (req.body().size() > options.max_body_bytes) {
    ex->send_error(api_error(ApiErrorKind::kBodyTooLarge,
                             "request body of " + std::to_string(req.body().size()) +
                                 " bytes exceeds server.max_body_bytes (" +
                                 std::to_string(options.max_body_bytes) + ")"));
    return;
  }
  // Bodies are JSON, and only JSON: a cross-site form or fetch can send text/plain or a
  // form encoding without a preflight, never application/json.
  if (route.body == Body::kJson && !req.body().empty() &&
      !is_json_content_type(req)) {  // an empty body is the handler's 422
    auto ct = req.headers().tryGetRaw("Content-Type");
    ex->send_error(api_error(ApiErrorKind::kUnsupportedMediaType,
                             "Content-Type must be application/json, got " +
                                 (ct ? "\"" + std::string(trim(ct->value())).substr(0, 100) + "\""
                                     : std::string("none"))));
    return;
  }
  // A path id that cannot be a sandbox id names no sandbox: 404 without touching the store
  // (the same answer for every operation).
  if (const std::string_view id = match.param("id"); !id.empty() && !is_sandbox_id(id)) {
    ex->send_error(map_error(Error(ErrorCode::kNotFound, "sandbox not found: the id in the path "
                                                         "is not a sandbox id (a lowercase UUID)"),
                             Operation::kGet, runtime_prefix));
    return;
  }
  auto query = parse_query(raw_query);
  if (!query) {
    ex->send_error(
        api_error(ApiErrorKind::kInvalidValue, "malformed %-escape in the query string"));
    return;
  }
  try {
    route.handler(Call{*this, req, ex, match, *query, transport, peer, !auth_on || needs_key});
  } catch (const std::exception& e) {
    ex->send_error(api_error(ApiErrorKind::kInternal, std::string("internal error: ") + e.what()));
  }
}

}  // namespace sbx::api
