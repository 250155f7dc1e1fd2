// WakeSignal: a raised flag and the condition variable to wait for it, shared (through a
// shared_ptr) between a worker thread and the store commit listener that wakes it.
//
// EventStore runs listeners from a snapshot of its listener list, so a listener may still
// run briefly after remove_commit_listener() returned; capturing the shared_ptr (never the
// worker's `this`) keeps what it touches alive. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>

namespace sbx {

struct WakeSignal {
  std::mutex mu;
  std::condition_variable_any cv;
  bool raised = false;  // guarded by mu

  void raise() {
    {
      std::lock_guard lock(mu);
      raised = true;
    }
    cv.notify_all();
  }
};

}  // namespace sbx
