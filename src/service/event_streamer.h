// EventStreamer: feeds the global event log to server-sent-event subscribers
// (GET /v1/events?since=N) from one thread, woken by the store's commits. The API gets
// one from the service's read port (EventReads::stream_events, event_reads.h).
//
// A subscriber is two functions supplied by the HTTP layer: `write` sends one or more SSE
// frames (false: the client is gone, the subscriber is dropped) and `end` closes the
// response. The streamer writes, for every event after the subscriber's position,
//     id: <position>\n
//     data: <event envelope JSON, one line (event_envelope.h)>\n\n
// in position order without gaps, at most `batch` events per subscriber per round so that
// one subscriber catching up from far behind does not starve the others; and a comment
// line (": keep-alive") to every subscriber each `heartbeat`. A stored event that does not
// decode is left out (its `id` is skipped; the store logs and counts it): one bad record
// never stalls the streams.
//
// Each subscriber reads the log through its own pull-mode Subscription (store/subscription.h)
// opened at its position: catch-up from the log, then the committed batches from memory;
// the subscription's `on_ready` wakes the streamer's thread, which polls every subscriber's
// subscription once per round. No polling of the store: the thread sleeps until a commit, a
// new subscriber, the next heartbeat, or shutdown. Thread-safe. shutdown() (also run by the destructor) ends every stream and
// joins; the EventStore must outlive it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/event_store.h"
#include "store/subscription.h"

namespace sbx {

class EventStreamer {
 public:
  struct Subscriber {
    std::function<bool(std::string_view frames)> write;
    std::function<void()> end;
  };

  EventStreamer(EventStore& store, std::chrono::milliseconds heartbeat, std::size_t batch = 256);
  ~EventStreamer();
  EventStreamer(const EventStreamer&) = delete;
  EventStreamer& operator=(const EventStreamer&) = delete;

  // Streams every event with position > `after`. False (and `end` is called) after
  // shutdown began.
  bool add(Subscriber subscriber, std::uint64_t after);

  std::size_t subscribers() const;
  void shutdown();

  // One SSE frame for `event` (exposed for tests and the history endpoint's format).
  static std::string frame(const Event& event);

 private:
  struct Sub {
    Subscriber io;
    std::unique_ptr<Subscription> log;  // destroyed outside mu_ (its stop() waits for on_ready)
  };
  void run();
  void mark_ready();

  EventStore& store_;
  const std::chrono::milliseconds heartbeat_;
  const std::size_t batch_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Sub>> subs_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::once_flag shutdown_once_;
  std::thread thread_;
};

}  // namespace sbx
