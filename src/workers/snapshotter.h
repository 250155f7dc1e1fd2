// Snapshotter: the runtime worker of snapshot streams (events/snapshot.h).
//
// One thread follows the log from its checkpoint (consumer "snapshotter", a Subscription)
// and acts on:
//   SnapshotRequested          -> runtime.commit_snapshot(source sandbox, id, image ref)
//                                 -> RecordSnapshotReady{image id} | RecordSnapshotFailed
//   SnapshotDeletionRequested  -> runtime.remove_snapshot_image (absent = done)
//                                 -> RecordSnapshotDeleted
// It acts only while the projection still shows the snapshot in the state that asks for
// the work (Creating / Deleting), so a redo after a crash is harmless. The checkpoint is
// saved after each batch is done.
//
// Reconcile at start (before following the log): a snapshot still Creating is finished —
// an image labelled for it exists: Ready; else committed again (the source container is
// still there) or Failed (SNAPSHOT::SOURCE_NOT_FOUND); a Deleting one is removed again; a
// Ready one whose image is gone fails (SNAPSHOT::IMAGE_MISSING). A removal refused because
// a container still uses the image is retried every 30 s.
// Then every image labelled sandboxd.io/snapshot (with this instance's label) that no
// Creating/Ready/Deleting snapshot owns under that ref is removed and recorded in the
// system stream (ReconcileFinding kind "snapshot_image_removed", detail ref and image id).
//
// Metrics (when given): sandboxd_snapshot_commit_duration_seconds{outcome} per commit call.
//
// Failure codes: SNAPSHOT::SOURCE_NOT_FOUND (no container), SNAPSHOT::COMMIT_FAILED (the
// runtime refused; message says why), SNAPSHOT::IMAGE_MISSING (reconcile, see above). A runtime that is away (kUnavailable) is retried
// with backoff until stop.
//
// Thread-safety: start()/stop() from the owning thread. Everything is borrowed.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "events/result.h"
#include "events/snapshot.h"
#include "src/common/clock.h"

namespace sbx {

class EventStore;
class Runtime;
class Subscription;
struct Event;
namespace metrics {
struct SnapshotMetrics;
}

// Records a snapshot outcome (bound by the composition root to SnapshotService::execute).
// Same contract as Recorder (recorder.h).
using SnapshotRecorder = std::function<Result<void>(const std::string& snapshot_id,
                                                    const SnapshotCommand& command)>;
// Appends a ReconcileFinding to the system stream (the composition root binds it).
using FindingRecorder = std::function<void(const std::string& kind, const std::string& detail)>;

class Snapshotter {
 public:
  Snapshotter(EventStore& store, Runtime& runtime, SnapshotRecorder record,
              FindingRecorder finding, metrics::SnapshotMetrics* metrics = nullptr);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  [[nodiscard]] Result<void> start();
  void stop();

  // Runs the start-up reconcile once (also used by tests).
  void reconcile();

 private:
  void run(std::stop_token stop);
  void handle(const Event& e, std::stop_token stop);
  void commit(const std::string& snapshot_id, std::stop_token stop);
  void remove(const std::string& snapshot_id, std::stop_token stop);
  // Removes other images labelled for `snapshot_id` than `image_id` (an earlier commit of
  // the same snapshot, e.g. one that finished in the engine after sandboxd was killed).
  void remove_superseded(const std::string& snapshot_id, const std::string& image_id);
  void record(const std::string& snapshot_id, const SnapshotCommand& command,
              std::stop_token stop);
  // Retries `op` while it fails with a retryable error, until stop.
  template <class F>
  auto with_retry(F op, std::stop_token stop) -> decltype(op());

  EventStore& store_;
  Runtime& runtime_;
  SnapshotRecorder record_;
  FindingRecorder finding_;
  metrics::SnapshotMetrics* metrics_;  // may be null
  std::unique_ptr<Subscription> sub_;
  std::jthread thread_;
};

}  // namespace sbx
