#include "api/error_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sbx::api {
namespace {

TEST(ErrorMapping, OperationPicksTheSpecificCode) {
  const Error precondition(ErrorCode::kFailedPrecondition,
                           "sandbox is Paused; pause requires Running");
  EXPECT_EQ(map_error(precondition, Operation::kPause, "DOCKER").code,
            "DOCKER::SANDBOX_NOT_RUNNING");
  EXPECT_EQ(map_error(precondition, Operation::kResume, "DOCKER").code,
            "DOCKER::SANDBOX_NOT_PAUSED");
  EXPECT_EQ(map_error(precondition, Operation::kRenew, "KUBERNETES").code,
            "KUBERNETES::INVALID_EXPIRATION");
  EXPECT_EQ(map_error(precondition, Operation::kPatchMetadata, "DOCKER").code,
            "SANDBOX::INVALID_STATE");
  EXPECT_EQ(map_error(precondition, Operation::kPause, "DOCKER").status, 409);
  EXPECT_EQ(map_error(precondition, Operation::kPause, "DOCKER").message, precondition.message);
}

TEST(ErrorMapping, FieldsSelectCodes) {
  EXPECT_EQ(map_error(Error(ErrorCode::kConflict, "busy", "docker.network_mode"),
                      Operation::kCreate, "DOCKER")
                .code,
            "SANDBOX::HOST_NETWORK_BUSY");
  EXPECT_EQ(map_error(Error(ErrorCode::kConflict, "raced"), Operation::kCreate, "DOCKER").code,
            "SANDBOX::CONCURRENT_MODIFICATION");
  auto ports = map_error(Error(ErrorCode::kResourceExhausted, "full", "docker.port_range"),
                         Operation::kCreate, "DOCKER");
  EXPECT_EQ(ports.status, 503);
  EXPECT_EQ(ports.code, "DOCKER::PORT_RANGE_EXHAUSTED");
  EXPECT_EQ(
      map_error(Error(ErrorCode::kInvalidArgument, "x", "port"), Operation::kEndpoint, "DOCKER")
          .code,
      "DOCKER::INVALID_PORT");
}

// Warm pools (issue 14): the reference's KUBERNETES::POOL_* codes, under the runtime's
// prefix.
TEST(ErrorMapping, PoolErrorsHaveThePoolCodes) {
  struct Case {
    Error error;
    Operation op;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {Error(ErrorCode::kUnimplemented, "off", "runtime.pools"), Operation::kPool, 501,
       "POOL_NOT_SUPPORTED"},
      {Error(ErrorCode::kUnimplemented, "off", "runtime.pools"), Operation::kCreate, 501,
       "POOL_NOT_SUPPORTED"},
      {Error(ErrorCode::kNotFound, "no pool", "pool"), Operation::kPool, 404, "POOL_NOT_FOUND"},
      {Error(ErrorCode::kNotFound, "no pool", "poolRef"), Operation::kCreate, 404,
       "POOL_NOT_FOUND"},
      {Error(ErrorCode::kAlreadyExists, "exists", "name"), Operation::kPool, 409,
       "POOL_ALREADY_EXISTS"},
      {Error(ErrorCode::kResourceExhausted, "empty", "poolRef"), Operation::kCreate, 429,
       "POOL_CAPACITY_EXHAUSTED"},
  };
  for (const char* rt : {"DOCKER", "KUBERNETES"}) {
    for (const Case& c : cases) {
      const ApiError e = map_error(c.error, c.op, rt);
      EXPECT_EQ(e.status, c.status) << c.code;
      EXPECT_EQ(e.code, std::string(rt) + "::" + c.code);
      EXPECT_EQ(e.message, c.error.message);
    }
  }
  // Not a pool's: the sandbox codes stay.
  EXPECT_EQ(map_error(Error(ErrorCode::kNotFound, "gone"), Operation::kGet, "DOCKER").code,
            "DOCKER::SANDBOX_NOT_FOUND");
  EXPECT_EQ(map_error(Error(ErrorCode::kAlreadyExists, "x"), Operation::kCreate, "DOCKER").code,
            "SANDBOX::ALREADY_EXISTS");
  EXPECT_EQ(map_error(Error(ErrorCode::kResourceExhausted, "queue full"), Operation::kCreate,
                      "DOCKER")
                .status,
            503);
  EXPECT_EQ(map_error(Error(ErrorCode::kInvalidArgument, "bad", "capacitySpec.poolMax"),
                      Operation::kPool, "DOCKER")
                .code,
            "SANDBOX::INVALID_PARAMETER");
  // A template's volume errors keep their VOLUME:: code.
  auto vol = map_error(Error(ErrorCode::kInvalidArgument,
                             "VOLUME::HOST_PATH_NOT_FOUND: template.volumes[0].host.path missing",
                             "template.volumes[0].host.path"),
                       Operation::kPool, "DOCKER");
  EXPECT_EQ(vol.status, 400);
  EXPECT_EQ(vol.code, "VOLUME::HOST_PATH_NOT_FOUND");
}

TEST(ErrorMapping, VolumeErrorsCarryTheirCodeInTheMessage) {
  auto bad = map_error(Error(ErrorCode::kInvalidArgument,
                             "VOLUME::HOST_PATH_NOT_FOUND: volumes[0].host.path \"/x\" does not exist",
                             "volumes[0].host.path"),
                       Operation::kCreate, "DOCKER");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.code, "VOLUME::HOST_PATH_NOT_FOUND");
  EXPECT_EQ(bad.message, "volumes[0].host.path \"/x\" does not exist");
  auto ossfs = map_error(Error(ErrorCode::kUnimplemented,
                               "VOLUME::UNSUPPORTED_BACKEND: volumes[1].ossfs: not here",
                               "volumes[1].ossfs"),
                         Operation::kCreate, "DOCKER");
  EXPECT_EQ(ossfs.status, 501);
  EXPECT_EQ(ossfs.code, "VOLUME::UNSUPPORTED_BACKEND");
  // Without a code in the message: the table's answer.
  auto plain = map_error(Error(ErrorCode::kUnimplemented, "no volumes", "volumes"),
                         Operation::kCreate, "DOCKER");
  EXPECT_EQ(plain.status, 501);
  EXPECT_EQ(plain.code, "VOLUME::NOT_SUPPORTED");
  // A code-looking message on another field is left alone.
  EXPECT_EQ(map_error(Error(ErrorCode::kInvalidArgument, "VOLUME::X: y", "timeout"),
                      Operation::kCreate, "DOCKER")
                .code,
            "SANDBOX::INVALID_PARAMETER");
}

