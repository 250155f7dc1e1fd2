// Hostile input over real HTTP (issue 10): each test is a request that a hostile or
// careless client sent and that the server used to accept, crash on, or answer 202 for
// and fail later. Every one must now get its 4xx at once and change nothing.
#include <gtest/gtest.h>

#include <string>

#include "api/api_server.h"
#include "api/docs_pages.h"

#include <algorithm>
#include "events/time.h"
#include "src/common/uuid.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

void expect_error(const HttpResponse& r, int status, std::string_view code,
                  std::string_view in_message = {}) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  if (!in_message.empty()) {
    EXPECT_NE(j.value("message", "").find(in_message), std::string::npos) << r.body;
  }
}

// The log did not move: nothing was recorded for a refused request.
void expect_log_unchanged(ApiHarness& h, std::uint64_t head) { EXPECT_EQ(h.store().head(), head); }

TEST(ApiHardening, DeeplyNestedBodyIsRefusedAndTheServerLives) {
  ApiHarness h;
  HttpClient c(h.port());
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  json base = json::parse(create_body());
  std::string body = base.dump();
  body.pop_back();
  body += ", \"volumes\": " + deep + "}";
  ASSERT_GT(body.size(), 400000u);
  expect_error(c.post("/v1/sandboxes", body), 400, "SANDBOX::INVALID_PARAMETER", "64");
  HttpClient c2(h.port());
  EXPECT_EQ(c2.get("/health").status, 200);
  expect_log_unchanged(h, 0);
}

