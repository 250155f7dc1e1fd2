#include "src/server/api_options.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(ApiOptionsFromConfig, CopiesServerKeys) {
  Config c;
  c.server.host = "127.0.0.1";
  c.server.port = 9090;
  c.server.threads = 3;
  c.server.max_body_bytes = 2048;
  c.server.api_key = "k";
  c.server.metrics_auth = true;
  c.server.timeout_keep_alive = 12;
  c.server.create_wait_ms = 45000;
  c.server.transition_wait_ms = 1000;
  c.storage.allowed_host_paths = {"/srv", "/data"};
  const api::ApiOptions o = api_options_from(c);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 9090);
  EXPECT_EQ(o.threads, 3);
  EXPECT_EQ(o.max_body_bytes, 2048u);
  EXPECT_EQ(o.api_key, "k");
  EXPECT_TRUE(o.metrics_auth);
  EXPECT_EQ(o.keep_alive_seconds, 12);
  EXPECT_EQ(o.runtime_type, "docker");
  EXPECT_EQ(o.create_wait_ms, 45000);
  EXPECT_EQ(o.transition_wait_ms, 1000);
  EXPECT_EQ(o.max_wait, std::chrono::milliseconds(45000));
  EXPECT_EQ(o.allowed_host_paths, (std::vector<std::string>{"/srv", "/data"}));
}

TEST(ApiOptionsFromConfig, EmptyApiKeyMeansAuthOff) {
  Config c;
  c.server.api_key = "";
  EXPECT_FALSE(api_options_from(c).api_key.has_value());
  c.server.api_key.reset();
  EXPECT_FALSE(api_options_from(c).api_key.has_value());
}

}  // namespace
}  // namespace sbx
