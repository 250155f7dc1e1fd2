// The per-module metric structs: names, types, labels and callbacks as the other modules
// will see them on /metrics.
#include <gtest/gtest.h>

#include <string>

#include "src/metrics/http_metrics.h"
#include "src/metrics/registry.h"
#include "src/metrics/runtime_metrics.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "src/metrics/worker_metrics.h"

namespace sbx::metrics {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ModuleMetrics, HttpMetricsRecordByRouteTemplateAndStatus) {
  Registry r;
  HttpMetrics m(r);
  m.requests_total.with({"GET", "/v1/sandboxes/{id}", "200"}).inc();
  m.request_duration_seconds.with({"GET", "/v1/sandboxes/{id}"}).observe(0.0003);
  m.requests_in_flight.inc();
  const std::string text = r.expose();
  EXPECT_TRUE(contains(text,
                       "# TYPE sandboxd_http_requests_total counter\n"
                       "sandboxd_http_requests_total{method=\"GET\",route=\"/v1/"
                       "sandboxes/{id}\",status=\"200\"} 1\n"))
      << text;
  EXPECT_TRUE(contains(text,
                       "sandboxd_http_request_duration_seconds_bucket{method=\"GET\","
                       "route=\"/v1/sandboxes/{id}\",le=\"0.0005\"} 1\n"))
      << text;
  EXPECT_TRUE(contains(text, "sandboxd_http_requests_in_flight 1\n")) << text;
}

TEST(ModuleMetrics, TwoInstancesOnOneRegistryShareTheirFamilies) {
  Registry r;
  HttpMetrics a(r);
  HttpMetrics b(r);
  EXPECT_EQ(&a.requests_total, &b.requests_total);
  EXPECT_EQ(&a.requests_in_flight, &b.requests_in_flight);
  StoreMetrics s1(r);
  StoreMetrics s2(r);
  EXPECT_EQ(&s1.event_append_duration_seconds, &s2.event_append_duration_seconds);
}

TEST(ModuleMetrics, StoreMetricsExposeSizeOnlyWhileTheHandleLives) {
  Registry r;
  StoreMetrics m(r);
  m.group_commit_size.observe(3);
  m.log_head_position.set(1234);
  m.events_appended_total.inc(3);
  {
    double size = 4096;
    auto handle = m.expose_store_size([&] { return std::optional<double>(size); });
    ASSERT_TRUE(handle.has_value()) << handle.error().message;
    EXPECT_TRUE(contains(r.expose(),
                         "# TYPE sandboxd_store_size_bytes gauge\n"
                         "sandboxd_store_size_bytes 4096\n"));
    size = 8192;
    EXPECT_TRUE(contains(r.expose(), "sandboxd_store_size_bytes 8192\n"));
    EXPECT_EQ(m.expose_store_size([] { return std::optional<double>(1); }).error().code,
              ErrorCode::kAlreadyExists);
  }
  const std::string text = r.expose();
  EXPECT_FALSE(contains(text, "sandboxd_store_size_bytes")) << text;
  EXPECT_TRUE(contains(text, "sandboxd_store_group_commit_size_bucket{le=\"2\"} 0\n"));
  EXPECT_TRUE(contains(text, "sandboxd_store_group_commit_size_bucket{le=\"4\"} 1\n"));
  EXPECT_TRUE(contains(text, "sandboxd_store_log_head_position 1234\n"));
  EXPECT_TRUE(contains(text, "sandboxd_store_events_appended_total 3\n"));
  EXPECT_TRUE(contains(text, "# TYPE sandboxd_store_event_append_duration_seconds histogram\n"));
  EXPECT_EQ(m.expose_store_size(nullptr).error().code, ErrorCode::kInvalidArgument);
}

TEST(ModuleMetrics, SandboxMetricsCountTransitionsAndStates) {
  Registry r;
  SandboxMetrics m(r);
  m.lifecycle_transitions_total.with({"Pending", "Running"}).inc();
  m.lifecycle_transitions_total.with({"Pending", "Running"}).inc();
  m.lifecycle_transitions_total.with({"Running", "Pausing"}).inc();
  m.time_to_running_seconds.observe(0.3);
  m.expirations_total.inc();
  m.reconcile_findings_total.with({"orphan_removed"}).inc();
  auto handle = m.expose_sandboxes_by_state([] {
    return std::vector<CallbackSample>{{{"Running"}, 5}, {{"Failed"}, 1}};
  });
  ASSERT_TRUE(handle.has_value());
  const std::string text = r.expose();
  EXPECT_TRUE(contains(text,
                       "# TYPE sandboxd_sandboxes gauge\n"
                       "sandboxd_sandboxes{state=\"Failed\"} 1\n"
                       "sandboxd_sandboxes{state=\"Running\"} 5\n"))
      << text;
  EXPECT_TRUE(contains(text,
                       "sandboxd_sandbox_lifecycle_transitions_total{from=\"Pending\","
                       "to=\"Running\"} 2\n"));
  EXPECT_TRUE(contains(text,
                       "sandboxd_sandbox_lifecycle_transitions_total{from=\"Running\","
                       "to=\"Pausing\"} 1\n"));
  EXPECT_TRUE(contains(text,
                       "sandboxd_sandbox_time_to_running_seconds_bucket{le=\"0.25\"} 0\n"
                       "sandboxd_sandbox_time_to_running_seconds_bucket{le=\"0.5\"} 1\n"));
  EXPECT_TRUE(contains(text, "sandboxd_sandbox_expirations_total 1\n"));
  EXPECT_TRUE(contains(text, "sandboxd_reconcile_findings_total{kind=\"orphan_removed\"} 1\n"));
}

TEST(ModuleMetrics, WorkerAndRuntimeMetricsAreLabelledPerWorkerAndOperation) {
  Registry r;
  WorkerMetrics w(r);
  RuntimeMetrics rt(r);
  w.worker_lag_events.with({"expirer"}).set(7);
  w.worker_checkpoint_position.with({"expirer"}).set(93);
  rt.runtime_call_duration_seconds.with({"start"}).observe(0.17);
  rt.runtime_call_errors_total.with({"start", "kUnavailable"}).inc();
  const std::string text = r.expose();
  EXPECT_TRUE(contains(text,
                       "# TYPE sandboxd_worker_lag_events gauge\n"
                       "sandboxd_worker_lag_events{worker=\"expirer\"} 7\n"));
  EXPECT_TRUE(contains(text, "sandboxd_worker_checkpoint_position{worker=\"expirer\"} 93\n"));
  EXPECT_TRUE(contains(text,
                       "sandboxd_runtime_call_duration_seconds_bucket{operation=\"start\","
                       "le=\"0.25\"} 1\n"));
  EXPECT_TRUE(
      contains(text, "sandboxd_runtime_call_duration_seconds_count{operation=\"start\"} 1\n"));
  EXPECT_TRUE(contains(text,
                       "sandboxd_runtime_call_errors_total{operation=\"start\","
                       "code=\"kUnavailable\"} 1\n"));
}

}  // namespace
}  // namespace sbx::metrics
