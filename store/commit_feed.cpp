#include "store/commit_feed.h"

#include <chrono>
#include <exception>
#include <string>

namespace sbx::store_detail {

namespace {
thread_local bool t_in_listener = false;  // this thread is running commit listeners
}  // namespace

void CommitFeed::publish(std::uint64_t new_head) {
  {
    std::lock_guard l(commit_mu_);
    head_.store(new_head, std::memory_order_seq_cst);
  }
  commit_cv_.notify_all();
}

std::uint64_t CommitFeed::wait_for_commit(std::uint64_t after_position, Micros timeout) const {
  std::unique_lock l(commit_mu_);
  if (timeout > 0) {
    commit_cv_.wait_for(l, std::chrono::microseconds(timeout),
                        [&] { return head() > after_position || closed_; });
  }
  return head();
}

void CommitFeed::close() {
  {
    std::lock_guard l(commit_mu_);
    closed_ = true;
  }
  commit_cv_.notify_all();
}

int CommitFeed::add(BatchListener listener) {
  std::lock_guard l(listeners_mu_);
  auto next = std::make_shared<std::vector<std::pair<int, BatchListener>>>(*listeners_);
  int id = next_listener_++;
  next->emplace_back(id, std::move(listener));
  listener_count_.store(next->size(), std::memory_order_seq_cst);
  listeners_ = std::move(next);
  return id;
}

void CommitFeed::remove(int id) {
  {
    std::lock_guard l(listeners_mu_);
    auto next = std::make_shared<std::vector<std::pair<int, BatchListener>>>(*listeners_);
    std::erase_if(*next, [id](const auto& p) { return p.first == id; });
    listener_count_.store(next->size(), std::memory_order_seq_cst);
    listeners_ = std::move(next);
  }
  // Wait out a run that took its snapshot before the removal, so the listener's owner may
  // be destroyed once this returns (not from inside a listener: it would wait for itself).
  if (!t_in_listener) std::unique_lock wait(running_);
}

void CommitFeed::deliver(const std::shared_ptr<const CommittedBatch>& batch) {
  std::shared_lock running(running_);
  struct InListener {
    bool was = t_in_listener;
    InListener() { t_in_listener = true; }
    ~InListener() { t_in_listener = was; }
  } in_listener;
  std::shared_ptr<const std::vector<std::pair<int, BatchListener>>> ls;
  {
    std::lock_guard l(listeners_mu_);
    ls = listeners_;
  }
  for (const auto& [id, fn] : *ls) {
    try {
      fn(batch);
    } catch (const std::exception& ex) {
      logger_.error("commit listener " + std::to_string(id) + " threw: " + ex.what());
    } catch (...) {
      logger_.error("commit listener " + std::to_string(id) + " threw");
    }
  }
}

}  // namespace sbx::store_detail
