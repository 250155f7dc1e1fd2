#include "src/metrics/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>

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

double process_cpu_clock() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

TEST(ProcessMetrics, CpuSecondsAgreeWithTheProcessCpuClock) {
  const double metric_before = *read_process_stats().cpu_seconds_total;
  const double clock_before = process_cpu_clock();
  // Burn 0.2 s of CPU (not of wall time: the machine may be busy), bounded by a minute.
  volatile double x = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (process_cpu_clock() - clock_before < 0.2 && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 1000; ++i) x = x + std::sqrt(static_cast<double>(i));
  }
  const double clock_delta = process_cpu_clock() - clock_before;
  const double metric_delta = *read_process_stats().cpu_seconds_total - metric_before;
  ASSERT_GE(clock_delta, 0.2);
  EXPECT_NEAR(metric_delta, clock_delta, 0.02);
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
