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
  listener_id_ = store_.add_commit_listener([this](const std::vector<Event>&, const CommitStats&) {
    {
      std::lock_guard lock(mu_);
      if (subs_.empty()) return;
      dirty_ = true;
    }
    cv_.notify_one();
  });
  thread_ = std::thread([this] { run(); });
  ::pthread_setname_np(thread_.native_handle(), "sbx-sse");
}

EventStreamer::~EventStreamer() { shutdown(); }

bool EventStreamer::add(Subscriber subscriber, std::uint64_t after) {
  auto sub = std::make_shared<Sub>();
  sub->io = std::move(subscriber);
  sub->after = after;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      subs_.push_back(sub);
      dirty_ = true;
      sub = nullptr;
    }
  }
  if (sub) {
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
    std::vector<std::shared_ptr<Sub>> subs;
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
    const std::uint64_t head = store_.head();
    std::vector<std::shared_ptr<Sub>> gone;
    bool lagging = false;
    for (auto& sub : subs) {
      bool alive = true;
      if (sub->after < head) {
        // Records that do not decode are skipped (the store logs and counts them).
        auto chunk = store_.read_log(sub->after + 1, batch_);
        if (!chunk) {
          logger("api")->warn("event stream: reading from {} failed: {}", sub->after + 1,
                              chunk.error().message);
        } else {
          if (!chunk->events.empty()) {
            std::string frames;
            for (const auto& e : chunk->events) frames += frame(e);
            alive = sub->io.write(frames);
          }
          if (alive && chunk->next > sub->after + 1) {
            sub->after = chunk->next - 1;
            if (sub->after < head) lagging = true;
          }
        }
      }
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
    store_.remove_commit_listener(listener_id_);
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
