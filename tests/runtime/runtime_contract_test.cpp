// The Runtime contract, run against every implementation: the in-process fake and the
// Docker engine (the private one of scripts/docker-env.sh; skipped without it, failed
// under CI=true).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/common/clock.h"
#include "src/common/uuid.h"
#include "src/runtime/fake/fake_runtime.h"
#include "src/runtime/runtime.h"
#include "tests/runtime/docker_test_util.h"

namespace {

using namespace std::chrono_literals;
using sbx::ContainerSpec;
using sbx::ContainerState;
using sbx::ErrorCode;
using sbx::RuntimeEvent;
using sbx::RuntimeEventKind;

// What the contract needs beyond the Runtime interface.
class Harness {
 public:
  virtual ~Harness() = default;
  virtual sbx::Runtime& runtime() = 0;
  // A valid spec whose process runs until removed.
  virtual ContainerSpec long_running(const std::string& id) = 0;
  // A valid spec whose process exits with status 0 after about a second.
  virtual ContainerSpec short_lived(const std::string& id) = 0;
  // Lets the short-lived container's process end (the fake has no processes).
  virtual void let_it_exit(const std::string& id) = 0;
  // A container without the sandbox label, cleaned up by the harness.
  virtual std::string add_unlabelled_container() = 0;
};

class FakeHarness final : public Harness {
 public:
  sbx::Runtime& runtime() override { return fake_; }
  ContainerSpec long_running(const std::string& id) override {
    ContainerSpec s;
    s.sandbox_id = id;
    s.image_uri = "busybox:test";
    s.entrypoint = {"sleep", "3600"};
    return s;
  }
  ContainerSpec short_lived(const std::string& id) override {
    auto s = long_running(id);
    s.entrypoint = {"sh", "-c", "sleep 1"};
    return s;
  }
  void let_it_exit(const std::string& id) override { fake_.simulate_exit(id, 0); }
  std::string add_unlabelled_container() override { return fake_.add_foreign_container(); }

 private:
  sbx::SystemClock clock_;
  sbx::FakeRuntime fake_{clock_};
};

class DockerHarness final : public Harness {
 public:
  static std::unique_ptr<DockerHarness> create(const std::string& host) {
    auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
    EXPECT_TRUE(rt) << rt.error().message;
    auto http = sbx::HttpClient::create({.endpoint = host});
    EXPECT_TRUE(http) << http.error().message;
    if (!rt || !http) return nullptr;
    auto h = std::unique_ptr<DockerHarness>(new DockerHarness);
    h->runtime_ = std::move(*rt);
    h->http_ = std::move(*http);
    return h;
  }

  ~DockerHarness() override {
    for (const auto& id : created_) {
      auto r = runtime_->remove(id);
      EXPECT_TRUE(r) << "cleanup of sandbox " << id << ": " << r.error().message;
    }
    for (const auto& id : unlabelled_) {
      auto r = http_->send({.method = "DELETE", .target = "/containers/" + id + "?force=1&v=1"});
      EXPECT_TRUE(r && (r->status == 204 || r->status == 404)) << "cleanup of " << id;
    }
  }

  sbx::Runtime& runtime() override { return *runtime_; }
  ContainerSpec long_running(const std::string& id) override {
    created_.insert(id);
    ContainerSpec s;
    s.sandbox_id = id;
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = "bridge";
    s.limits = {.cpu = "500m", .memory = "64Mi"};
    s.labels = {{"sandboxd-test/suite", "contract"}};  // sandboxd.io/ keys are reserved
    return s;
  }
  ContainerSpec short_lived(const std::string& id) override {
    auto s = long_running(id);
    s.entrypoint = {"sh", "-c", "sleep 1"};
    return s;
  }
  void let_it_exit(const std::string&) override {}
  std::string add_unlabelled_container() override {
    auto r = http_->send({.method = "POST",
                          .target = "/containers/create",
                          .headers = {{"Content-Type", "application/json"}},
                          .body = std::string("{\"Image\":\"") + sbx::testing::kTestBusyboxImage +
                                  "\",\"Cmd\":[\"sleep\",\"3600\"]}"});
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : r.error().message);
    if (!r || r->status != 201) return {};
    auto pos = r->body.find("\"Id\":\"");
    std::string id = r->body.substr(pos + 6, 64);
    unlabelled_.push_back(id);
    return id;
  }

 private:
  DockerHarness() = default;
  std::unique_ptr<sbx::DockerRuntime> runtime_;
  std::unique_ptr<sbx::HttpClient> http_;
  std::set<std::string> created_;
  std::vector<std::string> unlabelled_;
};

class RuntimeContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "fake") {
      harness_ = std::make_unique<FakeHarness>();
    } else {
      SBX_REQUIRE_DOCKER(host);
      harness_ = DockerHarness::create(host);
      ASSERT_TRUE(harness_);
    }
  }
  void TearDown() override { harness_.reset(); }

  sbx::Runtime& rt() { return harness_->runtime(); }

  ContainerState state_of(const std::string& id) {
    auto s = rt().inspect(id);
    EXPECT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s && s->has_value()) << "no container for " << id;
    return (s && *s) ? (*s)->state : ContainerState::kDead;
  }

  std::unique_ptr<Harness> harness_;
};

TEST_P(RuntimeContract, LifecycleIsIdempotentAtEveryStep) {
  const std::string id = sbx::new_uuid();
  auto spec = harness_->long_running(id);

  auto first = rt().create_and_start(spec);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->runtime_id.empty());

  auto status = rt().inspect(id);
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_TRUE(status->has_value());
  EXPECT_EQ((*status)->state, ContainerState::kRunning);
  EXPECT_EQ((*status)->sandbox_id, id);
  EXPECT_EQ((*status)->runtime_id, first->runtime_id);
  EXPECT_FALSE((*status)->exit_code.has_value());
  EXPECT_TRUE((*status)->started_at.has_value());

  auto again = rt().create_and_start(spec);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->runtime_id, first->runtime_id) << "a second create must not make a new one";

  ASSERT_TRUE(rt().pause(id));
  EXPECT_EQ(state_of(id), ContainerState::kPaused);
  auto pause_again = rt().pause(id);
  ASSERT_TRUE(pause_again) << pause_again.error().message;
  EXPECT_EQ(state_of(id), ContainerState::kPaused);

  auto created_while_paused = rt().create_and_start(spec);
  ASSERT_TRUE(created_while_paused) << created_while_paused.error().message;
  EXPECT_EQ(created_while_paused->runtime_id, first->runtime_id);

  ASSERT_TRUE(rt().resume(id));
  EXPECT_EQ(state_of(id), ContainerState::kRunning);
  auto resume_again = rt().resume(id);
  ASSERT_TRUE(resume_again) << resume_again.error().message;
  EXPECT_EQ(state_of(id), ContainerState::kRunning);

  auto removed = rt().remove(id);
  ASSERT_TRUE(removed) << removed.error().message;
  auto removed_again = rt().remove(id);
  ASSERT_TRUE(removed_again) << removed_again.error().message;

  auto gone = rt().inspect(id);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_FALSE(gone->has_value());
}

TEST_P(RuntimeContract, PauseAndResumeOfAnAbsentSandboxAreNotFound) {
  const std::string id = sbx::new_uuid();
  auto p = rt().pause(id);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound) << p.error().message;
  auto r = rt().resume(id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error().message;
  auto s = rt().inspect(id);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->has_value());
}

TEST_P(RuntimeContract, ListShowsOnlyLabelledContainers) {
  const std::string a = sbx::new_uuid();
  const std::string b = sbx::new_uuid();
  ASSERT_TRUE(rt().create_and_start(harness_->long_running(a)));
  ASSERT_TRUE(rt().create_and_start(harness_->long_running(b)));
  ASSERT_TRUE(rt().pause(b));
  const std::string foreign = harness_->add_unlabelled_container();
  ASSERT_FALSE(foreign.empty());

  auto all = rt().list();
  ASSERT_TRUE(all) << all.error().message;
  std::map<std::string, ContainerState> by_id;
  for (const auto& s : *all) {
    EXPECT_FALSE(s.sandbox_id.empty()) << "listed an unlabelled container " << s.runtime_id;
    EXPECT_NE(s.runtime_id, foreign);
    by_id[s.sandbox_id] = s.state;
  }
  ASSERT_TRUE(by_id.contains(a));
  ASSERT_TRUE(by_id.contains(b));
  EXPECT_EQ(by_id[a], ContainerState::kRunning);
  EXPECT_EQ(by_id[b], ContainerState::kPaused);

  ASSERT_TRUE(rt().remove(a));
  auto after = rt().list();
  ASSERT_TRUE(after);
  EXPECT_TRUE(
      std::none_of(after->begin(), after->end(), [&](const auto& s) { return s.sandbox_id == a; }));
}

TEST_P(RuntimeContract, InvalidSpecsAreRejected) {
  auto spec = harness_->long_running(sbx::new_uuid());
  auto bad_cpu = spec;
  bad_cpu.limits.cpu = "lots";
  auto r = rt().create_and_start(bad_cpu);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "cpu");

  auto bad_id = spec;
  bad_id.sandbox_id = "a/b";
  r = rt().create_and_start(bad_id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  auto no_entrypoint = spec;
  no_entrypoint.entrypoint.clear();
  r = rt().create_and_start(no_entrypoint);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  auto s = rt().inspect(spec.sandbox_id);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->has_value()) << "a rejected spec must not leave a container";
}

