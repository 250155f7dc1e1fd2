// StoreMetrics: what the store/ module records about the event log. Built once from the
// Registry by the composition root and passed to the store by reference.
//
//   sandboxd_store_event_append_duration_seconds  histogram  append called .. durable
//                                                            (incl. queueing), 50 µs .. 2.5 s
//   sandboxd_store_group_commit_size              histogram  appends per WriteBatch, 1 .. 1024
//   sandboxd_store_events_appended_total          counter    events made durable
//   sandboxd_store_log_head_position              gauge      last durable global position
//   sandboxd_store_size_bytes                     gauge      on-disk size, computed at scrape
//                                                            by expose_store_size()
//   sandboxd_store_corrupt_events_total           counter    distinct log positions found not
//                                                            to decode (skipped by readers)
//   sandboxd_store_projection_records_rebuilt_total counter  sandbox records that did not decode
//                                                            at open, rebuilt from their streams
//   sandboxd_store_writable                       gauge      1: appends work; 0: the disk refused
//                                                            writes (until restart)
//                                    (these three computed at scrape by expose_store_health())
//
// Thread-safe (see family.h, registry.h); the families belong to the Registry, which must
// outlive this struct.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "events/result.h"
#include "src/metrics/registry.h"

namespace sbx::metrics {

struct StoreMetrics {
  explicit StoreMetrics(Registry& registry);

  Histogram& event_append_duration_seconds;
  Histogram& group_commit_size;
  Counter& events_appended_total;
  Gauge& log_head_position;

  // Exposes sandboxd_store_size_bytes as `size_bytes()` at each scrape (nothing when it
  // returns nullopt) until the handle is destroyed; the store keeps the handle and drops
  // it before it closes. Errors: kAlreadyExists when another store exposes it already.
  [[nodiscard]] Result<CallbackHandle> expose_store_size(
      std::function<std::optional<double>()> size_bytes);

  // What the store knows about its own health, read at each scrape (see the list above).
  struct Health {
    double corrupt_events = 0;
    double rebuilt_records = 0;
    bool writable = true;
  };
  // One handle per family, all or none. Errors: kAlreadyExists (exposed already).
  [[nodiscard]] Result<std::vector<CallbackHandle>> expose_store_health(
      std::function<Health()> health);

 private:
  Registry& registry_;
};

}  // namespace sbx::metrics
