#include "src/common/uuid.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sbx {
namespace {

TEST(Uuid, NewUuidIsCanonicalVersion7WithRfc9562Variant) {
  for (int i = 0; i < 1000; ++i) {
    const std::string u = new_uuid();
    ASSERT_TRUE(is_uuid(u)) << u;
    EXPECT_EQ(u[14], '7') << u;
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    for (char c : u) EXPECT_TRUE(c == '-' || std::isdigit(c) || (c >= 'a' && c <= 'f')) << u;
  }
}

TEST(Uuid, TheFirst48BitsAreTheUnixTimeInMilliseconds) {
  using namespace std::chrono;
  // Other tests in this process may have run the time field ahead by a few milliseconds.
  std::this_thread::sleep_for(milliseconds(20));
  const auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::string u = new_uuid();
  const auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const long long ms = std::stoll(u.substr(0, 8) + u.substr(9, 4), nullptr, 16);
  EXPECT_GE(ms, before) << u;
  EXPECT_LE(ms, after) << u;
}

TEST(Uuid, EachIdSortsAfterThePreviousOneEvenWithinOneMillisecond) {
  std::string prev = new_uuid();
  for (int i = 0; i < 20000; ++i) {  // far more than 4096 per millisecond
    std::string next = new_uuid();
    ASSERT_LT(prev, next) << i;
    prev = std::move(next);
  }
  // The time field ran ahead at most by the overflow, and catches up.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  using namespace std::chrono;
  const auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::string u = new_uuid();
  EXPECT_LE(std::stoll(u.substr(0, 8) + u.substr(9, 4), nullptr, 16), now + 1) << u;
}

TEST(Uuid, ThreadsNeverDrawTheSameUuid) {
  std::vector<std::vector<std::string>> drawn(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < 5000; ++i) drawn[t].push_back(new_uuid());
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : drawn) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 8u * 5000u);
}

TEST(Uuid, IsUuidRejectsWrongShapes) {
  EXPECT_TRUE(is_uuid("123e4567-E89B-12d3-a456-426614174000"));
  EXPECT_FALSE(is_uuid(""));
  EXPECT_FALSE(is_uuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-4266141740000"));
}

}  // namespace
}  // namespace sbx
