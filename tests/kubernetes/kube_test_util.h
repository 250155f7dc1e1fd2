// Test support for everything that needs a real kube-apiserver (scripts/kube-env.sh start
// DIR exports SANDBOXD_TEST_KUBECONFIG; scripts/run-tests.sh starts one for `make test`).
// Without it the tests skip with a loud message, and fail under CI=true.
//
// The environment, the skip/fail rule and random names come from
// tests/runtime/kubernetes/kube_test_util.h (the client layer's own tests).
//
//   KubeCluster   a test-side client (the same KubeClient sandboxd uses) bound to a namespace
//                 of the test's own, created at start and deleted at the end.
//   playing the kubelet: there is no scheduler or kubelet, so pods stay Pending until the
//                 test patches their status (mark_ready / mark_ended / mark_waiting).
//   Kubelet       a thread that plays the kubelet for every labelled pod: marks it Running
//                 and Ready with a fresh IP (127.0.0.N when `loopback_ips`, so that a test
//                 server bound there answers for the "pod"), optionally after a delay.
//   Controllers   a thread that plays the OpenSandbox and agent-sandbox controllers: for each
//                 BatchSandbox / agents.x-k8s.io Sandbox without a pod, it creates the pod
//                 from the template, owned by the workload.
//   PoolController a thread that plays the OpenSandbox pool controller: keeps the pods of each
//                 Pool CR, allocates them to BatchSandboxes with spec.poolRef.
//
// Header-only (the test CMake function compiles only `*_test.cpp` files). Every wait is
// bounded. Thread-safe where it says so (KubeClient is).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/time.h"
#include "tests/kubernetes/pod_status.h"
#include "tests/runtime/kubernetes/kube_test_util.h"
#include "src/runtime/kubernetes/kube_client.h"
#include "src/runtime/kubernetes/kube_credentials.h"

namespace sbx::testing {

// Declares std::string `var` = the kubeconfig path of the test API server, or skips
// (fails under CI=true); see tests/runtime/kubernetes/kube_test_util.h.
#define SBX_REQUIRE_KUBECONFIG(var)                               \
  std::string var;                                                \
  do {                                                            \
    if (::sbx::testing::test_kubeconfig().empty()) {              \
      if (::sbx::testing::running_in_ci()) {                      \
        GTEST_FAIL() << ::sbx::testing::missing_kube_message();   \
      } else {                                                    \
        GTEST_SKIP() << ::sbx::testing::missing_kube_message();   \
      }                                                           \
    }                                                             \
    var = ::sbx::testing::test_kubeconfig();                      \
  } while (false)

class KubeCluster {
 public:
  // A client for `kubeconfig` and a fresh namespace "<prefix>-<random>". nullptr (with a
  // test failure) when either fails.
  static std::unique_ptr<KubeCluster> create(const std::string& kubeconfig,
                                             const std::string& prefix) {
    auto credentials = load_kubeconfig(kubeconfig);
    EXPECT_TRUE(credentials) << credentials.error().message;
    if (!credentials) return nullptr;
    KubeClientOptions o;
    o.credentials = *credentials;
    o.qps = 1000;
    o.burst = 1000;
    auto client = KubeClient::create(o);
    EXPECT_TRUE(client) << client.error().message;
    if (!client) return nullptr;
    auto c = std::unique_ptr<KubeCluster>(new KubeCluster);
    c->kubeconfig_ = kubeconfig;
    c->client_ = std::move(*client);
    c->ns_ = prefix + "-" + random_suffix();
    auto r = c->call("POST", "/api/v1/namespaces",
                     nlohmann::json{{"apiVersion", "v1"},
                                    {"kind", "Namespace"},
                                    {"metadata", {{"name", c->ns_}}}});
    EXPECT_TRUE(r) << "creating namespace " << c->ns_;
    if (!r) return nullptr;
    return c;
  }

