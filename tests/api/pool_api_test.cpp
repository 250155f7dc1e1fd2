// Warm pools over the API (issue 14). First the bodies alone (parse_create_pool_request,
// parse_update_pool_request, poolRef in parse_create_request): the template shapes, every
// refused field named. Then the /pools routes over real HTTP (port 0) against a real
// store, the real SandboxService and PoolService: both prefixes, the reference's codes,
// auth, hostile bodies, nothing appended on a refusal, the 501 without pools.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "api/request_parsing.h"
#include "events/pool.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;
using api::ApiError;
using api::CreateParseOptions;

// --- the bodies --------------------------------------------------------------------------

json capacity(int bmin = 1, int bmax = 2, int pmin = 0, int pmax = 4) {
  return {{"bufferMin", bmin}, {"bufferMax", bmax}, {"poolMin", pmin}, {"poolMax", pmax}};
}

json create_template() {
  return {{"image", {{"uri", "busybox:latest"}}},
          {"entrypoint", {"sleep", "infinity"}},
          {"env", {{"A", "1"}}},
          {"resourceLimits", {{"cpu", "500m"}, {"memory", "512Mi"}}}};
}

json pod_template() {
  return {{"metadata", {{"labels", json::object()}}},
          {"spec",
           {{"containers",
             {{{"name", "sandbox"},
               {"image", "busybox:latest"},
               {"command", {"sleep"}},
               {"args", {"infinity"}},
               {"env", {{{"name", "A"}, {"value", "1"}}, {{"name", "EMPTY"}}}},
               {"resources",
                {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}},
                 {"requests", {{"cpu", 0.5}}}}}}}}}}};
}

std::string pool_body(const json& overrides = json::object()) {
  json j = {{"name", "web"}, {"template", create_template()}, {"capacitySpec", capacity()}};
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    if (it->is_null()) {
      j.erase(it.key());
    } else {
      j[it.key()] = *it;
    }
  }
  return j.dump();
}

// The 400 (or 422) `r` must be, with `field` in its message.
void expect_refused(const std::expected<CreatePoolRequest, ApiError>& r, int status,
                    std::string_view field) {
  ASSERT_FALSE(r.has_value()) << field;
  EXPECT_EQ(r.error().status, status) << r.error().message;
  EXPECT_EQ(r.error().code, "SANDBOX::INVALID_PARAMETER") << r.error().message;
  EXPECT_NE(r.error().message.find(field), std::string::npos)
      << "'" << field << "' not in: " << r.error().message;
}

