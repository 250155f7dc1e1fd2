// The Runtime contract: the behaviour every Runtime implementation shares, as a
// value-parameterised GoogleTest suite. A test binary includes this header in exactly one
// file, defines make_contract_harness() for its parameters and instantiates the suite:
// tests/runtime/runtime_contract_test.cpp (the fake and the Docker engine) and
// tests/kubernetes/runtime_contract_kubernetes_test.cpp (a real kube-apiserver, one
// parameter per workload provider). Header-only because the test CMake function compiles
// only `*_test.cpp` files.
#pragma once

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
#include "src/runtime/runtime.h"

namespace sbx::contract {

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
  // Runtimes that report readiness (Kubernetes): makes the sandbox's workload Ready (the
  // test plays the kubelet) and waits until the runtime sees it. Others: nothing to do.
  virtual void make_ready(const std::string& id) { (void)id; }
  // Whether pause/resume work (Kubernetes: they answer kFailedPrecondition with
  // KUBERNETES::PAUSE_NOT_SUPPORTED).
  virtual bool can_pause() const { return true; }
  // Whether create_and_start starts an exited sandbox again (a pod with restartPolicy
  // Never cannot be restarted: it answers the ended workload, and the reconciler fails it).
  virtual bool can_restart() const { return true; }
};

// Defined by each test binary that instantiates the suite: the harness for a parameter.
// May return nullptr after a failed (or skipped) set-up assertion.
std::unique_ptr<Harness> make_contract_harness(const std::string& name);

class RuntimeContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    harness_ = make_contract_harness(GetParam());
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(harness_);
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
  harness_->make_ready(id);

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

  if (!harness_->can_pause()) {
    for (auto r : {rt().pause(id), rt().resume(id)}) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
      EXPECT_EQ(sbx::runtime_error_code(r.error()), "KUBERNETES::PAUSE_NOT_SUPPORTED")
          << r.error().message;
    }
    EXPECT_EQ(state_of(id), ContainerState::kRunning);
  } else {
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
  }

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
  harness_->make_ready(a);
  harness_->make_ready(b);
  const ContainerState b_state =
      harness_->can_pause() ? ContainerState::kPaused : ContainerState::kRunning;
  if (harness_->can_pause()) {
    ASSERT_TRUE(rt().pause(b));
  }
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
  EXPECT_EQ(by_id[b], b_state);

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
  harness_->make_ready(id);
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

  // An exited sandbox is started again by create_and_start (a worker redoing its work);
  // where that is impossible, create_and_start answers the ended workload, not a new one.
  auto restarted = rt().create_and_start(harness_->long_running(id));
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(restarted->runtime_id, started->runtime_id);
  EXPECT_EQ(state_of(id),
            harness_->can_restart() ? ContainerState::kRunning : ContainerState::kExited);

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
  harness_->make_ready(id);
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

// Diagnostics (issue 13): nullopt for an absent sandbox; for a live one, a description that
// names no env value and logs within their byte cap.
TEST_P(RuntimeContract, DiagnosticsDescribeALiveSandboxAndNothingForAnAbsentOne) {
  const std::string absent = sbx::new_uuid();
  auto d = rt().describe(absent);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_FALSE(d->has_value());
  auto l = rt().container_logs(absent, sbx::LogLimits{});
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_FALSE(l->has_value());

  const std::string id = sbx::new_uuid();
  ContainerSpec spec = harness_->long_running(id);
  spec.env["CONTRACT_SECRET"] = "contract-hunter2";
  ASSERT_TRUE(rt().create_and_start(spec));
  harness_->make_ready(id);
  d = rt().describe(id);
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_TRUE(d->has_value());
  EXPECT_FALSE((*d)->empty());
  EXPECT_EQ((*d)->find("contract-hunter2"), std::string::npos) << **d;
  ASSERT_TRUE(rt().remove(id));
}

TEST_P(RuntimeContract, PingAnswers) {
  auto p = rt().ping();
  EXPECT_TRUE(p) << p.error().message;
}

}  // namespace sbx::contract
