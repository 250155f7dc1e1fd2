#include "api/sandbox_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace sbx::api {
namespace {

using json = nlohmann::json;

Sandbox sample() {
  Sandbox s;
  s.id = "3f2c0e1a-0000-4000-8000-000000000001";
  s.state = SandboxState::kFailed;
  s.status_reason = "DOCKER::SANDBOX_START_FAILED";
  s.status_message = "exec \"/bin/x\": not found\n\ttab \\ and \x01 control";
  s.created_at = 1'800'000'000LL * kMicrosPerSecond + 123456;
  s.last_transition_at = s.created_at + 1;
  s.expires_at = s.created_at + 3600 * kMicrosPerSecond;
  s.metadata = {{"team", "ml"}, {"ünï", "cödé"}};
  s.spec.image_uri = "python:3.11";
  s.spec.entrypoint = {"sh", "-c", "echo \"hi\""};
  s.spec.platform = Platform{"linux", "arm64"};
  return s;
}

TEST(SandboxJson, SandboxRendersEveryFieldAsValidJson) {
  const Sandbox s = sample();
  const json j = json::parse(render_sandbox(s));
  EXPECT_EQ(j["id"], s.id);
  EXPECT_EQ(j["status"]["state"], "Failed");
  EXPECT_EQ(j["status"]["reason"], s.status_reason);
  EXPECT_EQ(j["status"]["message"], s.status_message);
  EXPECT_EQ(j["status"]["lastTransitionAt"], format_rfc3339(s.last_transition_at));
  EXPECT_EQ(j["metadata"], json(s.metadata));
  EXPECT_EQ(j["entrypoint"], json(s.spec.entrypoint));
  EXPECT_EQ(j["expiresAt"], format_rfc3339(*s.expires_at));
  EXPECT_EQ(j["createdAt"], format_rfc3339(s.created_at));
  EXPECT_EQ(j["platform"], json({{"os", "linux"}, {"arch", "arm64"}}));
  EXPECT_EQ(j["image"], json({{"uri", "python:3.11"}}));
  EXPECT_FALSE(j.contains("snapshotId"));
}

TEST(SandboxJson, InvalidUtf8InAMessageStillRendersValidJson) {
  // A container's error text can hold any bytes; the answer must stay parseable.
  Sandbox s = sample();
  s.status_message = std::string("bad \xff\xfe bytes \xc3");
  const std::string text = render_sandbox(s);
  json j;
  ASSERT_NO_THROW(j = json::parse(text)) << text;
  EXPECT_EQ(j["status"]["message"], "bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd");
}

TEST(SandboxJson, AbsentValuesAreOmittedNotNull) {
  Sandbox s;
  s.id = "x";
  s.created_at = 1;
  const json j = json::parse(render_sandbox(s));
  EXPECT_EQ(j, json({{"id", "x"},
                     {"status", {{"state", "Pending"}}},
                     {"metadata", json::object()},
                     {"entrypoint", json::array()},
                     {"createdAt", "1970-01-01T00:00:00.000001Z"}}));
  const json c = json::parse(render_create_response(sample()));
  EXPECT_FALSE(c.contains("image"));
  EXPECT_TRUE(c.contains("entrypoint"));
}

TEST(SandboxJson, TimestampsMatchFormatRfc3339) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<Micros> any(0, 253402300799LL * kMicrosPerSecond);
  std::vector<Micros> times = {
      0, 951782400LL * kMicrosPerSecond, 951868799LL * kMicrosPerSecond + 999999,
      4107542400LL * kMicrosPerSecond, 253402300799LL * kMicrosPerSecond + 999999};
  for (int i = 0; i < 10000; ++i) times.push_back(any(rng));
  for (Micros t : times) {
    const json j = json::parse(render_renew(t));
    ASSERT_EQ(j["expiresAt"], format_rfc3339(t)) << t;
  }
}

TEST(SandboxJson, ListAndEndpoint) {
  ListPage page;
  page.items = {std::make_shared<Sandbox>(sample()), std::make_shared<Sandbox>(sample())};
  page.page = 2;
  page.page_size = 2;
  page.total_items = 5;
  page.total_pages = 3;
  page.has_next_page = true;
  const json j = json::parse(render_list(page));
  EXPECT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["pagination"], json({{"page", 2},
                                   {"pageSize", 2},
                                   {"totalItems", 5},
                                   {"totalPages", 3},
                                   {"hasNextPage", true}}));
  EXPECT_EQ(json::parse(render_endpoint(Endpoint{"h:1/proxy/2", {}})),
            json({{"endpoint", "h:1/proxy/2"}}));
  EXPECT_EQ(json::parse(render_endpoint(Endpoint{"h", {{"A", "b"}}}))["headers"],
            json({{"A", "b"}}));
}

}  // namespace
}  // namespace sbx::api