TEST(PoolBodies, CreateShapeTemplateIsParsedByTheCreateRules) {
  auto r = api::parse_create_pool_request(pool_body(), {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->name, "web");
  EXPECT_EQ(r->capacity, (PoolCapacity{1, 2, 0, 4}));
  EXPECT_EQ(r->template_request.spec.image_uri, "busybox:latest");
  EXPECT_EQ(r->template_request.spec.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(r->template_request.spec.env.at("A"), "1");
  EXPECT_EQ(r->template_request.spec.resource_limits.at("memory"), "512Mi");
  EXPECT_FALSE(r->template_request.image_auth);
  EXPECT_EQ(json::parse(r->template_json), create_template());
  EXPECT_EQ(r->template_json.find(' '), std::string::npos);  // compact
  // resourceLimits is optional in a template; a whole float is an integer.
  json t = create_template();
  t.erase("resourceLimits");
  auto bare = api::parse_create_pool_request(
      pool_body({{"template", t}, {"capacitySpec", {{"bufferMin", 0.0}, {"bufferMax", 1},
                                                    {"poolMin", 0}, {"poolMax", 1}}}}),
      {});
  ASSERT_TRUE(bare.has_value()) << bare.error().message;
  EXPECT_TRUE(bare->template_request.spec.resource_limits.empty());
}

TEST(PoolBodies, TemplateFieldRulesAreTheCreateRulesNamedUnderTemplate) {
  json t = create_template();
  t["resourceLimits"]["cpu"] = "lots";
  expect_refused(api::parse_create_pool_request(pool_body({{"template", t}}), {}), 400,
                 "template.resourceLimits.cpu");
  t = create_template();
  t["image"]["uri"] = "UPPER/Case";
  expect_refused(api::parse_create_pool_request(pool_body({{"template", t}}), {}), 400,
                 "template.image.uri");
  t = create_template();
  t.erase("entrypoint");
  auto missing = api::parse_create_pool_request(pool_body({{"template", t}}), {});
  expect_refused(missing, 422, "template.entrypoint");
  ASSERT_FALSE(missing.has_value());
  ASSERT_FALSE(missing.error().detail.empty());
  EXPECT_EQ(missing.error().detail[0].loc,
            (std::vector<std::string>{"body", "template", "entrypoint"}));
  t = create_template();
  t.erase("image");
  expect_refused(api::parse_create_pool_request(pool_body({{"template", t}}), {}), 422,
                 "template.image");
  t = create_template();
  t["volumes"] = {{{"name", "v"}, {"mountPath", "/m"}, {"host", {{"path", "/etc"}}}}};
  auto vol = api::parse_create_pool_request(pool_body({{"template", t}}), {});
  ASSERT_FALSE(vol.has_value());
  EXPECT_EQ(vol.error().code, "VOLUME::HOST_PATH_NOT_ALLOWED");
  EXPECT_NE(vol.error().message.find("template.volumes[0].host.path"), std::string::npos)
      << vol.error().message;
  auto allowed = api::parse_create_pool_request(pool_body({{"template", t}}),
                                                CreateParseOptions{{"/etc"}});
  ASSERT_TRUE(allowed.has_value()) << allowed.error().message;
  EXPECT_NE(allowed->template_request.spec.volumes_json.find("/etc"), std::string::npos);
}

TEST(PoolBodies, FieldsAMemberCannotKeepAreRefusedNamingThem) {
  const std::pair<const char*, json> refused[] = {
      {"metadata", {{"team", "ml"}}},
      {"timeout", 600},
      {"extensions", {{"k", "v"}}},
      {"snapshotId", "0190b4a4-7b7c-7cc2-8f00-000000000000"},
      {"secureAccess", false},
  };
  for (const auto& [key, value] : refused) {
    json t = create_template();
    t[key] = value;
    expect_refused(api::parse_create_pool_request(pool_body({{"template", t}}), {}), 400,
                   std::string("template.") + key);
  }
  json t = create_template();
  t["image"]["auth"] = {{"username", "u"}, {"password", "secret"}};
  auto auth = api::parse_create_pool_request(pool_body({{"template", t}}), {});
  expect_refused(auth, 400, "template.image.auth");
  EXPECT_EQ(auth.error().message.find("secret"), std::string::npos);
}

TEST(PoolBodies, NameAndCapacityAreCheckedNamingTheField) {
  for (const json& bad : {json(""), json("Web"), json("-web"), json("web-"), json("a_b"),
                          json(std::string(64, 'a')), json(7), json("we b")}) {
    expect_refused(api::parse_create_pool_request(pool_body({{"name", bad}}), {}), 400, "name");
  }
  EXPECT_TRUE(api::parse_create_pool_request(pool_body({{"name", std::string(63, 'a')}}), {}));
  expect_refused(api::parse_create_pool_request(pool_body({{"name", nullptr}}), {}), 400, "name");
  expect_refused(api::parse_create_pool_request(pool_body({{"capacitySpec", nullptr}}), {}), 400,
                 "capacitySpec");
  expect_refused(api::parse_create_pool_request(pool_body({{"capacitySpec", "big"}}), {}), 400,
                 "capacitySpec");
  for (const char* key : {"bufferMax", "bufferMin", "poolMax", "poolMin"}) {
    for (const json& bad : {json(-1), json("2"), json(1.5), json(true), json(nullptr),
                            json(18446744073709551615ULL)}) {
      json cap = capacity();
      cap[key] = bad;
      expect_refused(api::parse_create_pool_request(pool_body({{"capacitySpec", cap}}), {}), 400,
                     std::string("capacitySpec.") + key);
    }
    json cap = capacity();
    cap.erase(key);
    expect_refused(api::parse_create_pool_request(pool_body({{"capacitySpec", cap}}), {}), 400,
                   std::string("capacitySpec.") + key);
  }
  expect_refused(api::parse_create_pool_request(pool_body({{"template", nullptr}}), {}), 400,
                 "template");
  expect_refused(api::parse_create_pool_request(pool_body({{"template", json::array()}}), {}), 400,
                 "template");
  // Malformed, not an object, too deep: as the create route answers them.
  EXPECT_EQ(api::parse_create_pool_request("{", {}).error().status, 400);
  EXPECT_EQ(api::parse_create_pool_request("[]", {}).error().status, 422);
  EXPECT_EQ(api::parse_create_pool_request("", {}).error().status, 422);
  EXPECT_EQ(api::parse_create_pool_request(std::string(200, '[') + std::string(200, ']'), {})
                .error()
                .status,
            400);
}

TEST(PoolBodies, PodTemplateSpecMapsOntoTheCreateShape) {
  auto r = api::parse_create_pool_request(pool_body({{"template", pod_template()}}), {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const SandboxSpec& s = r->template_request.spec;
  EXPECT_EQ(s.image_uri, "busybox:latest");
  EXPECT_EQ(s.entrypoint, (std::vector<std::string>{"sleep", "infinity"}));
  EXPECT_EQ(s.env, (std::map<std::string, std::string>{{"A", "1"}, {"EMPTY", ""}}));
  EXPECT_EQ(s.resource_limits, (std::map<std::string, std::string>{{"cpu", "1"}, {"memory", "1Gi"}}));
  EXPECT_EQ(json::parse(r->template_json), pod_template());  // as sent

  // Several containers: the one named "sandbox" is the one used, and the others are refused
  // (they cannot run); a single container of any name is used.
  json one = pod_template();
  one["spec"]["containers"][0]["name"] = "main";
  auto single = api::parse_create_pool_request(pool_body({{"template", one}}), {});
  ASSERT_TRUE(single.has_value()) << single.error().message;
  json two = pod_template();
  two["spec"]["containers"].insert(two["spec"]["containers"].begin(),
                                   json{{"name", "sidecar"}, {"image", "x"}});
  expect_refused(api::parse_create_pool_request(pool_body({{"template", two}}), {}), 400,
                 "template.spec.containers[0]");
  // Quantities as JSON numbers, as Kubernetes takes them.
  json numeric = pod_template();
  numeric["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 2;
  auto n = api::parse_create_pool_request(pool_body({{"template", numeric}}), {});
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(n->template_request.spec.resource_limits.at("cpu"), "2");
}

TEST(PoolBodies, PodTemplateMembersThatCannotBeHonouredAreRefusedNamingThem) {
  const std::string c0 = "template.spec.containers[0]";
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& t) { t["spec"]["containers"][0]["env"][0] = {{"name", "S"}, {"valueFrom", {{"secretKeyRef", {{"name", "s"}}}}}}; },
       c0 + ".env[0].valueFrom"},
      {[](json& t) { t["spec"]["containers"][0]["ports"] = {{{"containerPort", 80}}}; }, c0 + ".ports"},
      {[](json& t) { t["spec"]["containers"][0]["volumeMounts"] = json::array({json::object()}); },
       c0 + ".volumeMounts"},
      {[](json& t) { t["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "1"; },
       c0 + ".resources.limits.nvidia.com/gpu"},
      {[](json& t) { t["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots"; },
       c0 + ": resourceLimits.cpu"},
      {[](json& t) { t["spec"]["containers"][0]["image"] = "Bad Image"; }, c0 + ": image.uri"},
      {[](json& t) { t["spec"]["containers"][0].erase("image"); }, c0 + ".image"},
      {[](json& t) {
         t["spec"]["containers"][0].erase("command");
         t["spec"]["containers"][0].erase("args");
       },
       c0 + ".command"},
      {[](json& t) { t["spec"]["containers"][0]["command"] = "sleep"; }, c0 + ".command"},
      {[](json& t) { t["spec"]["containers"][0]["env"] = {{"A", "1"}}; }, c0 + ".env"},
      {[](json& t) { t["spec"]["containers"][0]["env"][0]["value"] = 1; }, c0 + ".env[0].value"},
      {[](json& t) { t["spec"]["volumes"] = json::array(); }, "template.spec.volumes"},
      {[](json& t) { t["spec"]["restartPolicy"] = "Never"; }, "template.spec.restartPolicy"},
      {[](json& t) { t["spec"]["containers"] = json::array(); }, "template.spec.containers"},
      {[](json& t) { t["spec"] = "pod"; }, "template.spec"},
      {[](json& t) { t["metadata"]["labels"] = {{"app", "x"}}; }, "template.metadata"},
      {[](json& t) { t["kind"] = "Pod"; }, "template.kind"},
  };
  for (const auto& [mutate, field] : cases) {
    json t = pod_template();
    mutate(t);
    expect_refused(api::parse_create_pool_request(pool_body({{"template", t}}), {}), 400, field);
  }
}

TEST(PoolBodies, UpdateTakesTheCapacityOnly) {
  auto r = api::parse_update_pool_request(json{{"capacitySpec", capacity(0, 3, 1, 9)}}.dump());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, (PoolCapacity{0, 3, 1, 9}));
  for (const char* key : {"template", "name", "status"}) {
    auto bad = api::parse_update_pool_request(
        json{{"capacitySpec", capacity()}, {key, "x"}}.dump());
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().status, 400);
    EXPECT_EQ(bad.error().message.rfind(key, 0), 0u) << bad.error().message;
  }
  json cap = capacity();
  cap["poolMax"] = -4;
  auto neg = api::parse_update_pool_request(json{{"capacitySpec", cap}}.dump());
  ASSERT_FALSE(neg.has_value());
  EXPECT_NE(neg.error().message.find("capacitySpec.poolMax"), std::string::npos);
  EXPECT_FALSE(api::parse_update_pool_request("{}").has_value());
}

// --- poolRef on a create ---------------------------------------------------------------

TEST(PoolRefParsing, PoolRefMakesImageEntrypointAndLimitsOptional) {
  auto r = api::parse_create_request(
      R"({"extensions":{"poolRef":"web","poolWarmOnly":"true"},"metadata":{"team":"ml"}})", {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->pool_ref, "web");
  EXPECT_TRUE(r->pool_warm_only);
  EXPECT_TRUE(r->spec.image_uri.empty());
  EXPECT_TRUE(r->spec.entrypoint.empty());
  EXPECT_EQ(json::parse(r->spec.extensions_json),
            (json{{"poolRef", "web"}, {"poolWarmOnly", "true"}}));  // still passed through
  EXPECT_EQ(r->metadata.at("team"), "ml");
  // Fields given anyway are parsed with their usual rules (the service decides what a warm
  // member can honour).
  auto given = api::parse_create_request(
      R"({"extensions":{"poolRef":"web","poolWarmOnly":"false"},"image":{"uri":"busybox"},
          "env":{"B":"2"},"timeout":120})",
      {});
  ASSERT_TRUE(given.has_value()) << given.error().message;
  EXPECT_FALSE(given->pool_warm_only);
  EXPECT_EQ(given->spec.image_uri, "busybox");
  EXPECT_EQ(given->timeout_seconds, 120);
  // Without poolRef nothing changes: image (or snapshotId), entrypoint and limits required.
  auto plain = api::parse_create_request(R"({"extensions":{"other":"x"}})", {});
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().status, 422);
  auto no_ref = api::parse_create_request(
      R"({"image":{"uri":"x"},"entrypoint":["x"],"resourceLimits":{}})", {});
  ASSERT_TRUE(no_ref.has_value());
  EXPECT_TRUE(no_ref->pool_ref.empty());
  EXPECT_FALSE(no_ref->pool_warm_only);
}

TEST(PoolRefParsing, BadPoolRefValuesAreRefusedNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"extensions":{"poolRef":"Web"}})", "poolRef"},
      {R"({"extensions":{"poolRef":""}})", "poolRef"},
      {R"({"extensions":{"poolRef":"a_b"}})", "poolRef"},
      {R"({"extensions":{"poolRef":"web","poolWarmOnly":"yes"}})", "poolWarmOnly"},
      {R"({"extensions":{"poolRef":"web","poolWarmOnly":"TRUE"}})", "poolWarmOnly"},
      {R"({"extensions":{"poolWarmOnly":"true"},"image":{"uri":"x"},"entrypoint":["x"],
           "resourceLimits":{}})",
       "poolWarmOnly"},
      {R"({"extensions":{"poolRef":"web"},"snapshotId":"0190b4a4-7b7c-7cc2-8f00-000000000000"})",
       "snapshotId"},
      {R"({"extensions":{"poolRef":"web"},"resourceLimits":{"cpu":"lots"}})",
       "resourceLimits.cpu"},
  };
  for (const auto& [body, field] : cases) {
    auto r = api::parse_create_request(body, {});
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().status, 400) << body << ": " << r.error().message;
    EXPECT_EQ(r.error().code, "SANDBOX::INVALID_PARAMETER") << body;
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }
  // A poolRef that is not a string is a shape error of the extensions map, as before.
  auto typed = api::parse_create_request(R"({"extensions":{"poolRef":7}})", {});
  ASSERT_FALSE(typed.has_value());
  EXPECT_EQ(typed.error().status, 422);
}

