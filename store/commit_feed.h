// CommitFeed: how an EventStore makes a commit known — it moves the head (waking
// wait_for_commit) and hands the committed batch to the batch listeners (which is how
// Subscriptions go live, store/subscription.h). store/ only.
//
// Listeners run on the thread that publishes the batch (the writer whose turn it is, or
// catch_up's caller on a read-only store), after the batch is durable and the in-memory
// projection shows it, one batch at a time in position order (the writer pipeline orders
// the runs), in the order they were added. A listener that throws is logged and skipped.
//
// Thread-safety: every method is thread-safe. remove() waits until no run that may still
// call the removed listener is in progress, unless called from inside a listener.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "events/log_sink.h"
#include "events/time.h"
#include "store/commit.h"

namespace sbx::store_detail {

class CommitFeed {
 public:
  explicit CommitFeed(const Logger& logger) : logger_(logger) {}

  // Sequentially consistent with has_listeners() and add(): a listener added before a
  // commit's publish() is seen by the committer's has_listeners() after it; a listener that
  // reads head() after add() and does not see a commit's head will get its batch (how
  // Subscription knows which positions reach it in memory).
  std::uint64_t head() const { return head_.load(std::memory_order_seq_cst); }
  // Sets the head without waking anyone (the open path, before other threads exist).
  void set_head(std::uint64_t head) { head_.store(head, std::memory_order_release); }
  // Moves the head and wakes wait_for_commit.
  void publish(std::uint64_t new_head);
  std::uint64_t wait_for_commit(std::uint64_t after_position, Micros timeout) const;
  // Ends every wait_for_commit (the store is closing).
  void close();

  int add(BatchListener listener);
  void remove(int id);
  bool has_listeners() const { return listener_count_.load(std::memory_order_seq_cst) > 0; }
  // Runs every listener with `batch` (see above).
  void deliver(const std::shared_ptr<const CommittedBatch>& batch);

 private:
  const Logger& logger_;
  std::atomic<std::uint64_t> head_{0};
  mutable std::mutex commit_mu_;
  mutable std::condition_variable commit_cv_;
  bool closed_ = false;  // commit_mu_

  // Listeners (copy on write).
  std::mutex listeners_mu_;
  std::shared_ptr<const std::vector<std::pair<int, BatchListener>>> listeners_ =
      std::make_shared<std::vector<std::pair<int, BatchListener>>>();
  int next_listener_ = 1;  // listeners_mu_
  std::atomic<std::size_t> listener_count_{0};
  // Held shared while listeners run, so remove() can wait until no run that may still
  // call the removed listener is in progress (its owner may then die).
  std::shared_mutex running_;
};

}  // namespace sbx::store_detail
