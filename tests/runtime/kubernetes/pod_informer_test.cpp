// PodInformer against a real kube-apiserver (run with --watch-cache=false
// --etcd-compaction-interval=5s, as scripts/kube-env.sh starts it): paged list, watch,
// re-watch after a normal end, relist after a real 410 — nothing missed, nothing twice.
#include "src/runtime/kubernetes/pod_informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tests/runtime/kubernetes/kube_test_util.h"

namespace sbx::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Every handler call, in order; waits for conditions on them.
class Recorder {
 public:
  struct Call {
    PodEventType type;
    PodState now;
    bool had_before;
  };

  PodInformer::Handler handler() {
    return [this](PodEventType t, const PodState& now, const PodState* before) {
      std::unique_lock lock(mu_);
      calls_.push_back({t, now, before != nullptr});
      cv_.notify_all();
      if (block_on_ == now.name && t == PodEventType::kAdded) {
        blocked_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !block_on_.has_value(); });
      }
    };
  }

  template <typename Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(calls_); });
  }

  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

  // The handler blocks on the ADDED of `name` until release().
  void block_on(std::string name) {
    std::lock_guard lock(mu_);
    block_on_ = std::move(name);
  }
  bool wait_blocked(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return blocked_; });
  }
  void release() {
    std::lock_guard lock(mu_);
    block_on_.reset();
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
  std::optional<std::string> block_on_;
  bool blocked_ = false;
};

bool has(const std::vector<Recorder::Call>& calls, PodEventType t, const std::string& name) {
  for (const auto& c : calls) {
    if (c.type == t && c.now.name == name) return true;
  }
  return false;
}

// Each (pod, resourceVersion) is delivered at most once: no duplicates.
void expect_no_duplicates(const std::vector<Recorder::Call>& calls) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : calls) {
    if (c.type == PodEventType::kDeleted) continue;
    EXPECT_TRUE(seen.insert({c.now.name, c.now.resource_version}).second)
        << "duplicate " << to_string(c.type) << " " << c.now.name << " rv "
        << c.now.resource_version;
  }
}

// The cache equals what a fresh LIST says (names and resourceVersions).
void expect_cache_matches_list(KubeClient& client, const TestNamespace& ns, PodInformer& inf) {
  auto list = client.get_json(ns.pods() + "?labelSelector=sandboxd.io%2Fid");
  ASSERT_TRUE(list) << list.error().message;
  std::map<std::string, std::string> want;
  for (const auto& item : (*list)["items"]) {
    want[item["metadata"]["name"]] = item["metadata"]["resourceVersion"];
  }
  std::map<std::string, std::string> have;
  for (const auto& p : inf.snapshot()) have[p.name] = p.resource_version;
  EXPECT_EQ(have, want);
}

TEST(PodInformerApiServer, ListsInPagesThenFollowsTheWatch) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("p" + std::to_string(i),
                                                           "sb" + std::to_string(i))));
  }
  // A pod without the label is not the informer's business.
  json unlabelled = sandbox_pod("other", "x");
  unlabelled["metadata"].erase("labels");
  ASSERT_TRUE(client->create_json(ns.pods(), unlabelled));

  Recorder rec;
  PodInformer inf(*client, {.namespace_ = ns.name(), .page_size = 10}, rec.handler());
  EXPECT_FALSE(inf.synced());
  inf.start();
  ASSERT_TRUE(inf.wait_synced(10s));
  EXPECT_TRUE(inf.healthy());
  EXPECT_EQ(inf.snapshot().size(), 30u);
  EXPECT_EQ(rec.count(), 30u);
  EXPECT_GE(inf.stats().last_list_pages, 3u) << "30 pods, 10 a page";
  EXPECT_FALSE(inf.get("other"));
  auto by_label = inf.find_by_sandbox("sb7");
  ASSERT_TRUE(by_label);
  EXPECT_EQ(by_label->name, "p7");

  // The kubelet's part: p3 Running, with an IP, Ready.
  ASSERT_TRUE(client->merge_patch(ns.pod("p3") + "/status", running_status("10.9.8.7")));
  ASSERT_TRUE(rec.wait([](const auto& c) { return has(c, PodEventType::kModified, "p3"); }));
  auto p3 = inf.find_by_sandbox("sb3");
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->phase, "Running");
  EXPECT_TRUE(p3->ready);
  EXPECT_EQ(p3->pod_ip, "10.9.8.7");
  for (const auto& c : rec.calls()) {
    if (c.type == PodEventType::kModified) {
      EXPECT_TRUE(c.had_before);
    }
  }

  ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("late", "sb-late")));
  ASSERT_TRUE(client->delete_object(ns.pod("p5"), 0));
  ASSERT_TRUE(rec.wait([](const auto& c) {
    return has(c, PodEventType::kAdded, "late") && has(c, PodEventType::kDeleted, "p5");
  }));
  EXPECT_FALSE(inf.get("p5"));
  EXPECT_FALSE(inf.find_by_sandbox("sb5"));
  auto stats = inf.stats();
  EXPECT_EQ(stats.lists, 1u);
  EXPECT_EQ(stats.relists, 0u);
  EXPECT_EQ(stats.objects, 30u);
  expect_no_duplicates(rec.calls());
  expect_cache_matches_list(*client, ns, inf);
  inf.stop();
  inf.stop();  // idempotent
}