TEST_P(RuntimeContract, WatchReportsTheDeathOfAProcessAndInspectShowsTheExit) {
  const std::string id = sbx::new_uuid();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<RuntimeEvent> seen;
  std::stop_source stop;
  sbx::SystemClock clock;
  const sbx::Micros since = clock.now() - sbx::kMicrosPerSecond;
  sbx::Result<void> watch_result;
  std::thread watcher([&] {
    watch_result = rt().watch(
        since,
        [&](const RuntimeEvent& e) {
          std::lock_guard lock(mu);
          if (e.sandbox_id == id) seen.push_back(e);
          cv.notify_all();
        },
        stop.get_token());
  });

  auto started = rt().create_and_start(harness_->short_lived(id));
  ASSERT_TRUE(started) << started.error().message;
  harness_->let_it_exit(id);

  bool died = false;
  {
    std::unique_lock lock(mu);
    died = cv.wait_for(lock, 20s, [&] {
      return std::any_of(seen.begin(), seen.end(),
                         [](const auto& e) { return e.kind == RuntimeEventKind::kDied; });
    });
  }
  stop.request_stop();
  watcher.join();
  EXPECT_TRUE(watch_result) << watch_result.error().message;
  ASSERT_TRUE(died) << "no die event within 20 s";
  {
    std::lock_guard lock(mu);
    auto die = std::find_if(seen.begin(), seen.end(),
                            [](const auto& e) { return e.kind == RuntimeEventKind::kDied; });
    EXPECT_EQ(die->exit_code, 0);
    EXPECT_EQ(die->runtime_id, started->runtime_id);
    EXPECT_GE(die->time, since);
    EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const auto& e) {
      return e.kind == RuntimeEventKind::kStarted;
    })) << "the start of the container should be reported too";
  }

  auto s = rt().inspect(id);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->state, ContainerState::kExited);
  EXPECT_EQ((*s)->exit_code, 0);
  EXPECT_FALSE((*s)->oom_killed);
  EXPECT_TRUE((*s)->finished_at.has_value());

  // An exited sandbox is started again by create_and_start (a worker redoing its work).
  auto restarted = rt().create_and_start(harness_->long_running(id));
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(restarted->runtime_id, started->runtime_id);
  EXPECT_EQ(state_of(id), ContainerState::kRunning);

  // Removal is reported as destroy.
  std::vector<RuntimeEvent> after;
  std::stop_source stop2;
  const sbx::Micros before_remove = clock.now();
  ASSERT_TRUE(rt().remove(id));
  std::thread watcher2([&] {
    auto r = rt().watch(
        before_remove - 500'000,
        [&](const RuntimeEvent& e) {
          std::lock_guard lock(mu);
          if (e.sandbox_id == id) after.push_back(e);
          if (e.sandbox_id == id && e.kind == RuntimeEventKind::kDestroyed) stop2.request_stop();
        },
        stop2.get_token());
    EXPECT_TRUE(r) << r.error().message;
  });
  std::thread timeout([&] {
    for (int i = 0; i < 100 && !stop2.stop_requested(); ++i) std::this_thread::sleep_for(100ms);
    stop2.request_stop();
  });
  watcher2.join();
  timeout.join();
  std::lock_guard lock(mu);
  EXPECT_TRUE(std::any_of(after.begin(), after.end(), [](const auto& e) {
    return e.kind == RuntimeEventKind::kDestroyed;
  })) << "no destroy event after remove";
}

TEST_P(RuntimeContract, PausingAnExitedSandboxIsAFailedPrecondition) {
  const std::string id = sbx::new_uuid();
  ASSERT_TRUE(rt().create_and_start(harness_->short_lived(id)));
  harness_->let_it_exit(id);
  for (int i = 0; i < 100 && state_of(id) != ContainerState::kExited; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(state_of(id), ContainerState::kExited);
  auto p = rt().pause(id);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kFailedPrecondition) << p.error().message;
  ASSERT_TRUE(rt().remove(id));
}

TEST_P(RuntimeContract, PingAnswers) {
  auto p = rt().ping();
  EXPECT_TRUE(p) << p.error().message;
}

INSTANTIATE_TEST_SUITE_P(All, RuntimeContract, ::testing::Values("fake", "docker"),
                         [](const auto& info) { return info.param; });

}  // namespace
