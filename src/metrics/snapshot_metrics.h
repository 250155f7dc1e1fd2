// SnapshotMetrics: snapshots (issue 13). Built once from the Registry by the composition
// root; the snapshotter records commits, the owner of the projection exposes the states.
//
//   sandboxd_snapshots{state}                        gauge, computed at scrape by
//                                                    expose_snapshots_by_state() (Creating,
//                                                    Ready, Failed, Deleting)
//   sandboxd_snapshot_commit_duration_seconds{outcome}  histogram 10 ms .. 30 min: one
//                                                    commit call (outcome "ready"|"failed")
//
// Thread-safe (see family.h, registry.h); the families belong to the Registry, which must
// outlive this struct.
#pragma once

#include "events/result.h"
#include "src/metrics/registry.h"

namespace sbx::metrics {

struct SnapshotMetrics {
  explicit SnapshotMetrics(Registry& registry);

  HistogramFamily& commit_duration_seconds;  // {outcome}

  // Exposes sandboxd_snapshots{state} from `by_state()` at each scrape until the handle is
  // destroyed. Errors: kAlreadyExists when already exposed.
  [[nodiscard]] Result<CallbackHandle> expose_snapshots_by_state(CallbackFn by_state);

 private:
  Registry& registry_;
};

}  // namespace sbx::metrics
