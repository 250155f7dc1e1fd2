// The lifecycle API over real HTTP: every endpoint's success path and error paths, at both
// prefixes, against a real store and service, with a fake worker recording outcomes.
#include "api/api_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "events/time.h"
#include "src/common/egress_token.h"
#include "src/common/route_signing.h"
#include "src/common/uuid.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

void expect_error(const HttpResponse& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_TRUE(j.contains("message") && j["message"].is_string() &&
              !j["message"].get<std::string>().empty())
      << r.body;
  EXPECT_FALSE(r.header("X-Request-ID").empty());
}

class ApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string p(std::string_view path) const { return GetParam() + std::string(path); }
  std::string create(ApiHarness& h, const json& overrides = json::object(), Headers headers = {}) {
    HttpClient c(h.port());
    auto r = c.post(p("/sandboxes"), create_body(overrides), headers);
    EXPECT_EQ(r.status, 202) << r.body;
    return body_json(r).value("id", "");
  }
};

INSTANTIATE_TEST_SUITE_P(Prefixes, ApiTest, ::testing::Values("", "/v1"),
                         [](const auto& info) { return info.param.empty() ? "Root" : "V1"; });

// --- create / get ----------------------------------------------------------------------------

TEST_P(ApiTest, CreateWaitsForTheOutcomeAndAnswers202WithTheSandbox) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post(p("/sandboxes"), create_body({{"metadata", {{"team", "ml"}}}}),
                  {{"X-Request-ID", "  req-create-1  "}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.header("X-Request-ID"), "req-create-1");
  EXPECT_NE(r.header("Content-Type").find("application/json"), std::string::npos);
  auto j = body_json(r);
  const std::string id = j["id"];
  EXPECT_TRUE(is_uuid(id));
  EXPECT_EQ(r.header("Location"), "/v1/sandboxes/" + id);
  EXPECT_EQ(j["status"]["state"], "Running");  // the fake worker started it during the wait
  EXPECT_EQ(j["metadata"]["team"], "ml");
  EXPECT_EQ(j["entrypoint"], json({"sleep", "infinity"}));
  EXPECT_TRUE(parse_rfc3339(j["createdAt"].get<std::string>()).has_value());
  EXPECT_TRUE(parse_rfc3339(j["expiresAt"].get<std::string>()).has_value());
  EXPECT_FALSE(j.contains("image"));  // not part of CreateSandboxResponse
  // No null anywhere.
  for (auto it = j.begin(); it != j.end(); ++it) EXPECT_FALSE(it->is_null()) << it.key();

  auto g = c.get(p("/sandboxes/" + id));
  ASSERT_EQ(g.status, 200) << g.body;
  auto s = body_json(g);
  EXPECT_EQ(s["id"], id);
  EXPECT_EQ(s["image"]["uri"], "busybox:latest");
  EXPECT_EQ(s["status"]["state"], "Running");
  EXPECT_TRUE(s["status"].contains("lastTransitionAt"));
  EXPECT_FALSE(s["status"].contains("reason"));
  EXPECT_EQ(s["entrypoint"], json({"sleep", "infinity"}));
  EXPECT_EQ(s["createdAt"], j["createdAt"]);
  // The request id is on the event the request caused.
  auto events = h.store().read_stream(stream_of(id));
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->front().request_id, "req-create-1");
  EXPECT_EQ(events->front().actor, "api");
}

TEST_P(ApiTest, RespondAsyncCreateAnswersPendingAndEndpointsResolveAtOnce) {
  auto o = default_harness_options();
  o.worker = false;  // nothing provisions: the sandbox stays Pending
  ApiHarness h(o);
  HttpClient c(h.port());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.post(p("/sandboxes"), create_body(), {{"Prefer", "respond-async"}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  auto j = body_json(r);
  EXPECT_EQ(j["status"]["state"], "Pending");
  const std::string id = j["id"];

  // The SDKs' readiness flow: both endpoints answer while Pending.
  auto sb = h.service().get(id);
  ASSERT_TRUE(sb);
  const int execd = sb->spec.ports.at(44772);
  const int http = sb->spec.ports.at(8080);
  auto e1 = c.get(p("/sandboxes/" + id + "/endpoints/44772?use_server_proxy=false"));
  ASSERT_EQ(e1.status, 200) << e1.body;
  EXPECT_EQ(body_json(e1)["endpoint"], "127.0.0.1:" + std::to_string(execd) + "/proxy/44772");
  auto e2 = c.get(p("/sandboxes/" + id + "/endpoints/18080"));
  ASSERT_EQ(e2.status, 200) << e2.body;
  EXPECT_EQ(body_json(e2)["endpoint"], "127.0.0.1:" + std::to_string(execd) + "/proxy/18080");
  auto e3 = c.get(p("/sandboxes/" + id + "/endpoints/8080"));
  EXPECT_EQ(body_json(e3)["endpoint"], "127.0.0.1:" + std::to_string(http));
  EXPECT_FALSE(body_json(e3).contains("headers"));
}

TEST_P(ApiTest, CreateWhoseProvisioningFailsAnswersWithTheFailedState) {
  auto o = default_harness_options();
  o.fail_provisioning = true;
  ApiHarness h(o);
  HttpClient c(h.port());
  auto r = c.post(p("/sandboxes"), create_body());
  ASSERT_EQ(r.status, 202) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["status"]["state"], "Failed");
  EXPECT_EQ(j["status"]["reason"], "DOCKER::SANDBOX_IMAGE_PULL_FAILED");
  EXPECT_EQ(j["status"]["message"], "image not found");
}

TEST_P(ApiTest, CreateWaitThatTimesOutStillAnswersWithTheCurrentState) {
  auto o = default_harness_options();
  o.worker = false;
  o.api.create_wait_ms = 200;
  ApiHarness h(o);
  HttpClient c(h.port());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.post(p("/sandboxes"), create_body());
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(body_json(r)["status"]["state"], "Pending");
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_P(ApiTest, GetUnknownSandboxIs404WithTheRuntimeCode) {
  ApiHarness h;
  HttpClient c(h.port());
  expect_error(c.get(p("/sandboxes/" + new_uuid())), 404, "DOCKER::SANDBOX_NOT_FOUND");
  expect_error(c.get(p("/sandboxes/not-a-uuid")), 404, "DOCKER::SANDBOX_NOT_FOUND");
}

TEST_P(ApiTest, ManualCleanupSandboxHasNoExpiresAt) {
  ApiHarness h;
  HttpClient c(h.port());
  for (const json& timeout : {json(nullptr)}) {
    auto r = c.post(p("/sandboxes"), create_body({{"timeout", timeout}}));
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_FALSE(body_json(r).contains("expiresAt"));
  }
  auto r = c.post(p("/sandboxes"), create_body({{"-timeout", nullptr}}));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_FALSE(body_json(r).contains("expiresAt"));
}

TEST_P(ApiTest, IdempotencyKeyReturnsTheSameSandboxAndStatus) {
  ApiHarness h;
  HttpClient c(h.port());
  auto a = c.post(p("/sandboxes"), create_body(), {{"Idempotency-Key", "abc-123"}});
  auto b = c.post(p("/sandboxes"), create_body(), {{"Idempotency-Key", "abc-123"}});
  ASSERT_EQ(a.status, 202);
  ASSERT_EQ(b.status, 202);
  EXPECT_EQ(body_json(a)["id"], body_json(b)["id"]);
  auto d = c.post(p("/sandboxes"), create_body(), {{"Idempotency-Key", "other"}});
  EXPECT_NE(body_json(a)["id"], body_json(d)["id"]);
  EXPECT_EQ(h.store().live_sandbox_count(), 2u);
}

TEST_P(ApiTest, FieldsThisVersionCannotHonourAreRefusedAtOnceWithACode) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post(p("/sandboxes"),
                  json{{"snapshotId", "snap-1"}, {"resourceLimits", {{"cpu", "1"}}}}.dump(),
                  {{"Prefer", "respond-async"}});
  expect_error(r, 404, "SNAPSHOT::NOT_FOUND");
  r = c.post(p("/sandboxes"),
             create_body({{"volumes",
                           {{{"name", "data"}, {"mountPath", "/data"}, {"pvc", {{"claimName", "c"}}}},
                            {{"name", "oss"}, {"mountPath", "/oss"}, {"ossfs", {{"bucket", "b"}}}}}}}));
  expect_error(r, 501, "VOLUME::UNSUPPORTED_BACKEND");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("volumes[1].ossfs"), std::string::npos)
      << r.body;
  r = c.post(p("/sandboxes"), create_body({{"extensions", {{"poolRef", "warm"}}}}));
  expect_error(r, 404, "DOCKER::POOL_NOT_FOUND");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("poolRef"), std::string::npos);
  // Nothing was created by any of them.
  auto list = body_json(c.get(p("/sandboxes")));
  EXPECT_TRUE(list["items"].empty()) << list.dump();
}

