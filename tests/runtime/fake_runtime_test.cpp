// FakeRuntime's fault injection and observation (its contract is in
// runtime_contract_test.cpp).
#include "src/runtime/fake/fake_runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sbx::ContainerState;
using sbx::ErrorCode;
using sbx::RuntimeEventKind;

sbx::ContainerSpec spec(const std::string& id) {
  sbx::ContainerSpec s;
  s.sandbox_id = id;
  s.image_uri = "img:1";
  s.entrypoint = {"sleep", "1"};
  s.ports = {{44772, 40001}};
  return s;
}

TEST(FakeRuntime, FailNextFailsExactlyNCallsWithTheCode) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  rt.fail_next(2);
  auto a = rt.create_and_start(spec("a"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kUnavailable);
  auto b = rt.ping();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(rt.create_and_start(spec("a")));
  rt.fail_next(1, ErrorCode::kInternal);
  EXPECT_EQ(rt.pause("a").error().code, ErrorCode::kInternal);
  EXPECT_TRUE(rt.pause("a"));
  EXPECT_EQ(rt.calls("create_and_start"), 2);
  EXPECT_EQ(rt.calls("pause"), 2);
  EXPECT_EQ(rt.calls("ping"), 1);
}

TEST(FakeRuntime, UnreachableFailsEverythingUntilCleared) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  rt.set_unreachable(true);
  EXPECT_EQ(rt.list().error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(rt.inspect("x").error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(rt.remove("x").error().code, ErrorCode::kUnavailable);
  rt.set_unreachable(false);
  EXPECT_TRUE(rt.list());
}

TEST(FakeRuntime, MissingImageIsNotFoundWithTheImageCode) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  rt.add_missing_image("img:1");
  auto r = rt.create_and_start(spec("a"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(sbx::runtime_error_code(r.error()), sbx::kImageNotFoundCode);
  EXPECT_FALSE(rt.inspect("a")->has_value());
}

TEST(FakeRuntime, SimulatedExitAndVanishAreVisibleAndReported) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  ASSERT_TRUE(rt.create_and_start(spec("a")));
  ASSERT_TRUE(rt.create_and_start(spec("b")));
  clock.advance(5 * sbx::kMicrosPerSecond);
  EXPECT_TRUE(rt.simulate_exit("a", 137, /*oom_killed=*/true));
  EXPECT_FALSE(rt.simulate_exit("a", 1)) << "an exited container cannot exit again";
  auto a = rt.inspect("a");
  ASSERT_TRUE(a && a->has_value());
  EXPECT_EQ((*a)->state, ContainerState::kExited);
  EXPECT_EQ((*a)->exit_code, 137);
  EXPECT_TRUE((*a)->oom_killed);
  EXPECT_EQ((*a)->finished_at, clock.now());

  EXPECT_TRUE(rt.simulate_vanish("b"));
  EXPECT_FALSE(rt.inspect("b")->has_value());

  std::vector<sbx::RuntimeEvent> seen;
  std::stop_source stop;
  std::thread t([&] {
    auto r = rt.watch(
        0,
        [&](const sbx::RuntimeEvent& e) {
          seen.push_back(e);
          if (seen.size() == 5) stop.request_stop();
        },
        stop.get_token());
    EXPECT_TRUE(r);
  });
  t.join();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].kind, RuntimeEventKind::kStarted);
  EXPECT_EQ(seen[1].kind, RuntimeEventKind::kStarted);
  EXPECT_EQ(seen[2].kind, RuntimeEventKind::kOomKilled);
  EXPECT_EQ(seen[3].kind, RuntimeEventKind::kDied);
  EXPECT_EQ(seen[3].exit_code, 137);
  EXPECT_EQ(seen[3].sandbox_id, "a");
  EXPECT_EQ(seen[4].kind, RuntimeEventKind::kDestroyed);
  EXPECT_EQ(seen[4].sandbox_id, "b");
}

TEST(FakeRuntime, WatchFromNowSkipsThePastAndBrokenStreamIsUnavailable) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  ASSERT_TRUE(rt.create_and_start(spec("old")));
  std::vector<sbx::RuntimeEvent> seen;
  sbx::Result<void> result;
  std::thread t([&] {
    result = rt.watch(
        std::nullopt, [&](const sbx::RuntimeEvent& e) { seen.push_back(e); }, std::stop_token());
  });
  // Wait until the watcher is subscribed, then cause one event and break the stream.
  while (rt.calls("watch") == 0) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(rt.pause("old"));
  std::this_thread::sleep_for(20ms);
  rt.break_watchers();
  t.join();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, RuntimeEventKind::kPaused);
}

TEST(FakeRuntime, LastSpecIsKeptAfterRemoval) {
  sbx::ManualClock clock;
  sbx::FakeRuntime rt(clock);
  ASSERT_TRUE(rt.create_and_start(spec("a")));
  ASSERT_TRUE(rt.remove("a"));
  auto s = rt.last_spec("a");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->image_uri, "img:1");
  EXPECT_EQ(s->ports.at(44772), 40001);
  EXPECT_FALSE(rt.last_spec("nope"));
}

}  // namespace
