// parse_engine_event / format_since: the Docker event stream's lines into RuntimeEvents,
// without an engine (the stream itself is covered by the Docker-backed contract tests).
#include "src/runtime/docker/event_watch.h"

#include <gtest/gtest.h>

namespace {

using sbx::RuntimeEventKind;

TEST(EngineEvent, ADieCarriesSandboxInstanceExitCodeAndNanosecondTime) {
  auto e = sbx::parse_engine_event(
      R"({"Type":"container","Action":"die","Actor":{"ID":"c0ffee","Attributes":)"
      R"({"sandboxd.io/id":"abc","sandboxd.io/instance":"i1","exitCode":"137"}},)"
      R"("time":1700000000,"timeNano":1700000000123456789})");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_TRUE(*e);
  EXPECT_EQ((*e)->kind, RuntimeEventKind::kDied);
  EXPECT_EQ((*e)->runtime_id, "c0ffee");
  EXPECT_EQ((*e)->sandbox_id, "abc");
  EXPECT_EQ((*e)->instance_id, "i1");
  EXPECT_EQ((*e)->exit_code, 137);
  EXPECT_EQ((*e)->time, 1700000000123456);
}

TEST(EngineEvent, EveryLifecycleActionMapsAndOldStyleFieldsAreRead) {
  const std::pair<const char*, RuntimeEventKind> cases[] = {
      {"start", RuntimeEventKind::kStarted},   {"die", RuntimeEventKind::kDied},
      {"oom", RuntimeEventKind::kOomKilled},   {"destroy", RuntimeEventKind::kDestroyed},
      {"pause", RuntimeEventKind::kPaused},    {"unpause", RuntimeEventKind::kUnpaused}};
  for (auto [action, kind] : cases) {
    // "status" / "id" / "time" (seconds): what engines before the Action field sent.
    auto e = sbx::parse_engine_event(std::string(R"({"status":")") + action +
                                     R"(","id":"c1","time":5,"Actor":{"Attributes":)"
                                     R"({"sandboxd.io/id":"s"}}})");
    ASSERT_TRUE(e && *e) << action;
    EXPECT_EQ((*e)->kind, kind) << action;
    EXPECT_EQ((*e)->runtime_id, "c1");
    EXPECT_EQ((*e)->time, 5'000'000);
    EXPECT_FALSE((*e)->exit_code) << action;
  }
}

TEST(EngineEvent, OtherActionsAndUnlabelledContainersAreSkipped) {
  auto other = sbx::parse_engine_event(
      R"({"Action":"exec_start","Actor":{"Attributes":{"sandboxd.io/id":"s"}}})");
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
  auto unlabelled = sbx::parse_engine_event(R"({"Action":"start","Actor":{"ID":"x"}})");
  ASSERT_TRUE(unlabelled);
  EXPECT_FALSE(*unlabelled);
}

TEST(EngineEvent, ReferenceSandboxesAreReportedUnderTheirIdAndItsHelpersAreNot) {
  auto adopted = sbx::parse_engine_event(
      R"({"Action":"pause","Actor":{"ID":"c2","Attributes":{"opensandbox.io/id":"r1",)"
      R"("opensandbox.io/expires-at":"2026-12-05T05:00:00+00:00"}},"time":5})");
  ASSERT_TRUE(adopted && *adopted);
  EXPECT_EQ((*adopted)->sandbox_id, "r1");
  EXPECT_EQ((*adopted)->instance_id, "") << "no instance: the reconciler asks its log";
  EXPECT_EQ((*adopted)->kind, RuntimeEventKind::kPaused);
  // The reference server's egress sidecar is no sandbox.
  auto sidecar = sbx::parse_engine_event(
      R"({"Action":"die","Actor":{"ID":"c3","Attributes":{"opensandbox.io/id":"r1",)"
      R"("opensandbox.io/egress-sidecar-for":"r1"}},"time":5})");
  ASSERT_TRUE(sidecar);
  EXPECT_FALSE(*sidecar);
  // sandboxd's own label wins over a copied reference label.
  auto ours = sbx::parse_engine_event(
      R"({"Action":"die","Actor":{"ID":"c4","Attributes":{"opensandbox.io/id":"r9",)"
      R"("sandboxd.io/id":"s4"}},"time":5})");
  ASSERT_TRUE(ours && *ours);
  EXPECT_EQ((*ours)->sandbox_id, "s4");
}

TEST(EngineEvent, AMalformedLineIsAnError) {
  auto e = sbx::parse_engine_event("{not json");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, sbx::ErrorCode::kInvalidArgument);
  auto bad_time = sbx::parse_engine_event(
      R"({"Action":"start","timeNano":"soon","Actor":{"Attributes":{"sandboxd.io/id":"s"}}})");
  EXPECT_FALSE(bad_time);
}

TEST(EngineEvent, SinceIsSecondsDotNanoseconds) {
  EXPECT_EQ(sbx::format_since(1'700'000'000'123'456), "1700000000.123456000");
  EXPECT_EQ(sbx::format_since(0), "0.000000000");
  EXPECT_EQ(sbx::format_since(-1), "-1.999999000");
}

}  // namespace
