#include "src/service/event_reads.h"

#include "events/sandbox.h"

namespace sbx {

Result<std::vector<Event>> EventReads::history(std::string_view sandbox_id) const {
  return store_.read_stream(stream_of(sandbox_id));
}

std::uint64_t EventReads::head() const { return store_.head(); }

Result<std::uint64_t> EventReads::oldest_position() const {
  auto first = store_.read(1, 1);
  if (!first) return std::unexpected(first.error());
  return first->empty() ? store_.head() + 1 : first->front().position;
}

std::unique_ptr<EventStreamer> EventReads::stream_events(std::chrono::milliseconds heartbeat,
                                                         std::size_t batch) const {
  return std::make_unique<EventStreamer>(store_, heartbeat, batch);
}

StoreHealth EventReads::store_health() const {
  return StoreHealth{store_.head(), store_.live_sandbox_count(), store_.writable()};
}

}  // namespace sbx
