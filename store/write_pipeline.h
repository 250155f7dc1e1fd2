// WritePipeline: the group-commit write path of an EventStore (event_store.h: "Appends are
// group-committed"). store/ only.
//
// Pending appends go into one group: one WriteBatch and one fsync, one group at a time,
// written and published strictly in order. kWriters threads (and, on the fast path,
// appenders that find the staging lock free and room in the pipeline) take turns. One at a
// time (the staging lock) takes a group from the queue and stages it (append_staging.h)
// against the committed state plus the groups staged before it that are still in flight;
// then, outside the lock, it encodes the group's events into its WriteBatch and waits for
// its turn (seq order). When its turn comes the group is still open: under the staging lock
// it takes in (and stages) whatever was queued while its predecessor was being written
// (while it holds fewer than kAbsorbBelow appends), then it is sealed, its projections are
// encoded, and it is written and published. So group N+1 is staged and encoded while group
// N's WriteBatch is being fsynced, yet a small one collects the appends that arrived
// meanwhile; at most two groups are in flight, and a new group forms only once the one
// ahead of it is sealed (`room()`). A failed write bumps the epoch: every group staged
// before the failure was known fails unwritten, and staging restarts from the committed
// head once they have drained.
//
// Publishing a written group: under the projection's exclusive lock the table and the
// version cache take the group's changes and the head moves (CommitFeed::publish), so a
// reader that sees the new projection also sees the new head; then the appenders are
// woken; then, in seq order and off the write path, the batch listeners run.
//
// Thread-safety: append() and append_all() from any thread; start() once after open;
// stop() from close() (idempotent). The parts passed in must outlive it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "events/result.h"
#include "store/append_staging.h"
#include "store/commit_feed.h"
#include "store/event_store.h"
#include "store/projection.h"
#include "store/store_context.h"
#include "store/store_health.h"
#include "store/write_group.h"

namespace sbx::store_detail {

class WritePipeline {
 public:
  WritePipeline(StoreContext& ctx, StoreHealth& health, SandboxProjection& projection,
                CommitFeed& feed)
      : ctx_(ctx),
        health_(health),
        projection_(projection),
        feed_(feed),
        stager_(ctx, projection, inflight_) {}
  ~WritePipeline() { stop(); }

  // Starts the writer threads; positions continue after `head`.
  void start(std::uint64_t head);
  // Stops the writers: queued appends fail with kUnavailable; waits for appenders that are
  // writing their own group. Idempotent.
  void stop();

  // Blocks the caller until the batch holding this append is durable (or failed).
  Result<AppendResult> append(AppendRequest request);
  std::vector<Result<AppendResult>> append_all(std::vector<AppendRequest> requests);

 private:
  static constexpr int kWriters = 3;
  // A group takes in late appends only while it is small: what it takes in is staged and
  // encoded on the write path, which pays off when it saves an fsync for a few appends
  // (8 appenders: +15 % appends/s) and costs more than it saves once groups are big anyway
  // (64 appenders: -8 % when every group took everything in).
  static constexpr std::size_t kAbsorbBelow = 8;

  void writer_loop();
  bool room() const;  // inflight_.mu held: a new group may form
  void take_queued(Group& g);
  void start_group(Group& g);
  void absorb(Group& g);
  void write_group(Group& g);

  StoreContext& ctx_;
  StoreHealth& health_;
  SandboxProjection& projection_;
  CommitFeed& feed_;
  InFlight inflight_;
  AppendStager stager_;

  // Writer queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Request*> queue_;  // queue_mu_
  bool stopping_ = false;       // queue_mu_
  std::vector<std::thread> writers_;
  int callers_writing_ = 0;  // queue_mu_: appenders running their own group (fast path)
  std::condition_variable callers_cv_;

  std::mutex stage_mu_;
  std::uint64_t next_position_ = 1;  // stage_mu_
  std::uint64_t next_seq_ = 1;       // stage_mu_
  std::uint64_t staged_epoch_ = 0;   // stage_mu_
  bool resume_needed_ = false;       // only touched by the group whose turn it is
  std::mutex listen_mu_;
  std::condition_variable listen_cv_;
  std::uint64_t listened_seq_ = 0;  // listen_mu_: listeners run in seq order
};

}  // namespace sbx::store_detail