TEST(ErrorMapping, EveryErrorCodeHasAnAnswer) {
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kFailedPrecondition, ErrorCode::kConflict, ErrorCode::kUnavailable,
        ErrorCode::kDeadlineExceeded, ErrorCode::kDataLoss, ErrorCode::kResourceExhausted,
        ErrorCode::kUnauthenticated, ErrorCode::kUnimplemented, ErrorCode::kInternal}) {
    auto e = map_error(Error(code, "m"), Operation::kOther, "DOCKER");
    EXPECT_GE(e.status, 400);
    EXPECT_FALSE(e.code.empty());
  }
  EXPECT_EQ(map_error(Error(ErrorCode::kNotFound, "m"), Operation::kGet, "DOCKER").code,
            "DOCKER::SANDBOX_NOT_FOUND");
  EXPECT_EQ(map_error(Error(ErrorCode::kUnavailable, "m"), Operation::kCreate, "DOCKER").code,
            "DOCKER::INITIALIZATION_ERROR");
}

TEST(ErrorMapping, KubernetesRuntimeCodes) {
  auto pause = map_error(Error(ErrorCode::kUnimplemented, "no pause", "runtime.pause"),
                         Operation::kPause, "KUBERNETES");
  EXPECT_EQ(pause.status, 501);
  EXPECT_EQ(pause.code, "KUBERNETES::PAUSE_NOT_SUPPORTED");
  EXPECT_EQ(pause.message, "no pause");
  auto other = map_error(Error(ErrorCode::kUnimplemented, "m"), Operation::kOther, "KUBERNETES");
  EXPECT_EQ(other.status, 501);
  EXPECT_EQ(other.code, "SANDBOX::NOT_IMPLEMENTED");
  for (Operation op : {Operation::kCreate, Operation::kDelete, Operation::kRenew, Operation::kPause,
                       Operation::kResume, Operation::kPatchMetadata}) {
    auto lease = map_error(Error(ErrorCode::kUnavailable, "held by b", "lease"), op, "KUBERNETES");
    EXPECT_EQ(lease.status, 503);
    EXPECT_EQ(lease.code, "KUBERNETES::LEASE_NOT_HELD");
  }
  auto ip = map_error(Error(ErrorCode::kFailedPrecondition, "no pod IP yet", "address"),
                      Operation::kEndpoint, "KUBERNETES");
  EXPECT_EQ(ip.status, 409);
  EXPECT_EQ(ip.code, "KUBERNETES::ENDPOINT_NOT_READY");
  // Docker's endpoint precondition keeps its code.
  EXPECT_EQ(map_error(Error(ErrorCode::kFailedPrecondition, "no execd port"), Operation::kEndpoint,
                      "DOCKER")
                .code,
            "DOCKER::NETWORK_MODE_ENDPOINT_UNAVAILABLE");
}

