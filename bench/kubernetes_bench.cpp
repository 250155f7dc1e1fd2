// kubernetes_bench: what sandboxd adds to Kubernetes, against raw API calls in the same run,
// and what its pod cache costs at scale.
//
//   SANDBOXD_TEST_KUBECONFIG=DIR/kubeconfig kubernetes_bench [--sequential=N] [--pods=N]
//
// (scripts/run-bench.sh starts a private API server with scripts/kube-env.sh and sets the
// variable.) There is no kubelet: a "kubelet" thread of this program WATCHES the namespace's
// labelled pods and marks each new one Running + Ready at once (a status patch), for both
// contenders alike.
//
// 1. create -> Running, one at a time, N of each, alternating:
//    raw       POST the same Pod sandboxd would create (pod_manifest of the same spec), then
//              wait on a watch of our own until the pod is Ready.
//    sandboxd  POST /v1/sandboxes to an in-process sandboxd (store with sync = true,
//              provisioner, reconciler fed by the pod informer, HTTP on 127.0.0.1), answered
//              once the sandbox is Running (the API's default wait).
//    Median and p90 of each and the ratio sandboxd/raw (target <= 1.10).
// 2. scale with --pods=N (default 5000) labelled pods in the namespace:
//    raw list  the paged LIST (500 per page) the informer does, bodies read, not parsed
//    informer  a PodInformer's first sync of the same pods (LIST + parse + cache), which is
//              what a relist after a 410 costs; its memory (RSS growth) per pod
//    runtime   KubernetesRuntime::list() over the synced cache (the reconciler's pass input)
// Exit 2 without an API server.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/common/log.h"
#include "src/common/uuid.h"
#include "src/config/config.h"
#include "src/http/http_client.h"
#include "src/runtime/kubernetes/kube_client.h"
#include "src/runtime/kubernetes/kube_credentials.h"
#include "src/runtime/kubernetes/kubernetes_runtime.h"
#include "src/runtime/kubernetes/pod_informer.h"
#include "src/runtime/kubernetes/workload_body.h"
#include "src/server/server.h"
#include "tests/kubernetes/pod_status.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  int sequential = 20;
  int pods = 5000;
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

long rss_kib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

std::unique_ptr<sbx::KubeClient> make_client(const sbx::KubeCredentials& credentials) {
  sbx::KubeClientOptions o;
  o.credentials = credentials;
  o.qps = 100000;
  o.burst = 100000;
  auto c = sbx::KubeClient::create(o);
  if (!c) {
    std::cerr << "client: " << c.error().message << "\n";
    std::exit(1);
  }
  return std::move(*c);
}

