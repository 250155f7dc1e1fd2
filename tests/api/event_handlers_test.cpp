// GET /v1/events (server-sent events of the global log) and the history endpoint
// (api/event_handlers.cpp), over real HTTP.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "events/codec.h"
#include "src/common/uuid.h"
#include "tests/api/api_fixture.h"
#include "tests/support/corrupt_store.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

ApiHarnessOptions sse_options() {
  auto o = default_harness_options();
  o.api.sse_heartbeat = 300ms;
  return o;
}

std::string create(HttpClient& c) {
  auto r = c.post("/v1/sandboxes", create_body());
  EXPECT_EQ(r.status, 202) << r.body;
  return body_json(r).value("id", "");
}

TEST(EventStream, StreamsTheWholeLogFromAPositionInOrderWithIds) {
  ApiHarness h(sse_options());
  HttpClient c(h.port());
  const std::string a = create(c);  // SandboxRequested, SandboxStarted
  const std::string b = create(c);
  ASSERT_EQ(h.store().head(), 4u);

  SseStream s(h.port(), "/v1/events?since=0");
  ASSERT_EQ(s.status(), 200) << s.head().body;
  EXPECT_EQ(s.head().header("Content-Type"), "text/event-stream");
  EXPECT_FALSE(s.head().header("X-Request-ID").empty());
  auto first = s.next(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->retry, "3000");
  std::vector<json> got;
  while (got.size() < 4) {
    auto f = s.next(5s);
    ASSERT_TRUE(f) << "stream ended early";
    if (f->data.empty()) continue;  // heartbeat
    auto j = json::parse(f->data);
    EXPECT_EQ(f->id, std::to_string(j["position"].get<int>()));
    got.push_back(j);
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i]["position"], i + 1);
  EXPECT_EQ(got[0]["type"], "SandboxRequested");
  EXPECT_EQ(got[0]["stream"], "sandbox-" + a);
  EXPECT_EQ(got[2]["stream"], "sandbox-" + b);

  // Live: a new event arrives on the open stream.
  HttpClient c2(h.port());
  ASSERT_EQ(c2.del("/v1/sandboxes/" + a).status, 204);
  std::vector<std::string> live;
  while (live.size() < 2) {
    auto f = s.next(5s);
    ASSERT_TRUE(f);
    if (!f->data.empty()) live.push_back(json::parse(f->data)["type"]);
  }
  EXPECT_EQ(live, (std::vector<std::string>{"DeletionRequested", "SandboxTerminated"}));
}

TEST(EventStream, ResumesAfterTheGivenPositionAlsoFromLastEventId) {
  ApiHarness h(sse_options());
  HttpClient c(h.port());
  create(c);
  create(c);
  {
    SseStream s(h.port(), "/v1/events?since=2");
    ASSERT_EQ(s.status(), 200);
    std::vector<std::string> ids;
    while (ids.size() < 2) {
      auto f = s.next(5s);
      ASSERT_TRUE(f);
      if (!f->id.empty()) ids.push_back(f->id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"3", "4"}));
  }
  {
    SseStream s(h.port(), "/events", {{"Last-Event-ID", "3"}});
    ASSERT_EQ(s.status(), 200);
    std::optional<SseFrame> f;
    do {
      f = s.next(5s);
      ASSERT_TRUE(f);
    } while (f->id.empty());
    EXPECT_EQ(f->id, "4");
  }
}

TEST(EventStream, WithoutAPositionOnlyNewEventsAreSentAndHeartbeatsKeepComing) {
  ApiHarness h(sse_options());
  HttpClient c(h.port());
  create(c);
  SseStream s(h.port(), "/v1/events");
  ASSERT_EQ(s.status(), 200);
  int heartbeats = 0;
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until) {
    auto f = s.next(1s);
    if (!f) break;
    EXPECT_TRUE(f->data.empty()) << "old event replayed: " << f->data;
    for (const auto& comment : f->comments) heartbeats += comment == "keep-alive";
  }
  EXPECT_GE(heartbeats, 2);
  const std::string id = create(c);
  std::optional<SseFrame> f;
  do {
    f = s.next(5s);
    ASSERT_TRUE(f);
  } while (f->data.empty());
  EXPECT_EQ(f->id, "3");
  EXPECT_EQ(json::parse(f->data)["stream"], "sandbox-" + id);
}

TEST(EventStream, StreamOutlivesThePistacheRequestTimeout) {
  // Pistache cuts a connection whose request is older than its header timeout (60 s by
  // default, here raised above max_wait) unless the stream keeps it fresh.
  auto o = sse_options();
  o.api.max_wait = 100ms;  // read timeout = max(60 s, max_wait + 30 s): not testable fast
  ApiHarness h(o);
  HttpClient c(h.port());
  SseStream s(h.port(), "/v1/events");
  ASSERT_EQ(s.status(), 200);
  ASSERT_TRUE(s.next(2s));
  create(c);
  std::optional<SseFrame> f;
  do {
    f = s.next(5s);
    ASSERT_TRUE(f);
  } while (f->data.empty());
  EXPECT_FALSE(s.ended());
}

TEST(EventStream, BadPositionIs422AndAuthApplies) {
  auto o = sse_options();
  o.api.api_key = "k";
  ApiHarness h(o);
  {
    SseStream s(h.port(), "/v1/events?since=-3", {{"OPEN-SANDBOX-API-KEY", "k"}});
    EXPECT_EQ(s.status(), 422);
    EXPECT_EQ(body_json(s.head())["code"], "SANDBOX::INVALID_PARAMETER");
  }
  {
    SseStream s(h.port(), "/v1/events?since=abc", {{"OPEN-SANDBOX-API-KEY", "k"}});
    EXPECT_EQ(s.status(), 422);
  }
  {
    SseStream s(h.port(), "/v1/events?since=0");
    EXPECT_EQ(s.status(), 401);
    EXPECT_EQ(body_json(s.head())["code"], "MISSING_API_KEY");
  }
}

