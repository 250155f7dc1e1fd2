// NetnsCache: the network namespace file of each Docker sandbox the server proxy reaches
// (proxy.connect_in_netns; api/proxy/proxy_options.h Target::netns), learnt from
// Runtime::inspect (ContainerStatus::network_namespace) on a thread of its own, so that the
// proxy's Resolve never waits for the engine.
//
// get(id) answers from memory: the path last learnt (possibly "", and possibly up to `ttl`
// old), and queues a lookup when the entry is missing or older than `ttl`. The first
// connections to a sandbox therefore use its published port; later ones its namespace. A
// path that went stale (the container restarted in a new namespace) is at worst `ttl` old,
// and the proxy falls back to the published port when it cannot be opened.
//
// Bounded: at most `max_entries` sandboxes (beyond that the map is cleared and refilled on
// demand) and `max_queue` pending lookups (more are dropped until the queue drains).
// Thread-safe; the destructor stops the worker (a lookup in flight finishes first). The
// runtime must outlive it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "src/runtime/runtime.h"

namespace sbx {

class NetnsCache {
 public:
  explicit NetnsCache(Runtime& runtime, std::chrono::milliseconds ttl = std::chrono::seconds(10),
                      std::size_t max_entries = 4096, std::size_t max_queue = 256);
  ~NetnsCache();
  NetnsCache(const NetnsCache&) = delete;
  NetnsCache& operator=(const NetnsCache&) = delete;

  std::string get(const std::string& sandbox_id);
  // Lookups done so far (for tests and the log).
  std::size_t lookups() const;

 private:
  struct Entry {
    std::string path;
    std::chrono::steady_clock::time_point fetched{};
    bool known = false;    // a lookup has answered
    bool pending = false;  // a lookup is queued or running
  };
  void run(std::stop_token stop);

  Runtime& runtime_;
  const std::chrono::milliseconds ttl_;
  const std::size_t max_entries_;
  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::unordered_map<std::string, Entry> entries_;  // mu_
  std::deque<std::string> queue_;                   // mu_
  std::size_t lookups_ = 0;                         // mu_
  std::jthread worker_;                             // last: stopped first
};

}  // namespace sbx
