// Subscription: "read the log from position N, then wake on every commit" as one concept —
// a catch-up subscription to the global log (KurrentDB's catch-up subscription to $all).
//
// A subscription delivers every log position after its starting point exactly once, in
// order, in batches of at most Options::max_batch events:
//   - catch-up: while it is behind the head, it reads the log (EventStore::read_log): a
//     record that does not decode is reported in Batch::corrupt() (the store logs and
//     counts it) and skipped, so one bad record never stalls it;
//   - live: once caught up, it takes the committed batches the store hands to its batch
//     listeners (store/commit.h) straight from memory — no log read — together with what
//     the projection staged for them (Batch::changes(), the group commit's stats). Up to
//     Options::max_backlog live events wait for a consumer that is busy; beyond that the
//     backlog is dropped and the subscription catches up from the log again (changes and
//     stats are then absent for what it reads back).
// The starting point is a position (Options::after), the head (from_head), or a consumer's
// persisted checkpoint (Options::consumer: EventStore::checkpoint; the consumer saves its
// progress itself with EventStore::save_checkpoint, when it knows what it has finished).
//
// Two ways to consume it, on one thread at a time:
//   pull  next(deadline) blocks until there is something to deliver, wake() is called, the
//         deadline or the alarm (wake_at) passes, or stop() — no polling: commits wake it.
//         poll() never blocks. The consumer owns the thread (sandbox-events follow, the
//         projection rebuild, the SSE streamer).
//   push  start(handler) runs next() on a thread of the subscription and calls `handler`
//         with every batch until stop(). Workers use it (provisioner, expirer, reconciler,
//         LogMetrics): wake() for work on demand, wake_at() for periodic work and
//         deadlines. Every batch says why it came (events, woken(), timed_out()).
//
// Read-only stores (a secondary of another process's store) learn of the primary's
// commits only through EventStore::catch_up(), which delivers what it brings in to the
// subscription like a commit (the tool that follows one calls it on its own period).
//
// SSE fan-out (many subscribers, each at its own position, served by one thread): the
// streamer holds one pull-mode Subscription per client, opened at the client's position
// with `on_ready` set to wake the streamer's own thread. Each round it calls poll() on
// every subscription and writes what it got (max_batch bounds one client's share of a
// round, so a client catching up from far behind does not starve the others), with its
// heartbeats on its own deadline. A slow client's backlog overflows on its own and that
// client falls back to reading the log; the others stay live.
//
// Thread-safety: next()/poll() from one thread at a time (the push thread after start());
// wake(), wake_at(), position() and stop() from any thread. stop() is idempotent: it ends a
// blocked next() (a batch with stopped()), joins the push thread (unless called from the
// handler, which may stop but not destroy its own subscription) and detaches from the
// store; the destructor calls it. The store must outlive the subscription.
//
// Errors: open() fails with the store's error when the consumer's checkpoint cannot be
// read. A failed log read is logged and retried after Options::retry_delay; next() never
// fails (a batch that ends a wait after a failed read says so: Batch::error()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "store/commit.h"
#include "store/event_store.h"

namespace sbx {

class Subscription {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Options {
    std::uint64_t after = 0;  // deliver the positions after this one
    bool from_head = false;   // instead: after the store's head when it is opened
    std::string consumer;     // instead: after the consumer's persisted checkpoint
    std::size_t max_batch = 256;    // events (and corrupt records) per batch, at least 1
    std::size_t max_backlog = 65536;  // live events waiting before falling back to the log
    std::chrono::milliseconds retry_delay{1000};  // after a failed log read
    // Called on the committing thread, outside every lock of the subscription, whenever
    // something was committed that this subscription has yet to deliver. Quick; it must not
    // call into the store or the subscription (it may signal the consumer's own thread).
    std::function<void()> on_ready;
    std::string name = "subscription";  // log lines; the push thread's name (15 chars)
  };

  // What one next()/poll() delivers. Its spans stay valid while the Batch lives.
  class Batch {
   public:
    std::span<const Event> events() const { return events_; }
    // Live batches: what the projection staged for these events, in position order (see
    // store/commit.h; only events the projection folded have one). Empty when read back
    // from the log.
    std::span<const SandboxChange> changes() const { return changes_; }
    const std::vector<CorruptEvent>& corrupt() const { return corrupt_; }
    // Live batches that begin a group commit: its statistics (once per group commit).
    const CommitStats* commit() const { return commit_; }
    std::uint64_t next() const { return next_; }  // the first position not yet delivered
    bool live() const { return live_ != nullptr; }
    bool empty() const { return events_.empty() && corrupt_.empty(); }
    bool woken() const { return woken_; }          // wake() was called
    bool timed_out() const { return timed_out_; }  // the deadline or the alarm passed
    bool stopped() const { return stopped_; }      // stop() was called: nothing else is set
    // Set on a batch without events when the log read of its round failed (it was logged
    // and is retried by the next call): for consumers that would rather give up.
    const std::optional<Error>& error() const { return error_; }

   private:
    friend class Subscription;
    std::shared_ptr<const CommittedBatch> live_;
    std::vector<Event> read_;  // events read back from the log
    std::span<const Event> events_;
    std::span<const SandboxChange> changes_;
    std::vector<CorruptEvent> corrupt_;
    const CommitStats* commit_ = nullptr;
    std::uint64_t next_ = 0;
    bool woken_ = false;
    bool timed_out_ = false;
    bool stopped_ = false;
    std::optional<Error> error_;
  };
  using Handler = std::function<void(const Batch& batch)>;

  [[nodiscard]] static Result<std::unique_ptr<Subscription>> open(const EventStore& store,
                                                                  Options options);
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Pull (see above). A batch with events or corrupt records as soon as there are any;
  // else one with woken() / timed_out() / stopped() set.
  Batch next(TimePoint deadline = TimePoint::max());
  Batch poll() { return next(TimePoint::min()); }

  // Push (see above). At most once.
  void start(Handler handler);

  void wake();
  // True once stop() was called: a handler doing long work checks it between steps.
  bool stopping() const;
  // The next wait ends at `when` at the latest (timed_out()); replaces an earlier alarm,
  // which is cleared when it fires.
  void wake_at(TimePoint when);
  void stop();

  // The last position delivered (or the starting point).
  std::uint64_t position() const;

 private:
  Subscription(const EventStore& store, Options options, std::uint64_t after);
  void on_commit(const std::shared_ptr<const CommittedBatch>& batch);
  // Under mu_: a batch from the live backlog, if its front holds next_.
  bool take_live(Batch& out);
  void drop_backlog();

  const EventStore& store_;
  const Options options_;
  int listener_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const CommittedBatch>> backlog_;  // mu_: contiguous, in order
  std::size_t backlog_events_ = 0;                             // mu_
  std::uint64_t next_ = 1;                                     // mu_: next position to deliver
  // mu_: how far the log may be read back. Positions up to the head seen right after the
  // listener was added may never reach it; every later one does (commit_feed.h), so
  // reading ahead of the batches seen would race their live delivery (and lose their
  // changes): reads stop at the last position a batch brought.
  std::uint64_t readable_ = 0;
  bool woken_ = false;                                         // mu_
  bool stopping_ = false;                                      // mu_
  TimePoint alarm_ = TimePoint::max();                         // mu_

  std::once_flag stop_once_;
  std::thread thread_;
};

}  // namespace sbx