  ~KubeCluster() {
    // Pods without a node are deleted at once; the namespace itself stays Terminating in a
    // cluster without the namespace controller, which is harmless.
    (void)call("DELETE", path("pods"), nlohmann::json{{"gracePeriodSeconds", 0}});
    (void)call("DELETE", "/api/v1/namespaces/" + ns_, nlohmann::json::object());
  }

  KubeClient& client() { return *client_; }
  const std::string& ns() const { return ns_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  std::string path(const std::string& plural, const std::string& name = "") const {
    std::string p = "/api/v1/namespaces/" + ns_ + "/" + plural;
    return name.empty() ? p : p + "/" + name;
  }

  // One API call; the parsed body of a 2xx answer, else nullopt (and the status in
  // last_status()). Thread-safe.
  std::optional<nlohmann::json> call(const std::string& method, const std::string& target,
                                     const nlohmann::json& body = nullptr,
                                     const std::string& content_type = "application/json") {
    auto r = client_->request(method, target, body.is_null() ? std::string() : body.dump(),
                              content_type);
    if (!r) {
      last_status_ = 0;
      return std::nullopt;
    }
    last_status_ = r->status;
    if (r->status / 100 != 2) return std::nullopt;
    auto parsed = nlohmann::json::parse(r->body, nullptr, false);
    if (parsed.is_discarded()) return nlohmann::json::object();
    return parsed;
  }
  int last_status() const { return last_status_; }

  std::vector<nlohmann::json> pods(const std::string& selector = "sandboxd.io/id") {
    std::vector<nlohmann::json> out;
    auto list = call("GET", path("pods") + "?labelSelector=" + selector);
    if (!list) return out;
    for (auto& item : (*list)["items"]) out.push_back(item);
    return out;
  }
  std::optional<nlohmann::json> pod_of(const std::string& sandbox_id) {
    auto found = pods("sandboxd.io/id%3D" + sandbox_id);
    if (found.empty()) return std::nullopt;
    return found.front();
  }
  // Waits (bounded) for the pod of a sandbox to exist.
  std::optional<nlohmann::json> wait_pod_of(const std::string& sandbox_id,
                                            std::chrono::milliseconds timeout =
                                                std::chrono::milliseconds(15'000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto p = pod_of(sandbox_id)) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  // The kubelet's part: the pod runs on a node-less "node", is Ready and has `ip`.
  bool mark_ready(const std::string& pod, const std::string& ip) {
    return call("PATCH", path("pods", pod) + "/status", pod_status_ready(ip),
                "application/merge-patch+json")
        .has_value();
  }
  // The main container ended with `exit_code` (phase Succeeded for 0, else Failed).
  bool mark_ended(const std::string& pod, int exit_code, const std::string& reason = "",
                  const std::string& pod_reason = "") {
    return call("PATCH", path("pods", pod) + "/status",
                pod_status_ended(exit_code, reason, pod_reason), "application/merge-patch+json")
        .has_value();
  }
  // The main container cannot start yet: waiting with `reason` (ErrImagePull, ...).
  bool mark_waiting(const std::string& pod, const std::string& reason,
                    const std::string& message) {
    return call("PATCH", path("pods", pod) + "/status", pod_status_waiting(reason, message),
                "application/merge-patch+json")
        .has_value();
  }

 private:
  KubeCluster() = default;
  std::string kubeconfig_;
  std::unique_ptr<KubeClient> client_;
  std::string ns_;
  std::atomic<int> last_status_{0};
};

// Plays the kubelet for every labelled pod of the cluster's namespace (polling, bounded
// by stop()): a Pending pod without a status is marked Running + Ready with a fresh IP after
// `delay`. `on_ready(pod name, sandbox id, ip)` runs before the status is patched (a test
// binds a server to the IP there). Pods the test marks otherwise are left alone.
class Kubelet {
 public:
  struct Options {
    std::chrono::milliseconds delay{0};
    bool loopback_ips = false;  // 127.0.0.N instead of 10.244.N.M
    std::function<void(const std::string& pod, const std::string& sandbox_id,
                       const std::string& ip)>
        on_ready;
    std::set<std::string> hold;  // sandbox ids whose pods must stay Pending
    // The label selectors of the pods it plays the kubelet for (each listed in turn). Add
    // PoolController::kPoolNameLabel for the pods of a simulated pool controller.
    std::vector<std::string> selectors = {"sandboxd.io/id"};
  };
  Kubelet(KubeCluster& cluster, Options options) : cluster_(cluster), options_(std::move(options)) {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  }
  ~Kubelet() { stop(); }
  void stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  void hold(const std::string& sandbox_id) {
    std::lock_guard lock(mu_);
    options_.hold.insert(sandbox_id);
  }
  int marked() const { return marked_.load(); }
  // The IP given to a sandbox's pod ("" = not yet).
  std::string ip_of(const std::string& sandbox_id) const {
    std::lock_guard lock(mu_);
    auto it = ips_.find(sandbox_id);
    return it == ips_.end() ? std::string() : it->second;
  }
  // The IP given to pod `name` ("" = not yet).
  std::string ip_of_pod(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = pod_ips_.find(name);
    return it == pod_ips_.end() ? std::string() : it->second;
  }

 private:
  void run(std::stop_token stop) {
    std::map<std::string, std::chrono::steady_clock::time_point> first_seen;
    while (!stop.stop_requested()) {
      std::vector<nlohmann::json> pods;
      for (const auto& selector : options_.selectors) {
        for (auto& pod : cluster_.pods(selector)) pods.push_back(std::move(pod));
      }
      for (const auto& pod : pods) {
        const std::string name = pod["metadata"]["name"];
        const std::string id = pod["metadata"]["labels"].value("sandboxd.io/id", "");
        if (pod["metadata"].contains("deletionTimestamp")) continue;
        if (pod.contains("status") && pod["status"].value("phase", "Pending") != "Pending") continue;
        if (pod.contains("status") && pod["status"].contains("containerStatuses")) continue;
        {
          std::lock_guard lock(mu_);
          if (options_.hold.contains(id) || done_.contains(name)) continue;
        }
        auto [it, fresh] = first_seen.emplace(name, std::chrono::steady_clock::now());
        if (std::chrono::steady_clock::now() - it->second < options_.delay) continue;
        const std::string ip = next_ip();
        if (options_.on_ready) options_.on_ready(name, id, ip);
        if (cluster_.mark_ready(name, ip)) {
          std::lock_guard lock(mu_);
          done_.insert(name);
          if (!id.empty()) ips_[id] = ip;
          pod_ips_[name] = ip;
          ++marked_;
        }
      }
      for (int i = 0; i < 5 && !stop.stop_requested(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  std::string next_ip() {
    const int n = ++ip_counter_;
    if (options_.loopback_ips) return "127.0.0." + std::to_string(1 + n % 250);
    return "10.244." + std::to_string(n / 250) + "." + std::to_string(1 + n % 250);
  }

  KubeCluster& cluster_;
  Options options_;
  mutable std::mutex mu_;
  std::set<std::string> done_;
  std::map<std::string, std::string> ips_;
  std::map<std::string, std::string> pod_ips_;
  std::atomic<int> marked_{0};
  std::atomic<int> ip_counter_{0};
  std::jthread thread_;
};

// Plays the controllers of the BatchSandbox (sandbox.opensandbox.io) and agent-sandbox
// (agents.x-k8s.io) resources: for each workload without a pod, creates the pod from its
// template (labels included: that is how sandboxd finds it), owned by the workload.
class Controllers {
 public:
  explicit Controllers(KubeCluster& cluster) : cluster_(cluster) {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  }
  ~Controllers() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Kind {
    std::string api_version, plural, kind;
    bool batch;
  };
  void run(std::stop_token stop) {
    const Kind kinds[] = {
        {"sandbox.opensandbox.io/v1alpha1", "batchsandboxes", "BatchSandbox", true},
        {"agents.x-k8s.io/v1alpha1", "sandboxes", "Sandbox", false}};
    while (!stop.stop_requested()) {
      for (const Kind& k : kinds) {
        auto list = cluster_.call("GET", "/apis/" + k.api_version + "/namespaces/" +
                                             cluster_.ns() + "/" + k.plural);
        if (!list) continue;
        for (const auto& w : (*list)["items"]) {
          if (w["metadata"].contains("deletionTimestamp")) continue;
          // A BatchSandbox with a poolRef takes a pool's pod (PoolController), it has no template.
          if (k.batch && w["spec"].contains("poolRef")) continue;
          const std::string name = w["metadata"]["name"];
          const std::string pod_name = k.batch ? name + "-0" : name;
          if (made_.contains(pod_name)) continue;
          const auto& tmpl = k.batch ? w["spec"]["template"] : w["spec"]["podTemplate"];
          nlohmann::json pod = {{"apiVersion", "v1"},
                                {"kind", "Pod"},
                                {"metadata",
                                 {{"name", pod_name},
                                  {"namespace", cluster_.ns()},
                                  {"labels", tmpl["metadata"].value("labels", nlohmann::json::object())},
                                  {"ownerReferences",
                                   nlohmann::json::array({{{"apiVersion", k.api_version},
                                                           {"kind", k.kind},
                                                           {"name", name},
                                                           {"uid", w["metadata"]["uid"]},
                                                           {"controller", true}}})}}},
                                {"spec", tmpl["spec"]}};
          if (cluster_.call("POST", cluster_.path("pods"), pod) ||
              cluster_.last_status() == 409) {
            made_.insert(pod_name);
          }
        }
      }
      for (int i = 0; i < 5 && !stop.stop_requested(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  KubeCluster& cluster_;
  std::set<std::string> made_;
  std::jthread thread_;
};

// Plays the OpenSandbox pool controller (sandbox.opensandbox.io Pool + BatchSandbox with
// spec.poolRef) in the cluster's namespace, polling (bounded by the destructor):
//   pools      for every Pool not being deleted: pods "<pool>-<n>" made from spec.template
//              (its labels plus kPoolNameLabel = the pool, owned by the Pool) so that the free
//              pods (not allocated, not being deleted) are refilled up to bufferMax when they
//              fall below bufferMin, total >= poolMin and total <= poolMax; then its status
//              {total, allocated, available, revision = metadata.generation as a string}.
//   allocation every BatchSandbox with a poolRef and no allocation gets a free *Ready* pod of
//              that pool: metadata finalizer kPoolAllocationFinalizer, annotations alloc-status
//              {"poolRef", "pods": [name]} and endpoints [podIP]; then status {replicas 1,
//              allocated 1, ready 1}. With no free Ready pod: status.conditions
//              [PoolAllocationPending True]. A pod once allocated is never allocated again (also
//              after its BatchSandbox went away).
//   deletion   a BatchSandbox being deleted loses the finalizer (its pod is not reused).
// Pods of the namespace that are not the pool's are left alone. Counters for assertions.
class PoolController {
 public:
  static constexpr const char* kPoolNameLabel = "sandbox.opensandbox.io/pool-name";
  static constexpr const char* kFinalizer = "pool.sandbox.opensandbox.io/pool-allocation";
  static constexpr const char* kAllocStatus = "sandbox.opensandbox.io/alloc-status";
  static constexpr const char* kEndpoints = "sandbox.opensandbox.io/endpoints";

  explicit PoolController(KubeCluster& cluster) : cluster_(cluster) {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  }
  ~PoolController() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  int pods_made() const { return made_.load(); }
  int allocations() const { return allocations_.load(); }
  int pending_marked() const { return pending_marked_.load(); }
  // The pod allocated to BatchSandbox `name` ("" = none yet).
  std::string allocated_to(const std::string& batchsandbox) const {
    std::lock_guard lock(mu_);
    auto it = allocation_of_.find(batchsandbox);
    return it == allocation_of_.end() ? std::string() : it->second;
  }

 private:
  std::string api(const std::string& plural, const std::string& name = "") const {
    std::string p = "/apis/sandbox.opensandbox.io/v1alpha1/namespaces/" + cluster_.ns() + "/" +
                    plural;
    return name.empty() ? p : p + "/" + name;
  }
  static bool pod_ready(const nlohmann::json& pod) {
    if (!pod.contains("status") || pod["status"].value("phase", "") != "Running") return false;
    for (const auto& c : pod["status"].value("conditions", nlohmann::json::array())) {
      if (c.value("type", "") == "Ready" && c.value("status", "") == "True") return true;
    }
    return false;
  }

  void run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      reconcile_pools();
      reconcile_batchsandboxes();
      for (int i = 0; i < 3 && !stop.stop_requested(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  void reconcile_pools() {
    auto pools = cluster_.call("GET", api("pools"));
    if (!pools) return;
    for (const auto& pool : (*pools)["items"]) {
      if (pool["metadata"].contains("deletionTimestamp")) continue;
      const std::string name = pool["metadata"]["name"];
      const auto& cap = pool["spec"]["capacitySpec"];
      const int buffer_min = cap.value("bufferMin", 0), buffer_max = cap.value("bufferMax", 0);
      const int pool_min = cap.value("poolMin", 0), pool_max = cap.value("poolMax", 0);
      int total = 0, allocated = 0, available = 0;
      for (const auto& pod : cluster_.pods(std::string(kPoolNameLabel) + "%3D" + name)) {
        if (pod["metadata"].contains("deletionTimestamp")) continue;
        if (!owned_by(pod, pool["metadata"]["uid"])) continue;  // an earlier pool's
        ++total;
        std::lock_guard lock(mu_);
        if (given_.contains(pod["metadata"]["name"].get<std::string>())) {
          ++allocated;
        } else {
          ++available;
        }
      }
      int want = 0;
      if (available < buffer_min) want = buffer_max - available;
      want = std::max(want, pool_min - total);
      want = std::min(want, pool_max - total);
      for (int i = 0; i < want; ++i) {
        if (make_pod(pool)) {
          ++total;
          ++available;
        }
      }
      nlohmann::json status = {
          {"status",
           {{"total", total},
            {"allocated", allocated},
            {"available", available},
            {"revision", std::to_string(pool["metadata"].value("generation", 0))}}}};
      (void)cluster_.call("PATCH", api("pools", name) + "/status", status,
                          "application/merge-patch+json");
    }
  }

  static bool owned_by(const nlohmann::json& pod, const nlohmann::json& uid) {
    for (const auto& ref : pod["metadata"].value("ownerReferences", nlohmann::json::array())) {
      if (ref.value("kind", "") == "Pool" && ref.contains("uid") && ref["uid"] == uid) {
        return true;
      }
    }
    return false;
  }

  bool make_pod(const nlohmann::json& pool) {
    const std::string name = pool["metadata"]["name"];
    const auto& tmpl = pool["spec"]["template"];
    nlohmann::json labels = tmpl.contains("metadata")
                                ? tmpl["metadata"].value("labels", nlohmann::json::object())
                                : nlohmann::json::object();
    labels[kPoolNameLabel] = name;
    for (int attempt = 0; attempt < 20; ++attempt) {
      const std::string pod_name = name + "-" + std::to_string(++counter_);
      nlohmann::json pod = {
          {"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", pod_name},
            {"namespace", cluster_.ns()},
            {"labels", labels},
            {"ownerReferences",
             nlohmann::json::array({{{"apiVersion", "sandbox.opensandbox.io/v1alpha1"},
                                     {"kind", "Pool"},
                                     {"name", name},
                                     {"uid", pool["metadata"]["uid"]},
                                     {"controller", true}}})}}},
          {"spec", tmpl["spec"]}};
      if (cluster_.call("POST", cluster_.path("pods"), pod)) {
        ++made_;
        return true;
      }
      if (cluster_.last_status() != 409) return false;
    }
    return false;
  }

  void reconcile_batchsandboxes() {
    auto list = cluster_.call("GET", api("batchsandboxes"));
    if (!list) return;
    for (const auto& bs : (*list)["items"]) {
      const std::string pool = bs["spec"].value("poolRef", "");
      if (pool.empty()) continue;
      const std::string name = bs["metadata"]["name"];
      auto finalizers = bs["metadata"].value("finalizers", nlohmann::json::array());
      if (bs["metadata"].contains("deletionTimestamp")) {
        nlohmann::json kept = nlohmann::json::array();
        for (const auto& f : finalizers) {
          if (f != kFinalizer) kept.push_back(f);
        }
        if (kept.size() != finalizers.size()) {
          (void)cluster_.call("PATCH", api("batchsandboxes", name),
                              {{"metadata", {{"finalizers", kept}}}},
                              "application/merge-patch+json");
        }
        continue;
      }
      if (bs["metadata"].value("annotations", nlohmann::json::object()).contains(kAllocStatus)) {
        continue;
      }
      std::optional<nlohmann::json> free;
      for (const auto& pod : cluster_.pods(std::string(kPoolNameLabel) + "%3D" + pool)) {
        if (pod["metadata"].contains("deletionTimestamp") || !pod_ready(pod)) continue;
        std::lock_guard lock(mu_);
        if (given_.contains(pod["metadata"]["name"].get<std::string>())) continue;
        free = pod;
        break;
      }
      if (!free) {
        std::lock_guard lock(mu_);
        if (pending_.insert(name).second) {
          ++pending_marked_;
          nlohmann::json status = {
              {"status",
               {{"replicas", 0},
                {"allocated", 0},
                {"ready", 0},
                {"conditions",
                 nlohmann::json::array({{{"type", "PoolAllocationPending"},
                                         {"status", "True"},
                                         {"reason", "PoolExhausted"},
                                         {"message", "no free pod in pool " + pool}}})}}}};
          (void)cluster_.call("PATCH", api("batchsandboxes", name) + "/status", status,
                              "application/merge-patch+json");
        }
        continue;
      }
      const std::string pod_name = (*free)["metadata"]["name"];
      const std::string ip = (*free)["status"].value("podIP", "");
      finalizers.push_back(kFinalizer);
      nlohmann::json meta = {
          {"metadata",
           {{"finalizers", finalizers},
            {"resourceVersion", bs["metadata"]["resourceVersion"]},
            {"annotations",
             {{kAllocStatus,
               nlohmann::json{{"poolRef", pool}, {"pods", nlohmann::json::array({pod_name})}}
                   .dump()},
              {kEndpoints, nlohmann::json::array({ip}).dump()}}}}}};
      if (!cluster_.call("PATCH", api("batchsandboxes", name), meta,
                         "application/merge-patch+json")) {
        continue;
      }
      {
        std::lock_guard lock(mu_);
        given_.insert(pod_name);
        allocation_of_[name] = pod_name;
      }
      ++allocations_;
      nlohmann::json status = {{"status",
                                {{"replicas", 1},
                                 {"allocated", 1},
                                 {"ready", 1},
                                 {"conditions", nlohmann::json::array()}}}};
      (void)cluster_.call("PATCH", api("batchsandboxes", name) + "/status", status,
                          "application/merge-patch+json");
    }
  }

  KubeCluster& cluster_;
  mutable std::mutex mu_;
  std::set<std::string> given_;                       // mu_: pods ever allocated
  std::set<std::string> pending_;                     // mu_: marked PoolAllocationPending
  std::map<std::string, std::string> allocation_of_;  // mu_: BatchSandbox -> pod
  int counter_ = 0;                                   // controller thread only
  std::atomic<int> made_{0};
  std::atomic<int> allocations_{0};
  std::atomic<int> pending_marked_{0};
  std::jthread thread_;
};

}  // namespace sbx::testing