// --- the routes ----------------------------------------------------------------------------

void expect_error(const HttpResponse& r, int status, std::string_view code,
                  std::string_view in_message = {}) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_FALSE(j.value("message", "").empty()) << r.body;
  if (!in_message.empty()) {
    EXPECT_NE(j.value("message", "").find(in_message), std::string::npos)
        << "'" << in_message << "' not in " << r.body;
  }
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

HttpResponse put(HttpClient& c, std::string_view target, std::string_view body,
                 const Headers& headers = {}) {
  return c.request("PUT", target, body, headers);
}
// A template as the pool routes serve it: env values replaced by "***" (a sandbox's env is
// never served either).
json served(json t) {
  if (t.contains("env") && t["env"].is_object()) {
    for (auto& [k, v] : t["env"].items()) v = "***";
  }
  if (t.contains("spec")) {
    for (auto& c : t["spec"]["containers"]) {
      for (auto& e : c["env"]) {
        if (e.contains("value")) e["value"] = "***";
      }
    }
  }
  return t;
}

class PoolApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string p(std::string_view path) const { return GetParam() + std::string(path); }
};

INSTANTIATE_TEST_SUITE_P(Prefixes, PoolApiTest, ::testing::Values("", "/v1"),
                         [](const auto& info) { return info.param.empty() ? "Root" : "V1"; });

