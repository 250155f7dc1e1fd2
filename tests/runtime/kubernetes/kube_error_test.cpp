// kube_error(): the one mapping of Kubernetes answers (metav1.Status) to Error.
#include <gtest/gtest.h>

#include "src/runtime/kubernetes/kube_client.h"

namespace sbx::testing {
namespace {

HttpResponse status(int code, std::string reason, std::string message) {
  HttpResponse r;
  r.status = code;
  r.body = nlohmann::json{{"kind", "Status"},   {"apiVersion", "v1"}, {"status", "Failure"},
                          {"message", message}, {"reason", reason},   {"code", code}}
               .dump();
  return r;
}

TEST(KubeError, StatusCodesMapToErrorCodes) {
  struct Case {
    int code;
    const char* reason;
    ErrorCode want;
  };
  for (const Case& c : {Case{404, "NotFound", ErrorCode::kNotFound},
                        Case{409, "AlreadyExists", ErrorCode::kAlreadyExists},
                        Case{409, "Conflict", ErrorCode::kConflict},
                        Case{410, "Expired", ErrorCode::kFailedPrecondition},
                        Case{401, "Unauthorized", ErrorCode::kUnauthenticated},
                        Case{403, "Forbidden", ErrorCode::kUnauthenticated},
                        Case{422, "Invalid", ErrorCode::kInvalidArgument},
                        Case{400, "BadRequest", ErrorCode::kInvalidArgument},
                        Case{429, "TooManyRequests", ErrorCode::kUnavailable},
                        Case{500, "InternalError", ErrorCode::kUnavailable},
                        Case{503, "ServiceUnavailable", ErrorCode::kUnavailable},
                        Case{405, "MethodNotAllowed", ErrorCode::kInternal}}) {
    Error e = kube_error(status(c.code, c.reason, "m"), "GET /x");
    EXPECT_EQ(e.code, c.want) << c.code << " " << c.reason << ": " << e.message;
  }
}

TEST(KubeError, MessageNamesTheCallAndTheStatusMessage) {
  Error e = kube_error(status(404, "NotFound", "pods \"sandbox-1\" not found"),
                       "GET /api/v1/namespaces/ns/pods/sandbox-1");
  EXPECT_EQ(e.message,
            "KUBERNETES::API_ERROR: GET /api/v1/namespaces/ns/pods/sandbox-1: 404 NotFound: "
            "pods \"sandbox-1\" not found");
  EXPECT_FALSE(is_gone(e));
}

TEST(KubeError, GoneStartsWithGone) {
  Error e = kube_error(status(410, "Expired", "too old resource version"), "watch /p");
  EXPECT_TRUE(e.message.starts_with("Gone: KUBERNETES::API_ERROR: watch /p: 410"));
  EXPECT_TRUE(is_gone(e));
}

TEST(KubeError, NonStatusBodyIsQuoted) {
  HttpResponse r;
  r.status = 502;
  r.body = "Bad Gateway\n";
  Error e = kube_error(r, "GET /version");
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message, "KUBERNETES::API_ERROR: GET /version: 502: Bad Gateway");
}

TEST(KubeClientCreate, RefusesAServerThatIsNotHttps) {
  KubeClientOptions o;
  o.credentials.server = "127.0.0.1:6443";
  auto c = KubeClient::create(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

TEST(KubeClientCreate, UnreachableServerIsUnavailable) {
  KubeClientOptions o;
  o.credentials.server = "https://127.0.0.1:1";
  o.connect_timeout = std::chrono::milliseconds(500);
  auto c = KubeClient::create(o);
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->ping();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
}

}  // namespace
}  // namespace sbx::testing
