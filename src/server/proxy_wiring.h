// The server proxy's callbacks (api/proxy/proxy_options.h) over the service and the route
// signing secret: where a proxied request goes (SandboxService::proxy_target), what counts
// as activity (SandboxService::note_proxy_access, renew-intent) and which signed routes
// are valid (src/common/route_signing.h, checked against the wall clock).
//
// Error answers: an unknown or final sandbox is 404 <RUNTIME>::SANDBOX_NOT_FOUND; one that
// is not Running 409 SANDBOX::NOT_RUNNING (a Kubernetes one without a pod IP 409
// <RUNTIME>::ENDPOINT_NOT_READY); a malformed route token 404; a bad signature 403
// SANDBOX::ROUTE_SIGNATURE_INVALID; an expired route 403 SANDBOX::ROUTE_EXPIRED.
//
// The callbacks capture `service` and `clock` by reference: both must outlive the
// ApiServer. Thread-safe (the service's reads and note_proxy_access are).
#pragma once

#include <string>

#include "api/proxy/proxy_options.h"
#include "events/clock.h"
#include "src/server/netns_cache.h"
#include "src/service/sandbox_service.h"

namespace sbx {

struct ProxyCallbacks {
  api::proxy::Resolve resolve;
  api::proxy::OnActivity on_activity;
  api::proxy::VerifyRoute verify_route;  // null when no signing secret is configured
};

// `netns` (may be null: proxy.connect_in_netns off, or not Docker on this host) gives the
// sandbox's network namespace for Target::netns; it must outlive the ApiServer too.
ProxyCallbacks proxy_callbacks(SandboxService& service, const Clock& clock,
                               std::string signing_secret, std::string runtime_prefix,
                               NetnsCache* netns = nullptr);

}  // namespace sbx
