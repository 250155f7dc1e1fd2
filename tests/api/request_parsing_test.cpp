#include "api/request_parsing.h"

#include <gtest/gtest.h>

#include "api/http_util.h"

namespace sbx::api {
namespace {

TEST(Quantities, CpuAcceptsCoresMillicoresAndExponents) {
  for (const char* ok : {"1", "2", "0.5", ".5", "500m", "1500m", "1e3", "2.", "10m", "1024"}) {
    EXPECT_EQ(cpu_limit_problem(ok), "") << ok;
  }
  for (const char* bad : {"", "0", "0m", "-1", "1Gi", "one", "1 m", "m", "1.2.3", "1mm"}) {
    EXPECT_NE(cpu_limit_problem(bad), "") << bad;
  }
}

// Values the grammar accepts but no engine runs were answered 202 and failed later.
TEST(Quantities, CpuOutsideWhatAnEngineTakesIsRefusedNamingTheField) {
  for (const char* bad : {"100000000000", "1e18", "9m", "1025", "1m"}) {
    const std::string p = cpu_limit_problem(bad);
    EXPECT_NE(p, "") << bad;
    EXPECT_NE(p.find("resourceLimits.cpu"), std::string::npos) << p;
  }
}

TEST(Quantities, MemoryAcceptsBinaryAndDecimalSuffixes) {
  for (const char* ok : {"512Mi", "2Gi", "1G", "6Mi", "1.5Gi", "1e9", "1Ti", "100M", "1Pi"}) {
    EXPECT_EQ(memory_limit_problem(ok), "") << ok;
  }
  for (const char* bad : {"", "0Gi", "-1Gi", "12XB", "Gi", "1gi", "1 Gi", "1iB"}) {
    EXPECT_NE(memory_limit_problem(bad), "") << bad;
  }
}

TEST(Quantities, MemoryOverflowingOrBelowTheEngineFloorIsRefused) {
  for (const char* bad : {"9999999999Ei", "1", "1000", "64Ki", "5Mi", "2Pi", "99999999999999999999"}) {
    const std::string p = memory_limit_problem(bad);
    EXPECT_NE(p, "") << bad;
    EXPECT_NE(p.find("resourceLimits.memory"), std::string::npos) << p;
  }
}

TEST(MetadataLabels, KeysFollowKubernetesRules) {
  for (const char* ok : {"team", "app.kubernetes.io/name", "a", "A-b_c.d", "example.com/x"}) {
    EXPECT_EQ(metadata_key_problem(ok), "") << ok;
  }
  for (const char* bad : {"", "-a", "a-", "with space", "UPPER.com/x", "/x", "a/", "x/y/z",
                          "opensandbox.io/id", "sub.opensandbox.io/k", "sandboxd.io/helper",
                          "sandboxd.io/id", "x.sandboxd.io/k"}) {
    EXPECT_NE(metadata_key_problem(bad), "") << bad;
  }
  EXPECT_NE(metadata_key_problem(std::string(64, 'a')), "");
  EXPECT_EQ(metadata_key_problem(std::string(63, 'a')), "");
  EXPECT_NE(metadata_key_problem("opensandbox.io/x").find("reserved"), std::string::npos);
  EXPECT_NE(metadata_key_problem("sandboxd.io/helper").find("reserved"), std::string::npos);
  EXPECT_EQ(metadata_key_problem("notsandboxd.io/x"), "");
}

TEST(MetadataLabels, ValuesMayBeEmptyButOtherwiseFollowTheNameRule) {
  EXPECT_EQ(metadata_value_problem(""), "");
  EXPECT_EQ(metadata_value_problem("v1.2_x-y"), "");
  EXPECT_NE(metadata_value_problem("a b"), "");
  EXPECT_NE(metadata_value_problem("_x"), "");
  EXPECT_NE(metadata_value_problem(std::string(64, 'v')), "");
}

TEST(CreateParsing, FullRequestMapsOntoTheSpec) {
  auto r = parse_create_request(R"({
    "image": {"uri": "reg/img:1", "auth": {"username": "u", "password": "p"}},
    "entrypoint": ["python", "-m", "http.server"],
    "timeout": 120,
    "resourceLimits": {"cpu": "1", "memory": "1Gi"},
    "env": {"A": "1", "B": null},
    "metadata": {"team": "ml"},
    "platform": {"os": "linux", "arch": "amd64"},
    "volumes": [{"name": "data", "mountPath": "/data", "host": {"path": "/srv/data/x"}, "readOnly": true}],
    "extensions": {"access.renew.extend.seconds": "600"}
  })",
                                CreateParseOptions{{"/srv/data"}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->spec.image_uri, "reg/img:1");
  ASSERT_TRUE(r->image_auth);  // beside the spec: it never enters the log
  EXPECT_EQ(r->image_auth->username, "u");
  EXPECT_EQ(r->image_auth->password, "p");
  EXPECT_FALSE(r->spec.image_auth_provided);  // the service sets it
  EXPECT_EQ(r->spec.entrypoint.size(), 3u);
  EXPECT_EQ(r->timeout_seconds, 120);
  EXPECT_EQ(r->spec.env.size(), 1u);
  EXPECT_EQ(r->metadata.at("team"), "ml");
  ASSERT_TRUE(r->spec.platform);
  EXPECT_EQ(r->spec.platform->arch, "amd64");
  EXPECT_NE(r->spec.volumes_json.find("/srv/data/x"), std::string::npos);
  EXPECT_NE(r->spec.extensions_json.find("600"), std::string::npos);
}

TEST(CreateParsing, EveryShapeProblemIsListedInTheDetail) {
  auto r = parse_create_request(R"({"timeout": 5, "entrypoint": [], "env": {"A": 1}})", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 422);
  std::set<std::string> fields;
  for (const auto& issue : r.error().detail)
    fields.insert(issue.loc.size() > 1 ? issue.loc[1] : "");
  EXPECT_TRUE(fields.contains("timeout"));
  EXPECT_TRUE(fields.contains("entrypoint"));
  EXPECT_TRUE(fields.contains("env"));
  EXPECT_TRUE(fields.contains("resourceLimits"));
  EXPECT_TRUE(fields.contains(""));  // neither image nor snapshotId
}

TEST(CreateParsing, HostVolumesNeedAnAllowedPrefix) {
  const std::string body = R"({"image":{"uri":"x"},"entrypoint":["x"],"resourceLimits":{},
      "volumes":[{"name":"v","mountPath":"/m","host":{"path":"/srv/database"}}]})";
  auto denied = parse_create_request(body, CreateParseOptions{{"/srv/data"}});
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, "VOLUME::HOST_PATH_NOT_ALLOWED");
  EXPECT_TRUE(parse_create_request(body, CreateParseOptions{{"/srv"}}).has_value());
  EXPECT_TRUE(parse_create_request(body, CreateParseOptions{{"/srv/database/"}}).has_value());
}

