#include "src/server/proxy_wiring.h"

#include <utility>

#include "api/error_mapping.h"
#include "src/common/route_signing.h"

namespace sbx {

ProxyCallbacks proxy_callbacks(SandboxService& service, const Clock& clock,
                               std::string signing_secret, std::string runtime_prefix,
                               NetnsCache* netns) {
  ProxyCallbacks out;
  out.resolve = [&service, runtime_prefix, netns](const std::string& sandbox_id,
                                                  std::uint16_t port)
      -> std::expected<api::proxy::Target, api::ApiError> {
    auto t = service.proxy_target(sandbox_id, port);
    if (!t) return std::unexpected(api::map_error(t.error(), api::Operation::kProxy, runtime_prefix));
    api::proxy::Target target{t->host, static_cast<std::uint16_t>(t->port), t->path_prefix, {}, 0};
    // Only once the service says the sandbox is Running (proxy_target refused otherwise).
    if (netns != nullptr) {
      target.netns = netns->get(sandbox_id);
      if (!target.netns.empty()) target.netns_port = port;
    }
    return target;
  };
  out.on_activity = [&service](const std::string& sandbox_id) {
    service.note_proxy_access(sandbox_id);
  };
  if (!signing_secret.empty()) {
    out.verify_route = [&clock, secret = std::move(signing_secret)](std::string_view route)
        -> std::expected<std::pair<std::string, std::uint16_t>, api::ApiError> {
      const auto now = static_cast<std::uint64_t>(clock.now() / kMicrosPerSecond);
      auto v = verify_route(secret, route, now);
      if (!v) {
        switch (v.error().code) {
          case ErrorCode::kDeadlineExceeded:
            return std::unexpected(api::api_error(api::ApiErrorKind::kRouteExpired, v.error().message));
          case ErrorCode::kUnauthenticated:
            return std::unexpected(
                api::api_error(api::ApiErrorKind::kRouteSignatureInvalid, v.error().message));
          default:
            return std::unexpected(
                api::api_error(api::ApiErrorKind::kRouteNotFound, v.error().message));
        }
      }
      return std::make_pair(v->sandbox_id, static_cast<std::uint16_t>(v->port));
    };
  }
  return out;
}

}  // namespace sbx
