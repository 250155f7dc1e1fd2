#include "src/service/event_streamer.h"

#include <pthread.h>

#include <algorithm>
#include <exception>

#include "src/common/log.h"
#include "src/service/event_envelope.h"

namespace sbx {

std::string EventStreamer::frame(const Event& event) {
  std::string out = "id: ";
  out += std::to_string(event.position);
  out += "\ndata: ";
  out += event_envelope_json(event);
  out += "\n\n";
  return out;
}

EventStreamer::EventStreamer(EventStore& store, std::chrono::milliseconds heartbeat,
                             std::size_t batch)
    : store_(store), heartbeat_(heartbeat), batch_(std::max<std::size_t>(1, batch)) {
  thread_ = std::thread([this] { run(); });
  ::pthread_setname_np(thread_.native_handle(), "sbx-sse");
}

EventStreamer::~EventStreamer() { shutdown(); }

// Runs on a committing thread (a Subscription's on_ready) or a caller of add(): never under
// mu_ of this object or a lock of a subscription.
void EventStreamer::mark_ready() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

bool EventStreamer::add(Subscriber subscriber, std::uint64_t after) {
  auto sub = std::make_shared<Sub>();
  sub->io = std::move(subscriber);
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      if (sub->io.end) sub->io.end();
      return false;
    }
  }
  Subscription::Options o;
  o.after = after;
  o.max_batch = batch_;
  o.name = "sse";
  o.on_ready = [this] { mark_ready(); };
  auto log = Subscription::open(store_, std::move(o));
  if (!log) {
    logger("api")->warn("event stream: cannot follow the log from {}: {}", after + 1,
                        log.error().message);
    if (sub->io.end) sub->io.end();
    return false;
  }
  sub->log = std::move(*log);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      subs_.push_back(sub);
      dirty_ = true;
      sub = nullptr;
    }
  }
  if (sub) {  // shutdown began meanwhile; its subscription is stopped outside mu_
    if (sub->io.end) sub->io.end();
    return false;
  }
  cv_.notify_one();
  return true;
}

std::size_t EventStreamer::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void EventStreamer::run() {
  auto next_heartbeat = std::chrono::steady_clock::now() + heartbeat_;
  for (;;) {
    // Declared before the lock at the end of the round, so a dropped subscriber's
    // Subscription is destroyed after that lock is released.
    std::vector<std::shared_ptr<Sub>> subs;
    std::vector<std::shared_ptr<Sub>> gone;
    bool beat = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_heartbeat, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_heartbeat) {
        beat = true;
        next_heartbeat = now + heartbeat_;
      }
      dirty_ = false;
      subs = subs_;
    }
    bool lagging = false;
    for (auto& sub : subs) {
      bool alive = true;
      // About batch_ events per subscriber per round (a live batch is one group commit, so
      // several are taken until batch_ is reached); records that do not decode are skipped
      // (the store logs and counts them). A round that took something may have left more:
      // another round follows.
      std::string frames;
      std::size_t taken = 0;
      bool more = false;
      while (taken < batch_) {
        auto batch = sub->log->poll();
        if (batch.empty()) {
          more = false;
          break;
        }
        more = true;
        taken += batch.events().size() + batch.corrupt().size();
        for (const auto& e : batch.events()) frames += frame(e);
      }
      if (!frames.empty()) alive = sub->io.write(frames);
      if (more) lagging = true;
      if (alive && beat) alive = sub->io.write(": keep-alive\n\n");
      if (!alive) gone.push_back(sub);
    }
    std::lock_guard lock(mu_);
    if (!gone.empty()) {
      subs_.erase(std::remove_if(subs_.begin(), subs_.end(),
                                 [&](const auto& s) {
                                   return std::find(gone.begin(), gone.end(), s) != gone.end();
                                 }),
                  subs_.end());
    }
    if (lagging) dirty_ = true;
  }
}

void EventStreamer::shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::vector<std::shared_ptr<Sub>> subs;
    {
      std::lock_guard lock(mu_);
      subs.swap(subs_);
    }
    for (auto& s : subs) {
      if (s->io.end) s->io.end();
    }
  });
}

}  // namespace sbx
