// Subscription (store/subscription.h) over a real store in a temp dir: catch-up across many
// batches, then live from memory with what the projection staged; corrupt records
// reported and skipped; resume from a persisted checkpoint; wake, alarms, stop while
// blocked, and the push thread.
#include "store/subscription.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/event_store.h"
#include "tests/store/workload.h"
#include "tests/support/corrupt_store.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;
using testing::make_event;
using testing::TempDir;
using TimePoint = Subscription::TimePoint;

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;

std::unique_ptr<EventStore> open_store(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.sync = false;
  auto s = EventStore::open(o);
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

AppendRequest create(const std::string& id) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "img";
  return {stream_of(id), ExpectedVersion::no_stream(), {make_event(r, kT0)}};
}

AppendRequest system_event() {
  return {std::string(kSystemStream), ExpectedVersion::any(),
          {make_event(ServerStarted{"t", 0}, kT0)}};
}

std::unique_ptr<Subscription> subscribe(const EventStore& store, Subscription::Options o) {
  auto s = Subscription::open(store, std::move(o));
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

TimePoint soon(std::chrono::milliseconds d = 5s) { return std::chrono::steady_clock::now() + d; }

// Positions of the events a batch delivered.
std::vector<std::uint64_t> positions(const Subscription::Batch& b) {
  std::vector<std::uint64_t> out;
  for (const auto& e : b.events()) out.push_back(e.position);
  return out;
}

TEST(Subscription, CatchesUpAcrossManyBatchesInOrderThenGoesLive) {
  TempDir dir;
  auto store = open_store(dir.str());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->append(system_event()));
  Subscription::Options o;
  o.after = 10;
  o.max_batch = 64;
  auto sub = subscribe(*store, o);
  ASSERT_NE(sub, nullptr);
  std::uint64_t expected = 11;
  int batches = 0;
  while (expected <= 1000) {
    auto b = sub->next(soon());
    ASSERT_FALSE(b.empty()) << "at " << expected;
    EXPECT_FALSE(b.live());  // written before the subscription: read back from the log
    EXPECT_LE(b.events().size(), 64u);
    for (const auto& e : b.events()) EXPECT_EQ(e.position, expected++);
    EXPECT_EQ(b.next(), expected);
    ++batches;
  }
  EXPECT_GE(batches, 15);
  EXPECT_EQ(sub->position(), 1000u);

  // Caught up: nothing to deliver, the deadline ends the wait.
  auto idle = sub->next(soon(20ms));
  EXPECT_TRUE(idle.empty());
  EXPECT_TRUE(idle.timed_out());

  // Live: a commit comes from memory, with the group commit's statistics.
  ASSERT_TRUE(store->append(system_event()));
  auto live = sub->next(soon());
  EXPECT_TRUE(live.live());
  EXPECT_EQ(positions(live), std::vector<std::uint64_t>{1001});
  ASSERT_NE(live.commit(), nullptr);
  EXPECT_EQ(live.commit()->events, 1u);
}

TEST(Subscription, LiveBatchesCarryWhatTheProjectionStaged) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {.from_head = true});
  ASSERT_TRUE(store->append(create("a")));
  ASSERT_TRUE(store->append({stream_of("a"), ExpectedVersion::exactly(1),
                             {make_event(SandboxStarted{"c1"}, kT0 + 1),
                              make_event(PauseRequested{}, kT0 + 2)}}));
  ASSERT_TRUE(store->append(system_event()));

  std::vector<SandboxChange> changes;
  std::vector<std::uint64_t> seen;
  while (seen.size() < 4) {
    auto b = sub->next(soon());
    ASSERT_FALSE(b.empty());
    ASSERT_TRUE(b.live());
    for (auto p : positions(b)) seen.push_back(p);
    changes.insert(changes.end(), b.changes().begin(), b.changes().end());
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  // One change per folded event; the system event has none.
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].position, 1u);
  EXPECT_FALSE(changes[0].from.has_value());
  EXPECT_EQ(changes[0].to, SandboxState::kPending);
  EXPECT_EQ(changes[0].created_at, kT0);
  EXPECT_EQ(changes[1].from, SandboxState::kPending);
  EXPECT_EQ(changes[1].to, SandboxState::kRunning);
  EXPECT_EQ(changes[2].from, SandboxState::kRunning);
  EXPECT_EQ(changes[2].to, SandboxState::kPausing);
}