TEST_P(PoolApiTest, CreateGetListUpdateDeleteInTheReferenceShapes) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post(p("/pools"), pool_body());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Location"), p("/pools/web"));
  json j = body_json(r);
  EXPECT_EQ(j["name"], "web");
  EXPECT_EQ(j["capacitySpec"], capacity());
  EXPECT_EQ(j["template"], served(create_template()));
  EXPECT_EQ(j["template"]["env"]["A"], "***");
  EXPECT_TRUE(parse_rfc3339(j["createdAt"].get<std::string>()).has_value());
  ASSERT_TRUE(j["status"]["revision"].is_string());
  const std::string revision = j["status"]["revision"];
  EXPECT_EQ(revision, std::to_string(h.store().get_pool("web")->version));
  for (const char* k : {"total", "allocated", "available", "warming"}) {
    EXPECT_EQ(j["status"][k], 0) << k;  // no keeper runs here
  }

  auto g = c.get(p("/pools/web"));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(body_json(g), j);

  ASSERT_EQ(c.post(p("/pools"), pool_body({{"name", "api"}, {"template", pod_template()}})).status,
            201);
  auto l = c.get(p("/pools"));
  ASSERT_EQ(l.status, 200) << l.body;
  json items = body_json(l)["items"];
  ASSERT_EQ(items.size(), 2u) << l.body;
  EXPECT_EQ(items[0]["name"], "api");  // by name
  EXPECT_EQ(items[0]["template"], served(pod_template()));
  EXPECT_EQ(items[0]["template"]["spec"]["containers"][0]["env"][0]["value"], "***");
  EXPECT_FALSE(items[0]["template"]["spec"]["containers"][0]["env"][1].contains("value"));
  EXPECT_EQ(items[1], j);

  auto u = put(c, p("/pools/web"), json{{"capacitySpec", capacity(0, 3, 1, 8)}}.dump());
  ASSERT_EQ(u.status, 200) << u.body;
  json uj = body_json(u);
  EXPECT_EQ(uj["capacitySpec"], capacity(0, 3, 1, 8));
  EXPECT_EQ(uj["template"], served(create_template()));  // unchanged
  EXPECT_GT(std::stoull(uj["status"]["revision"].get<std::string>()), std::stoull(revision));
  EXPECT_EQ(body_json(c.get(p("/pools/web")))["capacitySpec"], capacity(0, 3, 1, 8));

  auto d = c.del(p("/pools/web"));
  EXPECT_EQ(d.status, 204) << d.body;
  EXPECT_TRUE(d.body.empty());
  expect_error(c.get(p("/pools/web")), 404, "DOCKER::POOL_NOT_FOUND", "web");
  EXPECT_EQ(body_json(c.get(p("/pools")))["items"].size(), 1u);
  // The name can be used again after the delete.
  EXPECT_EQ(c.post(p("/pools"), pool_body()).status, 201);
}

