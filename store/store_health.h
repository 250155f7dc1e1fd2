// StoreHealth: what an open EventStore knows about its own damage and writability — the
// log positions found not to decode (each logged and counted once), the sandbox records
// rebuilt at open, and whether the store can write (event_store.h "Corruption" and the
// failed-write rules). store/ only.
//
// Thread-safety: every method is thread-safe. The context must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "store/event_store.h"
#include "store/store_context.h"

namespace sbx::store_detail {

class StoreHealth {
 public:
  explicit StoreHealth(const StoreContext& ctx) : ctx_(ctx) {}

  // Records (once per position) that the log record at `position` does not decode and
  // returns its report: its stream is taken from the record if the stream index agrees,
  // else from a scan of the stream index. The first time, it logs it.
  CorruptEvent note_corrupt(std::uint64_t position, std::string_view raw,
                            std::string message) const;
  std::uint64_t corrupt_events_found() const;

  void count_rebuilt_record() { rebuilt_records_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t projection_records_rebuilt() const {
    return rebuilt_records_.load(std::memory_order_relaxed);
  }

  // False while a failed write has not been resumed from, and for a store opened
  // read-only because its directory refused writes. Set by the group whose turn it is.
  bool writable() const { return writable_.load(std::memory_order_relaxed); }
  void set_writable(bool writable) { writable_.store(writable, std::memory_order_relaxed); }

  // An error if this store cannot write at all (opened read-only because the directory
  // refused writes): kUnavailable, field "store".
  Result<void> refuse_write() const;

 private:
  const StoreContext& ctx_;
  mutable std::mutex corrupt_mu_;
  mutable std::map<std::uint64_t, CorruptEvent> corrupt_;  // corrupt_mu_
  std::atomic<std::uint64_t> rebuilt_records_{0};
  std::atomic<bool> writable_{true};
};

}  // namespace sbx::store_detail
