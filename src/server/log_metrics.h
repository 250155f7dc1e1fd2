// LogMetrics: turns the store's commits into the metrics that describe the log and the
// sandbox lifecycle — group-commit size, write latency, log head, transitions by from/to,
// time from request to Running, expirations — and exposes sandboxes by state, the
// store size and the store's health (corrupt events, rebuilt records, writable) as
// scrape-time callbacks.
//
// It follows the log live with a Subscription (store/subscription.h, from the head at
// construction) and counts what the projection staged for each event (the batch's
// SandboxChange records: the state before and after it), so it never runs `evolve` itself
// and counts every transition once, in order, also when one append carries several events
// of one sandbox. Its handler only touches atomics and reads the in-memory projection, so the
// subscription stays live; should its thread fall behind by more than the backlog, the events it
// reads back from the log carry no changes: it counts them as appended but cannot count their
// transitions (it logs that once). Construct it after the store opens, destroy it before the store
// closes.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>
#include <vector>

#include "src/metrics/registry.h"
#include "src/metrics/sandbox_metrics.h"
#include "src/metrics/store_metrics.h"
#include "store/event_store.h"
#include "store/subscription.h"

namespace sbx {

class LogMetrics {
 public:
  LogMetrics(EventStore& store, metrics::StoreMetrics& store_metrics,
             metrics::SandboxMetrics& sandbox_metrics);
  ~LogMetrics();
  LogMetrics(const LogMetrics&) = delete;
  LogMetrics& operator=(const LogMetrics&) = delete;

 private:
  void on_batch(const Subscription::Batch& batch);
  bool is_pool_member(std::string_view stream) const;

  EventStore& store_;
  metrics::StoreMetrics& store_metrics_;
  metrics::SandboxMetrics& sandbox_metrics_;
  std::vector<metrics::CallbackHandle> callbacks_;
  bool warned_unstaged_ = false;  // the subscription's thread only
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace sbx
