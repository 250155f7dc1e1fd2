#include "src/service/event_reads.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "src/common/clock.h"
#include "src/service/sandbox_service.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using namespace std::chrono_literals;

class EventReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EventStore::open(StoreOptions{.path = dir_.str(), .sync = false});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    ServiceOptions o;
    o.network_mode = "bridge";
    o.port_range_low = 42000;
    o.port_range_high = 42999;
    o.probe_host_ports = false;
    o.mutation_threads = 2;
    service_ = std::make_unique<SandboxService>(*store_, clock_, o);
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
  }
  std::string create() {
    CreateRequest r;
    r.spec.image_uri = "busybox:latest";
    r.spec.entrypoint = {"sleep", "infinity"};
    auto c = service_->create(std::move(r), RequestContext{"", "test"});
    EXPECT_TRUE(c.has_value());
    return c ? c->sandbox.id : std::string();
  }

  testing::TempDir dir_{"sandboxd-event-reads"};
  SystemClock clock_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<SandboxService> service_;
};

TEST_F(EventReadsTest, HistoryIsTheSandboxsStreamAndEmptyForAnUnknownId) {
  EventReads reads(*store_);
  const std::string a = create();
  const std::string b = create();
  ASSERT_TRUE(service_->execute(a, RecordStarted{"c1"}, RequestContext{"", "worker"}).has_value());
  auto h = reads.history(a);
  ASSERT_TRUE(h.has_value()) << h.error().message;
  ASSERT_EQ(h->size(), 2u);
  EXPECT_TRUE(std::holds_alternative<SandboxRequested>((*h)[0].data));
  EXPECT_TRUE(std::holds_alternative<SandboxStarted>((*h)[1].data));
  EXPECT_EQ((*h)[0].stream, stream_of(a));
  EXPECT_EQ(reads.history(b)->size(), 1u);
  auto none = reads.history("00000000-0000-7000-8000-000000000000");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_F(EventReadsTest, HeadOldestPositionAndStoreHealth) {
  EventReads reads(*store_);
  EXPECT_EQ(reads.head(), 0u);
  EXPECT_EQ(reads.oldest_position().value(), 1u);  // empty log: head + 1
  EXPECT_EQ(reads.store_health().live_sandboxes, 0u);
  create();
  create();
  EXPECT_EQ(reads.head(), 2u);
  EXPECT_EQ(reads.oldest_position().value(), 1u);
  const StoreHealth h = reads.store_health();
  EXPECT_EQ(h.head, 2u);
  EXPECT_EQ(h.live_sandboxes, 2u);
  EXPECT_TRUE(h.writable);
}

TEST_F(EventReadsTest, StreamEventsFeedsASubscriberFromItsPosition) {
  EventReads reads(*store_);
  create();  // position 1
  auto streamer = reads.stream_events(std::chrono::milliseconds(60000));
  std::mutex mu;
  std::condition_variable cv;
  std::string got;
  bool ended = false;
  EventStreamer::Subscriber sub;
  sub.write = [&](std::string_view frames) {
    std::lock_guard lock(mu);
    got += frames;
    cv.notify_all();
    return true;
  };
  sub.end = [&] {
    std::lock_guard lock(mu);
    ended = true;
    cv.notify_all();
  };
  ASSERT_TRUE(streamer->add(std::move(sub), 0));
  create();  // position 2, live
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return got.find("id: 2\n") != std::string::npos; }))
        << got;
    EXPECT_TRUE(got.starts_with("id: 1\ndata: {")) << got;
  }
  EXPECT_EQ(streamer->subscribers(), 1u);
  streamer->shutdown();
  std::lock_guard lock(mu);
  EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace sbx