TEST(ApiHardening, BodiesMustBeJson) {
  ApiHarness h;
  HttpClient c(h.port());
  // A cross-site page can POST text/plain without a preflight.
  expect_error(c.post("/v1/sandboxes", create_body(), {{"Content-Type", "text/plain"}}), 415,
               "SANDBOX::UNSUPPORTED_MEDIA_TYPE", "application/json");
  expect_error(c.post("/sandboxes", create_body(),
                      {{"Content-Type", "application/x-www-form-urlencoded"}}),
               415, "SANDBOX::UNSUPPORTED_MEDIA_TYPE");
  const std::string body = create_body();
  expect_error(c.raw("POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body),
               415, "SANDBOX::UNSUPPORTED_MEDIA_TYPE", "none");
  expect_log_unchanged(h, 0);
  // Parameters and case do not matter.
  auto ok = c.post("/v1/sandboxes", body, {{"Content-Type", "Application/JSON; charset=utf-8"}});
  ASSERT_EQ(ok.status, 202) << ok.body;
  const std::string id = body_json(ok)["id"];
  expect_error(c.patch("/v1/sandboxes/" + id + "/metadata", R"({"a":"b"})",
                       {{"Content-Type", "text/plain"}}),
               415, "SANDBOX::UNSUPPORTED_MEDIA_TYPE");
  expect_error(c.post("/v1/sandboxes/" + id + "/renew-expiration",
                      R"({"expiresAt":"2099-01-01T00:00:00Z"})", {{"Content-Type", "text/plain"}}),
               415, "SANDBOX::UNSUPPORTED_MEDIA_TYPE");
}

TEST(ApiHardening, RenewalIsBoundedByTheTimeoutCap) {
  auto o = default_harness_options();
  o.service.max_sandbox_timeout_seconds = 3600;
  ApiHarness h(o);
  HttpClient c(h.port());
  auto r = c.post("/v1/sandboxes", create_body({{"timeout", 600}}));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = body_json(r)["id"];
  const std::uint64_t head = h.store().head();
  expect_error(c.post("/v1/sandboxes/" + id + "/renew-expiration",
                      R"({"expiresAt":"9999-01-01T00:00:00Z"})"),
               400, "DOCKER::INVALID_EXPIRATION", "server.max_sandbox_timeout_seconds");
  expect_log_unchanged(h, head);
  const std::string in_an_hour = format_rfc3339(SystemClock().now() + 3000LL * kMicrosPerSecond);
  auto ok = c.post("/v1/sandboxes/" + id + "/renew-expiration",
                   json{{"expiresAt", in_an_hour}}.dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(ApiHardening, ValuesThatWouldFailLaterAreRefusedUpFront) {
  ApiHarness h;
  HttpClient c(h.port());
  const Headers async = {{"Prefer", "respond-async"}};
  struct Case {
    json overrides;
    std::string field;
  };
  const Case cases[] = {
      {{{"resourceLimits", {{"memory", "9999999999Ei"}}}}, "resourceLimits.memory"},
      {{{"resourceLimits", {{"cpu", "100000000000"}}}}, "resourceLimits.cpu"},
      {{{"resourceLimits", {{"memory", "1"}}}}, "resourceLimits.memory"},
      {{{"image", {{"uri", std::string("busybox\0:1", 10)}}}}, "image.uri"},
      {{{"image", {{"uri", "Not A Reference"}}}}, "image.uri"},
      {{{"entrypoint", {"sh", std::string("a\0b", 3)}}}, "entrypoint[1]"},
      {{{"env", {{"A", std::string("x\0y", 3)}}}}, "env.A"},
      {{{"metadata", {{"sandboxd.io/helper", "execd"}}}}, "sandboxd.io/"},
  };
  for (const auto& k : cases) {
    auto r = c.post("/v1/sandboxes", create_body(k.overrides), async);
    EXPECT_EQ(r.status, 400) << k.overrides.dump() << " -> " << r.body;
    EXPECT_NE(body_json(r).value("message", "").find(k.field), std::string::npos) << r.body;
  }
  expect_log_unchanged(h, 0);
}

TEST(ApiHardening, MalformedIdsAre404WithoutALookup) {
  ApiHarness h;
  HttpClient c(h.port());
  for (const std::string& id : std::vector<std::string>{"..%2F..%2Fetc", "a%00b", "x", std::string(5000, 'a'),
                               "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}) {
    auto r = c.get("/v1/sandboxes/" + id);
    EXPECT_EQ(r.status, 404) << id;
    EXPECT_EQ(body_json(r).value("code", ""), "DOCKER::SANDBOX_NOT_FOUND") << r.body;
    EXPECT_EQ(c.get("/v1/sandboxes/" + id + "/events").status, 404) << id;
    EXPECT_EQ(c.post("/v1/sandboxes/" + id + "/pause", "").status, 404) << id;
  }
}

TEST(ApiHardening, PatchCannotGrowMetadataWithoutBound) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post("/v1/sandboxes", create_body());
  ASSERT_EQ(r.status, 202);
  const std::string id = body_json(r)["id"];
  json patch = json::object();
  for (int i = 0; i < 64; ++i) patch["k" + std::to_string(i)] = "v";
  ASSERT_EQ(c.patch("/v1/sandboxes/" + id + "/metadata", patch.dump()).status, 200);
  const std::uint64_t head = h.store().head();
  expect_error(c.patch("/v1/sandboxes/" + id + "/metadata", R"({"one-more": "v"})"), 400,
               "SANDBOX::INVALID_METADATA_LABEL", "at most 64");
  expect_log_unchanged(h, head);
  // Replacing and removing stays possible at the cap.
  EXPECT_EQ(c.patch("/v1/sandboxes/" + id + "/metadata", R"({"k0": null, "k1": "w", "new": "x"})")
                .status,
            200);
}

TEST(ApiHardening, HealthShowsDetailsOnlyToTheKeyHolder) {
  auto o = default_harness_options();
  o.api.api_key = "s3cret";
  ApiHarness h(o);
  h.health_details = [] { return json{{"docker", {{"host", "unix:///secret.sock"}}}}; };
  h.restart();
  HttpClient c(h.port());
  auto anon = body_json(c.get("/health"));
  EXPECT_EQ(anon, json({{"status", "healthy"}}));
  auto wrong = body_json(c.get("/health", {{"OPEN-SANDBOX-API-KEY", "nope"}}));
  EXPECT_EQ(wrong, json({{"status", "healthy"}}));
  auto full = body_json(c.get("/health", {{"OPEN-SANDBOX-API-KEY", "s3cret"}}));
  EXPECT_EQ(full["docker"]["host"], "unix:///secret.sock");
  EXPECT_TRUE(full.contains("store"));
}

TEST(ApiHardening, WithoutAKeyTheServerListensOnLoopbackUnlessAllowed) {
  auto o = default_harness_options();
  o.api.host = "0.0.0.0";
  {
    ApiHarness h(o);
    EXPECT_EQ(h.server().bound_host(), "127.0.0.1");
    HttpClient c(h.port());
    EXPECT_EQ(c.get("/health").status, 200);
  }
  o.api.insecure_server = true;
  {
    ApiHarness h(o);
    EXPECT_EQ(h.server().bound_host(), "0.0.0.0");
  }
  o.api.insecure_server = false;
  o.api.api_key = "k";
  {
    ApiHarness h(o);
    EXPECT_EQ(h.server().bound_host(), "0.0.0.0");
  }
}

}  // namespace
}  // namespace sbx::testing

namespace sbx::testing {
namespace {

// Every asset the documentation pages load from elsewhere is pinned to an exact version
// and carries a Subresource Integrity hash (a floating "@5" and no hash let whoever
// serves the asset run script with the server's origin).
TEST(ApiHardening, DocsPagesPinTheirAssetsWithIntegrityHashes) {
  for (const std::string& page : {api::swagger_ui_page("https://mirror.example/npm"),
                                  api::redoc_page("https://mirror.example/npm")}) {
    std::size_t assets = 0;
    for (std::size_t at = page.find("https://mirror.example/npm/"); at != std::string::npos;
         at = page.find("https://mirror.example/npm/", at + 1)) {
      ++assets;
      const std::string url = page.substr(at, page.find('"', at) - at);
      const auto pkg_end = url.find('/', std::string("https://mirror.example/npm/").size());
      const std::string pkg = url.substr(0, pkg_end);
      EXPECT_EQ(std::count(pkg.begin(), pkg.end(), '.'), 3) << "not an exact version: " << url;
      const auto tag_end = page.find('>', at);
      const std::string tag = page.substr(at, tag_end - at);
      EXPECT_NE(tag.find("integrity=\"sha384-"), std::string::npos) << tag;
      EXPECT_NE(tag.find("crossorigin=\"anonymous\""), std::string::npos) << tag;
    }
    EXPECT_GE(assets, 1u);
  }
}

}  // namespace
}  // namespace sbx::testing
