#include "src/metrics/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

namespace sbx::metrics {
namespace {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

TEST(ProcessMetrics, StatsArePresentAndPlausible) {
  const ProcessStats s = read_process_stats();
  ASSERT_TRUE(s.resident_memory_bytes.has_value());
  EXPECT_GT(*s.resident_memory_bytes, 512 * 1024);  // a C++ test binary is bigger
  EXPECT_LT(*s.resident_memory_bytes, 16.0 * (1ull << 30));
  ASSERT_TRUE(s.virtual_memory_bytes.has_value());
  EXPECT_GE(*s.virtual_memory_bytes, *s.resident_memory_bytes);
  ASSERT_TRUE(s.open_fds.has_value());
  EXPECT_GE(*s.open_fds, 3);  // stdin, stdout, stderr
  ASSERT_TRUE(s.max_fds.has_value());
  EXPECT_GE(*s.max_fds, *s.open_fds);
  ASSERT_TRUE(s.start_time_seconds.has_value());
  // The test binary started moments ago (allow for a slow machine and clock-tick rounding).
  EXPECT_LE(*s.start_time_seconds, unix_now() + 2);
  EXPECT_GT(*s.start_time_seconds, unix_now() - 3600);
  ASSERT_TRUE(s.cpu_seconds_total.has_value());
  EXPECT_GE(*s.cpu_seconds_total, 0);
}

TEST(ProcessMetrics, OpenFdsFollowsFilesOpenedByThisProcess) {
  const double before = *read_process_stats().open_fds;
  int fds[4];
  for (int& fd : fds) fd = ::open("/proc/self/statm", O_RDONLY);
  const double during = *read_process_stats().open_fds;
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(during, before + 4);
  EXPECT_EQ(*read_process_stats().open_fds, before);
}

TEST(ProcessMetrics, CpuSecondsGrowWithWork) {
  const double before = *read_process_stats().cpu_seconds_total;
  volatile double x = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 1000; ++i) x = x + std::sqrt(static_cast<double>(i));
  }
  EXPECT_GT(*read_process_stats().cpu_seconds_total, before + 0.05);
}

TEST(ProcessMetrics, AttachExposesTheStandardNamesUntilDestroyed) {
  Registry r;
  {
    auto pm = ProcessMetrics::attach(r);
    ASSERT_TRUE(pm.has_value()) << pm.error().message;
    const std::string text = r.expose();
    for (const char* line :
         {"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
          "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes ",
          "# TYPE process_open_fds gauge\nprocess_open_fds ",
          "# TYPE process_max_fds gauge\nprocess_max_fds ",
          "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
          "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "}) {
      EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
    }
    auto second = ProcessMetrics::attach(r);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
    // The failed attempt left the first one's families in place.
    EXPECT_NE(r.expose().find("process_open_fds "), std::string::npos);
  }
  EXPECT_EQ(r.expose(), "");
  EXPECT_TRUE(ProcessMetrics::attach(r).has_value());
}

}  // namespace
}  // namespace sbx::metrics
