#include "src/service/work_pool.h"

#include <pthread.h>

#include <algorithm>
#include <exception>

#include "src/common/log.h"

namespace sbx {

WorkPool::WorkPool(int threads, std::string name) : name_(std::move(name)) {
  const int n = std::max(1, threads);
  threads_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] { run(); });
    ::pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

WorkPool::~WorkPool() { shutdown(); }

bool WorkPool::submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void WorkPool::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::call_once(joined_, [this] {
    for (auto& t : threads_) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();  // shutdown from a task: the thread exits once the queue drains
      } else if (t.joinable()) {
        t.join();
      }
    }
  });
}

std::size_t WorkPool::queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void WorkPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      logger("service")->error("{}: task threw: {}", name_, e.what());
    } catch (...) {
      logger("service")->error("{}: task threw a non-standard exception", name_);
    }
  }
}

}  // namespace sbx
