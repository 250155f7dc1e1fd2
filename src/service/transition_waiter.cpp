#include "src/service/transition_waiter.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <string_view>
#include <unordered_set>

#include "src/common/log.h"

namespace sbx {

std::string_view to_string(WaitOutcome outcome) {
  switch (outcome) {
    case WaitOutcome::kSatisfied:
      return "satisfied";
    case WaitOutcome::kGone:
      return "gone";
    case WaitOutcome::kTimedOut:
      return "timed_out";
    case WaitOutcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

void run_callback(const TransitionWaiter::Callback& cb, WaitOutcome outcome,
                  std::shared_ptr<const Sandbox> sandbox) {
  try {
    cb(outcome, std::move(sandbox));
  } catch (const std::exception& e) {
    logger("service")->error("wait callback threw: {}", e.what());
  } catch (...) {
    logger("service")->error("wait callback threw a non-standard exception");
  }
}

}  // namespace

TransitionWaiter::TransitionWaiter(EventStore& store) : store_(store) {
  listener_id_ = store_.add_commit_listener(
      [this](const std::vector<Event>& events, const CommitStats&) { on_commit(events); });
  thread_ = std::thread([this] { run(); });
  ::pthread_setname_np(thread_.native_handle(), "sbx-waiter");
}

TransitionWaiter::~TransitionWaiter() { shutdown(); }

void TransitionWaiter::unlink(const WaitPtr& w) {
  auto it = by_id_.find(w->sandbox_id);
  if (it == by_id_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), w), v.end());
  if (v.empty()) by_id_.erase(it);
}

void TransitionWaiter::wait_async(std::string sandbox_id, Predicate predicate,
                                  std::chrono::milliseconds timeout, Callback callback) {
  auto w = std::make_shared<Wait>();
  w->sandbox_id = std::move(sandbox_id);
  w->predicate = std::move(predicate);
  w->callback = std::move(callback);
  w->deadline = std::chrono::steady_clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      w->done = true;
    } else {
      by_id_[w->sandbox_id].push_back(w);
      deadlines_.push(w);
      ++pending_;
    }
  }
  if (w->done) {
    run_callback(w->callback, WaitOutcome::kCancelled, store_.get_sandbox(w->sandbox_id));
    return;
  }
  cv_.notify_one();  // the new deadline may be the earliest

  // Registered first, checked second: a commit that lands in between is seen either by
  // this check (the projection is updated before listeners run) or by the listener.
  auto current = store_.get_sandbox(w->sandbox_id);
  WaitOutcome outcome;
  {
    std::lock_guard lock(mu_);
    if (w->done) return;
    if (!current) {
      outcome = WaitOutcome::kGone;
    } else if (w->predicate(*current)) {
      outcome = WaitOutcome::kSatisfied;
    } else {
      return;  // parked
    }
    w->done = true;
    unlink(w);
    --pending_;
  }
  run_callback(w->callback, outcome, std::move(current));
}

void TransitionWaiter::on_commit(const std::vector<Event>& events) {
  bool any = false;
  {
    std::lock_guard lock(mu_);
    if (by_id_.empty()) return;
    std::unordered_set<std::string_view> seen;
    for (const auto& e : events) {
      const std::string_view id = sandbox_id_of(e.stream);
      if (id.empty() || !seen.insert(id).second) continue;
      auto it = by_id_.find(std::string(id));
      if (it == by_id_.end()) continue;
      auto current = store_.get_sandbox(id);
      auto& waits = it->second;
      for (auto& w : waits) {
        if (w->done) continue;
        if (!current) {
          ready_.push_back({w, WaitOutcome::kGone, nullptr});
        } else if (w->predicate(*current)) {
          ready_.push_back({w, WaitOutcome::kSatisfied, current});
        } else {
          continue;
        }
        w->done = true;
        --pending_;
        any = true;
      }
      waits.erase(std::remove_if(waits.begin(), waits.end(),
                                 [](const WaitPtr& w) { return w->done.load(); }),
                  waits.end());
      if (waits.empty()) by_id_.erase(it);
    }
  }
  if (any) cv_.notify_one();
}

void TransitionWaiter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!ready_.empty()) {
      std::vector<Ready> batch;
      batch.swap(ready_);
      lock.unlock();
      for (auto& r : batch) run_callback(r.wait->callback, r.outcome, std::move(r.sandbox));
      lock.lock();
      continue;
    }
    // Drop completed waits from the top of the heap, then fire the expired ones.
    while (!deadlines_.empty() && deadlines_.top()->done) deadlines_.pop();
    const auto now = std::chrono::steady_clock::now();
    std::vector<WaitPtr> expired;
    while (!deadlines_.empty() && deadlines_.top()->deadline <= now) {
      WaitPtr w = deadlines_.top();
      deadlines_.pop();
      if (w->done) continue;
      w->done = true;
      unlink(w);
      --pending_;
      expired.push_back(std::move(w));
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& w : expired) {
        run_callback(w->callback, WaitOutcome::kTimedOut, store_.get_sandbox(w->sandbox_id));
      }
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (deadlines_.empty()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, deadlines_.top()->deadline);
    }
  }
}

void TransitionWaiter::shutdown() {
  std::call_once(shutdown_once_, [this] {
    store_.remove_commit_listener(listener_id_);
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // The thread ran every ready callback before it returned; cancel what is left.
    std::vector<WaitPtr> left;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, waits] : by_id_) {
        for (auto& w : waits) {
          if (!w->done.exchange(true)) left.push_back(w);
        }
      }
      by_id_.clear();
      while (!deadlines_.empty()) deadlines_.pop();
      pending_ = 0;
    }
    for (auto& w : left) {
      run_callback(w->callback, WaitOutcome::kCancelled, store_.get_sandbox(w->sandbox_id));
    }
  });
}

std::size_t TransitionWaiter::pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

}  // namespace sbx
