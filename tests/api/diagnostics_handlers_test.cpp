// GET /sandboxes/{id}/diagnostics/logs|inspect|events|summary (api/diagnostics_handlers.cpp)
// over real HTTP, with the real service and store and a scripted RuntimeDiagnostics behind a
// real DiagnosticsRunner.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "src/service/diagnostics_runner.h"
#include "tests/api/api_fixture.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

// What the runtime answers, per sandbox id; records the queries it was given.
class ScriptedDiagnostics final : public RuntimeDiagnostics {
 public:
  Result<std::optional<LogOutput>> logs(const std::string& id, const LogQuery& q) override {
    wait_gate();
    std::lock_guard lock(mu_);
    queries_.push_back(q);
    if (failure_) return std::unexpected(*failure_);
    auto it = logs_.find(id);
    if (it == logs_.end()) return std::optional<LogOutput>{};
    LogOutput out{it->second, false};
    if (out.text.size() > q.max_bytes) {  // as a runtime stops reading there
      out.text.resize(q.max_bytes);
      out.truncated = true;
    }
    return out;
  }
  Result<std::optional<std::string>> describe(const std::string& id) override {
    wait_gate();
    std::lock_guard lock(mu_);
    if (failure_) return std::unexpected(*failure_);
    auto it = descriptions_.find(id);
    if (it == descriptions_.end()) return std::optional<std::string>{};
    return it->second;
  }

  void set(const std::string& id, std::string logs, std::string description) {
    std::lock_guard lock(mu_);
    logs_[id] = std::move(logs);
    descriptions_[id] = std::move(description);
  }
  void fail_with(std::optional<Error> e) {
    std::lock_guard lock(mu_);
    failure_ = std::move(e);
  }
  std::vector<LogQuery> queries() {
    std::lock_guard lock(mu_);
    return queries_;
  }
  // Holds every call until open_gate(); counts the callers waiting.
  void close_gate() {
    std::lock_guard lock(gate_mu_);
    gate_closed_ = true;
  }
  void open_gate() {
    {
      std::lock_guard lock(gate_mu_);
      gate_closed_ = false;
    }
    gate_cv_.notify_all();
  }
  int waiting() const { return waiting_.load(); }

 private:
  void wait_gate() {
    std::unique_lock lock(gate_mu_);
    ++waiting_;
    gate_cv_.wait_for(lock, 20s, [this] { return !gate_closed_; });
    --waiting_;
  }

  std::mutex mu_;
  std::map<std::string, std::string> logs_, descriptions_;
  std::optional<Error> failure_;
  std::vector<LogQuery> queries_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_closed_ = false;
  std::atomic<int> waiting_{0};
};

struct DiagnosticsHarness {
  explicit DiagnosticsHarness(std::size_t log_bytes = 1 << 20,
                              std::optional<std::string> api_key = std::nullopt)
      : runtime(std::make_shared<ScriptedDiagnostics>()),
        runner(runtime, DiagnosticsOptions{.threads = 2, .max_queued = 4}),
        api(options(log_bytes, api_key, &runner)),
        client(api.port()) {}
  ~DiagnosticsHarness() {
    runtime->open_gate();
    api.stop();
    runner.shutdown();
  }

  static ApiHarnessOptions options(std::size_t log_bytes, std::optional<std::string> key,
                                   DiagnosticsRunner* runner) {
    auto o = default_harness_options();
    o.api.diagnostics_log_bytes = log_bytes;
    o.api.api_key = std::move(key);
    o.diagnostics = runner;
    return o;
  }

  // A Running sandbox (the FakeWorker starts it).
  std::string create(const json& overrides = json::object(), const Headers& headers = {}) {
    auto r = client.post("/v1/sandboxes", create_body(overrides), headers);
    EXPECT_EQ(r.status, 202) << r.body;
    return body_json(r).value("id", "");
  }

  std::shared_ptr<ScriptedDiagnostics> runtime;
  DiagnosticsRunner runner;
  ApiHarness api;
  HttpClient client;
};

const std::string kUnknown = "00000000-0000-4000-8000-000000000000";

