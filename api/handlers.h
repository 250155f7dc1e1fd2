// The request handlers of the route table (api/routes.cpp), grouped by resource:
//   sandbox_handlers.cpp     the lifecycle: create, list, get, delete, metadata, pause,
//                            resume, renew-expiration, endpoints
//   event_handlers.cpp       a sandbox's history and the server-sent events of the log
//   operations_handlers.cpp  /health, /metrics, /openapi.json, /docs, /redoc
//   diagnostics_handlers.cpp GET /sandboxes/{id}/diagnostics/logs|inspect|events|summary
//   snapshot_handlers.cpp    /snapshots (issue 13)
//   pool_handlers.cpp        /pools (issue 14)
//
// A handler is called on a Pistache worker thread after the route's auth and the common
// checks passed (routes.cpp: method, key, shutdown, body size, JSON body, sandbox id,
// query string). It answers through `call.exchange`, at once or later from another thread
// (a mutation's completion, a parked wait); it never blocks. An exception it throws is
// answered 500 by the caller.
#pragma once

#include "api/pistache.h"

#include <memory>
#include <string_view>

#include "api/api_server.h"
#include "api/exchange.h"
#include "api/http_util.h"
#include "api/router.h"

namespace sbx::api {

// What a handler is given; everything is borrowed for the duration of the call.
struct Call {
  ApiServer::Impl& server;
  const Pistache::Http::Request& request;
  const std::shared_ptr<Exchange>& exchange;
  const RouteMatch& match;
  const QueryParams& query;
  Pistache::Tcp::Transport* transport;            // null outside onInput
  const std::shared_ptr<Pistache::Tcp::Peer>& peer;  // null outside onInput
  // The caller holds the API key, or no key is configured (decided for kApiKey and
  // kHealth routes; false on a public route of a server with a key).
  bool authenticated;

  std::string_view id() const { return match.param("id"); }
};

namespace handlers {

// sandbox_handlers.cpp
void list_sandboxes(const Call& call);
void create_sandbox(const Call& call);
void get_sandbox(const Call& call);
void delete_sandbox(const Call& call);
void patch_metadata(const Call& call);
void pause_sandbox(const Call& call);
void resume_sandbox(const Call& call);
void renew_expiration(const Call& call);
void get_endpoint(const Call& call);
// GET|PUT|PATCH|DELETE /sandboxes/{id}/networkpolicy (network_policy_handlers.cpp).
void network_policy(const Call& call);

// event_handlers.cpp
// Snapshots (issue 13): api/snapshot_handlers.cpp.
void create_snapshot(const Call& call);
void list_snapshots(const Call& call);
void get_snapshot(const Call& call);
void delete_snapshot(const Call& call);

// Warm pools (issue 14): api/pool_handlers.cpp.
void create_pool(const Call& call);
void list_pools(const Call& call);
void get_pool(const Call& call);
void update_pool(const Call& call);
void delete_pool(const Call& call);

void sandbox_history(const Call& call);
void watch_events(const Call& call);

// diagnostics_handlers.cpp: GET /sandboxes/{id}/diagnostics/... (see the file's header)
void diagnostics_logs(const Call& call);
void diagnostics_inspect(const Call& call);
void diagnostics_events(const Call& call);
void diagnostics_summary(const Call& call);

// operations_handlers.cpp
void health(const Call& call);
void metrics(const Call& call);
void openapi(const Call& call);
void swagger_ui(const Call& call);
void redoc(const Call& call);

}  // namespace handlers
}  // namespace sbx::api