TEST_P(PoolApiTest, ErrorsCarryThePoolCodesAndChangeNothing) {
  ApiHarness h;
  HttpClient c(h.port());
  ASSERT_EQ(c.post(p("/pools"), pool_body()).status, 201);
  const auto head = h.store().head();
  expect_error(c.post(p("/pools"), pool_body()), 409, "DOCKER::POOL_ALREADY_EXISTS", "web");
  expect_error(c.get(p("/pools/nope")), 404, "DOCKER::POOL_NOT_FOUND", "nope");
  expect_error(put(c, p("/pools/nope"), json{{"capacitySpec", capacity()}}.dump()), 404,
               "DOCKER::POOL_NOT_FOUND");
  expect_error(c.del(p("/pools/nope")), 404, "DOCKER::POOL_NOT_FOUND");
  // A path name that cannot be a pool's: 404 without a lookup.
  expect_error(c.get(p("/pools/Not_A_Pool")), 404, "DOCKER::POOL_NOT_FOUND");
  expect_error(c.del(p("/pools/%2e%2e")), 404, "DOCKER::POOL_NOT_FOUND");
  // The capacity rules are the service's, named by field.
  expect_error(c.post(p("/pools"), pool_body({{"name", "other"}, {"capacitySpec", capacity(3, 2, 0, 4)}})),
               400, "SANDBOX::INVALID_PARAMETER", "capacitySpec.");
  expect_error(put(c, p("/pools/web"), json{{"capacitySpec", capacity(0, 9, 0, 4)}}.dump()), 400,
               "SANDBOX::INVALID_PARAMETER", "capacitySpec.");
  // The body rules, over HTTP.
  expect_error(c.post(p("/pools"), pool_body({{"name", "Bad"}})), 400,
               "SANDBOX::INVALID_PARAMETER", "name");
  json t = create_template();
  t["metadata"] = {{"team", "ml"}};
  expect_error(c.post(p("/pools"), pool_body({{"name", "other"}, {"template", t}})), 400,
               "SANDBOX::INVALID_PARAMETER", "template.metadata");
  expect_error(put(c, p("/pools/web"), json{{"capacitySpec", capacity()}, {"template", t}}.dump()),
               400, "SANDBOX::INVALID_PARAMETER", "template");
  json cap = capacity();
  cap.erase("poolMax");
  expect_error(put(c, p("/pools/web"), json{{"capacitySpec", cap}}.dump()), 400,
               "SANDBOX::INVALID_PARAMETER", "capacitySpec.poolMax");
  EXPECT_EQ(c.post(p("/pools"), "{").status, 400);
  EXPECT_EQ(c.post(p("/pools"), "[]").status, 422);
  EXPECT_EQ(c.post(p("/pools"), "").status, 422);
  EXPECT_EQ(put(c, p("/pools/web"), "").status, 422);
  EXPECT_EQ(c.post(p("/pools"), pool_body(), {{"Content-Type", "text/plain"}}).status, 415);
  EXPECT_EQ(put(c, p("/pools/web"), "{}", {{"Content-Type", "text/plain"}}).status, 415);
  EXPECT_EQ(c.post(p("/pools"), std::string(2 << 20, ' ')).status, 413);
  EXPECT_EQ(c.post(p("/pools"), std::string(5000, '[')).status, 400);
  expect_error(c.request("PATCH", p("/pools/web"), "{}"), 405, "SANDBOX::METHOD_NOT_ALLOWED");
  EXPECT_EQ(h.store().head(), head);
  // Nothing changed: the pool is as created.
  EXPECT_EQ(body_json(c.get(p("/pools/web")))["capacitySpec"], capacity());
}

