// TransitionWaiter: waits for a sandbox projection to satisfy a predicate without holding
// a thread per wait.
//
// wait_async(id, predicate, timeout, callback) registers a wait; it completes exactly once:
//   kSatisfied  the projection satisfies `predicate` (checked at registration and after
//               every commit that touches the sandbox's stream);
//   kGone       the sandbox is not (or no longer) in the live projection (terminated,
//               deleted, or never existed);
//   kTimedOut   `timeout` passed first (measured on the steady clock);
//   kCancelled  shutdown() ran first.
// The callback receives the outcome and the projection at that moment (nullptr when gone).
//
// Mechanics: one push-mode Subscription to the log (store/subscription.h), opened at the
// head, runs everything on its thread: for each delivered batch it evaluates the waits of
// the sandboxes the batch touched against the projection and runs their callbacks, fires
// the waits whose deadline passed (a deadline heap; the subscription's alarm is set to the
// earliest), and nothing else — the committing threads never evaluate predicates. A wait
// satisfied at registration runs its callback on the registering thread, before
// wait_async returns. No polling anywhere. Commit listeners registered before this
// object's (SandboxService frees ports and host slots in one) have run for a commit before
// any wait it completes is answered: the subscription learns of a commit from its own
// listener, registered later, and delivers it on its thread afterwards.
//
// Thread-safety: every method is thread-safe. Callbacks must be quick and must not throw;
// they may call wait_async. Predicates run under an internal lock: pure and fast only.
// Lifetime: the EventStore must outlive this object; shutdown() (also run by the
// destructor) stops the subscription (joining its thread), then completes pending waits
// with kCancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "events/sandbox.h"
#include "store/event_store.h"
#include "store/subscription.h"

namespace sbx {

enum class WaitOutcome { kSatisfied, kGone, kTimedOut, kCancelled };
std::string_view to_string(WaitOutcome outcome);

class TransitionWaiter {
 public:
  using Predicate = std::function<bool(const Sandbox&)>;
  using Callback = std::function<void(WaitOutcome, std::shared_ptr<const Sandbox>)>;

  explicit TransitionWaiter(EventStore& store);
  ~TransitionWaiter();
  TransitionWaiter(const TransitionWaiter&) = delete;
  TransitionWaiter& operator=(const TransitionWaiter&) = delete;

  void wait_async(std::string sandbox_id, Predicate predicate, std::chrono::milliseconds timeout,
                  Callback callback);

  void shutdown();
  std::size_t pending() const;

 private:
  struct Wait {
    std::string sandbox_id;
    Predicate predicate;
    Callback callback;
    std::chrono::steady_clock::time_point deadline;
    std::atomic<bool> done{false};
  };
  using WaitPtr = std::shared_ptr<Wait>;
  struct Later {
    bool operator()(const WaitPtr& a, const WaitPtr& b) const { return a->deadline > b->deadline; }
  };

  // The subscription's handler: evaluates the waits `batch` touches, fires the expired
  // ones, sets the alarm to the next deadline.
  void on_batch(const Subscription::Batch& batch);
  // Removes `w` from by_id_ (mu_ held).
  void unlink(const WaitPtr& w);

  EventStore& store_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<WaitPtr>> by_id_;
  std::priority_queue<WaitPtr, std::vector<WaitPtr>, Later> deadlines_;
  std::size_t pending_ = 0;
  bool stopping_ = false;
  std::unique_ptr<Subscription> log_;  // null only if it could not be opened (logged)
  std::once_flag shutdown_once_;
};

}  // namespace sbx
