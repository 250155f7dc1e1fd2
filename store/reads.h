// StoreReads: every read of an EventStore that touches RocksDB — the log (by position, by
// stream, tolerant of corrupt records), the persisted projection indexes (by_state,
// expiry), consumer checkpoints and idempotency records — and catch_up of a read-only
// store. store/ only. (Reads of the sandbox projection are served from memory:
// projection.h.)
//
// Every read holds the context's lifetime lock shared and fails with kUnavailable once the
// store is closed. A log record that does not decode fails read()/read_stream() with
// kDataLoss and is reported and skipped by read_log(); either way StoreHealth notes it.
//
// Thread-safety: every method is thread-safe. catch_up() runs one at a time.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/event.h"
#include "events/result.h"
#include "store/commit_feed.h"
#include "store/event_store.h"
#include "store/projection.h"
#include "store/store_context.h"
#include "store/store_health.h"

namespace sbx::store_detail {

class StoreReads {
 public:
  StoreReads(StoreContext& ctx, StoreHealth& health, SandboxProjection& projection,
             CommitFeed& feed)
      : ctx_(ctx), health_(health), projection_(projection), feed_(feed) {}

  Result<std::vector<Event>> read(std::uint64_t from_position, std::size_t max_count) const;
  Result<std::vector<Event>> read_stream(std::string_view stream, std::uint64_t from_version,
                                         std::size_t max_count) const;
  Result<LogChunk> read_log(std::uint64_t from_position, std::size_t max_count) const;
  std::uint64_t stream_version(std::string_view stream) const;

  Result<std::vector<std::string>> sandbox_ids_in_state(SandboxState state,
                                                        std::size_t max_count) const;
  Result<std::map<SandboxState, std::size_t>> count_by_state() const;
  Result<std::vector<std::pair<Micros, std::string>>> expiring(Micros until,
                                                               std::size_t max_count) const;
  std::optional<Micros> next_expiry() const;

  // Consumer checkpoints: the one write outside the pipeline (written on its own, with the
  // store's sync setting).
  Result<void> save_checkpoint(std::string_view consumer, std::uint64_t position);
  Result<std::uint64_t> checkpoint(std::string_view consumer) const;
  Result<std::optional<IdempotencyRecord>> idempotency(std::string_view key, Micros now) const;

  // Read-only stores: brings in the primary's newer writes (event_store.h).
  Result<void> catch_up();

  // The events in [from, up_to], at most `max` positions. With `tolerant`, records that do
  // not decode go to tolerant->corrupt instead of failing the read (tolerant->next is set).
  // The caller holds the lifetime lock (or is the open path).
  Result<std::vector<Event>> read_unlocked(std::uint64_t from, std::size_t max,
                                           std::uint64_t up_to,
                                           LogChunk* tolerant = nullptr) const;

 private:
  StoreContext& ctx_;
  StoreHealth& health_;
  SandboxProjection& projection_;
  CommitFeed& feed_;
  std::mutex catch_up_mu_;
};

}  // namespace sbx::store_detail