TEST_P(PoolApiTest, EveryPoolRouteNeedsTheApiKey) {
  auto o = default_harness_options();
  o.api.api_key = "k3y";
  ApiHarness h(o);
  HttpClient c(h.port());
  const Headers key = {{"OPEN-SANDBOX-API-KEY", "k3y"}};
  const Headers wrong = {{"OPEN-SANDBOX-API-KEY", "nope"}};
  const std::string cap = json{{"capacitySpec", capacity()}}.dump();
  const std::function<HttpResponse(const Headers&)> calls[] = {
      [&](const auto& hd) { return c.post(p("/pools"), pool_body(), hd); },
      [&](const auto& hd) { return c.get(p("/pools"), hd); },
      [&](const auto& hd) { return c.get(p("/pools/web"), hd); },
      [&](const auto& hd) { return put(c, p("/pools/web"), cap, hd); },
      [&](const auto& hd) { return c.del(p("/pools/web"), hd); },
  };
  for (const auto& call : calls) {
    expect_error(call({}), 401, "MISSING_API_KEY");
    expect_error(call(wrong), 401, "INVALID_API_KEY");
  }
  EXPECT_EQ(h.store().get_pool("web"), nullptr);
  EXPECT_EQ(calls[0](key).status, 201);
  EXPECT_EQ(calls[1](key).status, 200);
  EXPECT_EQ(calls[2](key).status, 200);
  EXPECT_EQ(calls[3](key).status, 200);
  EXPECT_EQ(calls[4](key).status, 204);
}

