#include "store/subscription.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace sbx {

Result<std::unique_ptr<Subscription>> Subscription::open(const EventStore& store,
                                                         Options options) {
  options.max_batch = std::max<std::size_t>(1, options.max_batch);
  std::uint64_t after = options.after;
  if (!options.consumer.empty()) {
    auto cp = store.checkpoint(options.consumer);
    if (!cp) return std::unexpected(cp.error());
    after = *cp;
  } else if (options.from_head) {
    after = store.head();
  }
  return std::unique_ptr<Subscription>(new Subscription(store, std::move(options), after));
}

Subscription::Subscription(const EventStore& store, Options options, std::uint64_t after)
    : store_(store), options_(std::move(options)), next_(after + 1) {
  // A commit between reading the starting point and this registration is not missed: the
  // head already shows it, so next() reads it from the log.
  listener_ = store_.add_batch_listener(
      [this](const std::shared_ptr<const CommittedBatch>& batch) { on_commit(batch); });
  const std::uint64_t head = store_.head();
  std::lock_guard l(mu_);
  readable_ = std::max(readable_, head);
}

Subscription::~Subscription() {
  stop();
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // destroyed by its own handler: nothing runs after this returns
    } else {
      thread_.join();
    }
  }
}

void Subscription::drop_backlog() {
  backlog_.clear();
  backlog_events_ = 0;
}

void Subscription::on_commit(const std::shared_ptr<const CommittedBatch>& b) {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    readable_ = std::max(readable_, b->last_position);
    if (backlog_.empty() && b->last_position < next_) return;  // read from the log already
    // Only gap-free batches are served from memory: a read-only store's catch-up covers
    // positions whose records do not decode, which the log read reports.
    const bool whole = b->events.size() == b->last_position - b->first_position + 1;
    const bool follows = backlog_.empty() ? b->first_position <= next_
                                          : b->first_position == backlog_.back()->last_position + 1;
    if (!whole || !follows || backlog_events_ + b->events.size() > options_.max_backlog) {
      // Behind, overflowing or not servable: what is not queued is read from the log.
      drop_backlog();
    } else {
      backlog_.push_back(b);
      backlog_events_ += b->events.size();
    }
  }
  cv_.notify_all();
  if (options_.on_ready) options_.on_ready();
}

bool Subscription::take_live(Batch& out) {
  while (!backlog_.empty() && backlog_.front()->last_position < next_) {
    backlog_events_ -= backlog_.front()->events.size();
    backlog_.pop_front();
  }
  if (backlog_.empty() || backlog_.front()->first_position > next_) return false;
  std::shared_ptr<const CommittedBatch> b = backlog_.front();
  const auto& events = b->events;
  const auto by_position = [](const Event& e, std::uint64_t p) { return e.position < p; };
  const auto begin = std::lower_bound(events.begin(), events.end(), next_, by_position);
  const auto count =
      std::min<std::size_t>(options_.max_batch, static_cast<std::size_t>(events.end() - begin));
  const auto end = begin + static_cast<std::ptrdiff_t>(count);
  if (begin == events.begin()) out.commit_ = &b->stats;  // it begins the group commit
  const std::uint64_t first = next_;
  if (end == events.end()) {
    next_ = b->last_position + 1;
    backlog_events_ -= events.size();
    backlog_.pop_front();
  } else {
    next_ = end->position;
  }
  const auto& changes = b->changes;
  const auto change_at = [](const SandboxChange& c, std::uint64_t p) { return c.position < p; };
  const auto cb = std::lower_bound(changes.begin(), changes.end(), first, change_at);
  const auto ce = std::lower_bound(cb, changes.end(), next_, change_at);
  out.events_ = std::span<const Event>(&*begin, count);
  out.changes_ = std::span<const SandboxChange>(changes.data() + (cb - changes.begin()),
                                                static_cast<std::size_t>(ce - cb));
  out.next_ = next_;
  out.live_ = std::move(b);
  return true;
}

Subscription::Batch Subscription::next(TimePoint deadline) {
  Batch out;  // out.error_: the failure of this call's last log read
  std::unique_lock l(mu_);
  for (;;) {
    if (stopping_) {
      out.stopped_ = true;
      out.next_ = next_;
      return out;
    }
    if (take_live(out)) {
      out.error_.reset();
      out.woken_ = std::exchange(woken_, false);
      return out;
    }
    // Behind the head (or before the live backlog): read the log.
    const std::uint64_t from = next_;
    std::uint64_t up_to = readable_;
    if (!backlog_.empty()) up_to = std::min(up_to, backlog_.front()->first_position - 1);
    if (up_to >= from) {
      l.unlock();
      auto chunk = store_.read_log(from, std::min<std::uint64_t>(options_.max_batch,
                                                                 up_to - from + 1));
      l.lock();
      if (chunk && chunk->next > from) {
        next_ = chunk->next;  // only the consuming thread moves next_
        out.read_ = std::move(chunk->events);
        out.events_ = out.read_;
        out.corrupt_ = std::move(chunk->corrupt);
        out.next_ = next_;
        out.woken_ = std::exchange(woken_, false);
        return out;
      }
      out.error_.reset();
      if (!chunk) {
        out.error_.emplace(chunk.error());
        store_.logger().warn(options_.name + ": reading the log from position " +
                             std::to_string(from) + " failed: " + chunk.error().message +
                             "; retrying in " + std::to_string(options_.retry_delay.count()) +
                             " ms");
      }
    }
    out.next_ = next_;
    if (std::exchange(woken_, false)) {
      out.woken_ = true;
      return out;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= alarm_) {
      alarm_ = TimePoint::max();
      out.timed_out_ = true;
      return out;
    }
    if (now >= deadline) {
      out.timed_out_ = true;
      return out;
    }
    TimePoint until = std::min(deadline, alarm_);
    if (out.error_) until = std::min(until, now + options_.retry_delay);
    // No lost wake-up: everything that should end this wait changes under mu_.
    if (until == TimePoint::max()) {
      cv_.wait(l);
    } else {
      cv_.wait_until(l, until);
    }
  }
}

void Subscription::start(Handler handler) {
  thread_ = std::thread([this, handler = std::move(handler)] {
    ::pthread_setname_np(::pthread_self(), options_.name.substr(0, 15).c_str());
    for (;;) {
      Batch batch = next();
      if (batch.stopped()) return;
      try {
        handler(batch);
      } catch (const std::exception& e) {
        store_.logger().error(options_.name + ": handler threw: " + e.what());
      } catch (...) {
        store_.logger().error(options_.name + ": handler threw");
      }
    }
  });
}

void Subscription::wake() {
  {
    std::lock_guard l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Subscription::wake_at(TimePoint when) {
  {
    std::lock_guard l(mu_);
    alarm_ = when;
  }
  cv_.notify_all();
}

void Subscription::stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard l(mu_);
      stopping_ = true;
      drop_backlog();
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    store_.remove_commit_listener(listener_);
  });
}

bool Subscription::stopping() const {
  std::lock_guard l(mu_);
  return stopping_;
}

std::uint64_t Subscription::position() const {
  std::lock_guard l(mu_);
  return next_ - 1;
}

}  // namespace sbx
