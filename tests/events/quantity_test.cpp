#include "events/quantity.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

struct Case {
  const char* text;
  std::int64_t want;  // 0 = must be rejected
};

TEST(Quantity, CpuTable) {
  const Case cases[] = {
      {"1", 1'000'000'000},
      {"2", 2'000'000'000},
      {"0.5", 500'000'000},
      {"500m", 500'000'000},
      {"250m", 250'000'000},
      {"1.5", 1'500'000'000},
      {"1m", 1'000'000},
      {"0.001", 1'000'000},
      {"64", 64'000'000'000},
      {"1e0", 1'000'000'000},
      {"5e-1", 500'000'000},
      {"0.0000000001", 1},
      {"", 0},
      {"0", 0},
      {"0m", 0},
      {"-1", 0},
      {"1.5.2", 0},
      {"1Gi", 0},
      {"abc", 0},
      {"m", 0},
      {"1 ", 0},
      {" 1", 0},
      {"1k", 0},
      {"9223372037", 0},  // > int64 nano-CPUs
  };
  for (const auto& c : cases) {
    auto r = sbx::parse_cpu_quantity(c.text);
    if (c.want == 0) {
      ASSERT_FALSE(r.has_value()) << "\"" << c.text << "\" parsed as " << *r;
      EXPECT_EQ(r.error().code, sbx::ErrorCode::kInvalidArgument);
      EXPECT_EQ(r.error().field, "cpu");
      EXPECT_NE(r.error().message.find(std::string("\"") + c.text + "\""), std::string::npos)
          << r.error().message;
    } else {
      ASSERT_TRUE(r.has_value()) << "\"" << c.text << "\": " << r.error().message;
      EXPECT_EQ(*r, c.want) << c.text;
    }
  }
}

TEST(Quantity, MemoryTable) {
  const Case cases[] = {
      {"512Mi", 536'870'912},
      {"2Gi", 2'147'483'648},
      {"1G", 1'000'000'000},
      {"1Ki", 1024},
      {"1k", 1000},
      {"1K", 1000},
      {"1048576", 1'048'576},
      {"1.5Gi", 1'610'612'736},
      {"0.5Mi", 524'288},
      {"100M", 100'000'000},
      {"1Ti", 1'099'511'627'776},
      {"1e3", 1000},
      {"1E", 1'000'000'000'000'000'000},
      {"1500m", 2},  // 1.5 bytes rounds up
      {"", 0},
      {"0", 0},
      {"0Mi", 0},
      {"-1Mi", 0},
      {"1MB", 0},
      {"1mi", 0},
      {"Mi", 0},
      {"1 Mi", 0},
      {"1.2.3Mi", 0},
      {"8Ei", 0},
      {"1Zi", 0},
  };
  for (const auto& c : cases) {
    auto r = sbx::parse_memory_quantity(c.text);
    if (c.want == 0) {
      ASSERT_FALSE(r.has_value()) << "\"" << c.text << "\" parsed as " << *r;
      EXPECT_EQ(r.error().code, sbx::ErrorCode::kInvalidArgument);
      EXPECT_EQ(r.error().field, "memory");
    } else {
      ASSERT_TRUE(r.has_value()) << "\"" << c.text << "\": " << r.error().message;
      EXPECT_EQ(*r, c.want) << c.text;
    }
  }
}

TEST(Quantity, ErrorMessageSaysWhatIsAccepted) {
  auto r = sbx::parse_memory_quantity("lots");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("512Mi"), std::string::npos) << r.error().message;
  auto c = sbx::parse_cpu_quantity("fast");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("500m"), std::string::npos) << c.error().message;
}

}  // namespace
