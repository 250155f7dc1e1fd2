// The operations handlers: GET /health (status; runtime, store and the injected details
// for the key holder), GET /metrics (the provider's Prometheus text), GET /openapi.json,
// /docs and /redoc.
#include <nlohmann/json.hpp>

#include "api/docs_pages.h"
#include "api/handlers.h"
#include "api/openapi_document.h"
#include "api/server_impl.h"

namespace sbx::api::handlers {

using namespace Pistache;

namespace {

const Http::Mime::MediaType& html_mime() {
  static const auto m = Http::Mime::MediaType::fromString("text/html; charset=utf-8");
  return m;
}

const Http::Mime::MediaType& prometheus_mime() {
  static const auto m =
      Http::Mime::MediaType::fromString("text/plain; version=0.0.4; charset=utf-8");
  return m;
}

}  // namespace

void health(const Call& call) {
  ApiServer::Impl& server = call.server;
  const auto& ex = call.exchange;
  if (!call.authenticated) {  // the key holder sees the runtime, the store and their counts
    ex->send_json(200, nlohmann::json{{"status", "healthy"}}.dump());
    return;
  }
  const StoreHealth store = server.deps.reads.store_health();
  nlohmann::json j = {
      {"status", "healthy"},
      {"runtime",
       {{"type", server.options.runtime_type},
        {"available", server.deps.service.runtime_available()}}},
      {"store",
       {{"head", store.head},
        {"liveSandboxes", store.live_sandboxes},
        {"writable", store.writable}}}};
  if (server.deps.health_details) {
    try {
      nlohmann::json extra = server.deps.health_details();
      if (extra.is_object()) {
        for (auto it = extra.begin(); it != extra.end(); ++it) {
          if (it.key() != "status") j[it.key()] = *it;
        }
      }
    } catch (const std::exception& e) {
      j["detailsError"] = e.what();
    }
  }
  ex->send_json(200, j.dump());
}

void metrics(const Call& call) {
  if (!call.server.metrics_provider) {
    call.exchange->send_error(api_error(ApiErrorKind::kRouteNotFound, "metrics are not enabled"));
    return;
  }
  call.exchange->send(200, call.server.metrics_provider(), &prometheus_mime());
}

void openapi(const Call& call) { call.exchange->send_json(200, openapi_document()); }

void swagger_ui(const Call& call) {
  call.exchange->send(200, swagger_ui_page(call.server.options.docs_assets_base), &html_mime());
}

void redoc(const Call& call) {
  call.exchange->send(200, redoc_page(call.server.options.docs_assets_base), &html_mime());
}

}  // namespace sbx::api::handlers
