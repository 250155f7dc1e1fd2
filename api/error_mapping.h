// The one table that turns failures into HTTP answers: status code, OpenSandbox error code
// ("SANDBOX::…", "DOCKER::…"/"KUBERNETES::…", "MISSING_API_KEY", …) and message.
//
// Two inputs, one table (error_mapping.cpp):
//   map_error(Error, Operation)    failures reported by the service/store (sbx::Error);
//                                  the operation picks the specific code (a
//                                  FailedPrecondition of pause is SANDBOX_NOT_RUNNING, of
//                                  resume SANDBOX_NOT_PAUSED, ...);
//   api_error(ApiErrorKind, ...)   failures the API layer finds itself (malformed JSON,
//                                  request-shape validation, auth, body size, routing).
// Runtime-specific codes carry the prefix of the configured runtime ("DOCKER" or
// "KUBERNETES"), as the upstream server does. Among them: kUnimplemented with field
// "runtime.pause" -> 501 <RUNTIME>::PAUSE_NOT_SUPPORTED; kUnavailable with field "lease"
// (another sandboxd holds the Kubernetes lease) -> 503 <RUNTIME>::LEASE_NOT_HELD;
// kFailedPrecondition of an endpoint with field "address" (no pod IP yet) -> 409
// <RUNTIME>::ENDPOINT_NOT_READY.
// Diagnostics (Operation::kDiagnostics): the runtime's failures (field "runtime") -> 503
// <RUNTIME>::SANDBOX_QUERY_FAILED, or 409 <RUNTIME>::LOGS_NOT_AVAILABLE when it cannot give
// logs yet (kFailedPrecondition).
// Warm pools (issue 14, the reference's KUBERNETES::POOL_* codes under the runtime's
// prefix): kUnimplemented field "runtime.pools" -> 501 <RUNTIME>::POOL_NOT_SUPPORTED;
// kNotFound field "pool" (a pool route) or "poolRef" (a create naming a pool) -> 404
// <RUNTIME>::POOL_NOT_FOUND; kAlreadyExists of Operation::kPool -> 409
// <RUNTIME>::POOL_ALREADY_EXISTS; kResourceExhausted field "poolRef" (a warm-only create
// found no member) -> 429 <RUNTIME>::POOL_CAPACITY_EXHAUSTED, sent with Retry-After: 1
// (Exchange::send_error adds it to every 429).
//
// Bodies: {"code","message"} and, for request-shape errors (422), "detail":
// [{"loc":[...],"msg":...,"type":...}] in FastAPI's shape so both kinds of client can
// read it.
//
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace sbx::api {

// What the request was doing when it failed.
enum class Operation {
  kCreate,
  kList,
  kGet,
  kDelete,
  kPatchMetadata,
  kPause,
  kResume,
  kRenew,
  kEndpoint,
  kSandboxEvents,
  kWatchEvents,
  kNetworkPolicy,
  kProxy,  // the server proxy resolving where a request goes
  kDiagnostics,  // GET /sandboxes/{id}/diagnostics/* (issue 13)
  kPool,         // the /pools routes (issue 14)
  kOther,
};

enum class ApiErrorKind {
  kMalformedJson,          // 400: the body is not JSON
  kValidation,             // 422: the request does not have the documented shape
  kInvalidValue,           // 400: well-formed but unacceptable value (names the field)
  kInvalidMetadataLabel,   // 400: metadata key/value breaks the Kubernetes label rules
  kInvalidMetadataFilter,  // 400: list ?metadata= is not k=v&k2=v2
  kInvalidPort,            // 400: endpoint port not in 1..65535
  kInvalidVolumeName,      // 400 VOLUME::INVALID_NAME
  kDuplicateVolumeName,    // 400 VOLUME::DUPLICATE_NAME
  kInvalidVolumeBackend,   // 400 VOLUME::INVALID_BACKEND
  kInvalidMountPath,       // 400 VOLUME::INVALID_MOUNT_PATH
  kInvalidSubPath,         // 400 VOLUME::INVALID_SUB_PATH
  kInvalidHostPath,        // 400 VOLUME::INVALID_HOST_PATH
  kHostPathNotAllowed,     // 400 VOLUME::HOST_PATH_NOT_ALLOWED
  kDuplicateMountPath,     // 400 VOLUME::DUPLICATE_MOUNT_PATH
  kBodyTooLarge,           // 413
  kHeadersTooLarge,        // 431
  kMissingApiKey,          // 401
  kInvalidApiKey,          // 401
  kRouteNotFound,          // 404: no such route
  kMethodNotAllowed,       // 405
  kEventsExpired,          // 410: ?since= older than the oldest retained event
  kUnsupportedMediaType,   // 415
  kShuttingDown,           // 503
  kServerBusy,             // 503: a configured cap (connections, event streams) is reached
  kRequestTimeout,         // 408: headers or body not received within their timeout
  kEgressError,            // 502: the egress sidecar refused a forwarded policy call
  kInternal,               // 500
  kServerProxyNotSupported,  // 501 SANDBOX::SERVER_PROXY_NOT_SUPPORTED: proxy.enabled = false
                             //     (proxy routes, use_server_proxy/expires endpoints)
  kProxyUpstreamUnreachable,  // 502 SANDBOX::PROXY_UPSTREAM_UNREACHABLE: connect refused,
                              //     unreachable, or the upstream closed before answering
  kProxyUpstreamTimeout,      // 504 SANDBOX::PROXY_UPSTREAM_TIMEOUT: connect or response head
  kProxyBusy,                 // 503 SANDBOX::PROXY_BUSY: proxy.max_connections reached
  kRouteSignatureInvalid,     // 403 SANDBOX::ROUTE_SIGNATURE_INVALID: signed route refused
  kRouteExpired,              // 403 SANDBOX::ROUTE_EXPIRED: signed route past its expiry
  // diagnostics (issue 13)
  kDiagnosticsScopeUnsupported,  // 400 DIAGNOSTICS_SCOPE_UNSUPPORTED (the reference's code)
};

// One item of a 422's detail list. `loc` parts that are decimal numbers are rendered as
// JSON numbers (array indexes), the rest as strings.
struct Issue {
  std::vector<std::string> loc;  // {"body","resourceLimits","cpu"}
  std::string msg;
  std::string type = "value_error";
};

struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
  std::vector<Issue> detail;  // 422 only
};

ApiError map_error(const Error& error, Operation op, std::string_view runtime_prefix);
ApiError api_error(ApiErrorKind kind, std::string message, std::vector<Issue> detail = {},
                   std::string_view runtime_prefix = "DOCKER");

// The JSON body of an error answer.
std::string render_error(const ApiError& error);

// "DOCKER" or "KUBERNETES" for the runtime type names of the configuration.
std::string_view runtime_prefix_of(std::string_view runtime_type);

}  // namespace sbx::api
