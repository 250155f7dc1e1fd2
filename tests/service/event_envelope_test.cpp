#include "src/service/event_envelope.h"

#include <gtest/gtest.h>

#include <string>

#include "events/codec.h"

namespace sbx {
namespace {

TEST(EventEnvelope, EnvValuesOfCreatesAndPoolTemplatesAreHidden) {
  Event requested;
  requested.stream = "sandbox-x";
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.env = {{"API_TOKEN", "hunter2"}};
  requested.data = r;
  std::string json = event_envelope_json(requested);
  EXPECT_EQ(json.find("hunter2"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("API_TOKEN":"***")"), std::string::npos) << json;

  Event pool;
  pool.stream = "pool-web";
  PoolCreated p;
  p.name = "web";
  p.template_spec.env = {{"API_TOKEN", "hunter2"}};
  p.template_json = R"({"env":{"API_TOKEN":"hunter2"}})";
  pool.data = p;
  json = event_envelope_json(pool);
  EXPECT_EQ(json.find("hunter2"), std::string::npos) << json;
  EXPECT_TRUE(decode_event(json)) << json;

  Event other;
  other.stream = "pool-web";
  other.data = PoolCapacityChanged{PoolCapacity{1, 2, 3, 4}};
  EXPECT_EQ(event_envelope_json(other), encode_event(other));
}

}  // namespace
}  // namespace sbx
