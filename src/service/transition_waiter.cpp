#include "src/service/transition_waiter.h"

#include <algorithm>
#include <exception>
#include <optional>
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
  Subscription::Options o;
  o.from_head = true;
  o.name = "sbx-waiter";
  auto log = Subscription::open(store_, std::move(o));
  if (!log) {
    // Only a consumer checkpoint can fail to open; from the head nothing is read.
    logger("service")->error("transition waiter: cannot follow the log: {}", log.error().message);
    return;
  }
  log_ = std::move(*log);
  log_->start([this](const Subscription::Batch& batch) { on_batch(batch); });
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
  bool earliest = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !log_) {
      w->done = true;
    } else {
      earliest = deadlines_.empty() || w->deadline < deadlines_.top()->deadline;
      by_id_[w->sandbox_id].push_back(w);
      deadlines_.push(w);
      ++pending_;
    }
  }
  if (w->done) {
    run_callback(w->callback, WaitOutcome::kCancelled, store_.get_sandbox(w->sandbox_id));
    return;
  }
  // The new deadline is the earliest: the handler sets the alarm anew (wake() after the
  // push, so a handler that is setting an older alarm right now runs once more).
  if (earliest) log_->wake();

  // Registered first, checked second: a commit that lands in between is seen either by
  // this check (the projection is updated before the commit is delivered) or by the
  // subscription, which delivers every commit after it was opened.
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

void TransitionWaiter::on_batch(const Subscription::Batch& batch) {
  if (batch.stopped()) return;
  struct Ready {
    WaitPtr wait;
    WaitOutcome outcome;
    std::shared_ptr<const Sandbox> sandbox;
  };
  std::vector<Ready> ready;
  std::optional<std::chrono::steady_clock::time_point> alarm;
  {
    std::lock_guard lock(mu_);
    if (!by_id_.empty()) {
      std::unordered_set<std::string_view> seen;
      for (const auto& e : batch.events()) {
        const std::string_view id = sandbox_id_of(e.stream);
        if (id.empty() || !seen.insert(id).second) continue;
        auto it = by_id_.find(std::string(id));
        if (it == by_id_.end()) continue;
        auto current = store_.get_sandbox(id);
        auto& waits = it->second;
        for (auto& w : waits) {
          if (w->done) continue;
          if (!current) {
            ready.push_back({w, WaitOutcome::kGone, nullptr});
          } else if (w->predicate(*current)) {
            ready.push_back({w, WaitOutcome::kSatisfied, current});
          } else {
            continue;
          }
          w->done = true;
          --pending_;
        }
        waits.erase(std::remove_if(waits.begin(), waits.end(),
                                   [](const WaitPtr& w) { return w->done.load(); }),
                    waits.end());
        if (waits.empty()) by_id_.erase(it);
      }
    }
    // Drop completed waits from the top of the heap, then fire the expired ones.
    while (!deadlines_.empty() && deadlines_.top()->done) deadlines_.pop();
    const auto now = std::chrono::steady_clock::now();
    while (!deadlines_.empty() && deadlines_.top()->deadline <= now) {
      WaitPtr w = deadlines_.top();
      deadlines_.pop();
      if (w->done) continue;
      w->done = true;
      unlink(w);
      --pending_;
      ready.push_back({std::move(w), WaitOutcome::kTimedOut, nullptr});
    }
    while (!deadlines_.empty() && deadlines_.top()->done) deadlines_.pop();
    if (!deadlines_.empty()) alarm = deadlines_.top()->deadline;
  }
  if (alarm) log_->wake_at(*alarm);
  for (auto& r : ready) {
    if (r.outcome == WaitOutcome::kTimedOut) r.sandbox = store_.get_sandbox(r.wait->sandbox_id);
    run_callback(r.wait->callback, r.outcome, std::move(r.sandbox));
  }
}

void TransitionWaiter::shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    // Joins the handler's thread: it has run every callback it took before it returned.
    if (log_) log_->stop();
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
