#include "src/common/uuid.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace sbx {
namespace {

TEST(Uuid, NewUuidIsCanonicalVersion4WithRfc4122Variant) {
  for (int i = 0; i < 1000; ++i) {
    const std::string u = new_uuid();
    ASSERT_TRUE(is_uuid(u)) << u;
    EXPECT_EQ(u[14], '4') << u;
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    for (char c : u) EXPECT_TRUE(c == '-' || std::isdigit(c) || (c >= 'a' && c <= 'f')) << u;
  }
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