TEST(Subscription, ALiveBatchLargerThanMaxBatchIsDeliveredInParts) {
  TempDir dir;
  auto store = open_store(dir.str());
  Subscription::Options o;
  o.from_head = true;
  o.max_batch = 3;
  auto sub = subscribe(*store, o);
  std::vector<AppendRequest> many;
  for (int i = 0; i < 8; ++i) many.push_back(create("s" + std::to_string(i)));
  for (const auto& r : store->append_all(std::move(many))) ASSERT_TRUE(r);
  std::vector<std::uint64_t> seen;
  std::size_t changes = 0;
  int stats = 0;
  while (seen.size() < 8) {
    auto b = sub->next(soon());
    ASSERT_FALSE(b.empty());
    EXPECT_LE(b.events().size(), 3u);
    // Each part carries the changes of its own events only.
    ASSERT_EQ(b.changes().size(), b.events().size());
    for (std::size_t i = 0; i < b.events().size(); ++i) {
      EXPECT_EQ(b.changes()[i].position, b.events()[i].position);
    }
    if (b.commit() != nullptr) ++stats;
    changes += b.changes().size();
    for (auto p : positions(b)) seen.push_back(p);
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(changes, 8u);
  EXPECT_GE(stats, 1);  // once per group commit, not per part
  EXPECT_LE(stats, 8);
}

TEST(Subscription, ABacklogBeyondItsBoundFallsBackToTheLogWithoutLosingEvents) {
  TempDir dir;
  auto store = open_store(dir.str());
  Subscription::Options o;
  o.from_head = true;
  o.max_backlog = 4;
  o.max_batch = 100;
  auto sub = subscribe(*store, o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->append(system_event()));  // nobody reads
  std::vector<std::uint64_t> seen;
  bool read_back = false;
  while (seen.size() < 50) {
    auto b = sub->next(soon());
    ASSERT_FALSE(b.empty());
    if (!b.live()) read_back = true;
    for (auto p : positions(b)) seen.push_back(p);
  }
  EXPECT_TRUE(read_back);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
}

TEST(Subscription, CorruptRecordsAreReportedAndSkippedNeverStalling) {
  TempDir dir;
  {
    auto store = open_store(dir.str());
    ASSERT_TRUE(store->append(create("a")));
    ASSERT_TRUE(store->append(create("b")));
    ASSERT_TRUE(store->append(create("c")));
  }
  testing::corrupt_event(dir.str(), 2);
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {});
  std::vector<std::uint64_t> seen;
  std::vector<CorruptEvent> corrupt;
  while (sub->position() < 3) {
    auto b = sub->next(soon());
    ASSERT_FALSE(b.empty());
    for (auto p : positions(b)) seen.push_back(p);
    corrupt.insert(corrupt.end(), b.corrupt().begin(), b.corrupt().end());
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 3}));
  ASSERT_EQ(corrupt.size(), 1u);
  EXPECT_EQ(corrupt[0].position, 2u);
  EXPECT_EQ(corrupt[0].stream, stream_of("b"));
  // And it goes on live past it.
  ASSERT_TRUE(store->append(create("d")));
  auto b = sub->next(soon());
  EXPECT_EQ(positions(b), std::vector<std::uint64_t>{4});
}

TEST(Subscription, ResumesAfterTheConsumersPersistedCheckpoint) {
  TempDir dir;
  auto store = open_store(dir.str());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->append(system_event()));
  {
    auto sub = subscribe(*store, {.consumer = "test-consumer"});
    auto b = sub->next(soon());
    EXPECT_EQ(b.events().front().position, 1u);  // no checkpoint yet: from the start
  }
  ASSERT_TRUE(store->save_checkpoint("test-consumer", 7));
  auto sub = subscribe(*store, {.consumer = "test-consumer"});
  EXPECT_EQ(sub->position(), 7u);
  auto b = sub->next(soon());
  EXPECT_EQ(positions(b), (std::vector<std::uint64_t>{8, 9, 10}));
}

TEST(Subscription, OpenFailsWhenTheCheckpointCannotBeRead) {
  TempDir dir;
  auto store = open_store(dir.str());
  store->close();
  auto sub = Subscription::open(*store, {.consumer = "test-consumer"});
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code, ErrorCode::kUnavailable);
}