// "/v1/sandboxes/<id>/diagnostics/<rest>"
std::string diag(const std::string& id, const std::string& rest) {
  return std::string("/v1/sandboxes/") + id + "/diagnostics/" + rest;
}

TEST(DiagnosticsLogs, AnswerTheContainerOutputAsDeprecatedPlainTextAtBothPrefixes) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "2026-01-01T00:00:00Z hello\n2026-01-01T00:00:01Z world\n", "Status: x");
  for (const std::string prefix : {"", "/v1"}) {
    auto r = h.client.get(prefix + "/sandboxes/" + id + "/diagnostics/logs");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r.header("Deprecation"), "true");
    EXPECT_FALSE(r.header("X-Request-ID").empty());
    EXPECT_EQ(r.body, "2026-01-01T00:00:00Z hello\n2026-01-01T00:00:01Z world\n");
  }
  auto q = h.runtime->queries();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].tail, 100);  // the reference's default
  EXPECT_FALSE(q[0].since_seconds);
  EXPECT_EQ(q[0].max_bytes, std::size_t{1} << 20);
}

TEST(DiagnosticsLogs, PassTailAndSinceToTheRuntime) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "", "");
  auto r = h.client.get(diag(id, "logs?tail=7&since=10m&container=x"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "(no logs)\n");
  r = h.client.get(diag(id, "logs?tail=10000&since=2H"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto q = h.runtime->queries();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].tail, 7);
  EXPECT_EQ(q[0].since_seconds, 600);
  EXPECT_EQ(q[1].tail, 10000);
  EXPECT_EQ(q[1].since_seconds, 7200);
}

TEST(DiagnosticsLogs, RefuseBadQueryValuesNamingThemWithoutAskingTheRuntime) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  for (const std::string q : {"tail=0", "tail=10001", "tail=abc", "tail=-1", "since=10",
                              "since=10w", "since=m", "since=9999999999s"}) {
    auto r = h.client.get(diag(id, "logs?") + q);
    EXPECT_EQ(r.status, 422) << q << " " << r.body;
    auto j = body_json(r);
    EXPECT_EQ(j["code"], "SANDBOX::INVALID_PARAMETER") << q;
    EXPECT_EQ(j["detail"][0]["loc"][1], q.substr(0, q.find('='))) << q;
  }
  EXPECT_TRUE(h.runtime->queries().empty());
}

TEST(DiagnosticsLogs, UnknownSandboxAndAGoneContainerAre404) {
  DiagnosticsHarness h;
  auto r = h.client.get(diag(kUnknown, "logs"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body_json(r)["code"], "DOCKER::SANDBOX_NOT_FOUND");
  EXPECT_TRUE(h.runtime->queries().empty());

  const std::string id = h.create();  // the runtime knows no container for it
  r = h.client.get(diag(id, "logs"));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(body_json(r)["code"], "DOCKER::SANDBOX_NOT_FOUND");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("has no container (state Running)"),
            std::string::npos);
  r = h.client.get(diag(id, "inspect"));
  EXPECT_EQ(r.status, 404) << r.body;

  // Deleted: not live any more.
  h.runtime->set(id, "x\n", "y");
  ASSERT_EQ(h.client.del(std::string("/v1/sandboxes/") + id).status, 204);
  EXPECT_EQ(h.client.get(diag(id, "logs")).status, 404);
  EXPECT_EQ(h.client.get(diag(id, "inspect")).status, 404);
}

TEST(DiagnosticsLogs, ARuntimeFailureIs503WithACode) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "x\n", "y");
  h.runtime->fail_with(Error(ErrorCode::kUnavailable, "Docker engine unavailable: refused"));
  for (const char* route : {"logs", "inspect"}) {
    auto r = h.client.get(diag(id, "") + route);
    EXPECT_EQ(r.status, 503) << route << " " << r.body;
    EXPECT_EQ(body_json(r)["code"], "DOCKER::SANDBOX_QUERY_FAILED") << route;
    EXPECT_NE(body_json(r)["message"].get<std::string>().find("refused"), std::string::npos);
  }
  h.runtime->fail_with(Error(ErrorCode::kDeadlineExceeded, "too slow"));
  EXPECT_EQ(h.client.get(diag(id, "logs")).status, 503);
  h.runtime->fail_with(Error(ErrorCode::kFailedPrecondition, "pod has no node"));
  auto r = h.client.get(diag(id, "logs"));
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(body_json(r)["code"], "DOCKER::LOGS_NOT_AVAILABLE");
}