TEST(PodInformerApiServer, WatchesThatEndAreResumedWithoutMissingOrRepeating) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  Recorder rec;
  PodInformer inf(*client, {.namespace_ = ns.name(), .watch_timeout = 1s}, rec.handler());
  inf.start();
  ASSERT_TRUE(inf.wait_synced(10s));
  // Changes spread over several 1 s watches.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("p" + std::to_string(i), "s")));
    if (i > 0) {
      ASSERT_TRUE(client->merge_patch(ns.pod("p" + std::to_string(i - 1)),
                                      {{"metadata", {{"labels", {{"step", std::to_string(i)}}}}}}));
    }
    std::this_thread::sleep_for(400ms);
  }
  ASSERT_TRUE(client->delete_object(ns.pod("p0"), 0));
  ASSERT_TRUE(rec.wait([](const auto& c) { return has(c, PodEventType::kDeleted, "p0"); }));
  std::this_thread::sleep_for(1500ms);  // one more watch round: nothing new may come
  auto calls = rec.calls();
  std::string seen;
  std::size_t marked_deleting = 0;  // the API server's MODIFIED with deletionTimestamp
  for (const auto& c : calls) {
    if (c.type == PodEventType::kModified && c.now.deleting) ++marked_deleting;
    seen += std::string(to_string(c.type)) + " " + c.now.name + " " + c.now.resource_version +
            (c.now.deleting ? " deleting" : "") + "\n";
  }
  EXPECT_LE(marked_deleting, 1u) << seen;
  EXPECT_EQ(calls.size() - marked_deleting, 8u /*added*/ + 7u /*modified*/ + 1u /*deleted*/)
      << seen;
  EXPECT_EQ(calls.back().type, PodEventType::kDeleted) << seen;
  expect_no_duplicates(calls);
  expect_cache_matches_list(*client, ns, inf);
  auto stats = inf.stats();
  EXPECT_GE(stats.watch_restarts, 2u);
  EXPECT_EQ(stats.relists, 0u);
}

TEST(PodInformerApiServer, AGoneWatchRelistsAndEmitsOnlyTheDifferences) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  for (const char* n : {"keep", "change", "drop"}) {
    ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod(n, n)));
  }
  Recorder rec;
  PodInformer inf(*client, {.namespace_ = ns.name(), .watch_timeout = 1s}, rec.handler());
  inf.start();
  ASSERT_TRUE(inf.wait_synced(10s));
  ASSERT_EQ(rec.count(), 3u);

  // Hold the informer's thread inside the handler: its 1 s watch ends on the server, and
  // what happens next is only in etcd — then compacted away.
  rec.block_on("trigger");
  ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("trigger", "trigger")));
  ASSERT_TRUE(rec.wait_blocked(10s));
  std::this_thread::sleep_for(2s);  // past the watch's timeoutSeconds
  ASSERT_TRUE(client->merge_patch(ns.pod("change"), {{"metadata", {{"labels", {{"v", "2"}}}}}}));
  ASSERT_TRUE(client->delete_object(ns.pod("drop"), 0));
  ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("new", "new")));
  // Churn elsewhere moves the revision on; compaction (every 5 s, to the revision of the
  // previous round) then drops the informer's resourceVersion.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(client->create_json("/api/v1/namespaces/" + ns.name() + "/configmaps",
                                    {{"metadata", {{"name", "c" + std::to_string(i)}}}}));
    std::this_thread::sleep_for(1s);
  }
  const std::size_t before_release = rec.count();
  ASSERT_EQ(before_release, 4u);  // 3 listed + trigger
  rec.release();

  ASSERT_TRUE(rec.wait([](const auto& c) {
    return has(c, PodEventType::kDeleted, "drop") && has(c, PodEventType::kAdded, "new") &&
           has(c, PodEventType::kModified, "change");
  }, 20s));
  std::this_thread::sleep_for(1500ms);
  auto calls = rec.calls();
  ASSERT_EQ(calls.size(), before_release + 3) << "only the three differences";
  expect_no_duplicates(calls);
  expect_cache_matches_list(*client, ns, inf);
  auto stats = inf.stats();
  EXPECT_GE(stats.gone, 1u) << "the watch from the old resourceVersion was not answered 410";
  EXPECT_GE(stats.relists, 1u);
  EXPECT_TRUE(inf.healthy());
}

TEST(PodInformerApiServer, AnUnreachableServerIsUnhealthyAndNeverSynced) {
  KubeClientOptions o;
  o.credentials.server = "https://127.0.0.1:1";
  o.connect_timeout = 300ms;
  auto client = KubeClient::create(o);
  ASSERT_TRUE(client);
  PodInformer inf(**client,
                  {.namespace_ = "x", .relist_backoff_initial = 50ms, .relist_backoff_max = 100ms},
                  nullptr);
  inf.start();
  EXPECT_FALSE(inf.wait_synced(1s));
  EXPECT_FALSE(inf.healthy());
  const auto start = std::chrono::steady_clock::now();
  inf.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace sbx::testing
