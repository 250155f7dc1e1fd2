#include "api/request_parsing.h"

#include <gtest/gtest.h>

#include "api/http_util.h"

namespace sbx::api {
namespace {

TEST(Quantities, CpuAcceptsCoresMillicoresAndExponents) {
  for (const char* ok : {"1", "2", "0.5", ".5", "500m", "1500m", "1e3", "2."}) {
    EXPECT_TRUE(is_cpu_quantity(ok)) << ok;
  }
  for (const char* bad : {"", "0", "0m", "-1", "1Gi", "one", "1 m", "m", "1.2.3", "1mm"}) {
    EXPECT_FALSE(is_cpu_quantity(bad)) << bad;
  }
}

TEST(Quantities, MemoryAcceptsBinaryAndDecimalSuffixes) {
  for (const char* ok : {"512Mi", "2Gi", "1G", "1000", "1.5Gi", "64Ki", "1e9", "1Ti", "100M"}) {
    EXPECT_TRUE(is_memory_quantity(ok)) << ok;
  }
  for (const char* bad : {"", "0Gi", "-1Gi", "12XB", "Gi", "1gi", "1 Gi", "1iB"}) {
    EXPECT_FALSE(is_memory_quantity(bad)) << bad;
  }
}

TEST(MetadataLabels, KeysFollowKubernetesRules) {
  for (const char* ok : {"team", "app.kubernetes.io/name", "a", "A-b_c.d", "example.com/x"}) {
    EXPECT_EQ(metadata_key_problem(ok), "") << ok;
  }
  for (const char* bad : {"", "-a", "a-", "with space", "UPPER.com/x", "/x", "a/", "x/y/z",
                          "opensandbox.io/id", "sub.opensandbox.io/k"}) {
    EXPECT_NE(metadata_key_problem(bad), "") << bad;
  }
  EXPECT_NE(metadata_key_problem(std::string(64, 'a')), "");
  EXPECT_EQ(metadata_key_problem(std::string(63, 'a')), "");
  EXPECT_NE(metadata_key_problem("opensandbox.io/x").find("reserved"), std::string::npos);
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
  ASSERT_TRUE(r->spec.image_auth);
  EXPECT_EQ(r->spec.image_auth->password, "p");
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

TEST(HttpUtil, RequestIds) {
  EXPECT_EQ(request_id_from(std::string_view("  abc-1 ")), "abc-1");
  EXPECT_EQ(request_id_from(std::nullopt).size(), 36u);
  EXPECT_EQ(request_id_from(std::string_view("has space inside")).size(), 36u);
  EXPECT_EQ(request_id_from(std::string_view(std::string(201, 'x'))).size(), 36u);
}

}  // namespace
}  // namespace sbx::api
