// LogMetrics: turns the store's commits into the metrics that describe the log and the
// sandbox lifecycle — group-commit size, write latency, log head, transitions by from/to,
// time from request to Running, expirations — and exposes sandboxes by state and the
// store size as scrape-time callbacks.
//
// It is a commit listener: it runs on the store's writer thread, after the batch is
// durable, and only touches atomics and its own small map (id -> last state). Thread-safe
// in that sense; construct it after the store opens, destroy it before the store closes.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/sandbox.h"
#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "store/event_store.h"

namespace sbx {

class LogMetrics {
 public:
  LogMetrics(EventStore& store, metrics::StoreMetrics& store_metrics,
             metrics::SandboxMetrics& sandbox_metrics);
  ~LogMetrics();
  LogMetrics(const LogMetrics&) = delete;
  LogMetrics& operator=(const LogMetrics&) = delete;

 private:
  void on_commit(const std::vector<Event>& events, const CommitStats& stats);

  EventStore& store_;
  metrics::StoreMetrics& store_metrics_;
  metrics::SandboxMetrics& sandbox_metrics_;
  std::mutex mu_;  // the writer thread is the only caller; the lock documents that
  std::unordered_map<std::string, SandboxState> last_state_;
  std::vector<metrics::CallbackHandle> callbacks_;
  int listener_ = -1;
};

}  // namespace sbx
