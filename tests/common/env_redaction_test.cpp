#include "src/common/env_redaction.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "events/codec.h"

namespace sbx {
namespace {

Event with(EventData data) {
  Event e;
  e.position = 3;
  e.stream = "pool-web";
  e.version = 1;
  e.data = std::move(data);
  return e;
}

PoolCreated pool_created(std::string template_json) {
  PoolCreated p;
  p.name = "web";
  p.template_spec.image_uri = "busybox:1";
  p.template_spec.env = {{"API_TOKEN", "hunter2"}, {"MODE", "warm"}};
  p.template_json = std::move(template_json);
  p.capacity = PoolCapacity{1, 2, 0, 4};
  return p;
}

TEST(EnvRedaction, PoolCreatedHidesTheValuesOfItsSpecAndOfTheTemplateAsSent) {
  const Event e = with(pool_created(
      R"({"image":{"uri":"busybox:1"},"env":{"API_TOKEN":"hunter2","MODE":"warm"},"entrypoint":["sh"]})"));
  ASSERT_TRUE(has_env_values(e));
  const Event r = redact_env_values(e);
  const auto& p = std::get<PoolCreated>(r.data);
  EXPECT_EQ(p.template_spec.env,
            (std::map<std::string, std::string>{{"API_TOKEN", "***"}, {"MODE", "***"}}));
  EXPECT_EQ(p.template_json,
            R"({"image":{"uri":"busybox:1"},"env":{"API_TOKEN":"***","MODE":"***"},"entrypoint":["sh"]})");
  EXPECT_EQ(p.template_spec.image_uri, "busybox:1");
  EXPECT_EQ(p.capacity, (PoolCapacity{1, 2, 0, 4}));
  const std::string json = encode_event(r);
  EXPECT_EQ(json.find("hunter2"), std::string::npos) << json;
  EXPECT_EQ(json.find("warm"), std::string::npos) << json;
  // The original is a copy: the log keeps the values.
  EXPECT_EQ(std::get<PoolCreated>(e.data).template_spec.env.at("API_TOKEN"), "hunter2");
}

TEST(EnvRedaction, ATemplateThatIsNotAnObjectIsHiddenWhole) {
  for (const std::string& text :
       {std::string(R"(not json "hunter2")"), std::string(R"(["hunter2"])"),
        std::string(R"({"env":"API_TOKEN=hunter2"})"), std::string(R"({"env":["hunter2"]})")}) {
    const Event r = redact_env_values(with(pool_created(text)));
    const std::string& shown = std::get<PoolCreated>(r.data).template_json;
    EXPECT_EQ(shown.find("hunter2"), std::string::npos) << text << " -> " << shown;
  }
  // Without env the template is shown as sent.
  const std::string plain = R"({"image":{"uri":"busybox:1"}})";
  EXPECT_EQ(std::get<PoolCreated>(redact_env_values(with(pool_created(plain))).data).template_json,
            plain);
}

TEST(EnvRedaction, APodTemplateSpecHidesTheValuesOfEveryContainersEnv) {
  const std::string text =
      R"({"metadata":{"labels":{}},"spec":{"initContainers":[{"name":"i","env":[{"name":"T","value":"hunter2"}]}],)"
      R"("containers":[{"name":"sandbox","image":"busybox:1","env":[{"name":"API_TOKEN","value":"hunter2"},)"
      R"({"name":"FROM","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},"hunter2"]},)"
      R"({"name":"side","env":"API_TOKEN=hunter2"}]}})";
  const std::string shown = redact_template_env_json(text);
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_EQ(shown,
            R"({"metadata":{"labels":{}},"spec":{"initContainers":[{"name":"i","env":[{"name":"T","value":"***"}]}],)"
            R"("containers":[{"name":"sandbox","image":"busybox:1","env":[{"name":"API_TOKEN","value":"***"},)"
            R"({"name":"FROM","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},"***"]},)"
            R"({"name":"side","env":"***"}]}})");
  // The event view uses the same rule.
  const Event r = redact_env_values(with(pool_created(text)));
  EXPECT_EQ(std::get<PoolCreated>(r.data).template_json, shown);
}

TEST(EnvRedaction, SandboxRequestedHidesItsEnvValuesAndOtherEventsStayAsTheyAre) {
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.env = {{"K", "secret"}};
  const Event e = with(r);
  EXPECT_TRUE(has_env_values(e));
  EXPECT_EQ(std::get<SandboxRequested>(redact_env_values(e).data).spec.env.at("K"), "***");
  EXPECT_FALSE(has_env_values(with(SandboxRequested{})));
  for (const EventData& d : {EventData{SandboxClaimed{{{"team", "ml"}}, std::nullopt}},
                             EventData{PoolCapacityChanged{PoolCapacity{1, 1, 1, 1}}},
                             EventData{PoolDeleted{}}}) {
    const Event other = with(d);
    EXPECT_FALSE(has_env_values(other));
    EXPECT_EQ(redact_env_values(other), other);
  }
}

}  // namespace
}  // namespace sbx