TEST_P(PoolApiTest, WithoutPoolsEveryRouteIs501WithTheRuntimesCode) {
  for (const bool kubernetes : {false, true}) {
    for (const bool service : {false, true}) {
      auto o = default_harness_options();
      if (service) {
        o.pools = PoolOptions{.enabled = false};
      } else {
        o.pools.reset();
      }
      if (kubernetes) o.api.runtime_type = "kubernetes";
      ApiHarness h(o);
      HttpClient c(h.port());
      const std::string code =
          std::string(kubernetes ? "KUBERNETES" : "DOCKER") + "::POOL_NOT_SUPPORTED";
      expect_error(c.post(p("/pools"), pool_body()), 501, code);
      expect_error(c.get(p("/pools")), 501, code);
      expect_error(c.get(p("/pools/web")), 501, code);
      expect_error(put(c, p("/pools/web"), json{{"capacitySpec", capacity()}}.dump()), 501, code);
      expect_error(c.del(p("/pools/web")), 501, code);
      EXPECT_EQ(h.store().head(), 0u);
    }
  }
}

TEST_P(PoolApiTest, StatusCountsTheMembersAndAPoolSurvivesARestart) {
  ApiHarness h;
  HttpClient c(h.port());
  ASSERT_EQ(c.post(p("/pools"), pool_body()).status, 201);
  auto view = h.pools().get("web");
  ASSERT_TRUE(view);
  auto member = h.pools().create_member(*view->pool, RequestContext{"", "worker:test"});
  ASSERT_TRUE(member.has_value()) << member.error().message;
  ASSERT_TRUE(eventually([&] {
    auto sb = h.store().get_sandbox(member->id);
    return sb && sb->state == SandboxState::kRunning;
  }));
  json status = body_json(c.get(p("/pools/web")))["status"];
  EXPECT_EQ(status["available"], 1) << status;
  EXPECT_EQ(status["total"], 1) << status;
  EXPECT_EQ(status["allocated"], 0) << status;

  h.restart();
  HttpClient c2(h.port());
  auto g = c2.get(p("/pools/web"));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(body_json(g)["template"], served(create_template()));
  EXPECT_EQ(body_json(g)["status"]["available"], 1);
}

