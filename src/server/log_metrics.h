// LogMetrics: turns the store's commits into the metrics that describe the log and the
// sandbox lifecycle — group-commit size, write latency, log head, transitions by from/to,
// time from request to Running, expirations — and exposes sandboxes by state, the
// store size and the store's health (corrupt events, rebuilt records, writable) as
// scrape-time callbacks.
//
// It is a commit listener: the store runs it after each batch is durable, one batch at a
// time in log order (on whichever thread wrote the batch), and it only touches atomics and
// its own small map (id -> state and creation time of each live sandbox), folding every
// event into it with `evolve`. Construct it after the store opens, destroy it before the
// store closes.
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
  std::mutex mu_;  // the store runs listeners one at a time; the lock documents that
  struct Seen {
    SandboxState state;
    Micros created_at;
  };
  std::unordered_map<std::string, Seen> last_;  // live sandboxes as of the last commit seen
  std::vector<metrics::CallbackHandle> callbacks_;
  int listener_ = -1;
};

}  // namespace sbx