TEST(EventStream, ShutdownEndsOpenStreams) {
  ApiHarness h(sse_options());
  SseStream s(h.port(), "/v1/events?since=0");
  ASSERT_EQ(s.status(), 200);
  ASSERT_TRUE(s.next(2s));
  h.server().shutdown();
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!s.ended() && std::chrono::steady_clock::now() < until) (void)s.next(500ms);
  EXPECT_TRUE(s.ended());
}

TEST(EventStream, ManySubscribersEachGetEveryEvent) {
  ApiHarness h(sse_options());
  HttpClient c(h.port());
  std::vector<std::unique_ptr<SseStream>> streams;
  for (int i = 0; i < 10; ++i) {
    streams.push_back(std::make_unique<SseStream>(h.port(), "/v1/events?since=0"));
    ASSERT_EQ(streams.back()->status(), 200);
  }
  for (int i = 0; i < 5; ++i) create(c);
  for (auto& s : streams) {
    std::vector<int> positions;
    while (positions.size() < 10) {
      auto f = s->next(5s);
      ASSERT_TRUE(f);
      if (!f->id.empty()) positions.push_back(std::stoi(f->id));
    }
    for (int i = 0; i < 10; ++i) EXPECT_EQ(positions[i], i + 1);
  }
}

TEST(EventHistory, RegistryCredentialsNeverReachTheLog) {
  ApiHarness h;
  HttpClient c(h.port());
  auto r = c.post("/v1/sandboxes",
                  create_body({{"image",
                                {{"uri", "private/img:1"},
                                 {"auth", {{"username", "u-Lm4q"}, {"password", "hunter2"}}}}}}));
  ASSERT_EQ(r.status, 202);
  const std::string id = body_json(r)["id"];
  auto hist = c.get("/v1/sandboxes/" + id + "/events");
  ASSERT_EQ(hist.status, 200);
  EXPECT_EQ(hist.body.find("hunter2"), std::string::npos);
  EXPECT_EQ(hist.body.find("u-Lm4q"), std::string::npos);
  EXPECT_NE(hist.body.find(R"("imageAuth":{"provided":true})"), std::string::npos) << hist.body;
  // Not redacted on the way out: absent from the log itself.
  auto events = h.store().read_stream(stream_of(id));
  ASSERT_TRUE(events.has_value());
  for (const auto& e : *events) {
    EXPECT_EQ(encode_event(e).find("hunter2"), std::string::npos) << e.type();
  }
  EXPECT_TRUE(std::get<SandboxRequested>(events->front().data).spec.image_auth_provided);
}

TEST(EventHistory, EnvValuesAreRedactedInHistoryAndStream) {
  ApiHarness h(sse_options());
  HttpClient c(h.port());
  auto r = c.post("/v1/sandboxes", create_body({{"env", {{"DB_PASSWORD", "pw-in-env-0815"}}}}));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = body_json(r)["id"];
  auto hist = c.get("/v1/sandboxes/" + id + "/events");
  ASSERT_EQ(hist.status, 200);
  EXPECT_EQ(hist.body.find("pw-in-env-0815"), std::string::npos) << hist.body;
  EXPECT_NE(hist.body.find(R"("DB_PASSWORD":"***")"), std::string::npos) << hist.body;

  SseStream s(h.port(), "/v1/events?since=0");
  ASSERT_EQ(s.status(), 200);
  std::string requested;
  while (requested.empty()) {
    auto f = s.next(5s);
    ASSERT_TRUE(f) << "stream ended early";
    if (f->data.find("SandboxRequested") != std::string::npos) requested = f->data;
  }
  EXPECT_EQ(requested.find("pw-in-env-0815"), std::string::npos) << requested;
  EXPECT_NE(requested.find(R"("DB_PASSWORD":"***")"), std::string::npos) << requested;
  // The log keeps the value: the provisioner passes it to the container.
  auto events = h.store().read_stream(stream_of(id));
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(std::get<SandboxRequested>(events->front().data).spec.env.at("DB_PASSWORD"),
            "pw-in-env-0815");
}

// Issue 10 item 8: an event that does not decode used to stall every subscriber behind
// it (the read failed, was logged and retried forever). It is now left out of the stream.
TEST(EventStream, SkipsAnEventThatDoesNotDecodeAndKeepsStreaming) {
  ApiHarness h(sse_options());
  {
    HttpClient c(h.port());
    create(c);  // 1, 2
    create(c);  // 3, 4
    create(c);  // 5, 6
    ASSERT_EQ(h.store().head(), 6u);
  }
  h.stop();
  corrupt_event(h.dir(), 3);
  h.start();

  SseStream s(h.port(), "/v1/events?since=0");
  ASSERT_EQ(s.status(), 200) << s.head().body;
  std::vector<std::string> ids;
  auto collect_until = [&](std::size_t n) {  // heartbeats keep next() busy: bound it
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (ids.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto f = s.next(5s);
      if (!f) return;
      if (!f->data.empty()) ids.push_back(f->id);
    }
  };
  collect_until(5);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "4", "5", "6"}));
  HttpClient c(h.port());
  create(c);  // 7, 8: live events still arrive
  collect_until(7);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "4", "5", "6", "7", "8"}));
  EXPECT_EQ(h.store().corrupt_events_found(), 1u);
}

}  // namespace
}  // namespace sbx::testing
