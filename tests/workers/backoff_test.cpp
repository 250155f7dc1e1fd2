#include "src/workers/backoff.h"

#include <gtest/gtest.h>

#include <thread>

namespace sbx {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, DoublesUpToTheCapAndStopsAfterMaxAttempts) {
  Backoff b(BackoffOptions{200ms, 1000ms, 6, 10min});
  EXPECT_EQ(b.next(), 200ms);
  EXPECT_EQ(b.next(), 400ms);
  EXPECT_EQ(b.next(), 800ms);
  EXPECT_EQ(b.next(), 1000ms);
  EXPECT_EQ(b.next(), 1000ms);
  EXPECT_EQ(b.next(), std::nullopt);  // the 6th failure: no 7th attempt
  EXPECT_EQ(b.failures(), 6);
}

TEST(Backoff, ResetStartsAgainFromTheInitialDelay) {
  Backoff b(BackoffOptions{10ms, 100ms, 0, 0ms});
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(b.next().has_value());  // no limits
  EXPECT_EQ(b.next(), 100ms);
  b.reset();
  EXPECT_EQ(b.next(), 10ms);
}

TEST(Backoff, GivesUpWhenTheTimeAllowedIsUsed) {
  Backoff b(BackoffOptions{1000ms, 1000ms, 0, 30ms});
  auto first = b.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_LE(*first, 30ms);  // clipped to the time left
  std::this_thread::sleep_for(35ms);
  EXPECT_EQ(b.next(), std::nullopt);
}

TEST(Backoff, SleepEndsAtOnceOnStop) {
  std::stop_source source;
  std::thread stopper([&] {
    std::this_thread::sleep_for(10ms);
    source.request_stop();
  });
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_FALSE(sleep_unless_stopped(source.get_token(), 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  stopper.join();
  EXPECT_TRUE(sleep_unless_stopped(std::stop_source().get_token(), 1ms));
}

}  // namespace
}  // namespace sbx
