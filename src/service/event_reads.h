// EventReads: the service's read port onto the event log, for the HTTP API (api/ holds
// this, never the EventStore):
//   history(id)        every event of one sandbox's stream, in order (also after delete):
//                      GET /sandboxes/{id}/events;
//   head(), oldest_position()
//                      where a GET /events?since=N stream may start;
//   stream_events()    the server-sent-event feed of the global log (an EventStreamer);
//   store_health()     the facts /health shows about the store.
//
// Reads only; nothing here appends. Thread-safe. The EventStore must outlive this object
// and every EventStreamer it made.
//
// Errors: history() and oldest_position() return the store's read errors (kDataLoss for a
// record that does not decode, kUnavailable when the store is closed).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "src/service/event_streamer.h"
#include "store/event_store.h"

namespace sbx {

struct StoreHealth {
  std::uint64_t head = 0;          // position of the newest event
  std::size_t live_sandboxes = 0;  // in the live projection
  bool writable = true;            // false: degraded or read-only (mutations answer 503)
};

class EventReads {
 public:
  explicit EventReads(EventStore& store) : store_(store) {}

  // Empty when the sandbox never existed.
  [[nodiscard]] Result<std::vector<Event>> history(std::string_view sandbox_id) const;

  std::uint64_t head() const;
  // The position of the oldest event still stored (head() + 1 for an empty log): a stream
  // from `since` is gap-free only if since + 1 >= this.
  [[nodiscard]] Result<std::uint64_t> oldest_position() const;

  // A new feed (its own thread) for the caller to own and shut down; see event_streamer.h.
  [[nodiscard]] std::unique_ptr<EventStreamer> stream_events(std::chrono::milliseconds heartbeat,
                                                             std::size_t batch = 256) const;

  StoreHealth store_health() const;

 private:
  EventStore& store_;  // read, and a commit listener per EventStreamer
};

}  // namespace sbx
