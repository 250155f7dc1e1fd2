// DockerRuntime::container_logs and ::describe against the private engine: a sandbox that
// prints known lines on stdout and stderr, the tail, the byte cap, env values never shown,
// and an absent container.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "src/common/uuid.h"
#include "tests/runtime/docker_test_util.h"

namespace {

using namespace std::chrono_literals;
using sbx::ContainerSpec;

class DockerDiagnosticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
  }
  void TearDown() override {
    for (const auto& id : created_) {
      auto r = rt_->remove(id);
      EXPECT_TRUE(r) << "cleanup " << id << ": " << r.error().message;
    }
  }

  // A sandbox that prints `out` lines on stdout and one line on stderr, then sleeps.
  std::string start_printing(int lines) {
    ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    created_.insert(s.sandbox_id);
    s.image_uri = sbx::testing::kTestBusyboxImage;
    s.entrypoint = {"sh", "-c",
                    std::string("i=1; while [ $i -le ") + std::to_string(lines) +
                        " ]; do echo \"out line $i\"; i=$((i+1)); done; "
                        "echo 'err line' >&2; exec sleep 3600"};
    s.network_mode = "bridge";
    s.env = {{"API_TOKEN", "hunter2-secret-value"}, {"PLAIN", "also-not-shown"}};
    auto info = rt_->create_and_start(s);
    EXPECT_TRUE(info) << info.error().message;
    return s.sandbox_id;
  }

  // Polls until the log holds `needle` (the process prints right after the start).
  std::optional<sbx::ContainerLogs> logs_with(const std::string& id, const std::string& needle,
                                              sbx::LogLimits limits = {}) {
    for (int i = 0; i < 100; ++i) {
      auto r = rt_->container_logs(id, limits);
      EXPECT_TRUE(r) << r.error().message;
      if (!r || !*r) return std::nullopt;
      if ((*r)->text.find(needle) != std::string::npos) return **r;
      std::this_thread::sleep_for(50ms);
    }
    return rt_->container_logs(id, limits).value_or(std::nullopt);
  }

  std::unique_ptr<sbx::DockerRuntime> rt_;
  std::set<std::string> created_;
};

TEST_F(DockerDiagnosticsTest, LogsShowStdoutAndStderrTimeStampedAndTheTail) {
  const std::string id = start_printing(5);
  auto logs = logs_with(id, "err line");
  ASSERT_TRUE(logs);
  EXPECT_NE(logs->text.find("out line 1\n"), std::string::npos) << logs->text;
  EXPECT_NE(logs->text.find("out line 5\n"), std::string::npos) << logs->text;
  EXPECT_NE(logs->text.find("err line\n"), std::string::npos) << logs->text;
  EXPECT_FALSE(logs->truncated);
  // Every line starts with its RFC 3339 time: "2026-...Z out line 1".
  EXPECT_EQ(logs->text.substr(0, 2), "20") << logs->text;
  EXPECT_NE(logs->text.find("Z out line 1\n"), std::string::npos) << logs->text;
  // No frame header bytes leaked into the text.
  EXPECT_EQ(logs->text.find('\x01'), std::string::npos);
  EXPECT_EQ(logs->text.find('\x02'), std::string::npos);

  // The tail is the last lines as the engine keeps them (stdout and stderr are two pipes:
  // where the stderr line falls among the others is the engine's order, not ours).
  auto all = rt_->container_logs(id, sbx::LogLimits{.tail = 100, .timestamps = false});
  ASSERT_TRUE(all && *all) << (all ? "absent" : all.error().message);
  const std::string& text = (*all)->text;
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 6) << text;
  const auto cut = text.rfind('\n', text.rfind('\n', text.size() - 2) - 1);
  auto tail = rt_->container_logs(id, sbx::LogLimits{.tail = 2, .timestamps = false});
  ASSERT_TRUE(tail && *tail) << (tail ? "absent" : tail.error().message);
  EXPECT_EQ((*tail)->text, text.substr(cut + 1)) << text;
  EXPECT_EQ(std::count((*tail)->text.begin(), (*tail)->text.end(), '\n'), 2);
}

TEST_F(DockerDiagnosticsTest, TheByteCapStopsReadingAndSaysSo) {
  const std::string id = start_printing(2000);  // ~ 22 KB
  ASSERT_TRUE(logs_with(id, "err line", sbx::LogLimits{.tail = 10}));
  auto r = rt_->container_logs(
      id, sbx::LogLimits{.tail = 10'000, .max_bytes = 1000, .timestamps = false});
  ASSERT_TRUE(r && *r) << (r ? "absent" : r.error().message);
  EXPECT_EQ((*r)->text.size(), 1000u);
  EXPECT_TRUE((*r)->truncated);
  EXPECT_TRUE((*r)->text.starts_with("out line 1\nout line 2\n"));
}

TEST_F(DockerDiagnosticsTest, DescribeShowsStateAndNeverAnEnvValue) {
  const std::string id = start_printing(1);
  auto d = rt_->describe(id);
  ASSERT_TRUE(d && *d) << (d ? "absent" : d.error().message);
  const std::string& text = **d;
  EXPECT_NE(text.find(std::string("Name:           sandbox-") + id), std::string::npos) << text;
  EXPECT_NE(text.find("Status:         running"), std::string::npos) << text;
  EXPECT_NE(text.find("Running:        True"), std::string::npos) << text;
  EXPECT_NE(text.find(std::string("sandboxd.io/id=") + id), std::string::npos) << text;
  EXPECT_NE(text.find("API_TOKEN=***"), std::string::npos) << text;
  EXPECT_NE(text.find("PLAIN=***"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2-secret-value"), std::string::npos) << text;
  EXPECT_EQ(text.find("also-not-shown"), std::string::npos) << text;
}

TEST_F(DockerDiagnosticsTest, AnAbsentContainerIsNulloptForBoth) {
  const std::string id = sbx::new_uuid();
  auto logs = rt_->container_logs(id, {});
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_FALSE(*logs);
  auto d = rt_->describe(id);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_FALSE(*d);
}

TEST_F(DockerDiagnosticsTest, AnUnreachableEngineIsUnavailable) {
  auto o = sbx::testing::test_docker_options("unix:///nonexistent/docker.sock");
  auto rt = sbx::DockerRuntime::create(o);
  ASSERT_TRUE(rt);
  auto logs = (*rt)->container_logs(sbx::new_uuid(), {});
  ASSERT_FALSE(logs);
  EXPECT_EQ(logs.error().code, sbx::ErrorCode::kUnavailable);
  auto d = (*rt)->describe(sbx::new_uuid());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, sbx::ErrorCode::kUnavailable);
}

}  // namespace
