// The API under concurrency and across restarts: parallel creates, parked waits that do
// not hold HTTP threads, restart between create and get, shutdown with parked requests.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "src/common/uuid.h"
#include "src/metrics/http_metrics.h"
#include "src/metrics/registry.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

TEST(ApiConcurrency, TwoHundredParallelCreatesGetDistinctIdsAndPorts) {
  auto o = default_harness_options();
  o.worker = false;
  ApiHarness h(o);
  constexpr int kClients = 20, kPer = 10;
  std::vector<std::future<std::vector<std::string>>> futures;
  for (int t = 0; t < kClients; ++t) {
    futures.push_back(std::async(std::launch::async, [&, t] {
      HttpClient c(h.port());
      std::vector<std::string> ids;
      for (int i = 0; i < kPer; ++i) {
        auto r = c.post(t % 2 ? "/v1/sandboxes" : "/sandboxes", create_body(),
                        {{"Prefer", "respond-async"}});
        EXPECT_EQ(r.status, 202) << r.body;
        ids.push_back(body_json(r).value("id", ""));
      }
      return ids;
    }));
  }
  std::set<std::string> ids;
  for (auto& f : futures) {
    for (auto& id : f.get()) ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 200u);
  // Exactly 200 SandboxRequested events in the log, and no host port twice.
  auto events = h.store().read(1, 10000);
  ASSERT_TRUE(events.has_value());
  std::set<int> ports;
  int requested = 0;
  for (const auto& e : *events) {
    if (const auto* r = std::get_if<SandboxRequested>(&e.data)) {
      ++requested;
      EXPECT_TRUE(ids.contains(r->sandbox_id));
      EXPECT_EQ(r->spec.ports.size(), 2u);
      for (auto [container, host] : r->spec.ports) {
        EXPECT_TRUE(ports.insert(host).second) << "host port " << host << " allocated twice";
      }
    }
  }
  EXPECT_EQ(requested, 200);
  EXPECT_EQ(events->size(), 200u);
}

TEST(ApiConcurrency, RestartBetweenCreateAndGetGivesTheSameAnswer) {
  TempDir dir("sandboxd-api-restart");
  auto o = default_harness_options();
  std::string id, before, list_before;
  {
    ApiHarness h(o, dir.str());
    HttpClient c(h.port());
    auto r = c.post("/v1/sandboxes", create_body({{"metadata", {{"team", "ml"}}}}));
    ASSERT_EQ(r.status, 202);
    id = body_json(r)["id"];
    const std::string future = format_rfc3339(SystemClock().now() + 9000 * kMicrosPerSecond);
    ASSERT_EQ(
        c.post("/v1/sandboxes/" + id + "/renew-expiration", json{{"expiresAt", future}}.dump())
            .status,
        200);
    before = c.get("/v1/sandboxes/" + id).body;
    list_before = c.get("/v1/sandboxes").body;
  }
  ApiHarness h(o, dir.str());
  HttpClient c(h.port());
  auto after = c.get("/v1/sandboxes/" + id);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.body, before);
  EXPECT_EQ(c.get("/v1/sandboxes").body, list_before);
  // Ports survive too: the endpoint is unchanged and a new sandbox gets other ports.
  auto sb = h.service().get(id);
  ASSERT_TRUE(sb);
  auto r = c.post("/v1/sandboxes", create_body());
  auto other = h.service().get(body_json(r)["id"].get<std::string>());
  ASSERT_TRUE(other);
  for (auto [cp, hp] : other->spec.ports) EXPECT_NE(hp, sb->spec.ports.at(cp));
}

TEST(ApiConcurrency, ParkedCreatesDoNotHoldHttpThreadsAndReadsStayFast) {
  auto o = default_harness_options();
  o.worker = false;  // creates stay Pending: every one is parked for its whole wait
  o.api.create_wait_ms = 3000;
  o.api.threads = 2;
  ApiHarness h(o);
  HttpClient c(h.port());
  auto seed = c.post("/v1/sandboxes", create_body(), {{"Prefer", "respond-async"}});
  const std::string id = body_json(seed)["id"];

  constexpr int kParked = 100;
  std::vector<std::future<HttpResponse>> parked;
  for (int i = 0; i < kParked; ++i) {
    parked.push_back(std::async(std::launch::async, [&] {
      HttpClient pc(h.port());
      return pc.post("/v1/sandboxes", create_body());
    }));
  }
  // Wait until (nearly) all of them are parked in the service.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (h.service().pending_waits() < kParked && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(h.service().pending_waits(), static_cast<std::size_t>(kParked));

  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.get("/v1/sandboxes/" + id);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    ASSERT_EQ(r.status, 200);
  }
  std::sort(ms.begin(), ms.end());
  const double p99 = ms[ms.size() * 99 / 100];
  EXPECT_LT(p99, 50.0) << "GET p99 " << p99 << " ms while " << kParked << " creates were parked";
  RecordProperty("get_p99_ms_while_parked", std::to_string(p99));

  // The parked creates answer once their wait runs out, with the state reached.
  for (auto& f : parked) {
    auto r = f.get();
    EXPECT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(body_json(r)["status"]["state"], "Pending");
  }
}

