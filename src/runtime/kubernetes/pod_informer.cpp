#include "src/runtime/kubernetes/pod_informer.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>

#include "src/common/log.h"

namespace sbx {
std::string_view to_string(PodEventType type) {
  switch (type) {
    case PodEventType::kAdded:
      return "ADDED";
    case PodEventType::kModified:
      return "MODIFIED";
    case PodEventType::kDeleted:
      return "DELETED";
  }
  return "?";
}

PodInformer::PodInformer(KubeClient& client, PodInformerOptions options, Handler handler)
    : client_(client),
      options_(std::move(options)),
      handler_(std::move(handler)),
      log_(logger("kubernetes")) {}

PodInformer::~PodInformer() { stop(); }

void PodInformer::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void PodInformer::stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  cv_.notify_all();
  thread_.join();
}

bool PodInformer::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

bool PodInformer::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_; });
}

bool PodInformer::healthy() const { return healthy_.load(); }

std::vector<PodState> PodInformer::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<PodState> out;
  out.reserve(pods_.size());
  for (const auto& [name, pod] : pods_) out.push_back(pod);
  return out;
}

std::optional<PodState> PodInformer::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(name);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::optional<PodState> PodInformer::find_by_sandbox(std::string_view sandbox_id) const {
  std::lock_guard lock(mu_);
  auto it = by_sandbox_.find(sandbox_id);
  if (it == by_sandbox_.end()) return std::nullopt;
  const PodState* found = nullptr;
  for (const std::string& name : it->second) {
    auto p = pods_.find(name);
    if (p == pods_.end()) continue;
    if (!p->second.deleting) return p->second;
    if (found == nullptr) found = &p->second;
  }
  if (found == nullptr) return std::nullopt;
  return *found;
}

PodInformerStats PodInformer::stats() const {
  std::lock_guard lock(mu_);
  PodInformerStats s = stats_;
  s.objects = pods_.size();
  return s;
}

void PodInformer::index_add(const PodState& p) {
  if (!p.sandbox_id.empty()) by_sandbox_[p.sandbox_id].insert(p.name);
}

void PodInformer::index_remove(const PodState& p) {
  if (p.sandbox_id.empty()) return;
  auto it = by_sandbox_.find(p.sandbox_id);
  if (it == by_sandbox_.end()) return;
  it->second.erase(p.name);
  if (it->second.empty()) by_sandbox_.erase(it);
}

void PodInformer::set_healthy(bool healthy) { healthy_.store(healthy); }

std::string PodInformer::base_path() const {
  std::string p = "/api/v1/namespaces/" + url_encode(options_.namespace_) + "/pods?";
  if (!options_.label_selector.empty()) {
    p += "labelSelector=" + url_encode(options_.label_selector) + "&";
  }
  return p;
}

bool PodInformer::sleep_for(std::chrono::milliseconds d, std::stop_token stop) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

void PodInformer::apply(PodEventType type, PodState pod) {
  std::optional<PodState> before;
  {
    std::lock_guard lock(mu_);
    auto it = pods_.find(pod.name);
    if (it != pods_.end()) before = it->second;
    if (type == PodEventType::kDeleted) {
      if (!before) return;  // never seen: nothing to tell
      index_remove(*before);
      pods_.erase(it);
    } else {
      if (before && before->resource_version == pod.resource_version) return;  // no change
      type = before ? PodEventType::kModified : PodEventType::kAdded;
      if (before) index_remove(*before);
      index_add(pod);
      pods_[pod.name] = pod;
    }
    ++stats_.events;
  }
  if (handler_) handler_(type, pod, before ? &*before : nullptr);
}

