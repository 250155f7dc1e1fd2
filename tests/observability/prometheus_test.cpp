// Observability of the real sandboxd binary: after some traffic, `promtool check metrics`
// accepts the body of GET /metrics, and a real Prometheus (Debian package `prometheus`)
// scraping 127.0.0.1:<sandboxd port> every second reports `up == 1` and a non-zero
// `sandboxd_http_requests_total`.
//
// No Docker engine is needed: sandboxd runs with docker.host pointing at a socket that does
// not exist (it serves reads and answers lifecycle changes 503). Without prometheus/promtool
// installed the test is skipped, except with CI=true where that is a failure (CI installs
// them: scripts/install-deps.sh test).
#include <gtest/gtest.h>

#include <iostream>

#include "tests/e2e/e2e_harness.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

// The value of the first sample of an instant-query answer, or nullopt.
std::optional<double> first_value(const Reply& r) {
  Json j = r.json();
  if (!j.is_object() || j.value("status", "") != "success") return std::nullopt;
  const Json& result = j["data"]["result"];
  if (!result.is_array() || result.empty()) return std::nullopt;
  const Json& value = result[0]["value"];
  if (!value.is_array() || value.size() != 2 || !value[1].is_string()) return std::nullopt;
  return std::stod(value[1].get<std::string>());
}

class Observability : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {kPrometheus, kPromtool}) {
      if (::access(tool, X_OK) != 0) {
        const std::string msg = std::string(tool) +
                                " is missing (Debian package prometheus; "
                                "scripts/install-deps.sh test installs it)";
        std::cerr << "\n#### sandboxd observability: " << msg << " ####\n\n";
        if (running_in_ci()) GTEST_FAIL() << msg;
        GTEST_SKIP() << msg;
      }
    }
    dir_ = std::make_unique<TempDir>("sandboxd-obs");
    SandboxdOptions o;
    o.docker_host = "unix://" + (dir_->path() / "no-docker.sock").string();
    sandboxd_ = std::make_unique<Sandboxd>(dir_->path(), o);
    ASSERT_TRUE(sandboxd_->start());
  }

  void TearDown() override {
    if (sandboxd_) {
      if (sandboxd_->running()) {
        EXPECT_TRUE(sandboxd_->stop());
      }
      if (HasFailure()) std::cerr << sandboxd_->all_logs() << std::endl;
    }
  }

  // A little of everything: health, list, a 404, a refused create, a bad request.
  void make_traffic() {
    const Http& api = sandboxd_->api();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(api.get("/health").status, 200);
    EXPECT_EQ(api.get("/v1/sandboxes").status, 200);
    EXPECT_EQ(api.get("/sandboxes?state=Running").status, 200);
    EXPECT_EQ(api.get("/v1/sandboxes/00000000-0000-4000-8000-000000000000").status, 404);
    EXPECT_EQ(api.post("/v1/sandboxes", create_request(600)).status, 503);
    EXPECT_EQ(api.request("POST", "/v1/sandboxes", "{not json").status, 400);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Sandboxd> sandboxd_;
};

TEST_F(Observability, PromtoolAcceptsTheExposition) {
  make_traffic();
  Reply metrics = sandboxd_->api().get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.describe();
  auto type = metrics.header("Content-Type");
  ASSERT_TRUE(type.has_value());
  EXPECT_NE(type->find("text/plain"), std::string::npos) << *type;
  EXPECT_NE(metrics.body.find("sandboxd_http_requests_total{"), std::string::npos);
  EXPECT_NE(metrics.body.find("sandboxd_http_request_duration_seconds_bucket{"), std::string::npos);

  const auto scrape = dir_->path() / "scrape.txt";
  write_text(scrape, metrics.body);
  ChildProcess promtool(
      {"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", kPromtool, scrape.string()});
  auto st = promtool.wait(milliseconds(30'000));
  promtool.drain(milliseconds(500));
  ASSERT_TRUE(st.has_value()) << "promtool did not finish";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "promtool check metrics failed:\n"
      << promtool.output() << "\n---- exposition ----\n"
      << metrics.body.substr(0, 20000);
  // promtool prints lint findings (e.g. missing HELP, non-base units) yet exits 0.
  EXPECT_EQ(promtool.output(), "") << "promtool lint findings:\n" << promtool.output();
}

TEST_F(Observability, RealPrometheusScrapesIt) {
  make_traffic();
  const int prom_port = free_loopback_port();
  ASSERT_NE(prom_port, 0);
  const auto config = dir_->path() / "prom.yml";
  write_text(config,
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: sandboxd\n    scrape_interval: 1s\n"
             "    scrape_timeout: 1s\n    static_configs:\n      - targets: ['" +
                 sandboxd_->address() + "']\n");
  const auto log = dir_->path() / "prometheus.log";
  const auto t0 = SteadyClock::now();
  ChildProcess prom({"/bin/sh", "-c", "exec \"$0\" \"$1\" \"$2\" \"$3\" >\"$4\" 2>&1", kPrometheus,
                     "--config.file=" + config.string(),
                     "--storage.tsdb.path=" + (dir_->path() / "tsdb").string(),
                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), log.string()});
  Http prom_api("http://127.0.0.1:" + std::to_string(prom_port), milliseconds(5'000));

  std::optional<double> up;
  const bool scraped = poll_until(
      [&] {
        up = first_value(prom_api.get("/api/v1/query?query=" + url_encode("up{job=\"sandboxd\"}")));
        return up.has_value() && *up == 1.0;
      },
      milliseconds(60'000), milliseconds(500));
  EXPECT_TRUE(scraped) << "up = " << (up ? std::to_string(*up) : "none") << "; prometheus log:\n"
                       << last_lines(read_text(log), 40);
  std::cerr << "[timing] Prometheus reports up == 1 after " << seconds_since(t0) << " s\n";

  std::optional<double> requests;
  EXPECT_TRUE(poll_until(
      [&] {
        requests = first_value(
            prom_api.get("/api/v1/query?query=" + url_encode("sum(sandboxd_http_requests_total)")));
        return requests.has_value() && *requests > 0;
      },
      milliseconds(15'000), milliseconds(500)))
      << "sum(sandboxd_http_requests_total) = " << (requests ? std::to_string(*requests) : "none");

  // Prometheus's own scrape of sandboxd went through the API's metrics too: the /metrics
  // route is counted.
  std::optional<double> metrics_route;
  EXPECT_TRUE(poll_until(
      [&] {
        metrics_route = first_value(
            prom_api.get("/api/v1/query?query=" +
                         url_encode("sum(sandboxd_http_requests_total{route=\"/metrics\"})")));
        return metrics_route.has_value() && *metrics_route > 0;
      },
      milliseconds(15'000), milliseconds(500)))
      << "no /metrics route in sandboxd_http_requests_total";

  prom.signal(SIGTERM);
  auto st = prom.wait(milliseconds(20'000));
  EXPECT_TRUE(st.has_value()) << "Prometheus did not stop on SIGTERM";
}

}  // namespace
}  // namespace sbx::testing
