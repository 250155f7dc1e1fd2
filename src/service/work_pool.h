// WorkPool: a fixed set of threads running submitted tasks in FIFO order.
//
// The service runs mutations here so that HTTP threads never block on a durable append:
// each task blocks one pool thread for one group commit, and concurrent tasks share
// batches. Tasks must not throw (an escaping exception is logged and swallowed).
//
// Thread-safe. shutdown() stops accepting (submit then returns false), runs every task
// already queued, and joins; the destructor calls it. Tasks may submit further tasks
// until shutdown() begins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sbx {

class WorkPool {
 public:
  WorkPool(int threads, std::string name);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False (and `task` is not run) once shutdown() has begun.
  bool submit(std::function<void()> task);
  void shutdown();
  std::size_t queued() const;

 private:
  void run();

  const std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::once_flag joined_;
  std::vector<std::thread> threads_;
};

}  // namespace sbx