// --- create validation -------------------------------------------------------------------------

struct BadCreate {
  const char* name;
  json overrides;
  int status;
  const char* code;
  const char* mentions;  // substring of the message
};

TEST_P(ApiTest, CreateValidationErrors) {
  const BadCreate cases[] = {
      {"both sources",
       {{"snapshotId", "s1"}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "mutually exclusive"},
      {"no source",
       {{"-image", nullptr}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "image or snapshotId"},
      {"image without uri", {{"image", json::object()}}, 422, "SANDBOX::INVALID_PARAMETER", "uri"},
      {"no entrypoint",
       {{"-entrypoint", nullptr}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "entrypoint"},
      {"empty entrypoint",
       {{"entrypoint", json::array()}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "entrypoint"},
      {"entrypoint not strings",
       {{"entrypoint", {1, 2}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "entrypoint"},
      {"timeout 59", {{"timeout", 59}}, 422, "SANDBOX::INVALID_PARAMETER", "timeout"},
      {"timeout string", {{"timeout", "60"}}, 422, "SANDBOX::INVALID_PARAMETER", "timeout"},
      {"timeout fraction", {{"timeout", 60.5}}, 422, "SANDBOX::INVALID_PARAMETER", "timeout"},
      {"no resourceLimits",
       {{"-resourceLimits", nullptr}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits"},
      {"limits not strings",
       {{"resourceLimits", {{"cpu", 1}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "cpu"},
      {"bad cpu",
       {{"resourceLimits", {{"cpu", "lots"}, {"memory", "1Gi"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.cpu"},
      {"zero cpu",
       {{"resourceLimits", {{"cpu", "0"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.cpu"},
      {"bad memory",
       {{"resourceLimits", {{"cpu", "1"}, {"memory", "12XB"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.memory"},
      {"bad gpu",
       {{"resourceLimits", {{"gpu", "1.5"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.gpu"},
      {"env number", {{"env", {{"A", 1}}}}, 422, "SANDBOX::INVALID_PARAMETER", "env"},
      {"metadata reserved",
       {{"metadata", {{"opensandbox.io/id", "x"}}}},
       400,
       "SANDBOX::INVALID_METADATA_LABEL",
       "opensandbox.io/"},
      {"metadata bad key",
       {{"metadata", {{"-bad", "x"}}}},
       400,
       "SANDBOX::INVALID_METADATA_LABEL",
       "-bad"},
      {"metadata bad value",
       {{"metadata", {{"k", "has space"}}}},
       400,
       "SANDBOX::INVALID_METADATA_LABEL",
       "has space"},
      {"metadata long value",
       {{"metadata", {{"k", std::string(64, 'a')}}}},
       400,
       "SANDBOX::INVALID_METADATA_LABEL",
       "63"},
      {"metadata number",
       {{"metadata", {{"k", 1}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "metadata"},
      {"platform os",
       {{"platform", {{"os", "plan9"}, {"arch", "amd64"}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "platform"},
      {"platform missing arch",
       {{"platform", {{"os", "linux"}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "arch"},
      {"policy without egress image",
       {{"networkPolicy", {{"defaultAction", "deny"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "egress.image"},
      {"policy bad action",
       {{"networkPolicy", {{"defaultAction", "maybe"}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "defaultAction"},
      {"secure access",
       {{"secureAccess", true}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "secureAccess"},
      {"credential proxy on",
       {{"credentialProxy", {{"enabled", true}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "credentialProxy"},
      {"volume host path not allowed",
       {{"volumes", {{{"name", "data"}, {"mountPath", "/data"}, {"host", {{"path", "/etc"}}}}}}},
       400,
       "VOLUME::HOST_PATH_NOT_ALLOWED",
       "allowed_host_paths"},
      {"volume bad name",
       {{"volumes", {{{"name", "Data"}, {"mountPath", "/data"}, {"pvc", {{"claimName", "c"}}}}}}},
       400,
       "VOLUME::INVALID_NAME",
       "DNS label"},
      {"volume two backends",
       {{"volumes",
         {{{"name", "d"},
           {"mountPath", "/d"},
           {"pvc", {{"claimName", "c"}}},
           {"host", {{"path", "/x"}}}}}}},
       400,
       "VOLUME::INVALID_BACKEND",
       "exactly one"},
      {"volume mount path twice",
       {{"volumes",
         {{{"name", "a"}, {"mountPath", "/data"}, {"pvc", {{"claimName", "a"}}}},
          {{"name", "b"}, {"mountPath", "/data/"}, {"pvc", {{"claimName", "b"}}}}}}},
       400,
       "VOLUME::DUPLICATE_MOUNT_PATH",
       "volumes[1].mountPath"},
      {"volume pvc flag not a boolean",
       {{"volumes",
         {{{"name", "a"},
           {"mountPath", "/data"},
           {"pvc", {{"claimName", "a"}, {"createIfNotExists", "yes"}}}}}}},
       422,
       "SANDBOX::INVALID_PARAMETER",
       "boolean"},
      {"gpu zero",
       {{"resourceLimits", {{"gpu", "0"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.gpu"},
      {"gpu word",
       {{"resourceLimits", {{"gpu", "any"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "resourceLimits.gpu"},
      {"extension out of range",
       {{"extensions", {{"access.renew.extend.seconds", "10"}}}},
       400,
       "SANDBOX::INVALID_PARAMETER",
       "300"},
  };
  ApiHarness h;
  HttpClient c(h.port());
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto r = c.post(p("/sandboxes"), create_body(tc.overrides));
    expect_error(r, tc.status, tc.code);
    EXPECT_NE(body_json(r).value("message", "").find(tc.mentions), std::string::npos) << r.body;
    if (tc.status == 422) {
      auto d = body_json(r)["detail"];
      ASSERT_TRUE(d.is_array() && !d.empty()) << r.body;
      EXPECT_EQ(d[0]["loc"][0], "body");
      EXPECT_TRUE(d[0]["msg"].is_string());
    }
  }
  EXPECT_EQ(h.store().head(), 0u) << "no rejected create may append anything";
}

TEST_P(ApiTest, CreateAcceptsWhatTheSdksAlwaysSendAndIgnoresUnknownFields) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post(p("/sandboxes"),
                  create_body({{"secureAccess", false},
                               {"credentialProxy", {{"enabled", false}}},
                               {"resourceRequests", {{"cpu", "250m"}}},
                               {"env", {{"KEEP", "1"}, {"DROP", nullptr}}},
                               {"platform", {{"os", "linux"}, {"arch", "arm64"}}},
                               {"somethingNew", {{"x", 1}}},
                               {"resourceLimits", {{"cpu", "2"}, {"memory", "1G"}, {"gpu", "1"}}}}),
                  {{"Prefer", "respond-async"}});
  ASSERT_EQ(r.status, 202) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["platform"], json({{"os", "linux"}, {"arch", "arm64"}}));
  auto sb = h.service().get(j["id"].get<std::string>());
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->spec.env, (std::map<std::string, std::string>{{"KEEP", "1"}}));
  EXPECT_EQ(sb->spec.resource_limits.at("memory"), "1G");
}

TEST_P(ApiTest, MalformedJsonIs400AndOversizedBodyIs413) {
  auto o = default_harness_options();
  o.api.max_body_bytes = 4096;
  ApiHarness h(o);
  HttpClient c(h.port());
  expect_error(c.post(p("/sandboxes"), "{\"image\": "), 400, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.post(p("/sandboxes"), "[1,2]"), 422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.post(p("/sandboxes"), ""), 422, "SANDBOX::INVALID_PARAMETER");
  // Just over the limit: refused from the Content-Length, before the body is read.
  std::string big =
      create_body({{"metadata", {{"k", "v"}}}, {"env", {{"PAD", std::string(5000, 'x')}}}});
  HttpClient c2(h.port());
  auto r = c2.post(p("/sandboxes"), big);
  expect_error(r, 413, "SANDBOX::REQUEST_TOO_LARGE");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("max_body_bytes"), std::string::npos);
  // Far over the limit too.
  HttpClient c3(h.port());
  expect_error(c3.post(p("/sandboxes"), std::string(1 << 20, ' ')), 413,
               "SANDBOX::REQUEST_TOO_LARGE");
  // The server still answers.
  HttpClient c4(h.port());
  EXPECT_EQ(c4.get("/health").status, 200);
}

TEST_P(ApiTest, TimeoutAboveTheServerCapIs400) {
  auto o = default_harness_options();
  o.service.max_sandbox_timeout_seconds = 400;
  ApiHarness h(o);
  HttpClient c(h.port());
  auto r = c.post(p("/sandboxes"), create_body({{"timeout", 401}}));
  expect_error(r, 400, "SANDBOX::INVALID_PARAMETER");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("max_sandbox_timeout_seconds"),
            std::string::npos);
  EXPECT_EQ(c.post(p("/sandboxes"), create_body({{"timeout", 400}})).status, 202);
}

// The egress sidecar's policy API as the routes reach it: records every call and answers
// as told (status 0 = unreachable).
struct FakeEgressClient : EgressPolicyClient {
  struct Call {
    std::string method;
    int port = 0;
    std::string token;
    std::string body;
  };
  std::mutex mu;
  std::vector<Call> calls;
  int status = 200;
  Result<EgressReply> call(const std::string& method, int host_port, const std::string& token,
                           const std::string& body) override {
    std::lock_guard lock(mu);
    calls.push_back({method, host_port, token, body});
    if (status == 0) return fail(ErrorCode::kUnavailable, "connection refused");
    return EgressReply{status, body.empty() ? R"({"defaultAction":"deny","egress":[]})" : body};
  }
};

const json kPolicyBody = {{"defaultAction", "deny"},
                          {"egress", {{{"action", "allow"}, {"target", "example.com"}}}}};

TEST_P(ApiTest, NetworkPolicyCreatePublishes18080AndTheEndpointCarriesTheToken) {
  auto o = default_harness_options();
  o.service.egress_image = "opensandbox/egress:v1";
  ApiHarness h(o);
  HttpClient c(h.port());
  const std::string id = create(h, {{"networkPolicy", kPolicyBody}});
  ASSERT_FALSE(id.empty());
  auto sb = h.service().get(id);
  ASSERT_TRUE(sb);
  ASSERT_TRUE(sb->spec.ports.contains(18080));
  EXPECT_TRUE(sb->spec.ports.contains(44772));
  EXPECT_TRUE(sb->spec.ports.contains(8080));
  auto r = c.get(p("/sandboxes/" + id + "/endpoints/18080"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json ep = body_json(r);
  EXPECT_EQ(ep["endpoint"], "127.0.0.1:" + std::to_string(sb->spec.ports.at(18080)));
  const std::string token = ep["headers"].value("OPENSANDBOX-EGRESS-AUTH", "");
  EXPECT_EQ(token, egress_token(h.store().egress_token_key(), id));
  EXPECT_EQ(token.size(), 64u);
  // The token is nowhere in the log; a sandbox without a policy gets no header.
  auto history = c.get(p("/sandboxes/" + id + "/events"));
  EXPECT_EQ(history.body.find(token), std::string::npos);
  const std::string plain = create(h);
  auto r2 = c.get(p("/sandboxes/" + plain + "/endpoints/18080"));
  ASSERT_EQ(r2.status, 200);
  EXPECT_FALSE(body_json(r2).contains("headers") &&
               body_json(r2)["headers"].contains("OPENSANDBOX-EGRESS-AUTH"));
  // The token key survives a restart: the same token.
  h.restart();
  HttpClient c2(h.port());
  auto again = c2.get(p("/sandboxes/" + id + "/endpoints/18080"));
  EXPECT_EQ(body_json(again)["headers"].value("OPENSANDBOX-EGRESS-AUTH", ""), token);
}

TEST_P(ApiTest, NetworkPolicyRoutesForwardValidateAndRecord) {
  auto o = default_harness_options();
  o.service.egress_image = "opensandbox/egress:v1";
  ApiHarness h(o);
  auto fake = std::make_shared<FakeEgressClient>();
  h.service().set_egress_client(fake);
  HttpClient c(h.port());
  const std::string id = create(h, {{"networkPolicy", kPolicyBody}});
  ASSERT_FALSE(id.empty());
  const std::string route = p("/sandboxes/" + id + "/networkpolicy");
  const int port = h.service().get(id)->spec.ports.at(18080);
  const std::string token = egress_token(h.store().egress_token_key(), id);

  auto got = c.get(route);
  EXPECT_EQ(got.status, 200) << got.body;
  auto put = c.request("PUT", route, R"({"egress":[{"target":"*.pypi.org","action":"allow"}],
                                          "defaultAction":"allow"})",
                       {{"Content-Type", "application/json"}});
  EXPECT_EQ(put.status, 200) << put.body;
  auto patch = c.patch(route, R"([{"action":"deny","target":"evil.example"}])",
                       {{"Content-Type", "application/json"}});
  EXPECT_EQ(patch.status, 200) << patch.body;
  auto del = c.request("DELETE", route, R"(["evil.example"])",
                       {{"Content-Type", "application/json"}});
  EXPECT_EQ(del.status, 200) << del.body;
  {
    std::lock_guard lock(fake->mu);
    ASSERT_EQ(fake->calls.size(), 4u);
    EXPECT_EQ(fake->calls[0].method, "GET");
    EXPECT_EQ(fake->calls[0].body, "");
    EXPECT_EQ(fake->calls[1].method, "PUT");
    // Forwarded re-serialised, not as the client's bytes.
    EXPECT_EQ(fake->calls[1].body,
              R"({"defaultAction":"allow","egress":[{"action":"allow","target":"*.pypi.org"}]})");
    EXPECT_EQ(fake->calls[2].method, "PATCH");
    EXPECT_EQ(fake->calls[3].body, R"(["evil.example"])");
    for (const auto& call : fake->calls) {
      EXPECT_EQ(call.port, port);
      EXPECT_EQ(call.token, token);
    }
  }
  std::vector<std::string> methods;
  const auto stream = h.store().read_stream("sandbox-" + id);
  ASSERT_TRUE(stream);
  for (const auto& e : *stream)
    if (const auto* ch = std::get_if<NetworkPolicyChanged>(&e.data)) methods.push_back(ch->method);
  EXPECT_EQ(methods, (std::vector<std::string>{"PUT", "PATCH", "DELETE"}));

  // Hostile bodies: refused with a code, nothing forwarded or recorded.
  for (const auto& [method, body] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", R"({"egress":[{"action":"maybe","target":"a.b"}]})"},
           {"PUT", R"({"defaultAction":"deny","extra":1})"},
           {"PUT", R"([])"},
           {"PATCH", R"([])"},
           {"PATCH", R"([{"action":"allow","target":"a b;rm -rf"}])"},
           {"PATCH", R"({"action":"allow","target":"a.b"})"},
           {"DELETE", R"([1])"},
           {"DELETE", R"(["..."])"}}) {
    auto r = c.request(method, route, body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 422) << method << " " << body << " -> " << r.body;
    EXPECT_EQ(body_json(r)["code"], "SANDBOX::INVALID_PARAMETER");
  }
  auto not_json = c.request("PUT", route, "{nope", {{"Content-Type", "application/json"}});
  EXPECT_EQ(not_json.status, 400) << not_json.body;
  auto huge = c.request("PUT", route, "[\"" + std::string(70 * 1024, 'a') + "\"]",
                        {{"Content-Type", "application/json"}});
  EXPECT_EQ(huge.status, 413) << huge.body;
  {
    std::lock_guard lock(fake->mu);
    EXPECT_EQ(fake->calls.size(), 4u);
  }

  // The sidecar refuses (e.g. a wrong token): 502; unreachable: 503; neither is recorded.
  fake->status = 401;
  auto refused = c.request("PUT", route, R"({"egress":[]})", {{"Content-Type", "application/json"}});
  expect_error(refused, 502, "SANDBOX::EGRESS_ERROR");
  fake->status = 0;
  auto down = c.get(route);
  expect_error(down, 503, "SANDBOX::EGRESS_UNAVAILABLE");
  methods.clear();
  const auto after = h.store().read_stream("sandbox-" + id);
  ASSERT_TRUE(after);
  for (const auto& e : *after)
    if (std::holds_alternative<NetworkPolicyChanged>(e.data)) methods.emplace_back("x");
  EXPECT_EQ(methods.size(), 3u);

  // Without a policy: 409 with a code; unknown sandbox: 404; not Running: 409.
  fake->status = 200;
  const std::string plain = create(h);
  expect_error(c.get(p("/sandboxes/" + plain + "/networkpolicy")), 409,
               "SANDBOX::NETWORK_POLICY_NOT_ENABLED");
  EXPECT_EQ(c.get(p("/sandboxes/00000000-0000-4000-8000-000000000000/networkpolicy")).status, 404);
  ASSERT_EQ(c.post(p("/sandboxes/" + id + "/pause"), "").status, 202);
  expect_error(c.get(route), 409, "SANDBOX::NOT_RUNNING");
}

TEST_P(ApiTest, NetworkPolicyOnKubernetesIs501AtOnce) {
  auto o = default_harness_options();
  o.service.egress_image = "opensandbox/egress:v1";
  o.service.runtime_type = "kubernetes";
  o.service.network_mode = "pod";
  ApiHarness h(o);
  HttpClient c(h.port());
  const auto head = h.store().head();
  auto r = c.post(p("/sandboxes"), create_body({{"networkPolicy", kPolicyBody}}));
  expect_error(r, 501, "SANDBOX::NETWORK_POLICY_NOT_SUPPORTED");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("Docker"), std::string::npos);
  EXPECT_EQ(h.store().head(), head);
}

TEST_P(ApiTest, HostNetworkModeHoldsOneSandbox) {
  auto o = default_harness_options();
  o.service.network_mode = "host";
  ApiHarness h(o);
  HttpClient c(h.port());
  const std::string id = create(h);
  auto r = c.post(p("/sandboxes"), create_body());
  expect_error(r, 409, "SANDBOX::HOST_NETWORK_BUSY");
  const std::string msg = body_json(r)["message"];
  EXPECT_NE(msg.find("docker.network_mode"), std::string::npos);
  EXPECT_NE(msg.find("bridge"), std::string::npos);
  EXPECT_EQ(body_json(c.get(p("/sandboxes/" + id + "/endpoints/44772")))["endpoint"],
            "127.0.0.1:44772");
  ASSERT_EQ(c.del(p("/sandboxes/" + id)).status, 204);
  EXPECT_EQ(c.post(p("/sandboxes"), create_body()).status, 202);
}

TEST_P(ApiTest, RuntimeUnavailableRefusesMutationsWith503ButReadsWork) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  h.service().set_runtime_available(false);
  expect_error(c.post(p("/sandboxes"), create_body()), 503, "DOCKER::INITIALIZATION_ERROR");
  expect_error(c.post(p("/sandboxes/" + id + "/pause"), ""), 503, "DOCKER::INITIALIZATION_ERROR");
  expect_error(c.del(p("/sandboxes/" + id)), 503, "DOCKER::INITIALIZATION_ERROR");
  EXPECT_EQ(c.get(p("/sandboxes/" + id)).status, 200);
  EXPECT_EQ(c.get(p("/sandboxes")).status, 200);
  auto health = body_json(c.get("/health"));
  EXPECT_EQ(health["status"], "healthy");
  EXPECT_EQ(health["runtime"]["available"], false);
}

ApiHarnessOptions kubernetes_harness_options() {
  auto o = default_harness_options();
  o.worker = false;  // the test records the start, with the pod IP
  o.api.runtime_type = "kubernetes";
  o.service.runtime_type = "kubernetes";
  o.service.pause_supported = false;
  o.service.network_mode = "pod";
  o.service.published_ports.clear();
  o.service.endpoint_rules.runtime = EndpointRuntime::kKubernetes;
  return o;
}

TEST_P(ApiTest, KubernetesPauseAndResumeAre501PauseNotSupported) {
  ApiHarness h(kubernetes_harness_options());
  HttpClient c(h.port());
  const std::string id = create(h, json::object(), {{"Prefer", "respond-async"}});
  ASSERT_TRUE(h.service().execute(id, RecordStarted{"pod", "10.244.0.4"}, {"", "test"}));
  for (const char* op : {"/pause", "/resume"}) {
    auto r = c.post(p("/sandboxes/" + id + op), "");
    expect_error(r, 501, "KUBERNETES::PAUSE_NOT_SUPPORTED");
    EXPECT_EQ(body_json(r)["message"],
              "pause is not supported by the kubernetes runtime: Kubernetes cannot freeze a pod's "
              "processes; delete the sandbox or keep it running");
  }
  EXPECT_EQ(body_json(c.get(p("/sandboxes/" + id)))["status"]["state"], "Running");
}

TEST_P(ApiTest, KubernetesDirectEndpointIsThePodIpOnce409BeforeIt) {
  ApiHarness h(kubernetes_harness_options());
  HttpClient c(h.port());
  const std::string id = create(h, json::object(), {{"Prefer", "respond-async"}});
  auto pending = c.get(p("/sandboxes/" + id + "/endpoints/44772"));
  expect_error(pending, 409, "KUBERNETES::ENDPOINT_NOT_READY");
  EXPECT_NE(body_json(pending)["message"].get<std::string>().find("has no pod IP yet"),
            std::string::npos);
  ASSERT_TRUE(h.service().execute(id, RecordStarted{"pod", "10.244.0.4"}, {"", "test"}));
  auto r = c.get(p("/sandboxes/" + id + "/endpoints/44772"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r), json({{"endpoint", "10.244.0.4:44772"}}));
  // The sandbox JSON has no address field (the OpenSandbox schema has none).
  EXPECT_FALSE(body_json(c.get(p("/sandboxes/" + id))).contains("address"));
}

TEST_P(ApiTest, KubernetesGatewayEndpointsPerRouteModeWithTheirHeaders) {
  for (auto [route, want_endpoint, want_header] :
       {std::tuple{GatewayRoute::kWildcard, std::string("{id}-18080.gw.test"), false},
        std::tuple{GatewayRoute::kUri, std::string("gw.test/{id}/18080"), false},
        std::tuple{GatewayRoute::kHeader, std::string("gw.test"), true}}) {
    auto o = kubernetes_harness_options();
    o.service.endpoint_rules.ingress = IngressKind::kGateway;
    o.service.endpoint_rules.gateway_address = "gw.test";
    o.service.endpoint_rules.gateway_route = route;
    ApiHarness h(o);
    HttpClient c(h.port());
    const std::string id = create(h, json::object(), {{"Prefer", "respond-async"}});
    auto r = c.get(p("/sandboxes/" + id + "/endpoints/18080"));  // Pending: at once
    ASSERT_EQ(r.status, 200) << r.body;
    json want = {{"endpoint", std::regex_replace(want_endpoint, std::regex("\\{id\\}"), id)}};
    if (want_header) want["headers"] = {{"OpenSandbox-Ingress-To", id + "-18080"}};
    EXPECT_EQ(body_json(r), want);
  }
}

TEST_P(ApiTest, FencedInstanceAnswers503LeaseNotHeldForMutationsButServesReads) {
  ApiHarness h(kubernetes_harness_options());
  HttpClient c(h.port());
  const std::string id = create(h, json::object(), {{"Prefer", "respond-async"}});
  h.service().set_fence("the lease sandboxes/sandboxd is held by sandboxd-7");
  auto r = c.post(p("/sandboxes"), create_body());
  expect_error(r, 503, "KUBERNETES::LEASE_NOT_HELD");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("sandboxd-7"), std::string::npos);
  expect_error(c.del(p("/sandboxes/" + id)), 503, "KUBERNETES::LEASE_NOT_HELD");
  expect_error(c.post(p("/sandboxes/" + id + "/renew-expiration"),
                      json({{"expiresAt", "2099-01-01T00:00:00Z"}}).dump()),
               503, "KUBERNETES::LEASE_NOT_HELD");
  EXPECT_EQ(c.get(p("/sandboxes/" + id)).status, 200);
  EXPECT_EQ(c.get(p("/sandboxes")).status, 200);
  h.service().set_fence(std::nullopt);
  auto renewed = c.post(p("/sandboxes/" + id + "/renew-expiration"),
                        json({{"expiresAt", "2099-01-01T00:00:00Z"}}).dump());
  EXPECT_EQ(renewed.status, 200) << renewed.body;
}

// --- list -----------------------------------------------------------------------------------

TEST_P(ApiTest, ListFiltersByRepeatedStatesAndMetadataAndPaginates) {
  auto o = default_harness_options();
  o.worker = false;
  ApiHarness h(o);
  HttpClient c(h.port());
  const Headers async = {{"Prefer", "respond-async"}};
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(
        create(h, {{"metadata", {{"team", i < 3 ? "ml" : "web"}, {"note", "x_y"}}}}, async));
    std::this_thread::sleep_for(2ms);  // distinct createdAt
  }
  const RequestContext w{"", "worker:test"};
  ASSERT_TRUE(h.service().execute(ids[0], RecordStarted{"c"}, w).has_value());
  ASSERT_TRUE(h.service().execute(ids[4], RecordStarted{"c"}, w).has_value());
  ASSERT_TRUE(h.service().execute(ids[4], PauseSandbox{}, w).has_value());
  ASSERT_TRUE(h.service().execute(ids[4], RecordPaused{}, w).has_value());

  auto all = body_json(c.get(p("/sandboxes")));
  ASSERT_EQ(all["items"].size(), 5u);
  EXPECT_EQ(all["items"][0]["id"], ids[4]);  // newest first
  EXPECT_EQ(all["pagination"], json({{"page", 1},
                                     {"pageSize", 20},
                                     {"totalItems", 5},
                                     {"totalPages", 1},
                                     {"hasNextPage", false}}));

  auto rp = body_json(c.get(p("/sandboxes?state=running&state=PAUSED")));
  ASSERT_EQ(rp["items"].size(), 2u);
  EXPECT_EQ(rp["items"][0]["id"], ids[4]);
  EXPECT_EQ(rp["items"][1]["id"], ids[0]);

  auto ml = body_json(c.get(p("/sandboxes?metadata=team%3Dml&state=Pending")));
  ASSERT_EQ(ml["items"].size(), 2u);
  auto both = body_json(c.get(p("/sandboxes?metadata=team%3Dml%26note%3Dx%255Fy")));
  EXPECT_EQ(both["pagination"]["totalItems"], 3);
  auto none = body_json(c.get(p("/sandboxes?metadata=team%3Dnope")));
  EXPECT_EQ(none["items"].size(), 0u);

  auto page = body_json(c.get(p("/sandboxes?page=2&pageSize=2")));
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["items"][0]["id"], ids[2]);
  EXPECT_EQ(page["pagination"]["totalPages"], 3);
  EXPECT_EQ(page["pagination"]["hasNextPage"], true);

  expect_error(c.get(p("/sandboxes?metadata=novalue")), 400, "SANDBOX::INVALID_METADATA_FORMAT");
  expect_error(c.get(p("/sandboxes?metadata=%3Dx")), 400, "SANDBOX::INVALID_METADATA_FORMAT");
  expect_error(c.get(p("/sandboxes?page=0")), 422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.get(p("/sandboxes?pageSize=201")), 422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.get(p("/sandboxes?pageSize=abc")), 422, "SANDBOX::INVALID_PARAMETER");
  // An unknown state matches nothing (the reference server's answer), beside a known one it
  // changes nothing.
  auto sleeping = c.get(p("/sandboxes?state=Sleeping"));
  EXPECT_EQ(sleeping.status, 200);
  EXPECT_EQ(body_json(sleeping)["items"].size(), 0u);
  EXPECT_EQ(body_json(sleeping)["pagination"]["totalItems"], 0);
  auto mixed = body_json(c.get(p("/sandboxes?state=Sleeping&state=running")));
  EXPECT_EQ(mixed["pagination"]["totalItems"],
            body_json(c.get(p("/sandboxes?state=running")))["pagination"]["totalItems"]);
  EXPECT_GE(mixed["pagination"]["totalItems"], 1);
  EXPECT_EQ(c.get(p("/sandboxes?pageSize=200")).status, 200);
}

// --- delete / pause / resume / renew / metadata -------------------------------------------------

TEST_P(ApiTest, DeleteAnswers204AndThenTheSandboxIs404ButItsHistoryRemains) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  auto d = c.del(p("/sandboxes/" + id), {{"X-Request-ID", "req-del"}});
  ASSERT_EQ(d.status, 204) << d.body;
  EXPECT_TRUE(d.body.empty());
  EXPECT_EQ(d.header("X-Request-ID"), "req-del");
  expect_error(c.get(p("/sandboxes/" + id)), 404, "DOCKER::SANDBOX_NOT_FOUND");
  expect_error(c.del(p("/sandboxes/" + id)), 404, "DOCKER::SANDBOX_NOT_FOUND");
  expect_error(c.del(p("/sandboxes/" + new_uuid())), 404, "DOCKER::SANDBOX_NOT_FOUND");

  auto hist = c.get(p("/sandboxes/" + id + "/events"));
  ASSERT_EQ(hist.status, 200) << hist.body;
  auto j = body_json(hist);
  EXPECT_EQ(j["sandboxId"], id);
  std::vector<std::string> types;
  for (const auto& e : j["events"]) types.push_back(e["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"SandboxRequested", "SandboxStarted",
                                             "DeletionRequested", "SandboxTerminated"}));
  EXPECT_EQ(j["events"][2]["requestId"], "req-del");
  EXPECT_EQ(j["events"][2]["reason"], "user");
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/events")), 404, "DOCKER::SANDBOX_NOT_FOUND");
}

TEST_P(ApiTest, PauseAndResumeAnswer202AndReachTheirStates) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  auto pr = c.post(p("/sandboxes/" + id + "/pause"), "");
  ASSERT_EQ(pr.status, 202) << pr.body;
  EXPECT_TRUE(pr.body.empty());
  EXPECT_EQ(body_json(c.get(p("/sandboxes/" + id)))["status"]["state"], "Paused");
  expect_error(c.post(p("/sandboxes/" + id + "/pause"), ""), 409, "DOCKER::SANDBOX_NOT_RUNNING");
  auto rr = c.post(p("/sandboxes/" + id + "/resume"), "");
  ASSERT_EQ(rr.status, 202) << rr.body;
  EXPECT_EQ(body_json(c.get(p("/sandboxes/" + id)))["status"]["state"], "Running");
  expect_error(c.post(p("/sandboxes/" + id + "/resume"), ""), 409, "DOCKER::SANDBOX_NOT_PAUSED");
  expect_error(c.post(p("/sandboxes/" + new_uuid() + "/pause"), ""), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
}

TEST_P(ApiTest, PauseOfAPendingSandboxIs409) {
  auto o = default_harness_options();
  o.worker = false;
  ApiHarness h(o);
  HttpClient c(h.port());
  const std::string id = create(h, json::object(), {{"Prefer", "respond-async"}});
  expect_error(c.post(p("/sandboxes/" + id + "/pause"), ""), 409, "DOCKER::SANDBOX_NOT_RUNNING");
}

TEST_P(ApiTest, RenewExpiration) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  const std::string future = format_rfc3339(SystemClock().now() + 7200 * kMicrosPerSecond);
  auto r = c.post(p("/sandboxes/" + id + "/renew-expiration"), json{{"expiresAt", future}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r), json({{"expiresAt", future}}));
  EXPECT_EQ(body_json(c.get(p("/sandboxes/" + id)))["expiresAt"], future);
  // Offsets are accepted and normalised to UTC.
  auto off = c.post(p("/sandboxes/" + id + "/renew-expiration"),
                    R"({"expiresAt":"2999-01-01T02:00:00+02:00"})");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(body_json(off)["expiresAt"], "2999-01-01T00:00:00.000000Z");

  const std::string past = format_rfc3339(SystemClock().now() - kMicrosPerSecond);
  expect_error(
      c.post(p("/sandboxes/" + id + "/renew-expiration"), json{{"expiresAt", past}}.dump()), 400,
      "DOCKER::INVALID_EXPIRATION");
  expect_error(c.post(p("/sandboxes/" + id + "/renew-expiration"), R"({"expiresAt":"tomorrow"})"),
               422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.post(p("/sandboxes/" + id + "/renew-expiration"), "{}"), 422,
               "SANDBOX::INVALID_PARAMETER");
  expect_error(c.post(p("/sandboxes/" + new_uuid() + "/renew-expiration"),
                      json{{"expiresAt", future}}.dump()),
               404, "DOCKER::SANDBOX_NOT_FOUND");

  const std::string manual = create(h, {{"timeout", nullptr}});
  expect_error(
      c.post(p("/sandboxes/" + manual + "/renew-expiration"), json{{"expiresAt", future}}.dump()),
      409, "DOCKER::INVALID_EXPIRATION");
}

TEST_P(ApiTest, PatchMetadataIsAMergePatch) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h, {{"metadata", {{"team", "ml"}, {"old", "x"}}}});
  auto r = c.patch(p("/sandboxes/" + id + "/metadata"),
                   R"({"team":"web","old":null,"new":"1","absent":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["metadata"], json({{"team", "web"}, {"new", "1"}}));
  EXPECT_EQ(j["image"]["uri"], "busybox:latest");
  auto same = c.patch(p("/sandboxes/" + id + "/metadata"), "{}");
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(body_json(same)["metadata"], json({{"team", "web"}, {"new", "1"}}));

  expect_error(c.patch(p("/sandboxes/" + id + "/metadata"), R"({"opensandbox.io/x":"1"})"), 400,
               "SANDBOX::INVALID_METADATA_LABEL");
  expect_error(c.patch(p("/sandboxes/" + id + "/metadata"), R"({"k":"bad value"})"), 400,
               "SANDBOX::INVALID_METADATA_LABEL");
  expect_error(c.patch(p("/sandboxes/" + id + "/metadata"), R"({"k":5})"), 422,
               "SANDBOX::INVALID_PARAMETER");
  expect_error(c.patch(p("/sandboxes/" + id + "/metadata"), R"(["k"])"), 422,
               "SANDBOX::INVALID_PARAMETER");
  expect_error(c.patch(p("/sandboxes/" + id + "/metadata"), "{oops"), 400,
               "SANDBOX::INVALID_PARAMETER");
  expect_error(c.patch(p("/sandboxes/" + new_uuid() + "/metadata"), "{}"), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
}

TEST_P(ApiTest, EndpointPortMustBeInRange) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  for (const char* bad : {"0", "65536", "-1", "http", "80a"}) {
    expect_error(c.get(p("/sandboxes/" + id + "/endpoints/" + bad)), 400, "DOCKER::INVALID_PORT");
  }
  EXPECT_EQ(c.get(p("/sandboxes/" + id + "/endpoints/65535")).status, 200);
  EXPECT_EQ(c.get(p("/sandboxes/" + id + "/endpoints/1")).status, 200);
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/endpoints/8080")), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
}

TEST_P(ApiTest, EndpointServerProxyAndSignedRouteParametersAnswerAsTheReference) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  const std::string base = p("/sandboxes/" + id + "/endpoints/8080");
  // The combination first (before the sandbox is even looked up), as the reference does.
  expect_error(c.get(base + "?use_server_proxy=true&expires=4102444800"), 400,
               "SANDBOX::INVALID_PARAMETER");
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/endpoints/8080?use_server_proxy=true&"
                       "expires=1")),
               400, "SANDBOX::INVALID_PARAMETER");
  // No proxy.signing_secret in this harness: signed routes are refused, naming the key.
  auto unsigned_ = c.get(base + "?expires=4102444800");
  expect_error(unsigned_, 400, "SANDBOX::INVALID_PARAMETER");
  EXPECT_NE(unsigned_.body.find("proxy.signing_secret"), std::string::npos) << unsigned_.body;
  expect_error(c.get(base + "?use_server_proxy=maybe"), 422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.get(base + "?expires=-5"), 422, "SANDBOX::INVALID_PARAMETER");
  expect_error(c.get(base + "?expires=soon"), 422, "SANDBOX::INVALID_PARAMETER");
  for (const char* off : {"false", "0", "no", "OFF"}) {
    EXPECT_EQ(c.get(base + "?use_server_proxy=" + off).status, 200) << off;
  }
}

TEST_P(ApiTest, ServerProxiedEndpointIsTheProxyRouteOfTheHostTheClientUsed) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string id = create(h);
  auto r = c.get(p("/sandboxes/" + id + "/endpoints/44772?use_server_proxy=TRUE"));
  ASSERT_EQ(r.status, 200) << r.body;
  // The Host the client sent (127.0.0.1:PORT) and the prefix it asked under.
  const std::string prefix = GetParam().empty() ? "" : "/v1";
  EXPECT_EQ(body_json(r)["endpoint"], "127.0.0.1:" + std::to_string(h.port()) + prefix +
                                          "/sandboxes/" + id + "/proxy/44772");
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/endpoints/8080?use_server_proxy=true")), 404,
               "DOCKER::SANDBOX_NOT_FOUND");

  auto o = default_harness_options();
  o.api.public_base = "https://sandboxes.example.test:8443/";
  ApiHarness eip(o);
  HttpClient c2(eip.port());
  const std::string id2 = create(eip);
  auto r2 = c2.get(p("/sandboxes/" + id2 + "/endpoints/8080?use_server_proxy=true"));
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(body_json(r2)["endpoint"],
            "sandboxes.example.test:8443/sandboxes/" + id2 + "/proxy/8080");

  auto off = default_harness_options();
  off.api.proxy.enabled = false;
  ApiHarness disabled(off);
  HttpClient c3(disabled.port());
  const std::string id3 = create(disabled);
  expect_error(c3.get(p("/sandboxes/" + id3 + "/endpoints/8080?use_server_proxy=true")), 501,
               "SANDBOX::SERVER_PROXY_NOT_SUPPORTED");
  expect_error(c3.get(p("/sandboxes/" + id3 + "/endpoints/8080?expires=4102444800")), 501,
               "SANDBOX::SERVER_PROXY_NOT_SUPPORTED");
}

TEST_P(ApiTest, SignedEndpointIsAVerifiableRouteUntilItsExpiry) {
  auto o = default_harness_options();
  o.api.route_signing_secret = "0123456789abcdef-secret";
  ApiHarness h(o);
  HttpClient c(h.port());
  const std::string id = create(h);
  const std::uint64_t expires = 4102444800;  // 2100-01-01
  auto r = c.get(p("/sandboxes/" + id + "/endpoints/8080?expires=" + std::to_string(expires)));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string endpoint = body_json(r)["endpoint"];
  const std::string prefix = GetParam().empty() ? "" : "/v1";
  const std::string head = "127.0.0.1:" + std::to_string(h.port()) + prefix + "/proxy/";
  ASSERT_EQ(endpoint.substr(0, head.size()), head) << endpoint;
  auto v = verify_route("0123456789abcdef-secret", endpoint.substr(head.size()), expires - 1);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->sandbox_id, id);
  EXPECT_EQ(v->port, 8080);
  EXPECT_EQ(v->expires, expires);
  // Past or present expiries are refused with the reference's message.
  auto past = c.get(p("/sandboxes/" + id + "/endpoints/8080?expires=1000"));
  expect_error(past, 400, "SANDBOX::INVALID_PARAMETER");
  EXPECT_NE(past.body.find("must be greater than the current time"), std::string::npos);
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/endpoints/8080?expires=4102444800")), 404,
               "DOCKER::SANDBOX_NOT_FOUND");
}

// --- routing, auth, request ids ---------------------------------------------------------------

TEST_P(ApiTest, UnknownRoutesAre404AndWrongMethodsAre405) {
  ApiHarness h;
  HttpClient c(h.port());
  expect_error(c.get(p("/nope")), 404, "SANDBOX::NOT_FOUND");
  expect_error(c.get(p("/sandboxes/x/y/z/w")), 404, "SANDBOX::NOT_FOUND");
  auto r = c.request("PUT", p("/sandboxes"), "{}");
  expect_error(r, 405, "SANDBOX::METHOD_NOT_ALLOWED");
  EXPECT_EQ(r.header("Allow"), "GET, POST");
  expect_error(c.get(p("/sandboxes/" + new_uuid() + "/pause")), 405, "SANDBOX::METHOD_NOT_ALLOWED");
}

TEST(ApiRouting, HealthIsServedAtTheRootOnly) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.get("/health");
  ASSERT_EQ(r.status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["runtime"]["available"], true);
  EXPECT_EQ(j["store"]["head"], 0);
  EXPECT_EQ(c.get("/v1/health").status, 404);
}

TEST(ApiRouting, HealthMergesTheInjectedDetails) {
  ApiHarness h;
  h.health_details = [] { return json{{"docker", {{"version", "24.0"}}}, {"status", "ignored"}}; };
  h.restart();
  HttpClient c(h.port());
  auto j = body_json(c.get("/health"));
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["docker"]["version"], "24.0");
}

TEST(ApiRouting, RequestIdIsTrimmedEchoedOrGeneratedOnEveryAnswer) {
  ApiHarness h;
  HttpClient c(h.port());
  EXPECT_EQ(c.get("/health", {{"X-Request-ID", "\tabc \t"}}).header("X-Request-ID"), "abc");
  const std::string gen = c.get("/v1/sandboxes/" + new_uuid()).header("X-Request-ID");
  EXPECT_TRUE(is_uuid(gen)) << gen;
  EXPECT_TRUE(is_uuid(c.get("/nope").header("X-Request-ID")));
  EXPECT_TRUE(is_uuid(c.get("/health", {{"X-Request-ID", "   "}}).header("X-Request-ID")));
}

class ApiAuthTest : public ApiTest {};
INSTANTIATE_TEST_SUITE_P(Prefixes, ApiAuthTest, ::testing::Values("", "/v1"),
                         [](const auto& info) { return info.param.empty() ? "Root" : "V1"; });

TEST_P(ApiAuthTest, ApiKeyIsRequiredWhenConfigured) {
  auto o = default_harness_options();
  o.api.api_key = "s3cret-key";
  ApiHarness h(o);
  h.metrics_provider = [] { return std::string("sandboxd_up 1\n"); };
  h.restart();
  HttpClient c(h.port());
  auto missing = c.get(p("/sandboxes"), {{"X-Request-ID", "rid-401"}});
  expect_error(missing, 401, "MISSING_API_KEY");
  EXPECT_EQ(missing.header("X-Request-ID"), "rid-401");
  expect_error(c.get(p("/sandboxes"), {{"OPEN-SANDBOX-API-KEY", "wrong"}}), 401, "INVALID_API_KEY");
  expect_error(c.get(p("/sandboxes"), {{"OPEN-SANDBOX-API-KEY", "s3cret-ke"}}), 401,
               "INVALID_API_KEY");
  expect_error(c.post(p("/sandboxes"), create_body()), 401, "MISSING_API_KEY");
  EXPECT_EQ(h.store().head(), 0u);
  EXPECT_EQ(c.get(p("/sandboxes"), {{"OPEN-SANDBOX-API-KEY", "s3cret-key"}}).status, 200);
  EXPECT_EQ(c.get(p("/sandboxes"), {{"open-sandbox-api-key", "s3cret-key"}}).status, 200);
  auto created = c.post(p("/sandboxes"), create_body(), {{"OPEN-SANDBOX-API-KEY", "s3cret-key"}});
  EXPECT_EQ(created.status, 202);
  // Exempt routes.
  EXPECT_EQ(c.get("/health").status, 200);
  EXPECT_EQ(c.get(p("/openapi.json")).status, 200);
  EXPECT_EQ(c.get(p("/docs")).status, 200);
  EXPECT_EQ(c.get(p("/redoc")).status, 200);
  EXPECT_EQ(c.get(p("/metrics")).status, 200);
}

TEST_P(ApiAuthTest, MetricsNeedTheKeyWhenMetricsAuthIsOn) {
  auto o = default_harness_options();
  o.api.api_key = "k";
  o.api.metrics_auth = true;
  ApiHarness h(o);
  h.metrics_provider = [] { return std::string("sandboxd_up 1\n"); };
  h.restart();
  HttpClient c(h.port());
  expect_error(c.get(p("/metrics")), 401, "MISSING_API_KEY");
  auto ok = c.get(p("/metrics"), {{"OPEN-SANDBOX-API-KEY", "k"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "sandboxd_up 1\n");
  EXPECT_NE(ok.header("Content-Type").find("text/plain"), std::string::npos);
}

TEST_P(ApiAuthTest, WithoutAKeyConfiguredNothingIsChecked) {
  ApiHarness h;
  HttpClient c(h.port());
  EXPECT_EQ(c.get(p("/sandboxes")).status, 200);
  EXPECT_EQ(c.get(p("/sandboxes"), {{"OPEN-SANDBOX-API-KEY", "anything"}}).status, 200);
}

// --- docs ------------------------------------------------------------------------------------

TEST_P(ApiTest, DocsPagesLoadTheOpenApiDocument) {
  ApiHarness h;
  HttpClient c(h.port());
  auto docs = c.get(p("/docs"));
  ASSERT_EQ(docs.status, 200);
  EXPECT_NE(docs.header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(docs.body.find("/openapi.json"), std::string::npos);
  EXPECT_NE(docs.body.find("swagger-ui"), std::string::npos);
  auto redoc = c.get(p("/redoc"));
  ASSERT_EQ(redoc.status, 200);
  EXPECT_NE(redoc.body.find("spec-url=\"/openapi.json\""), std::string::npos);
  auto doc = c.get(p("/openapi.json"));
  ASSERT_EQ(doc.status, 200);
  auto j = body_json(doc);
  EXPECT_EQ(j["openapi"].get<std::string>().substr(0, 2), "3.");
}

TEST(ApiRouting, MetricsWithoutAProviderIs404) {
  ApiHarness h;
  HttpClient c(h.port());
  EXPECT_EQ(c.get("/metrics").status, 404);
}

}  // namespace
}  // namespace sbx::testing

namespace sbx::testing {
namespace {

TEST(ApiHttp, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string body = create_body({{"env", {{"PAD", std::string(2000, 'x')}}}});
  const std::string head =
      "POST /v1/sandboxes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  c.set_timeout(std::chrono::milliseconds(2000));
  auto interim = c.raw(head);
  EXPECT_EQ(interim.status, 100);
  auto final_answer = c.raw(body);
  EXPECT_EQ(final_answer.status, 202) << final_answer.body;
}

TEST(ApiHttp, KeepAliveIsTheDefaultForHttp11AndRequestsOnOneConnectionAllAnswer) {
  ApiHarness h;
  HttpClient c(h.port());
  for (int i = 0; i < 50; ++i) {
    auto r = c.get("/health");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.header("Connection"), "close");
  }
  auto closing = c.get("/health", {{"Connection", "close"}});
  EXPECT_EQ(closing.status, 200);
  EXPECT_EQ(closing.header("Connection"), "Close");
}

TEST(ApiHttp, MalformedRequestLineGetsA400WithACode) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.raw("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_json(r)["code"], "SANDBOX::INVALID_PARAMETER");
}

}  // namespace
}  // namespace sbx::testing
