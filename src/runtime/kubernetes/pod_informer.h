// PodInformer: a local cache of the pods of one namespace that match a label selector,
// kept current by list + watch (the client-go informer pattern, without the generality).
//
// Behaviour: an initial LIST (paged: `limit` + `continue`) fills the cache, then the
// informer is synced and WATCHes from the list's resourceVersion with
// allowWatchBookmarks=true and a slightly randomised timeoutSeconds. Every event moves the
// tracked resourceVersion (BOOKMARKs too). A watch that ends normally is restarted from the
// last resourceVersion. A watch answered 410 Gone (HTTP, or an ERROR event with code 410),
// any other ERROR event, or a broken stream leads to a relist (after a backoff that grows
// with consecutive failures); the new list is diffed against the cache and only the
// differences are emitted (ADDED for a new pod, MODIFIED for a changed resourceVersion,
// DELETED for a pod that is gone; an unchanged resourceVersion emits nothing), so the
// handler misses nothing and sees nothing twice.
//
// Threads: start() runs one thread of its own; the handler is called on it, in order,
// without the informer's lock held (it may call the accessors). The accessors are
// thread-safe. stop() is prompt (it cancels the watch stream), idempotent, and is called
// by the destructor. The KubeClient must outlive the informer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "events/result.h"
#include "src/common/log.h"
#include "src/runtime/kubernetes/kube_client.h"
#include "src/runtime/kubernetes/pod_state.h"

namespace sbx {

enum class PodEventType { kAdded, kModified, kDeleted };
std::string_view to_string(PodEventType type);

struct PodInformerOptions {
  std::string namespace_;                        // required
  std::string label_selector = "sandboxd.io/id";  // empty = every pod of the namespace
  std::chrono::seconds watch_timeout{300};       // timeoutSeconds, plus up to 20 % at random
  int page_size = 500;                           // LIST limit per page
  std::chrono::milliseconds relist_backoff_initial{200};
  std::chrono::milliseconds relist_backoff_max{30'000};
};

struct PodInformerStats {
  std::uint64_t lists = 0;           // complete LISTs (the first and every relist)
  std::uint64_t relists = 0;         // LISTs after the first (410, broken stream, error)
  std::chrono::microseconds last_list_duration{0};
  std::uint64_t last_list_pages = 0;  // pages (requests) of the last complete LIST
  std::uint64_t watch_restarts = 0;  // watches started after the first of each list
  std::uint64_t gone = 0;            // 410s seen (watch answers and ERROR events)
  std::uint64_t events = 0;          // handler calls
  std::size_t objects = 0;           // pods in the cache
};

class PodInformer {
 public:
  // `now` is the pod as it is (for DELETED: its last known state); `before` is the cached
  // state it replaces (nullptr for ADDED).
  using Handler =
      std::function<void(PodEventType type, const PodState& now, const PodState* before)>;

  PodInformer(KubeClient& client, PodInformerOptions options, Handler handler);
  ~PodInformer();
  PodInformer(const PodInformer&) = delete;
  PodInformer& operator=(const PodInformer&) = delete;

  void start();  // idempotent
  void stop();   // idempotent; returns once the thread has ended

  bool synced() const;  // the first LIST has completed
  bool wait_synced(std::chrono::milliseconds timeout) const;
  // False while the API server cannot be listed/watched (since the last failure until the
  // next successful LIST or watch event).
  bool healthy() const;

  std::vector<PodState> snapshot() const;
  std::optional<PodState> get(const std::string& name) const;
  // The pod labelled sandboxd.io/id = sandbox_id (a live one before one being deleted).
  std::optional<PodState> find_by_sandbox(std::string_view sandbox_id) const;
  PodInformerStats stats() const;

 private:
  enum class WatchEnd { kNormal, kRelist, kStopped };

  void run(std::stop_token stop);
  Result<void> list(std::stop_token stop);  // LIST all pages, diff, emit
  WatchEnd watch(std::stop_token stop);
  bool sleep_for(std::chrono::milliseconds d, std::stop_token stop);  // false when stopped
  void apply(PodEventType type, PodState pod);  // cache update + handler call
  void set_healthy(bool healthy);
  std::string base_path() const;

  void index_add(const PodState& p);     // mu_ held
  void index_remove(const PodState& p);  // mu_ held

  KubeClient& client_;
  const PodInformerOptions options_;
  const Handler handler_;
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;  // synced_ changes; stop wakes the backoff
  std::map<std::string, PodState> pods_;                    // by pod name; guarded by mu_
  std::map<std::string, std::set<std::string>, std::less<>> by_sandbox_;  // guarded by mu_
  bool synced_ = false;                                     // guarded by mu_
  PodInformerStats stats_;                                  // guarded by mu_
  std::string resource_version_;  // informer thread only
  std::atomic<bool> healthy_{false};

  std::mutex lifecycle_mu_;  // start/stop
  std::jthread thread_;
};

}  // namespace sbx