TEST(Subscription, StopEndsABlockedNextAndIsIdempotent) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {.from_head = true});
  std::atomic<bool> returned{false};
  Subscription::Batch got;
  std::thread t([&] {
    got = sub->next();  // no deadline: only stop() ends it
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());
  sub->stop();
  t.join();
  EXPECT_TRUE(got.stopped());
  EXPECT_TRUE(got.empty());
  sub->stop();
  EXPECT_TRUE(sub->stopping());
  EXPECT_TRUE(sub->next(soon()).stopped());
  ASSERT_TRUE(store->append(system_event()));  // the store no longer calls it
}

TEST(Subscription, WakeEndsAWaitAndSaysSo) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {.from_head = true});
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    sub->wake();
  });
  auto b = sub->next(soon(10s));
  t.join();
  EXPECT_TRUE(b.woken());
  EXPECT_FALSE(b.timed_out());
  EXPECT_TRUE(b.empty());
  // A wake-up is delivered once.
  auto again = sub->next(soon(10ms));
  EXPECT_FALSE(again.woken());
  EXPECT_TRUE(again.timed_out());
}

TEST(Subscription, TheAlarmEndsTheWaitOnceAndALaterAlarmReplacesIt) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {.from_head = true});
  sub->wake_at(std::chrono::steady_clock::now() + 30ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto b = sub->next();  // no deadline of its own
  EXPECT_TRUE(b.timed_out());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
  // Cleared once it fired; a new one replaces an old one.
  sub->wake_at(std::chrono::steady_clock::now() + 10s);
  sub->wake_at(std::chrono::steady_clock::now() + 20ms);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(sub->next().timed_out());
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 5s);
}

TEST(Subscription, PushModeCallsTheHandlerOnItsThreadUntilStopped) {
  TempDir dir;
  auto store = open_store(dir.str());
  auto sub = subscribe(*store, {.from_head = true, .name = "sbx-test-sub"});
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  int wakes = 0;
  std::thread::id handler_thread;
  sub->start([&](const Subscription::Batch& b) {
    std::lock_guard l(mu);
    handler_thread = std::this_thread::get_id();
    for (const auto& e : b.events()) seen.push_back(e.position);
    if (b.woken()) ++wakes;
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store->append(system_event()));
  sub->wake();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard l(mu);
      if (seen.size() == 20 && wakes >= 1) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  sub->stop();  // joins the handler's thread
  std::lock_guard l(mu);
  ASSERT_EQ(seen.size(), 20u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
  EXPECT_GE(wakes, 1);
  EXPECT_NE(handler_thread, std::this_thread::get_id());
}

TEST(Subscription, ManySubscribersEachAtItsOwnPositionAreServedByOneThread) {
  // The SSE fan-out of the header: one thread polls a subscription per client, woken
  // through on_ready.
  TempDir dir;
  auto store = open_store(dir.str());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(store->append(system_event()));
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  auto on_ready = [&] {
    {
      std::lock_guard l(mu);
      ready = true;
    }
    cv.notify_one();
  };
  std::vector<std::unique_ptr<Subscription>> subs;
  for (std::uint64_t after : {0u, 10u, 25u}) {
    subs.push_back(subscribe(*store, {.after = after, .max_batch = 4, .on_ready = on_ready}));
  }
  std::thread writer([&] {
    for (int i = 0; i < 10; ++i) (void)store->append(system_event());
  });
  std::vector<std::vector<std::uint64_t>> seen(subs.size());
  const auto deadline = soon(10s);
  auto done = [&] {
    for (const auto& s : subs) {
      if (s->position() < 40) return false;
    }
    return true;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (std::size_t i = 0; i < subs.size(); ++i) {
      auto b = subs[i]->poll();
      EXPECT_LE(b.events().size(), 4u);  // one client's share of a round
      for (auto p : positions(b)) seen[i].push_back(p);
      any = any || !b.empty();
    }
    if (!any) {
      std::unique_lock l(mu);
      cv.wait_for(l, 100ms, [&] { return ready; });
      ready = false;
    }
  }
  writer.join();
  const std::uint64_t starts[] = {1, 11, 26};
  for (std::size_t i = 0; i < subs.size(); ++i) {
    ASSERT_FALSE(seen[i].empty());
    EXPECT_EQ(seen[i].front(), starts[i]);
    EXPECT_EQ(seen[i].back(), 40u);
    for (std::size_t k = 1; k < seen[i].size(); ++k) EXPECT_EQ(seen[i][k], seen[i][k - 1] + 1);
  }
}

}  // namespace
}  // namespace sbx
