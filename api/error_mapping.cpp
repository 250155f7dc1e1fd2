#include "api/error_mapping.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

namespace sbx::api {
namespace {

constexpr Operation kAnyOp = Operation::kOther;

// A row matches when the error code is equal, the operation is equal (or the row says
// any), and the error's field starts with `field` (empty: any field). First match wins.
struct Row {
  ErrorCode error;
  bool any_op;
  Operation op;
  std::string_view field;
  int status;
  bool runtime_prefixed;  // code is "<RUNTIME>::<code>"
  std::string_view code;
};

constexpr Row kServiceRows[] = {
    // -- snapshots (issue 13) -------------------------------------------------------------
    {ErrorCode::kUnimplemented, true, kAnyOp, "runtime.snapshots", 501, false,
     "SNAPSHOT::NOT_SUPPORTED"},
    {ErrorCode::kNotFound, true, kAnyOp, "snapshotId", 404, false, "SNAPSHOT::NOT_FOUND"},
    {ErrorCode::kNotFound, true, kAnyOp, "snapshot", 404, false, "SNAPSHOT::NOT_FOUND"},
    {ErrorCode::kFailedPrecondition, true, kAnyOp, "snapshotId", 409, false,
     "SNAPSHOT::NOT_READY"},
    {ErrorCode::kFailedPrecondition, true, kAnyOp, "snapshot.source", 409, false,
     "SNAPSHOT::INVALID_SOURCE_STATE"},
    {ErrorCode::kFailedPrecondition, true, kAnyOp, "snapshot.state", 409, false,
     "SNAPSHOT::INVALID_STATE"},
    // -- warm pools (issue 14) ---------------------------------------------------------------
    {ErrorCode::kUnimplemented, true, kAnyOp, "runtime.pools", 501, true, "POOL_NOT_SUPPORTED"},
    {ErrorCode::kNotFound, true, kAnyOp, "pool", 404, true, "POOL_NOT_FOUND"},  // and "poolRef"
    {ErrorCode::kAlreadyExists, false, Operation::kPool, "", 409, true, "POOL_ALREADY_EXISTS"},
    {ErrorCode::kResourceExhausted, true, kAnyOp, "poolRef", 429, true,
     "POOL_CAPACITY_EXHAUSTED"},
    {ErrorCode::kResourceExhausted, true, kAnyOp, "pools.max_pools", 429, false,
     "SANDBOX::RESOURCE_EXHAUSTED"},
    // -- not found ----------------------------------------------------------------------
    {ErrorCode::kNotFound, true, kAnyOp, "", 404, true, "SANDBOX_NOT_FOUND"},
    // -- diagnostics (issue 13): the runtime's answers (field "runtime", DiagnosticsRunner) --
    {ErrorCode::kFailedPrecondition, false, Operation::kDiagnostics, "runtime", 409, true,
     "LOGS_NOT_AVAILABLE"},
    {ErrorCode::kUnavailable, false, Operation::kDiagnostics, "runtime", 503, true,
     "SANDBOX_QUERY_FAILED"},
    {ErrorCode::kDeadlineExceeded, false, Operation::kDiagnostics, "runtime", 503, true,
     "SANDBOX_QUERY_FAILED"},
    {ErrorCode::kInternal, false, Operation::kDiagnostics, "runtime", 503, true,
     "SANDBOX_QUERY_FAILED"},
    {ErrorCode::kInvalidArgument, false, Operation::kDiagnostics, "runtime", 503, true,
     "SANDBOX_QUERY_FAILED"},
    {ErrorCode::kUnauthenticated, false, Operation::kDiagnostics, "runtime", 503, true,
     "SANDBOX_QUERY_FAILED"},
    // -- invalid input ------------------------------------------------------------------
    {ErrorCode::kInvalidArgument, false, Operation::kRenew, "", 400, true, "INVALID_EXPIRATION"},
    {ErrorCode::kInvalidArgument, true, kAnyOp, "port", 400, true, "INVALID_PORT"},
    {ErrorCode::kInvalidArgument, true, kAnyOp, "metadata", 400, false,
     "SANDBOX::INVALID_METADATA_LABEL"},
    {ErrorCode::kInvalidArgument, true, kAnyOp, "", 400, false, "SANDBOX::INVALID_PARAMETER"},
    // -- state ----------------------------------------------------------------------------
    {ErrorCode::kFailedPrecondition, false, Operation::kPause, "", 409, true,
     "SANDBOX_NOT_RUNNING"},
    {ErrorCode::kFailedPrecondition, false, Operation::kResume, "", 409, true,
     "SANDBOX_NOT_PAUSED"},
    {ErrorCode::kFailedPrecondition, false, Operation::kRenew, "", 409, true, "INVALID_EXPIRATION"},
    {ErrorCode::kFailedPrecondition, false, Operation::kEndpoint, "address", 409, true,
     "ENDPOINT_NOT_READY"},
    {ErrorCode::kFailedPrecondition, false, Operation::kEndpoint, "", 409, true,
     "NETWORK_MODE_ENDPOINT_UNAVAILABLE"},
    {ErrorCode::kFailedPrecondition, true, kAnyOp, "networkPolicy", 409, false,
     "SANDBOX::NETWORK_POLICY_NOT_ENABLED"},
    {ErrorCode::kFailedPrecondition, false, Operation::kNetworkPolicy, "", 409, false,
     "SANDBOX::NOT_RUNNING"},
    // The server proxy reaches Running sandboxes only (a Kubernetes one with its pod IP).
    {ErrorCode::kFailedPrecondition, false, Operation::kProxy, "address", 409, true,
     "ENDPOINT_NOT_READY"},
    {ErrorCode::kFailedPrecondition, false, Operation::kProxy, "", 409, false,
     "SANDBOX::NOT_RUNNING"},
    {ErrorCode::kFailedPrecondition, true, kAnyOp, "", 409, false, "SANDBOX::INVALID_STATE"},
    {ErrorCode::kConflict, true, kAnyOp, "docker.network_mode", 409, false,
     "SANDBOX::HOST_NETWORK_BUSY"},
    {ErrorCode::kConflict, true, kAnyOp, "", 409, false, "SANDBOX::CONCURRENT_MODIFICATION"},
    {ErrorCode::kAlreadyExists, true, kAnyOp, "", 409, false, "SANDBOX::ALREADY_EXISTS"},
    // -- capacity and dependencies --------------------------------------------------------
    {ErrorCode::kResourceExhausted, true, kAnyOp, "docker.port_range", 503, true,
     "PORT_RANGE_EXHAUSTED"},
    {ErrorCode::kResourceExhausted, true, kAnyOp, "", 503, false, "SANDBOX::RESOURCE_EXHAUSTED"},
    {ErrorCode::kUnavailable, true, kAnyOp, "store", 503, false, "SANDBOX::STORAGE_UNAVAILABLE"},
    {ErrorCode::kUnavailable, true, kAnyOp, "lease", 503, true, "LEASE_NOT_HELD"},
    {ErrorCode::kUnavailable, true, kAnyOp, "egress", 503, false, "SANDBOX::EGRESS_UNAVAILABLE"},
    {ErrorCode::kUnavailable, true, kAnyOp, "", 503, true, "INITIALIZATION_ERROR"},
    {ErrorCode::kDeadlineExceeded, true, kAnyOp, "", 504, false, "SANDBOX::TIMEOUT"},
    {ErrorCode::kUnauthenticated, true, kAnyOp, "", 401, false, "INVALID_API_KEY"},
    // -- what this runtime cannot do ------------------------------------------------------
    {ErrorCode::kUnimplemented, true, kAnyOp, "runtime.pause", 501, true, "PAUSE_NOT_SUPPORTED"},
    {ErrorCode::kUnimplemented, true, kAnyOp, "volumes", 501, false, "VOLUME::NOT_SUPPORTED"},
    {ErrorCode::kUnimplemented, true, kAnyOp, "networkPolicy", 501, false,
     "SANDBOX::NETWORK_POLICY_NOT_SUPPORTED"},
    {ErrorCode::kUnimplemented, true, kAnyOp, "", 501, false, "SANDBOX::NOT_IMPLEMENTED"},
    {ErrorCode::kDataLoss, true, kAnyOp, "", 500, false, "SANDBOX::UNKNOWN_ERROR"},
    {ErrorCode::kInternal, true, kAnyOp, "", 500, false, "SANDBOX::UNKNOWN_ERROR"},
};

struct KindRow {
  ApiErrorKind kind;
  int status;
  bool runtime_prefixed;
  std::string_view code;
};

constexpr KindRow kApiRows[] = {
    {ApiErrorKind::kMalformedJson, 400, false, "SANDBOX::INVALID_PARAMETER"},
    {ApiErrorKind::kValidation, 422, false, "SANDBOX::INVALID_PARAMETER"},
    {ApiErrorKind::kInvalidValue, 400, false, "SANDBOX::INVALID_PARAMETER"},
    {ApiErrorKind::kInvalidMetadataLabel, 400, false, "SANDBOX::INVALID_METADATA_LABEL"},
    {ApiErrorKind::kInvalidMetadataFilter, 400, false, "SANDBOX::INVALID_METADATA_FORMAT"},
    {ApiErrorKind::kInvalidPort, 400, true, "INVALID_PORT"},
    {ApiErrorKind::kInvalidVolumeName, 400, false, "VOLUME::INVALID_NAME"},
    {ApiErrorKind::kDuplicateVolumeName, 400, false, "VOLUME::DUPLICATE_NAME"},
    {ApiErrorKind::kInvalidVolumeBackend, 400, false, "VOLUME::INVALID_BACKEND"},
    {ApiErrorKind::kInvalidMountPath, 400, false, "VOLUME::INVALID_MOUNT_PATH"},
    {ApiErrorKind::kInvalidSubPath, 400, false, "VOLUME::INVALID_SUB_PATH"},
    {ApiErrorKind::kInvalidHostPath, 400, false, "VOLUME::INVALID_HOST_PATH"},
    {ApiErrorKind::kHostPathNotAllowed, 400, false, "VOLUME::HOST_PATH_NOT_ALLOWED"},
    {ApiErrorKind::kDuplicateMountPath, 400, false, "VOLUME::DUPLICATE_MOUNT_PATH"},
    {ApiErrorKind::kBodyTooLarge, 413, false, "SANDBOX::REQUEST_TOO_LARGE"},
    {ApiErrorKind::kHeadersTooLarge, 431, false, "SANDBOX::HEADERS_TOO_LARGE"},
    {ApiErrorKind::kMissingApiKey, 401, false, "MISSING_API_KEY"},
    {ApiErrorKind::kInvalidApiKey, 401, false, "INVALID_API_KEY"},
    {ApiErrorKind::kRouteNotFound, 404, false, "SANDBOX::NOT_FOUND"},
    {ApiErrorKind::kMethodNotAllowed, 405, false, "SANDBOX::METHOD_NOT_ALLOWED"},
    {ApiErrorKind::kEventsExpired, 410, false, "SANDBOX::EVENTS_EXPIRED"},
    {ApiErrorKind::kUnsupportedMediaType, 415, false, "SANDBOX::UNSUPPORTED_MEDIA_TYPE"},
    {ApiErrorKind::kShuttingDown, 503, false, "SANDBOX::SHUTTING_DOWN"},
    {ApiErrorKind::kServerBusy, 503, false, "SANDBOX::SERVER_BUSY"},
    {ApiErrorKind::kRequestTimeout, 408, false, "SANDBOX::REQUEST_TIMEOUT"},
    {ApiErrorKind::kEgressError, 502, false, "SANDBOX::EGRESS_ERROR"},
    {ApiErrorKind::kInternal, 500, false, "SANDBOX::UNKNOWN_ERROR"},
    {ApiErrorKind::kServerProxyNotSupported, 501, false, "SANDBOX::SERVER_PROXY_NOT_SUPPORTED"},
    // diagnostics (issue 13)
    {ApiErrorKind::kDiagnosticsScopeUnsupported, 400, false, "DIAGNOSTICS_SCOPE_UNSUPPORTED"},
    {ApiErrorKind::kProxyUpstreamUnreachable, 502, false, "SANDBOX::PROXY_UPSTREAM_UNREACHABLE"},
    {ApiErrorKind::kProxyUpstreamTimeout, 504, false, "SANDBOX::PROXY_UPSTREAM_TIMEOUT"},
    {ApiErrorKind::kProxyBusy, 503, false, "SANDBOX::PROXY_BUSY"},
    {ApiErrorKind::kRouteSignatureInvalid, 403, false, "SANDBOX::ROUTE_SIGNATURE_INVALID"},
    {ApiErrorKind::kRouteExpired, 403, false, "SANDBOX::ROUTE_EXPIRED"},
};

std::string code_of(bool prefixed, std::string_view code, std::string_view runtime_prefix) {
  if (!prefixed) return std::string(code);
  std::string out(runtime_prefix);
  out += "::";
  out += code;
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::string_view runtime_prefix_of(std::string_view runtime_type) {
  return runtime_type == "kubernetes" ? "KUBERNETES" : "DOCKER";
}

ApiError map_error(const Error& error, Operation op, std::string_view runtime_prefix) {
  // Volume checks put their OpenSandbox code at the start of the message ("VOLUME::X: ...",
  // src/service/volume_checks.h): 400 for a bad value, 501 for what this server cannot do.
  // (A pool's template reports them under "template.volumes".)
  if ((std::string_view(error.field).starts_with("volumes") ||
       std::string_view(error.field).starts_with("template.volumes")) &&
      std::string_view(error.message).starts_with("VOLUME::") &&
      (error.code == ErrorCode::kInvalidArgument || error.code == ErrorCode::kUnimplemented)) {
    const auto colon = error.message.find(": ");
    if (colon != std::string::npos) {
      return ApiError{error.code == ErrorCode::kInvalidArgument ? 400 : 501,
                      error.message.substr(0, colon), error.message.substr(colon + 2), {}};
    }
  }
  for (const Row& row : kServiceRows) {
    if (row.error != error.code) continue;
    if (!row.any_op && row.op != op) continue;
    if (!row.field.empty() && !std::string_view(error.field).starts_with(row.field)) continue;
    return ApiError{
        row.status, code_of(row.runtime_prefixed, row.code, runtime_prefix), error.message, {}};
  }
  return ApiError{500, "SANDBOX::UNKNOWN_ERROR", error.message, {}};
}

ApiError api_error(ApiErrorKind kind, std::string message, std::vector<Issue> detail,
                   std::string_view runtime_prefix) {
  for (const KindRow& row : kApiRows) {
    if (row.kind != kind) continue;
    return ApiError{row.status, code_of(row.runtime_prefixed, row.code, runtime_prefix),
                    std::move(message), std::move(detail)};
  }
  return ApiError{500, "SANDBOX::UNKNOWN_ERROR", std::move(message), std::move(detail)};
}

std::string render_error(const ApiError& error) {
  nlohmann::json j;
  j["code"] = error.code;
  j["message"] = error.message;
  if (!error.detail.empty()) {
    auto& detail = j["detail"] = nlohmann::json::array();
    for (const Issue& issue : error.detail) {
      nlohmann::json loc = nlohmann::json::array();
      for (const auto& part : issue.loc) {
        if (is_index(part)) {
          loc.push_back(std::stoll(part));
        } else {
          loc.push_back(part);
        }
      }
      detail.push_back({{"loc", std::move(loc)}, {"msg", issue.msg}, {"type", issue.type}});
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sbx::api