TEST(DiagnosticsLogs, AreCutAtTheByteCapAndSaySo) {
  DiagnosticsHarness h(/*log_bytes=*/32);
  const std::string id = h.create();
  h.runtime->set(id, std::string(1000, 'a') + "\n", "");
  auto r = h.client.get(diag(id, "logs"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(h.runtime->queries().at(0).max_bytes, 32u);
  EXPECT_EQ(r.body.substr(0, 33), std::string(32, 'a') + "\n");
  EXPECT_NE(r.body.find("[truncated: the output exceeds 32 bytes"), std::string::npos) << r.body;
  EXPECT_LT(r.body.size(), 200u);
}

TEST(DiagnosticsLogs, InvalidUtf8IsReplacedSoTheAnswerIsWhatItsTypeSays) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "ok \xff\xfe bad \xE2\x82\xAC\n", "");
  auto r = h.client.get(diag(id, "logs"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xE2\x82\xAC\n");
}

TEST(DiagnosticsScope, LogsAndEventsAnswerTheStableDescriptor) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  std::string many;
  for (int i = 1; i <= 150; ++i) many += std::string("line ") + std::to_string(i) + "\n";
  h.runtime->set(id, many, "");
  auto r = h.client.get(diag(id, "logs?scope=Container&tail=3"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_FALSE(r.has_header("Deprecation"));
  auto j = body_json(r);
  EXPECT_EQ(j["sandboxId"], id);
  EXPECT_EQ(j["kind"], "logs");
  EXPECT_EQ(j["scope"], "container");
  EXPECT_EQ(j["delivery"], "inline");
  EXPECT_EQ(j["contentType"], "text/plain; charset=utf-8");
  EXPECT_EQ(j["truncated"], true);
  EXPECT_FALSE(j.contains("warnings"));
  const std::string content = j["content"];
  EXPECT_EQ(j["contentLength"], content.size());
  EXPECT_TRUE(content.starts_with("line 51\n")) << content.substr(0, 20);
  EXPECT_TRUE(content.ends_with("line 150\n"));
  EXPECT_EQ(h.runtime->queries().back().tail, 101);  // one more than shown, as the reference

  r = h.client.get(diag(id, "logs?scope=all"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_json(r)["warnings"].size(), 1u);

  r = h.client.get(diag(id, "events?scope=runtime"));
  ASSERT_EQ(r.status, 200) << r.body;
  j = body_json(r);
  EXPECT_EQ(j["kind"], "events");
  EXPECT_EQ(j["truncated"], false);
  EXPECT_NE(j["content"].get<std::string>().find("SandboxRequested"), std::string::npos);
}

TEST(DiagnosticsScope, AnUnsupportedScopeIs400WithTheReferencesCode) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  for (const std::string q : {"logs?scope=pod", "logs?scope=", "events?scope=container",
                              "events?scope=%0A"}) {
    auto r = h.client.get(diag(id, "") + q);
    EXPECT_EQ(r.status, 400) << q << " " << r.body;
    auto j = body_json(r);
    EXPECT_EQ(j["code"], "DIAGNOSTICS_SCOPE_UNSUPPORTED") << q;
    EXPECT_NE(j["message"].get<std::string>().find("Supported scopes"), std::string::npos);
  }
  // A bad query value is still a 422 (validated before the scope, as the reference does).
  EXPECT_EQ(h.client.get(diag(id, "logs?scope=pod&tail=0")).status, 422);
  EXPECT_EQ(h.client.get(diag(id, "events?scope=pod&limit=0")).status, 422);
  // Also for a sandbox that does not exist: the scope is checked first, as the reference.
  EXPECT_EQ(h.client.get(diag(kUnknown, "logs?scope=x")).status, 400);
  EXPECT_TRUE(h.runtime->queries().empty());
}

TEST(DiagnosticsInspect, AnswersTheRuntimesViewWithoutDeprecationAndIgnoresScope) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "", "Container ID:   abc\nStatus:         running");
  auto r = h.client.get(std::string("/sandboxes/") + id + "/diagnostics/inspect?scope=whatever");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_FALSE(r.has_header("Deprecation"));
  EXPECT_EQ(r.body, "Container ID:   abc\nStatus:         running\n");
}

TEST(DiagnosticsEvents, ListTheHistoryFromTheLogAlsoAfterDeleteWithoutEnvValues) {
  DiagnosticsHarness h;
  const std::string id = h.create({{"env", {{"API_TOKEN", "hunter2"}}}},
                                  {{"X-Request-ID", "req-create-1"}});
  const Headers rid = {{"X-Request-ID", "req-delete-1"}};
  ASSERT_EQ(h.client.del(std::string("/v1/sandboxes/") + id, rid).status, 204);
  auto r = h.client.get(diag(id, "events"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Deprecation"), "true");
  const std::string& b = r.body;
  const auto requested = b.find("v1 SandboxRequested");
  const auto started = b.find("v2 SandboxStarted");
  const auto deletion = b.find("DeletionRequested");
  const auto terminated = b.find("SandboxTerminated");
  ASSERT_NE(requested, std::string::npos) << b;
  ASSERT_NE(started, std::string::npos) << b;
  ASSERT_NE(deletion, std::string::npos) << b;
  ASSERT_NE(terminated, std::string::npos) << b;
  EXPECT_LT(requested, started);
  EXPECT_LT(deletion, terminated);
  EXPECT_NE(b.find("reason=user"), std::string::npos);
  EXPECT_NE(b.find("actor=api"), std::string::npos);
  EXPECT_NE(b.find("request=req-create-1"), std::string::npos);
  EXPECT_NE(b.find("request=req-delete-1"), std::string::npos);
  EXPECT_NE(b.find("image=busybox:latest"), std::string::npos);
  EXPECT_EQ(b.find("hunter2"), std::string::npos) << b;
  EXPECT_TRUE(b.starts_with("[20")) << b;
  EXPECT_TRUE(h.runtime->queries().empty());  // events never ask the runtime

  r = h.client.get(diag(id, "events?limit=2"));
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.starts_with("(2 earlier events not shown; 4 in all)\n")) << r.body;
  EXPECT_EQ(r.body.find("SandboxRequested"), std::string::npos);
  EXPECT_NE(r.body.find("SandboxTerminated"), std::string::npos);
}

TEST(DiagnosticsEvents, UnknownSandboxIs404AndBadLimitsAre422) {
  DiagnosticsHarness h;
  auto r = h.client.get(diag(kUnknown, "events"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body_json(r)["code"], "DOCKER::SANDBOX_NOT_FOUND");
  EXPECT_EQ(h.client.get("/v1/sandboxes/not-a-uuid/diagnostics/events").status, 404);
  const std::string id = h.create();
  for (const char* q : {"limit=0", "limit=501", "limit=x"}) {
    r = h.client.get(diag(id, "events?") + q);
    EXPECT_EQ(r.status, 422) << q;
  }
}

TEST(DiagnosticsSummary, ShowsStateEndpointsRuntimeEventsAndLogs) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  std::string logs;
  for (int i = 1; i <= 9; ++i) logs += std::string("log line ") + std::to_string(i) + "\n";
  h.runtime->set(id, logs, "Container ID:   abc\nStatus:         running");
  auto r = h.client.get(diag(id, "summary?tail=3&event_limit=1"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_FALSE(r.has_header("Deprecation"));
  const std::string& b = r.body;
  const std::vector<std::string> needles = {
      std::string("SANDBOX DIAGNOSTICS SUMMARY\nSandbox ID: ") + id,
      "State:          Running",
      "Image:          busybox:latest",
      "Entrypoint:     sleep infinity",
      "Endpoints:\n  8080 -> 127.0.0.1:",
      "44772 -> 127.0.0.1:",
      "RUNTIME\n",
      "Status:         running",
      "EVENTS (last 1)",
      "(1 earlier events not shown; 2 in all)",
      "LOGS (last 3 lines)"};
  for (const std::string& needle : needles) {
    EXPECT_NE(b.find(needle), std::string::npos) << needle << "\n" << b;
  }
  EXPECT_EQ(h.runtime->queries().at(0).tail, 3);
  // The runtime's failure is shown inline; the rest of the summary still answers.
  h.runtime->fail_with(Error(ErrorCode::kUnavailable, "engine away"));
  r = h.client.get(diag(id, "summary"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("[error] engine away"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("State:          Running"), std::string::npos);
}

TEST(DiagnosticsSummary, ADeletedSandboxShowsItsHistoryAndAnUnknownOneIs404) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  ASSERT_EQ(h.client.del(std::string("/v1/sandboxes/") + id).status, 204);
  auto r = h.client.get(diag(id, "summary"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("not live"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("SandboxTerminated"), std::string::npos);
  EXPECT_TRUE(h.runtime->queries().empty());
  EXPECT_EQ(h.client.get(diag(kUnknown, "summary")).status, 404);
  EXPECT_EQ(h.client.get(diag(id, "summary?tail=0")).status, 422);
}

TEST(DiagnosticsAuth, EveryRouteNeedsTheKey) {
  DiagnosticsHarness h(1 << 20, "secret-key");
  const Headers key = {{"OPEN-SANDBOX-API-KEY", "secret-key"}};
  const std::string id = h.create({}, key);
  h.runtime->set(id, "x\n", "y");
  for (const char* route : {"logs", "inspect", "events", "summary"}) {
    const std::string path = diag(id, "") + route;
    auto r = h.client.get(path);
    EXPECT_EQ(r.status, 401) << route;
    EXPECT_EQ(body_json(r)["code"], "MISSING_API_KEY");
    EXPECT_EQ(h.client.get(path, {{"OPEN-SANDBOX-API-KEY", "wrong"}}).status, 401) << route;
    EXPECT_EQ(h.client.get(path, key).status, 200) << route;
  }
}

// Runtime calls run on the runner's threads: while both are stuck in the engine, the HTTP
// threads keep answering, and beyond the queue's bound a request is refused at once.
TEST(DiagnosticsThreads, ASlowRuntimeNeverHoldsAnHttpThread) {
  DiagnosticsHarness h;
  const std::string id = h.create();
  h.runtime->set(id, "x\n", "y");
  h.runtime->close_gate();
  std::vector<std::future<HttpResponse>> slow;
  for (int i = 0; i < 6; ++i) {  // 2 running + 4 queued (max_queued)
    slow.push_back(std::async(std::launch::async, [&h, &id] {
      HttpClient c(h.api.port());
      return c.get(diag(id, "logs"));
    }));
    if (i < 2) {
      for (int t = 0; t < 200 && h.runtime->waiting() <= i; ++t) std::this_thread::sleep_for(10ms);
    }
  }
  ASSERT_EQ(h.runtime->waiting(), 2);
  std::this_thread::sleep_for(200ms);  // the other four are queued
  HttpClient fast(h.api.port());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fast.get(std::string("/v1/sandboxes/") + id);
  EXPECT_EQ(r.status, 200);
  r = fast.get(diag(id, "events"));
  EXPECT_EQ(r.status, 200);
  r = fast.get(diag(id, "logs"));  // the queue is full
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(body_json(r)["code"], "SANDBOX::RESOURCE_EXHAUSTED");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  h.runtime->open_gate();
  for (auto& f : slow) {
    auto s = f.get();
    EXPECT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.body, "x\n");
  }
}

TEST(DiagnosticsWithoutRuntime, LogsAre503AndEventsStillWork) {
  auto o = default_harness_options();
  ApiHarness api(o);
  HttpClient c(api.port());
  auto created = c.post("/v1/sandboxes", create_body());
  const std::string id = body_json(created).value("id", "");
  auto r = c.get(diag(id, "logs"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(body_json(r)["code"], "DOCKER::SANDBOX_QUERY_FAILED");
  EXPECT_EQ(c.get(diag(id, "events")).status, 200);
  r = c.get(diag(id, "summary"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("[error] this server has no runtime diagnostics"), std::string::npos);
}

}  // namespace
}  // namespace sbx::testing
