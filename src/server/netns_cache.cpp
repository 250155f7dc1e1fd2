#include "src/server/netns_cache.h"

#include <utility>

#include "src/common/log.h"

namespace sbx {

NetnsCache::NetnsCache(Runtime& runtime, std::chrono::milliseconds ttl, std::size_t max_entries,
                       std::size_t max_queue)
    : runtime_(runtime), ttl_(ttl), max_entries_(max_entries), max_queue_(max_queue) {
  worker_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

NetnsCache::~NetnsCache() {
  worker_.request_stop();
  if (worker_.joinable()) worker_.join();
}

std::string NetnsCache::get(const std::string& sandbox_id) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = entries_.find(sandbox_id);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) entries_.clear();
    it = entries_.emplace(sandbox_id, Entry{}).first;
  }
  Entry& e = it->second;
  const bool fresh = e.known && now - e.fetched < ttl_;
  if (!fresh && !e.pending && queue_.size() < max_queue_) {
    e.pending = true;
    queue_.push_back(sandbox_id);
    cv_.notify_one();
  }
  return e.path;
}

std::size_t NetnsCache::lookups() const {
  std::lock_guard lock(mu_);
  return lookups_;
}

void NetnsCache::run(std::stop_token stop) {
  for (;;) {
    std::string id;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [this] { return !queue_.empty(); });
      if (stop.stop_requested()) return;
      id = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string path;
    auto status = runtime_.inspect(id);
    if (!status) {
      logger("proxy")->debug("sandbox {}: network namespace lookup failed: {}", id,
                             status.error().message);
    } else if (*status) {
      path = (*status)->network_namespace;
    }
    std::lock_guard lock(mu_);
    ++lookups_;
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;  // cleared meanwhile
    it->second.path = std::move(path);
    it->second.fetched = std::chrono::steady_clock::now();
    it->second.known = true;
    it->second.pending = false;
  }
}

}  // namespace sbx