// Issue 10 item 9: the store's write failures (field "store") say storage, not runtime.
TEST(ErrorMapping, StoreWriteFailuresAreStorageUnavailableNotARuntimeCode) {
  for (Operation op : {Operation::kCreate, Operation::kDelete, Operation::kPatchMetadata,
                       Operation::kRenew, Operation::kPause}) {
    auto e = map_error(Error(ErrorCode::kUnavailable, "disk full", "store"), op, "DOCKER");
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(e.code, "SANDBOX::STORAGE_UNAVAILABLE");
  }
}

TEST(ErrorMapping, RenderedBodyHasCodeMessageAndFastApiDetail) {
  auto e =
      api_error(ApiErrorKind::kValidation, "bad",
                {Issue{{"body", "entrypoint", "0"}, "Input should be a string", "type_error"}});
  EXPECT_EQ(e.status, 422);
  auto j = nlohmann::json::parse(render_error(e));
  EXPECT_EQ(j["code"], "SANDBOX::INVALID_PARAMETER");
  EXPECT_EQ(j["message"], "bad");
  EXPECT_EQ(j["detail"][0]["loc"], nlohmann::json({"body", "entrypoint", 0}));
  EXPECT_EQ(j["detail"][0]["msg"], "Input should be a string");
  auto plain =
      nlohmann::json::parse(render_error(api_error(ApiErrorKind::kMissingApiKey, "no key")));
  EXPECT_EQ(plain, nlohmann::json({{"code", "MISSING_API_KEY"}, {"message", "no key"}}));
}

}  // namespace
}  // namespace sbx::api

namespace sbx::api {
namespace {

TEST(ErrorMapping, ProxyAndSignedRouteKindsHaveTheirStatusAndCode) {
  struct Case {
    ApiErrorKind kind;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {ApiErrorKind::kProxyUpstreamUnreachable, 502, "SANDBOX::PROXY_UPSTREAM_UNREACHABLE"},
      {ApiErrorKind::kProxyUpstreamTimeout, 504, "SANDBOX::PROXY_UPSTREAM_TIMEOUT"},
      {ApiErrorKind::kProxyBusy, 503, "SANDBOX::PROXY_BUSY"},
      {ApiErrorKind::kRouteSignatureInvalid, 403, "SANDBOX::ROUTE_SIGNATURE_INVALID"},
      {ApiErrorKind::kRouteExpired, 403, "SANDBOX::ROUTE_EXPIRED"},
      {ApiErrorKind::kServerProxyNotSupported, 501, "SANDBOX::SERVER_PROXY_NOT_SUPPORTED"},
  };
  for (const auto& c : cases) {
    const ApiError e = api_error(c.kind, "m", {}, "KUBERNETES");
    EXPECT_EQ(e.status, c.status) << c.code;
    EXPECT_EQ(e.code, c.code);
    EXPECT_EQ(e.message, "m");
  }
}

}  // namespace
}  // namespace sbx::api
