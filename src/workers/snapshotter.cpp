#include "src/workers/snapshotter.h"

#include <map>
#include <set>

#include "events/event.h"
#include "src/common/log.h"
#include "src/metrics/snapshot_metrics.h"
#include "src/runtime/runtime.h"
#include "store/event_store.h"
#include "store/subscription.h"

namespace sbx {
namespace {

constexpr const char* kConsumer = "snapshotter";
constexpr std::chrono::seconds kDeleteRetry{30};

bool retryable_error(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded ||
         e.code == ErrorCode::kConflict;
}

}  // namespace

Snapshotter::Snapshotter(EventStore& store, Runtime& runtime, SnapshotRecorder record,
                         FindingRecorder finding, metrics::SnapshotMetrics* metrics)
    : store_(store),
      runtime_(runtime),
      record_(std::move(record)),
      finding_(std::move(finding)),
      metrics_(metrics) {}

Snapshotter::~Snapshotter() { stop(); }

template <class F>
auto Snapshotter::with_retry(F op, std::stop_token stop) -> decltype(op()) {
  auto delay = std::chrono::milliseconds(100);
  for (;;) {
    auto r = op();
    if (r || !retryable_error(r.error()) || stop.stop_requested()) return r;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

Result<void> Snapshotter::start() {
  if (thread_.joinable()) return fail(ErrorCode::kFailedPrecondition, "snapshotter already started");
  Subscription::Options so;
  so.consumer = kConsumer;
  so.name = "snapshotter";
  auto sub = Subscription::open(store_, std::move(so));
  if (!sub) return std::unexpected(sub.error());
  sub_ = std::move(*sub);
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  return {};
}

void Snapshotter::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  if (sub_) sub_->stop();
  thread_.join();
  sub_.reset();
}

void Snapshotter::record(const std::string& id, const SnapshotCommand& c, std::stop_token stop) {
  auto r = with_retry([&] { return record_(id, c); }, stop);
  if (!r && r.error().code != ErrorCode::kNotFound &&
      r.error().code != ErrorCode::kFailedPrecondition) {
    logger("snapshotter")->error("snapshot {}: recording the outcome failed: {}", id,
                                 r.error().message);
  }
}

void Snapshotter::commit(const std::string& id, std::stop_token stop) {
  auto sn = store_.get_snapshot(id);
  if (!sn || sn->state != SnapshotState::kCreating) return;  // done already, or moved on
  const auto started = std::chrono::steady_clock::now();
  auto image = with_retry(
      [&] { return runtime_.commit_snapshot(sn->sandbox_id, sn->id, sn->image_ref); }, stop);
  if (stop.stop_requested() && !image && retryable_error(image.error())) return;  // redo later
  if (metrics_ != nullptr) {
    metrics_->commit_duration_seconds.with({image ? "ready" : "failed"})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (image) {
    logger("snapshotter")->info("snapshot {}: committed sandbox {} to {} ({})", id,
                                sn->sandbox_id, sn->image_ref, *image);
    record(id, RecordSnapshotReady{*image}, stop);
    remove_superseded(id, *image);
    return;
  }
  const bool gone = image.error().code == ErrorCode::kNotFound;
  logger("snapshotter")->warn("snapshot {}: commit failed: {}", id, image.error().message);
  record(id,
         RecordSnapshotFailed{gone ? "SNAPSHOT::SOURCE_NOT_FOUND" : "SNAPSHOT::COMMIT_FAILED",
                              gone ? std::string("the container of sandbox ") + sn->sandbox_id +
                                         std::string(" does not exist: ") + image.error().message
                                   : image.error().message},
         stop);
}

void Snapshotter::remove_superseded(const std::string& id, const std::string& image_id) {
  auto images = runtime_.list_snapshot_images();
  if (!images) return;  // the start-up reconcile removes them later
  for (const auto& img : *images) {
    if (img.snapshot_id != id || img.image_id == image_id) continue;
    if (auto r = runtime_.remove_snapshot_image(id, img.image_id); r) {
      logger("snapshotter")->info("snapshot {}: removed the superseded image {}", id,
                                  img.image_id);
    }
  }
}

void Snapshotter::remove(const std::string& id, std::stop_token stop) {
  auto sn = store_.get_snapshot(id);
  if (!sn || sn->state != SnapshotState::kDeleting) return;
  auto r = with_retry([&] { return runtime_.remove_snapshot_image(sn->id, sn->image_ref); }, stop);
  if (!r) {
    // In use by a container (or the runtime refused): the snapshot stays Deleting and is
    // retried kDeleteRetry later (and at the next start); the log line says why.
    logger("snapshotter")->warn("snapshot {}: removing {} failed (retried in {} s): {}", id,
                                sn->image_ref, kDeleteRetry.count(), r.error().message);
    if (sub_) sub_->wake_at(std::chrono::steady_clock::now() + kDeleteRetry);
    return;
  }
  record(id, RecordSnapshotDeleted{}, stop);
}

void Snapshotter::handle(const Event& e, std::stop_token stop) {
  const std::string id(snapshot_id_of(e.stream));
  if (id.empty()) return;
  if (std::holds_alternative<SnapshotRequested>(e.data)) {
    commit(id, stop);
  } else if (std::holds_alternative<SnapshotDeletionRequested>(e.data)) {
    remove(id, stop);
  }
}

void Snapshotter::reconcile() {
  std::stop_token none;
  std::set<std::string> owned_refs;
  for (const auto& sn : store_.list_snapshots()) {
    if (sn->state == SnapshotState::kCreating) {
      auto image = runtime_.snapshot_image(sn->id, sn->image_ref);
      if (image && *image) {
        logger("snapshotter")->info("snapshot {}: its image {} was committed before the restart",
                                    sn->id, sn->image_ref);
        record(sn->id, RecordSnapshotReady{**image}, none);
      } else if (image) {
        logger("snapshotter")->info("snapshot {}: still Creating after a restart, committing again",
                                    sn->id);
        commit(sn->id, none);  // the source is still there: commit again; else Failed
      } else {
        logger("snapshotter")->warn("snapshot {}: cannot inspect {}: {}", sn->id, sn->image_ref,
                                    image.error().message);
      }
    } else if (sn->state == SnapshotState::kDeleting) {
      remove(sn->id, none);
    } else if (sn->state == SnapshotState::kReady) {
      // No record pointing at a missing image: a Ready snapshot whose image is gone fails.
      auto image = runtime_.snapshot_image(sn->id, sn->image_ref);
      if (image && !*image) {
        logger("snapshotter")->warn("snapshot {}: its image {} is gone", sn->id, sn->image_ref);
        record(sn->id,
               RecordSnapshotFailed{"SNAPSHOT::IMAGE_MISSING",
                                    "the image " + sn->image_ref + " no longer exists"},
               none);
      }
    }
  }
  for (const auto& sn : store_.list_snapshots()) {
    if (sn->state != SnapshotState::kFailed) owned_refs.insert(sn->id + std::string("\n") + sn->image_ref);
  }
  auto images = runtime_.list_snapshot_images();
  if (!images) {
    if (images.error().code != ErrorCode::kUnimplemented) {
      logger("snapshotter")->warn("listing snapshot images failed: {}", images.error().message);
    }
    return;
  }
  for (const auto& img : *images) {
    bool owned = false;
    for (const auto& ref : img.refs) owned = owned || owned_refs.contains(img.snapshot_id + std::string("\n") + ref);
    if (owned) continue;
    const std::string ref = img.refs.empty() ? img.image_id : img.refs.front();
    auto r = runtime_.remove_snapshot_image(img.snapshot_id, img.refs.empty() ? img.image_id : ref);
    if (!r) {
      logger("snapshotter")->warn("orphan snapshot image {} ({}): removal failed: {}", ref,
                                  img.image_id, r.error().message);
      continue;
    }
    logger("snapshotter")->info("removed orphan snapshot image {} of snapshot {}", ref,
                                img.snapshot_id);
    if (finding_) {
      finding_("snapshot_image_removed",
               std::string("snapshot ") + img.snapshot_id + std::string(" image ") + ref + std::string(" (") + img.image_id + ")");
    }
  }
}

void Snapshotter::run(std::stop_token stop) {
  if (runtime_.supports_snapshots()) reconcile();
  while (!stop.stop_requested()) {
    auto batch = sub_->next();
    if (batch.stopped()) break;
    if (batch.timed_out()) {
      // A deletion whose image was still in use: try again.
      for (const auto& sn : store_.list_snapshots()) {
        if (sn->state == SnapshotState::kDeleting) remove(sn->id, stop);
      }
    }
    if (batch.empty()) continue;
    for (const Event& e : batch.events()) {
      if (stop.stop_requested()) return;  // the checkpoint stays before it: redone
      handle(e, stop);
    }
    if (auto r = store_.save_checkpoint(kConsumer, batch.next() - 1); !r) {
      logger("snapshotter")->warn("saving checkpoint failed: {}", r.error().message);
    }
  }
}

}  // namespace sbx