TEST(CreateParsing, GpuIsAllOrAPositiveCount) {
  auto with_gpu = [](const std::string& gpu) {
    return parse_create_request(R"({"image":{"uri":"x"},"entrypoint":["x"],"resourceLimits":{"gpu":")" +
                                    gpu + R"("}})",
                                {});
  };
  for (const char* ok : {"all", "1", "8"}) {
    auto r = with_gpu(ok);
    ASSERT_TRUE(r.has_value()) << ok;
    EXPECT_EQ(r->spec.resource_limits.at("gpu"), ok);
  }
  for (const char* bad : {"0", "-1", "1.5", "ALL", "", "65"}) {
    auto r = with_gpu(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().status, 400) << bad;
    EXPECT_NE(r.error().message.find("resourceLimits.gpu"), std::string::npos) << bad;
  }
}

TEST(CreateParsing, PvcVolumeFlagsAndDuplicateMountPaths) {
  auto ok = parse_create_request(R"({"image":{"uri":"x"},"entrypoint":["x"],"resourceLimits":{},
      "volumes":[{"name":"a","mountPath":"/a","pvc":{"claimName":"a","createIfNotExists":false,
                                                   "deleteOnSandboxTermination":true}}]})",
                                 {});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_NE(ok->spec.volumes_json.find("deleteOnSandboxTermination"), std::string::npos);
  auto twice = parse_create_request(R"({"image":{"uri":"x"},"entrypoint":["x"],"resourceLimits":{},
      "volumes":[{"name":"a","mountPath":"/d","pvc":{"claimName":"a"}},
                 {"name":"b","mountPath":"/d","pvc":{"claimName":"b"}}]})",
                                    {});
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, "VOLUME::DUPLICATE_MOUNT_PATH");
  EXPECT_NE(twice.error().message.find("volumes[1].mountPath"), std::string::npos);
}

TEST(ListQueryParsing, StatesMetadataAndPaging) {
  auto q = parse_list_query(*parse_query(
      "state=running&state=Paused,failed&metadata=a%3D1%26b%3Dx%2520y&page=3&pageSize=7"));
  ASSERT_TRUE(q.has_value()) << q.error().message;
  EXPECT_EQ(q->states, (std::vector<SandboxState>{SandboxState::kRunning, SandboxState::kPaused,
                                                  SandboxState::kFailed}));
  ASSERT_EQ(q->metadata.size(), 2u);
  EXPECT_EQ(q->metadata[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q->metadata[1], (std::pair<std::string, std::string>{"b", "x y"}));
  EXPECT_EQ(q->page, 3);
  EXPECT_EQ(q->page_size, 7);
  auto d = parse_list_query({});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->page, 1);
  EXPECT_EQ(d->page_size, 20);
}

TEST(HttpUtil, QueryKeepsRepeatedKeysAndDecodes) {
  auto q = parse_query("a=1&b=x+y&a=%41&&c");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(query_values(*q, "a"), (std::vector<std::string>{"1", "A"}));
  EXPECT_EQ(query_value(*q, "b"), "x y");
  EXPECT_EQ(query_value(*q, "c"), "");
  EXPECT_FALSE(parse_query("a=%4").has_value());
  EXPECT_FALSE(parse_query("a=%zz").has_value());
}