std::optional<json> call(sbx::KubeClient& k, const std::string& method, const std::string& path,
                         const json& body = nullptr,
                         const std::string& type = "application/json") {
  auto r = k.request(method, path, body.is_null() ? std::string() : body.dump(), type);
  if (!r || r->status / 100 != 2) return std::nullopt;
  auto j = json::parse(r->body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// Watches labelled pods of `ns` from `rv`; hands every event object to `on_event` until
// stopped. Reconnects from the last resourceVersion when the stream ends.
void watch_pods(sbx::KubeClient& k, const std::string& ns, std::string rv,
                const std::function<void(const std::string& type, const json& pod)>& on_event,
                std::stop_token stop) {
  while (!stop.stop_requested()) {
    const std::string path = "/api/v1/namespaces/" + ns +
                             "/pods?watch=1&labelSelector=sandboxd.io/id&allowWatchBookmarks=true"
                             "&timeoutSeconds=60&resourceVersion=" +
                             rv;
    (void)k.watch_lines(
        path,
        [&](std::string_view line) {
          auto e = json::parse(line, nullptr, false);
          if (e.is_discarded() || !e.contains("object")) return true;
          const json& obj = e["object"];
          if (obj.contains("metadata") && obj["metadata"].contains("resourceVersion")) {
            rv = obj["metadata"]["resourceVersion"].get<std::string>();
          }
          on_event(e.value("type", ""), obj);
          return !stop.stop_requested();
        },
        stop);
  }
}

std::string list_rv(sbx::KubeClient& k, const std::string& ns) {
  auto list = call(k, "GET", "/api/v1/namespaces/" + ns + "/pods?labelSelector=sandboxd.io/id&limit=1");
  return list ? (*list)["metadata"].value("resourceVersion", "0") : "0";
}

bool ready(const json& pod) {
  if (!pod.contains("status") || !pod["status"].contains("conditions")) return false;
  for (const auto& c : pod["status"]["conditions"]) {
    if (c.value("type", "") == "Ready" && c.value("status", "") == "True") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--sequential=", 0) == 0) args.sequential = std::stoi(a.substr(13));
    else if (a.rfind("--pods=", 0) == 0) args.pods = std::stoi(a.substr(7));
    else if (a.rfind("--benchmark", 0) == 0) continue;  // scripts/run-bench.sh's flags
    else {
      std::cerr << "usage: kubernetes_bench [--sequential=N] [--pods=N]\n";
      return 2;
    }
  }
  const char* kubeconfig = std::getenv("SANDBOXD_TEST_KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == '\0') {
    std::cerr << "kubernetes_bench: SANDBOXD_TEST_KUBECONFIG is unset (scripts/kube-env.sh "
                 "start DIR)\n";
    return 2;
  }
  (void)sbx::set_log_level("warn");
  auto credentials = sbx::load_kubeconfig(kubeconfig);
  if (!credentials) {
    std::cerr << credentials.error().message << "\n";
    return 2;
  }
  auto client = make_client(*credentials);
  const std::string ns = "sbx-bench-" + sbx::new_uuid().substr(28);
  if (!call(*client, "POST", "/api/v1/namespaces",
            {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})) {
    std::cerr << "cannot create namespace " << ns << "\n";
    return 2;
  }
  const std::string pods_path = "/api/v1/namespaces/" + ns + "/pods";

  // The kubelet: marks each new labelled pod Ready with an IP at once.
  auto kubelet_client = make_client(*credentials);
  std::atomic<int> ip_counter{0};
  std::jthread kubelet([&](std::stop_token stop) {
    watch_pods(*kubelet_client, ns, list_rv(*kubelet_client, ns),
               [&](const std::string& type, const json& pod) {
                 if (type != "ADDED") return;
                 if (pod.contains("status") && pod["status"].contains("conditions")) return;
                 const int n = ++ip_counter;
                 const std::string ip =
                     "10.250." + std::to_string(n / 250) + "." + std::to_string(1 + n % 250);
                 (void)call(*kubelet_client, "PATCH",
                            pods_path + "/" + pod["metadata"]["name"].get<std::string>() +
                                "/status",
                            sbx::testing::pod_status_ready(ip), "application/merge-patch+json");
               },
               stop);
  });

  // ---- 1. create -> Running ---------------------------------------------------------------
  // The in-process sandboxd.
  const auto dir = std::filesystem::temp_directory_path() / ("sandboxd-kbench-" + ns);
  std::filesystem::create_directories(dir);
  sbx::Config config;
  config.server.host = "127.0.0.1";
  config.server.port = 0;
  config.store.path = (dir / "data").string();
  config.runtime.type = sbx::RuntimeType::kKubernetes;
  config.runtime.execd_image = "sandboxd-test/execd:1";
  config.kubernetes.kubeconfig_path = kubeconfig;
  config.kubernetes.namespace_ = ns;
  config.kubernetes.qps = 1000;
  config.kubernetes.burst = 1000;
  auto server = sbx::Server::create(config);
  if (!server) {
    std::cerr << "sandboxd: " << server.error().message << "\n";
    return 1;
  }
  auto port = (*server)->start();
  if (!port) {
    std::cerr << "sandboxd start: " << port.error().message << "\n";
    return 1;
  }
  auto http = sbx::HttpClient::create({.endpoint = "http://127.0.0.1:" + std::to_string(*port)});
  // Wait for the lease (mutations are fenced until it is held).
  for (int i = 0; i < 200; ++i) {
    auto r = (*http)->send({.method = "POST",
                            .target = "/v1/sandboxes/00000000-0000-0000-0000-000000000000/renew-expiration",
                            .headers = {{"Content-Type", "application/json"}},
                            .body = "{}"});
    if (r && r->status != 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  sbx::KubernetesWorkloadOptions wo;
  wo.namespace_ = ns;
  wo.execd_image = "sandboxd-test/execd:1";
  wo.instance_id = "bench-raw";
  auto raw_client = make_client(*credentials);
  std::mutex ready_mu;
  std::condition_variable ready_cv;
  std::set<std::string> ready_pods;
  std::jthread raw_watch([&](std::stop_token stop) {
    watch_pods(*raw_client, ns, list_rv(*raw_client, ns),
               [&](const std::string&, const json& pod) {
                 if (!ready(pod)) return;
                 std::lock_guard lock(ready_mu);
                 ready_pods.insert(pod["metadata"]["name"].get<std::string>());
                 ready_cv.notify_all();
               },
               stop);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both watches are open

  const json create_body = {{"image", {{"uri", "sandboxd-test/busybox:1"}}},
                            {"entrypoint", {"sleep", "3600"}},
                            {"timeout", 600},
                            {"resourceLimits", {{"cpu", "500m"}, {"memory", "256Mi"}}}};
  std::vector<double> raw_ms, sbx_ms;
  int failures = 0;
  for (int i = 0; i < args.sequential; ++i) {
    // raw
    {
      sbx::ContainerSpec spec;
      spec.sandbox_id = sbx::new_uuid();
      spec.image_uri = "sandboxd-test/busybox:1";
      spec.entrypoint = {"sleep", "3600"};
      spec.limits = {.cpu = "500m", .memory = "256Mi"};
      const json pod = sbx::pod_manifest(spec, wo);
      const std::string name = pod["metadata"]["name"];
      const auto t0 = Clock::now();
      if (!call(*client, "POST", pods_path, pod)) {
        ++failures;
      } else {
        std::unique_lock lock(ready_mu);
        if (ready_cv.wait_for(lock, std::chrono::seconds(30),
                              [&] { return ready_pods.contains(name); })) {
          raw_ms.push_back(ms_since(t0));
        } else {
          ++failures;
        }
      }
      (void)call(*client, "DELETE", pods_path + "/" + name, json::object());
    }
    // sandboxd
    {
      const auto t0 = Clock::now();
      auto r = (*http)->send({.method = "POST",
                              .target = "/v1/sandboxes",
                              .headers = {{"Content-Type", "application/json"}},
                              .body = create_body.dump()});
      if (r && r->status == 202 && json::parse(r->body)["status"]["state"] == "Running") {
        sbx_ms.push_back(ms_since(t0));
        const std::string id = json::parse(r->body)["id"];
        (void)(*http)->send({.method = "DELETE", .target = "/v1/sandboxes/" + id});
      } else {
        ++failures;
        std::cerr << "sandboxd create: " << (r ? r->body : r.error().message) << "\n";
      }
    }
  }
  std::printf("create -> Running, %d sequential each (failures: %d)\n", args.sequential, failures);
  std::printf("  %-10s median %8.2f ms  p90 %8.2f ms\n", "raw", percentile(raw_ms, 0.5),
              percentile(raw_ms, 0.9));
  std::printf("  %-10s median %8.2f ms  p90 %8.2f ms\n", "sandboxd", percentile(sbx_ms, 0.5),
              percentile(sbx_ms, 0.9));
  std::printf("  ratio sandboxd/raw (median): %.2f  (target <= 1.10)\n",
              percentile(sbx_ms, 0.5) / std::max(0.001, percentile(raw_ms, 0.5)));
  (*server)->stop();
  server->reset();
  raw_watch.request_stop();

  // ---- 2. scale ---------------------------------------------------------------------------
  if (args.pods > 0) {
    kubelet.request_stop();
    kubelet.join();
    const auto t_fill = Clock::now();
    std::atomic<int> next{0}, made{0};
    std::vector<std::thread> fillers;
    for (int t = 0; t < 8; ++t) {
      fillers.emplace_back([&] {
        auto c = make_client(*credentials);
        for (int i = next++; i < args.pods; i = next++) {
          sbx::ContainerSpec spec;
          spec.sandbox_id = sbx::new_uuid();
          spec.image_uri = "sandboxd-test/busybox:1";
          spec.entrypoint = {"sleep", "3600"};
          json pod = sbx::pod_manifest(spec, wo);
          if (call(*c, "POST", pods_path, pod)) ++made;
        }
      });
    }
    for (auto& f : fillers) f.join();
    std::printf("scale: %d labelled pods created in %.1f s\n", made.load(), ms_since(t_fill) / 1000);

    std::vector<double> raw_list_ms, informer_ms, list_call_ms;
    std::vector<double> kib_per_pod;
    for (int round = 0; round < 3; ++round) {
      // raw paged LIST: the bytes only (the continue token found by a string search; the
      // number of pods by counting their uids), no parsing into objects.
      const auto t0 = Clock::now();
      std::string cont;
      int seen = 0;
      do {
        auto page = client->request("GET", pods_path + "?labelSelector=sandboxd.io/id&limit=500" +
                                               (cont.empty() ? "" : "&continue=" + cont));
        if (!page || page->status != 200) break;
        const std::string& b = page->body;
        for (std::size_t at = b.find("\"uid\":"); at != std::string::npos;
             at = b.find("\"uid\":", at + 6)) {
          ++seen;
        }
        cont.clear();
        if (auto at = b.find("\"continue\":\""); at != std::string::npos) {
          const std::size_t from = at + 12;
          cont = b.substr(from, b.find('"', from) - from);
        }
      } while (!cont.empty());
      raw_list_ms.push_back(ms_since(t0));

      ::malloc_trim(0);
      const long rss0 = rss_kib();
      sbx::KubernetesRuntimeOptions ro;
      ro.client.credentials = *credentials;
      ro.client.qps = 100000;
      ro.client.burst = 100000;
      ro.namespace_ = ns;
      ro.instance_id = "bench-raw";
      ro.sync_timeout = std::chrono::milliseconds(120'000);
      const auto t1 = Clock::now();
      auto rt = sbx::KubernetesRuntime::create(ro);
      if (!rt) {
        std::cerr << rt.error().message << "\n";
        return 1;
      }
      if (!(*rt)->informer().wait_synced(std::chrono::milliseconds(120'000))) {
        std::cerr << "informer did not sync\n";
        return 1;
      }
      informer_ms.push_back(ms_since(t1));
      ::malloc_trim(0);
      const long rss1 = rss_kib();
      kib_per_pod.push_back(static_cast<double>(rss1 - rss0) / std::max(1, seen));
      const auto t2 = Clock::now();
      auto listed = (*rt)->list();
      list_call_ms.push_back(ms_since(t2));
      if (!listed || static_cast<int>(listed->size()) != seen) {
        std::cerr << "runtime list saw " << (listed ? listed->size() : 0) << " of " << seen << "\n";
      }
    }
    std::printf("scale: %d pods, median of 3\n", args.pods);
    std::printf("  raw paged LIST                 %8.1f ms\n", percentile(raw_list_ms, 0.5));
    std::printf("  informer sync (LIST+cache)     %8.1f ms  ratio to raw LIST %.2f\n",
                percentile(informer_ms, 0.5),
                percentile(informer_ms, 0.5) / std::max(0.001, percentile(raw_list_ms, 0.5)));
    std::printf("  informer memory                %8.2f KiB per pod (RSS growth)\n",
                percentile(kib_per_pod, 0.5));
    std::printf("  runtime list() over the cache  %8.2f ms\n", percentile(list_call_ms, 0.5));
  }
  (void)call(*client, "DELETE", "/api/v1/namespaces/" + ns, json::object());
  std::filesystem::remove_all(dir);
  return 0;
}
