// The compact pod view from literal pod JSON, as the API server sends it.
#include "src/runtime/kubernetes/pod_state.h"

#include <gtest/gtest.h>

namespace sbx::testing {
namespace {

constexpr const char* kRunningReady = R"({
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {"name": "sandbox-abc", "namespace": "ns", "uid": "u-1",
    "resourceVersion": "1234", "creationTimestamp": "2026-12-05T01:00:00Z",
    "labels": {"sandboxd.io/id": "abc", "sandboxd.io/instance": "node-a", "app": "x"}},
  "spec": {"containers": [{"name": "sandbox", "image": "busybox"}]},
  "status": {"phase": "Running", "podIP": "10.1.2.3", "startTime": "2026-12-05T01:00:01Z",
    "conditions": [
      {"type": "PodScheduled", "status": "True"},
      {"type": "Ready", "status": "True"}],
    "containerStatuses": [{"name": "sandbox", "ready": true,
      "state": {"running": {"startedAt": "2026-12-05T01:00:02Z"}}}]}
})";

TEST(PodState, RunningReadyPodKeepsIdentityLabelsAndIp) {
  auto p = parse_pod(kRunningReady);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->name, "sandbox-abc");
  EXPECT_EQ(p->uid, "u-1");
  EXPECT_EQ(p->resource_version, "1234");
  EXPECT_EQ(p->sandbox_id, "abc");
  EXPECT_EQ(p->instance_id, "node-a");
  EXPECT_EQ(p->phase, "Running");
  EXPECT_TRUE(p->ready);
  EXPECT_EQ(p->pod_ip, "10.1.2.3");
  EXPECT_FALSE(p->deleting);
  ASSERT_TRUE(p->created_at);
  EXPECT_EQ(*p->created_at, *parse_rfc3339("2026-12-05T01:00:00Z"));
  ASSERT_TRUE(p->started_at);
  EXPECT_EQ(*p->started_at - *p->created_at, kMicrosPerSecond);
  EXPECT_FALSE(p->exit_code);
  EXPECT_TRUE(p->reason.empty());
}

TEST(PodState, ImagePullBackOffIsTheReason) {
  auto p = parse_pod(R"({"metadata": {"name": "p", "resourceVersion": "5"},
    "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [{"name": "sandbox",
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope\""}}}]}})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->phase, "Pending");
  EXPECT_FALSE(p->ready);
  EXPECT_EQ(p->reason, "ImagePullBackOff");
  EXPECT_EQ(p->message, "Back-off pulling image \"nope\"");
  EXPECT_TRUE(p->sandbox_id.empty());
}

TEST(PodState, OomKilledMainContainerGivesExitCodeAndFlag) {
  // The main container is "sandbox" even when it is not the first.
  auto p = parse_pod(R"({"metadata": {"name": "p"},
    "status": {"phase": "Failed", "containerStatuses": [
      {"name": "egress", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
      {"name": "sandbox", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
         "finishedAt": "2026-12-05T02:00:00.5Z"}}}]}})");
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(p->exit_code);
  EXPECT_EQ(*p->exit_code, 137);
  EXPECT_TRUE(p->oom_killed);
  EXPECT_EQ(p->reason, "OOMKilled");
  ASSERT_TRUE(p->finished_at);
  EXPECT_EQ(*p->finished_at % kMicrosPerSecond, 500'000);
}

TEST(PodState, FirstContainerIsMainWithoutOneNamedSandbox) {
  auto p = parse_pod(R"({"metadata": {"name": "p"},
    "status": {"phase": "Succeeded", "containerStatuses": [
      {"name": "main", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}},
      {"name": "side", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->exit_code);
  EXPECT_EQ(*p->exit_code, 3);
  EXPECT_EQ(p->reason, "Error");
  EXPECT_FALSE(p->oom_killed);
}

TEST(PodState, EvictionReasonWinsOverTheContainer) {
  auto p = parse_pod(R"({"metadata": {"name": "p", "deletionTimestamp": "2026-12-05T03:00:00Z"},
    "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory.",
      "containerStatuses": [{"name": "sandbox", "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->reason, "Evicted");
  EXPECT_EQ(p->message, "The node was low on resource: memory.");
  EXPECT_TRUE(p->deleting);
}

TEST(PodState, UnschedulableComesFromPodScheduled) {
  auto p = parse_pod(R"({"metadata": {"name": "p"},
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
      "reason": "Unschedulable", "message": "0/3 nodes are available"}]}})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->reason, "Unschedulable");
  EXPECT_EQ(p->message, "0/3 nodes are available");
}

TEST(PodState, CrashLoopRemembersAnEarlierOom) {
  auto p = parse_pod(R"({"metadata": {"name": "p"},
    "status": {"phase": "Running", "containerStatuses": [{"name": "sandbox",
      "state": {"waiting": {"reason": "CrashLoopBackOff"}},
      "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->reason, "CrashLoopBackOff");
  EXPECT_TRUE(p->oom_killed);
  EXPECT_FALSE(p->exit_code);  // the container is not terminated now
}

TEST(PodState, NotAPodIsInvalidArgument) {
  EXPECT_EQ(parse_pod("{").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_pod("[]").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_pod(R"({"metadata": {}})").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_pod(R"({"metadata": {"name": 5}})").error().code, ErrorCode::kInvalidArgument);
}

TEST(PodList, PageCarriesItemsVersionAndContinue) {
  auto page = parse_pod_list(R"({"kind": "PodList", "metadata": {"resourceVersion": "99", "continue": "tok"},
    "items": [{"metadata": {"name": "a", "resourceVersion": "7"}},
              {"metadata": {"name": "b", "resourceVersion": "8"}, "status": {"phase": "Running"}}]})");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->resource_version, "99");
  EXPECT_EQ(page->continue_token, "tok");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[1].name, "b");
  EXPECT_EQ(page->items[1].phase, "Running");

  auto empty = parse_pod_list(R"({"metadata": {"resourceVersion": "100"}, "items": null})");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->items.empty());
  EXPECT_FALSE(parse_pod_list(R"({"items": 3})"));
}

TEST(PodWatchEvent, AddedBookmarkAndGoneError) {
  auto added = parse_pod_watch_event(
      R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})");
  ASSERT_TRUE(added);
  EXPECT_EQ(added->type, "ADDED");
  EXPECT_EQ(added->pod.name, "a");
  EXPECT_EQ(added->pod.resource_version, "11");

  auto bookmark = parse_pod_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"12"}}})");
  ASSERT_TRUE(bookmark) << bookmark.error().message;
  EXPECT_EQ(bookmark->pod.resource_version, "12");

  auto gone = parse_pod_watch_event(
      R"j({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 5 (20)","reason":"Expired","code":410}})j");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_message, "too old resource version: 5 (20)");

  EXPECT_FALSE(parse_pod_watch_event(R"({"object":{}})"));
  EXPECT_FALSE(parse_pod_watch_event("not json"));
}

}  // namespace
}  // namespace sbx::testing
