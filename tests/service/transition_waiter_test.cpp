#include "src/service/transition_waiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "events/decider.h"
#include "src/common/uuid.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;

class TransitionWaiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
  }

  // Appends `data` to the sandbox's stream at the right version.
  void append(const std::string& id, EventData data) {
    AppendRequest r;
    r.stream = stream_of(id);
    const auto v = store_->stream_version(r.stream);
    r.expected = v == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(v);
    Event e;
    e.event_id = new_uuid();
    e.time = 1'800'000'000LL * kMicrosPerSecond;
    e.data = std::move(data);
    r.events.push_back(std::move(e));
    auto res = store_->append(std::move(r));
    ASSERT_TRUE(res.has_value()) << res.error().message;
  }
  std::string create() {
    const std::string id = new_uuid();
    SandboxRequested r;
    r.sandbox_id = id;
    r.spec.image_uri = "busybox";
    r.spec.entrypoint = {"sleep", "1000"};
    append(id, r);
    return id;
  }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_;
};

bool running(const Sandbox& s) { return s.state == SandboxState::kRunning; }

TEST_F(TransitionWaiterTest, PredicateTrueAtRegistrationCompletesOnTheCallingThread) {
  // The sandbox is Running before the waiter exists: its subscription starts at the head,
  // so no batch carrying these commits can complete the wait on the subscription's thread
  // while wait_async runs (that race made this test flaky under ASan).
  const std::string id = create();
  append(id, SandboxStarted{"c1"});
  TransitionWaiter waiter(*store_);
  std::thread::id ran_on;
  WaitOutcome got = WaitOutcome::kCancelled;
  waiter.wait_async(id, running, 5s, [&](WaitOutcome o, std::shared_ptr<const Sandbox> sb) {
    got = o;
    ran_on = std::this_thread::get_id();
    EXPECT_TRUE(sb && sb->state == SandboxState::kRunning);
  });
  EXPECT_EQ(got, WaitOutcome::kSatisfied);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(waiter.pending(), 0u);
}

TEST_F(TransitionWaiterTest, CommitThatSatisfiesThePredicateCompletesTheWait) {
  TransitionWaiter waiter(*store_);
  const std::string id = create();
  std::promise<std::pair<WaitOutcome, SandboxState>> done;
  waiter.wait_async(id, running, 10s, [&](WaitOutcome o, std::shared_ptr<const Sandbox> sb) {
    done.set_value({o, sb ? sb->state : SandboxState::kFailed});
  });
  EXPECT_EQ(waiter.pending(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  append(id, SandboxStarted{"c1"});
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  auto [outcome, state] = f.get();
  EXPECT_EQ(outcome, WaitOutcome::kSatisfied);
  EXPECT_EQ(state, SandboxState::kRunning);
}

TEST_F(TransitionWaiterTest, UnrelatedCommitsDoNotCompleteTheWait) {
  TransitionWaiter waiter(*store_);
  const std::string id = create();
  const std::string other = create();
  std::atomic<int> calls{0};
  waiter.wait_async(id, running, 10s,
                    [&](WaitOutcome, std::shared_ptr<const Sandbox>) { ++calls; });
  append(other, SandboxStarted{"c2"});
  append(id, ProvisioningStarted{"w"});  // touches the stream, predicate still false
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(waiter.pending(), 1u);
}

TEST_F(TransitionWaiterTest, DeadlinePassesAndTheWaitTimesOutWithTheCurrentState) {
  TransitionWaiter waiter(*store_);
  const std::string id = create();
  std::promise<std::pair<WaitOutcome, bool>> done;
  const auto t0 = std::chrono::steady_clock::now();
  waiter.wait_async(id, running, 100ms, [&](WaitOutcome o, std::shared_ptr<const Sandbox> sb) {
    done.set_value({o, sb && sb->state == SandboxState::kPending});
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 2s);
  auto [outcome, pending_state] = f.get();
  EXPECT_EQ(outcome, WaitOutcome::kTimedOut);
  EXPECT_TRUE(pending_state);
}

TEST_F(TransitionWaiterTest, ManyDeadlinesFireInDeadlineOrder) {
  TransitionWaiter waiter(*store_);
  const std::string id = create();
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> all;
  constexpr int kWaits = 20;
  for (int i = kWaits - 1; i >= 0; --i) {
    waiter.wait_async(id, running, std::chrono::milliseconds(20 + 10 * i),
                      [&, i](WaitOutcome o, std::shared_ptr<const Sandbox>) {
                        EXPECT_EQ(o, WaitOutcome::kTimedOut);
                        std::lock_guard lock(mu);
                        order.push_back(i);
                        if (order.size() == kWaits) all.set_value();
                      });
  }
  ASSERT_EQ(all.get_future().wait_for(5s), std::future_status::ready);
  for (int i = 0; i < kWaits; ++i) EXPECT_EQ(order[i], i);
}

TEST_F(TransitionWaiterTest, UnknownSandboxIsGoneAtOnce) {
  TransitionWaiter waiter(*store_);
  WaitOutcome got = WaitOutcome::kSatisfied;
  waiter.wait_async(new_uuid(), running, 5s, [&](WaitOutcome o, std::shared_ptr<const Sandbox> sb) {
    got = o;
    EXPECT_EQ(sb, nullptr);
  });
  EXPECT_EQ(got, WaitOutcome::kGone);
}

TEST_F(TransitionWaiterTest, SandboxThatTerminatesWhileWaitedForIsGone) {
  TransitionWaiter waiter(*store_);
  const std::string id = create();
  std::promise<WaitOutcome> done;
  waiter.wait_async(id, running, 10s,
                    [&](WaitOutcome o, std::shared_ptr<const Sandbox>) { done.set_value(o); });
  append(id, DeletionRequested{});
  append(id, SandboxTerminated{0, "bye"});
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), WaitOutcome::kGone);
}

TEST_F(TransitionWaiterTest, ShutdownCancelsPendingWaitsExactlyOnce) {
  auto waiter = std::make_unique<TransitionWaiter>(*store_);
  const std::string id = create();
  std::atomic<int> cancelled{0}, other{0};
  for (int i = 0; i < 10; ++i) {
    waiter->wait_async(id, running, 60s, [&](WaitOutcome o, std::shared_ptr<const Sandbox>) {
      (o == WaitOutcome::kCancelled ? cancelled : other)++;
    });
  }
  waiter->shutdown();
  EXPECT_EQ(cancelled.load(), 10);
  EXPECT_EQ(other.load(), 0);
  // After shutdown: commits no longer reach it, and new waits are cancelled at once.
  append(id, SandboxStarted{"c"});
  waiter->wait_async(id, running, 60s, [&](WaitOutcome o, std::shared_ptr<const Sandbox>) {
    (o == WaitOutcome::kCancelled ? cancelled : other)++;
  });
  EXPECT_EQ(cancelled.load(), 11);
  waiter.reset();
  EXPECT_EQ(other.load(), 0);
}

}  // namespace
}  // namespace sbx