Result<void> PodInformer::list(std::stop_token stop) {
  const auto started = std::chrono::steady_clock::now();
  std::map<std::string, PodState> fresh;
  std::string rv;
  std::string cont;
  std::uint64_t pages = 0;
  for (;;) {
    if (stop.stop_requested()) return fail(ErrorCode::kUnavailable, "stopped");
    std::string path = base_path() + "limit=" + std::to_string(options_.page_size);
    if (!cont.empty()) path += "&continue=" + url_encode(cont);
    auto r = client_.request("GET", path);
    if (!r) return std::unexpected(r.error());
    if (r->status == 410 && !cont.empty()) {
      // The continue token expired mid-list: start over for a fresh snapshot.
      fresh.clear();
      cont.clear();
      pages = 0;
      continue;
    }
    if (r->status < 200 || r->status > 299) return std::unexpected(kube_error(*r, "GET " + path));
    ++pages;
    auto page = parse_pod_list(r->body);
    if (!page) return std::unexpected(page.error());
    if (cont.empty()) rv = page->resource_version;  // every page shares the first's snapshot
    for (PodState& p : page->items) {
      std::string name = p.name;
      fresh.insert_or_assign(std::move(name), std::move(p));
    }
    cont = page->continue_token;
    if (cont.empty()) break;
  }

  // Diff against the cache: only the differences become events.
  std::vector<std::pair<PodEventType, PodState>> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, pod] : pods_) {
      if (!fresh.contains(name)) gone.emplace_back(PodEventType::kDeleted, pod);
    }
  }
  for (auto& [type, pod] : gone) apply(type, std::move(pod));
  for (auto& [name, pod] : fresh) apply(PodEventType::kAdded, std::move(pod));  // or MODIFIED

  resource_version_ = rv;
  set_healthy(true);  // before synced: whoever waits for synced sees a healthy informer
  {
    std::lock_guard lock(mu_);
    ++stats_.lists;
    stats_.last_list_pages = pages;
    if (synced_) ++stats_.relists;
    stats_.last_list_duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    synced_ = true;
  }
  cv_.notify_all();
  return {};
}

PodInformer::WatchEnd PodInformer::watch(std::stop_token stop) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto base = options_.watch_timeout.count();
  const long long jitter = base >= 5 ? std::uniform_int_distribution<long long>(0, base / 5)(rng) : 0;
  const std::string path = base_path() + "watch=1&allowWatchBookmarks=true&resourceVersion=" +
                           url_encode(resource_version_) +
                           "&timeoutSeconds=" + std::to_string(base + jitter);
  bool relist = false;
  auto r = client_.watch_lines(
      path,
      [&](std::string_view line) {
        auto e = parse_pod_watch_event(line);
        if (!e) {
          log_->warn("informer: skipping a watch line: {}", e.error().message);
          return true;
        }
        set_healthy(true);
        if (e->type == "ERROR") {
          if (e->error_code == 410) {
            std::lock_guard lock(mu_);
            ++stats_.gone;
          }
          log_->info("informer: watch ERROR {} ({}): relisting", e->error_code, e->error_message);
          relist = true;
          return false;
        }
        if (!e->pod.resource_version.empty()) resource_version_ = e->pod.resource_version;
        if (e->type == "BOOKMARK") return true;
        if (e->type == "ADDED" || e->type == "MODIFIED") {
          apply(PodEventType::kAdded, std::move(e->pod));
        } else if (e->type == "DELETED") {
          apply(PodEventType::kDeleted, std::move(e->pod));
        }
        return true;
      },
      stop);
  if (stop.stop_requested()) return WatchEnd::kStopped;
  if (!r) {
    if (is_gone(r.error())) {
      std::lock_guard lock(mu_);
      ++stats_.gone;
    } else {
      set_healthy(false);
    }
    log_->info("informer: watch ended: {}: relisting", r.error().message);
    return WatchEnd::kRelist;
  }
  return relist ? WatchEnd::kRelist : WatchEnd::kNormal;
}

void PodInformer::run(std::stop_token stop) {
  int failures = 0;
  while (!stop.stop_requested()) {
    if (failures > 0) {
      auto d = options_.relist_backoff_initial * (1LL << std::min(failures - 1, 16));
      if (d > options_.relist_backoff_max) d = options_.relist_backoff_max;
      if (!sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(d), stop)) return;
    }
    if (auto l = list(stop); !l) {
      if (stop.stop_requested()) return;
      set_healthy(false);
      ++failures;
      log_->warn("informer: list of pods in {} failed: {}", options_.namespace_, l.error().message);
      continue;
    }
    set_healthy(true);
    bool first = true;
    while (!stop.stop_requested()) {
      if (!first) {
        std::lock_guard lock(mu_);
        ++stats_.watch_restarts;
      }
      first = false;
      WatchEnd end = watch(stop);
      if (end == WatchEnd::kStopped) return;
      if (end == WatchEnd::kRelist) break;
      failures = 0;  // a watch that ran its course: the server is well
    }
    ++failures;
  }
}

}  // namespace sbx
