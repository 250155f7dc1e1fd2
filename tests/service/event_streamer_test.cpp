// EventStreamer: the SSE frame of one event, and the feed on a real store (over HTTP it is
// exercised in tests/api/event_handlers_test.cpp and through EventReads in
// event_reads_test.cpp).
#include "src/service/event_streamer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "src/common/uuid.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

TEST(EventFrames, FrameIsIdThenOneDataLine) {
  Event e;
  e.position = 42;
  e.stream = "sandbox-x";
  e.version = 1;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.event_id = new_uuid();
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.image_uri = "private/img";
  r.spec.image_auth_provided = true;
  r.spec.env = {{"TOKEN", "hunter2"}};
  e.data = r;
  const std::string f = EventStreamer::frame(e);
  ASSERT_TRUE(f.starts_with("id: 42\ndata: {"));
  ASSERT_TRUE(f.ends_with("}\n\n"));
  EXPECT_EQ(f.find('\n', 6), f.find("\ndata: "));  // exactly one data line
  EXPECT_EQ(f.find("hunter2"), std::string::npos) << "env value leaked: " << f;
  EXPECT_NE(f.find(R"("imageAuth":{"provided":true})"), std::string::npos) << f;
}

// Env values are secrets as often as not (tokens, passwords): every view of the log shows
// the keys and replaces the values with "***", over the history endpoint and SSE alike.
TEST(EventFrames, EnvValuesAreRedactedKeysKept) {
  Event e;
  e.position = 3;
  e.stream = "sandbox-x";
  e.version = 1;
  e.time = 1'800'000'000LL * kMicrosPerSecond;
  e.event_id = new_uuid();
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.image_uri = "img";
  r.spec.env = {{"API_TOKEN", "tok-4711"}, {"LANG", "C.UTF-8"}};
  e.data = r;
  const std::string f = EventStreamer::frame(e);
  EXPECT_EQ(f.find("tok-4711"), std::string::npos) << f;
  EXPECT_EQ(f.find("C.UTF-8"), std::string::npos) << f;
  EXPECT_NE(f.find(R"("env":{"API_TOKEN":"***","LANG":"***"})"), std::string::npos) << f;
}

// What one subscriber received: the ids of its frames, in order.
struct Received {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> ids;
  bool ended = false;
  bool held = false;  // writes wait while set (a client that is slow for a while)

  EventStreamer::Subscriber subscriber() {
    return {[this](std::string_view frames) {
              std::unique_lock l(mu);
              cv.wait(l, [&] { return !held; });
              for (std::size_t at = frames.find("id: "); at != std::string_view::npos;
                   at = frames.find("\nid: ", at + 1)) {
                const std::size_t begin = frames[at] == '\n' ? at + 5 : at + 4;
                ids.push_back(std::stoull(std::string(frames.substr(begin, 20))));
              }
              cv.notify_all();
              return true;
            },
            [this] {
              std::lock_guard l(mu);
              ended = true;
              cv.notify_all();
            }};
  }
  void hold(bool on) {
    std::lock_guard l(mu);
    held = on;
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock l(mu);
    return cv.wait_for(l, timeout, [&] { return ids.size() >= n; });
  }
};

// Every commit is its own live batch; a subscriber gets them all, in order, without gaps,
// although no later commit or heartbeat wakes the streamer after the last one: while the
// streamer is held up writing, 300 commits queue as live batches, and once it is free a
// round that took something runs another round (the feed never stalls on a backlog).
TEST(EventStreamerFeed, CatchesUpThenFollowsEveryCommitWithoutStalling) {
  testing::TempDir dir;
  StoreOptions so;
  so.path = dir.path();
  so.sync = false;
  auto store = EventStore::open(so);
  ASSERT_TRUE(store) << store.error().message;
  constexpr Micros t0 = 1'800'000'000LL * kMicrosPerSecond;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*store)->append(testing::create_append(new_uuid(), t0)));
  }
  EventStreamer streamer(**store, std::chrono::hours(1), /*batch=*/8);
  Received from_ten;
  Received from_start;
  ASSERT_TRUE(streamer.add(from_ten.subscriber(), 10));
  from_start.hold(true);
  ASSERT_TRUE(streamer.add(from_start.subscriber(), 0));
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE((*store)->append(testing::create_append(new_uuid(), t0)));
    }
  });
  writer.join();
  from_start.hold(false);
  ASSERT_TRUE(from_start.wait_for(340, std::chrono::seconds(20)));
  ASSERT_TRUE(from_ten.wait_for(330, std::chrono::seconds(20)));
  for (std::size_t i = 0; i < 340; ++i) ASSERT_EQ(from_start.ids[i], i + 1);
  for (std::size_t i = 0; i < 330; ++i) ASSERT_EQ(from_ten.ids[i], i + 11);
  EXPECT_EQ(streamer.subscribers(), 2u);
  streamer.shutdown();
  EXPECT_TRUE(from_start.ended);
  EXPECT_TRUE(from_ten.ended);
}

}  // namespace
}  // namespace sbx