TEST(HttpUtil, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_TRUE(constant_time_equals("", ""));
}

TEST(HttpUtil, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("100-CONTINUE", "100-continue"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("expect", "expects"));
  EXPECT_FALSE(iequals("a-b", "a_b"));
}

TEST(HttpUtil, RequestIds) {
  EXPECT_EQ(request_id_from(std::string_view("  abc-1 ")), "abc-1");
  EXPECT_EQ(request_id_from(std::nullopt).size(), 36u);
  EXPECT_EQ(request_id_from(std::string_view("has space inside")).size(), 36u);
  EXPECT_EQ(request_id_from(std::string_view(std::string(201, 'x'))).size(), 36u);
}

std::string create_body(const std::string& extra) {
  return R"({"image": {"uri": "busybox:1"}, "entrypoint": ["sleep", "60"],
             "resourceLimits": {"cpu": "500m", "memory": "64Mi"})" +
         extra + "}";
}

// 200,000 nested arrays under a field crashed the HTTP thread (stack overflow) when the
// subtree was serialized; the scan refuses it before any tree is built.
TEST(Hostile, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto r = parse_create_request(create_body(R"(, "volumes": )" + deep), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 400);
  EXPECT_NE(r.error().message.find("64"), std::string::npos) << r.error().message;
  EXPECT_FALSE(parse_metadata_patch(R"({"a": )" + deep + "}").has_value());
  EXPECT_FALSE(parse_renew_request(deep).has_value());
  // 64 levels are fine; brackets inside strings do not count.
  EXPECT_FALSE(json_nesting_exceeds(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_TRUE(json_nesting_exceeds(std::string(65, '[') + std::string(65, ']'), 64));
  EXPECT_FALSE(json_nesting_exceeds(R"({"a": "[[[[[[[[[[\"[[[[[["})", 3));
}

TEST(Hostile, NulBytesAreRefusedNamingTheField) {
  struct Case {
    std::string extra;
    std::string field;
  };
  const Case cases[] = {
      {R"(, "env": {"A": "x\u0000y"})", "env.A"},
      {R"(, "env": {"A\u0000B": "x"})", "env"},
  };
  for (const auto& c : cases) {
    auto r = parse_create_request(create_body(c.extra), {});
    ASSERT_FALSE(r.has_value()) << c.extra;
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
  }
  auto ep = parse_create_request(R"({"image": {"uri": "busybox:1"}, "entrypoint": ["sh", "a\u0000b"],
      "resourceLimits": {}})", {});
  ASSERT_FALSE(ep.has_value());
  EXPECT_EQ(ep.error().status, 400);
  EXPECT_NE(ep.error().message.find("entrypoint[1]"), std::string::npos) << ep.error().message;
  auto img = parse_create_request(R"({"image": {"uri": "busybox\u0000:1"}, "entrypoint": ["sh"],
      "resourceLimits": {}})", {});
  ASSERT_FALSE(img.has_value());
  EXPECT_EQ(img.error().status, 400);
  EXPECT_NE(img.error().message.find("image.uri"), std::string::npos) << img.error().message;
  EXPECT_NE(img.error().message.find("\\x00"), std::string::npos) << img.error().message;
}

TEST(Hostile, ImageReferencesFollowTheDockerGrammar) {
  for (const char* ok :
       {"busybox", "busybox:1", "library/busybox:1.36", "127.0.0.1:5000/team/app:v1",
        "localhost/x", "Registry.Example.com/a/b", "a__b/c-d.e:tag_1",
        "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "[::1]:5000/img:1", "sandboxd-test/execd:1"}) {
    EXPECT_EQ(image_reference_problem(ok), "") << ok;
  }
  for (const char* bad : {"", "Busybox", "busy box", "img:", ":tag", "img:-x", "a//b", "a/-b",
                          "img@sha256:abc", "img@:0123456789abcdef0123456789abcdef",
                          "host:99999999/x", "x/", "-x", "img:tag:more"}) {
    EXPECT_NE(image_reference_problem(bad), "") << bad;
  }
  EXPECT_NE(image_reference_problem(std::string(300, 'a')), "");
}

TEST(Hostile, MetadataIsCappedInCount) {
  std::string many = R"(, "metadata": {)";
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + ("\"k" + std::to_string(i) + "\": \"v\"");
  many += "}";
  auto r = parse_create_request(create_body(many), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("at most 64"), std::string::npos) << r.error().message;
  auto reserved = parse_create_request(create_body(R"(, "metadata": {"sandboxd.io/helper": "execd"})"), {});
  ASSERT_FALSE(reserved.has_value());
  EXPECT_EQ(reserved.error().code, "SANDBOX::INVALID_METADATA_LABEL");
  EXPECT_FALSE(parse_metadata_patch(R"({"sandboxd.io/helper": "execd"})").has_value());
}

}  // namespace
}  // namespace sbx::api