TEST_P(PoolApiTest, CreateWithABadPoolRefIsRefusedBeforeAnythingIsAppended) {
  ApiHarness h;
  HttpClient c(h.port());
  const auto head = h.store().head();
  expect_error(c.post(p("/sandboxes"), R"({"extensions":{"poolRef":"Not_A_Pool"}})"), 400,
               "SANDBOX::INVALID_PARAMETER", "poolRef");
  expect_error(c.post(p("/sandboxes"),
                      R"({"extensions":{"poolRef":"web","poolWarmOnly":"maybe"}})"),
               400, "SANDBOX::INVALID_PARAMETER", "poolWarmOnly");
  expect_error(c.post(p("/sandboxes"),
                      R"({"extensions":{"poolRef":"web"},"snapshotId":"0190b4a4-7b7c-7cc2-8f00-000000000000"})"),
               400, "SANDBOX::INVALID_PARAMETER", "snapshotId");
  EXPECT_EQ(h.store().head(), head);
}

// Kubernetes provider batchsandbox (issue 14): the cluster's pool controller keeps the
// members. The pool's status is what the keeper last reported, and a create with poolRef
// is handed to the cluster (X-Sandboxd-Pool: cluster), or refused with warm-only while the
// cluster reports no available pod.
TEST_P(PoolApiTest, OnAClusterThatKeepsThePoolsACreateWithPoolRefIsHandedToIt) {
  auto o = default_harness_options();
  o.api.runtime_type = "kubernetes";
  o.service.runtime_type = "kubernetes";
  o.service.network_mode = "pod";
  o.service.published_ports.clear();
  o.pools = PoolOptions{.cluster_managed = true};
  o.worker = false;
  ApiHarness h(o);
  HttpClient c(h.port());
  ASSERT_EQ(c.post(p("/pools"), pool_body()).status, 201);
  auto pool = h.store().get_pool("web");
  ASSERT_TRUE(pool);
  PoolService::ClusterCounts reported;
  reported.generation = pool->generation;
  reported.counts = PoolCounts{2, 1, 1, 4};
  h.pools().set_cluster_counts({{"web", reported}});
  json status = body_json(c.get(p("/pools/web")))["status"];
  EXPECT_EQ(status["available"], 2) << status;
  EXPECT_EQ(status["warming"], 1) << status;
  EXPECT_EQ(status["allocated"], 1) << status;
  EXPECT_EQ(status["total"], 4) << status;

  const std::string body =
      R"({"extensions":{"poolRef":"web","poolWarmOnly":"true"},"metadata":{"team":"ml"},"timeout":600})";
  const Headers async = {{"Prefer", "respond-async"}};
  auto r = c.post(p("/sandboxes"), body, async);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.header("X-Sandboxd-Pool"), "cluster");
  json j = body_json(r);
  EXPECT_EQ(j["status"]["state"], "Pending") << r.body;
  auto sb = h.store().get_sandbox(j["id"].get<std::string>());
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->spec.pool_ref, "web");
  EXPECT_EQ(sb->spec.pool_name, "");
  EXPECT_EQ(sb->spec.image_uri, "busybox:latest");
  EXPECT_EQ(sb->metadata.at("team"), "ml");

  reported.counts = PoolCounts{0, 0, 4, 4};
  h.pools().set_cluster_counts({{"web", reported}});
  const auto head = h.store().head();
  auto refused = c.post(p("/sandboxes"), body, async);
  expect_error(refused, 429, "KUBERNETES::POOL_CAPACITY_EXHAUSTED", "web");
  EXPECT_FALSE(refused.header("Retry-After").empty());
  EXPECT_EQ(h.store().head(), head);
}

}  // namespace
}  // namespace sbx::testing