TEST(ApiConcurrency, ParkedRequestCompletesAsSoonAsTheOutcomeIsRecorded) {
  auto o = default_harness_options();
  o.worker = false;
  o.api.create_wait_ms = 10000;
  ApiHarness h(o);
  auto fut = std::async(std::launch::async, [&] {
    HttpClient c(h.port());
    return c.post("/v1/sandboxes", create_body());
  });
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (h.service().pending_waits() < 1 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(h.service().pending_waits(), 1u);
  auto list = h.service().list(ListQuery{});
  ASSERT_EQ(list.items.size(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.service()
                  .execute(list.items[0]->id, RecordStarted{"c"}, RequestContext{"", "worker:test"})
                  .has_value());
  auto r = fut.get();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(body_json(r)["status"]["state"], "Running");
}

TEST(ApiConcurrency, ShutdownAnswersParkedRequestsWithTheStateReached) {
  auto o = default_harness_options();
  o.worker = false;
  o.api.create_wait_ms = 30000;
  o.api.max_wait = 30000ms;
  ApiHarness h(o);
  std::vector<std::future<HttpResponse>> parked;
  for (int i = 0; i < 10; ++i) {
    parked.push_back(std::async(std::launch::async, [&] {
      HttpClient c(h.port());
      return c.post("/v1/sandboxes", create_body());
    }));
  }
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (h.service().pending_waits() < 10 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(h.service().pending_waits(), 10u);
  const auto t0 = std::chrono::steady_clock::now();
  h.server().shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  for (auto& f : parked) {
    auto r = f.get();
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(body_json(r)["status"]["state"], "Pending");
  }
  EXPECT_EQ(h.server().in_flight(), 0u);
}

TEST(ApiConcurrency, PauseAndDeleteWaitForTheirOutcomes) {
  auto o = default_harness_options();
  o.worker = false;
  o.api.transition_wait_ms = 5000;
  ApiHarness h(o);
  HttpClient c(h.port());
  auto created = c.post("/v1/sandboxes", create_body(), {{"Prefer", "respond-async"}});
  const std::string id = body_json(created)["id"];
  const RequestContext w{"", "worker:test"};
  ASSERT_TRUE(h.service().execute(id, RecordStarted{"c"}, w).has_value());

  auto pause = std::async(std::launch::async, [&] {
    HttpClient pc(h.port());
    return pc.post("/v1/sandboxes/" + id + "/pause", "");
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(pause.wait_for(0s), std::future_status::timeout) << "pause answered before the outcome";
  EXPECT_EQ(h.service().get(id)->state, SandboxState::kPausing);
  ASSERT_TRUE(h.service().execute(id, RecordPaused{}, w).has_value());
  EXPECT_EQ(pause.get().status, 202);

  // Respond-async answers at once.
  auto resume = c.post("/v1/sandboxes/" + id + "/resume", "", {{"Prefer", "respond-async"}});
  EXPECT_EQ(resume.status, 202);
  EXPECT_EQ(h.service().get(id)->state, SandboxState::kResuming);
  ASSERT_TRUE(h.service().execute(id, RecordResumed{}, w).has_value());

  auto del = std::async(std::launch::async, [&] {
    HttpClient dc(h.port());
    return dc.del("/v1/sandboxes/" + id);
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(del.wait_for(0s), std::future_status::timeout);
  ASSERT_TRUE(h.service().execute(id, RecordTerminated{0, "bye"}, w).has_value());
  EXPECT_EQ(del.get().status, 204);
  EXPECT_EQ(c.get("/v1/sandboxes/" + id).status, 404);
}

TEST(ApiMetrics, RequestsAreCountedByRouteTemplateAndStatus) {
  metrics::Registry registry;
  metrics::HttpMetrics http(registry);
  ApiHarness h;
  h.http_metrics = &http;
  h.metrics_provider = [&] { return registry.expose(); };
  h.restart();
  HttpClient c(h.port());
  auto r = c.post("/v1/sandboxes", create_body());
  const std::string id = body_json(r)["id"];
  ASSERT_EQ(c.get("/v1/sandboxes/" + id).status, 200);
  ASSERT_EQ(c.get("/v1/sandboxes/" + id).status, 200);
  ASSERT_EQ(c.get("/sandboxes/" + new_uuid()).status, 404);
  const std::string text = c.get("/metrics").body;
  EXPECT_NE(
      text.find(
          R"(sandboxd_http_requests_total{method="GET",route="/v1/sandboxes/{id}",status="200"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(sandboxd_http_requests_total{method="GET",route="/sandboxes/{id}",status="404"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(sandboxd_http_requests_total{method="POST",route="/v1/sandboxes",status="202"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(sandboxd_http_request_duration_seconds_count{method="GET",route="/v1/sandboxes/{id}"} 2)"),
      std::string::npos);
  EXPECT_EQ(text.find(id), std::string::npos) << "an id leaked into a label";
}

}  // namespace
}  // namespace sbx::testing
