// StoreContext: what every part of an open EventStore shares — the RocksDB database and
// its column families, the options it was opened with, the injected log and clock, and the
// lifetime lock that keeps the database handle valid. store/ only.
//
// The parts (store/store_open.h opens and closes, write_pipeline.h writes, reads.h reads,
// projection.h keeps the sandbox projection, commit_feed.h publishes commits,
// store_health.h keeps the corruption and writability bookkeeping) each hold a reference
// to the one context of their store.
//
// Thread-safety: filled by the open path before any other thread sees it, then immutable
// but for `open`, which close() clears under `life_mu` held exclusively. Reads outside the
// writer pipeline hold `life_mu` shared and check `open` first (ReadLock). The writer
// pipeline needs no lock: close() stops it before it closes the database.
#pragma once

#include <rocksdb/db.h>

#include <chrono>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "events/clock.h"
#include "events/log_sink.h"
#include "events/result.h"
#include "store/event_store.h"
#include "store/layout.h"

namespace sbx::store_detail {

inline std::string_view sv(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Steady-clock microseconds since `since` (durations the store logs and reports).
inline Micros elapsed_micros(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

struct StoreContext {
  StoreOptions options;
  std::unique_ptr<layout::RawDb> raw;
  rocksdb::DB* db = nullptr;
  layout::LogFamilies log;
  rocksdb::ColumnFamilyHandle* sandboxes = nullptr;
  rocksdb::ColumnFamilyHandle* expiry = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
  rocksdb::ColumnFamilyHandle* idempotency = nullptr;
  rocksdb::ColumnFamilyHandle* by_state = nullptr;
  rocksdb::ColumnFamilyHandle* secrets = nullptr;
  rocksdb::ColumnFamilyHandle* snapshots = nullptr;  // schema 5
  rocksdb::ColumnFamilyHandle* pools = nullptr;      // schema 6
  rocksdb::WriteOptions write_options;
  std::string owned_secondary_dir;  // removed at close
  std::string instance_id;          // meta/instance_id; set at open, never changed
  std::string egress_token_key;     // secrets/<kEgressTokenKeyName>; set at open (read-write)
  // Opened read-only because the directory refused writes (read_only_if_unwritable).
  bool unwritable_open = false;
  Logger logger;
  SystemClock system_clock;
  const Clock* clock = &system_clock;  // options.clock, else system_clock

  // Lifetime of the database handle: RocksDB reads hold it shared, close() exclusive.
  mutable std::shared_mutex life_mu;
  bool open = true;

  // Neither read-only nor opened read-only: the store may write (if its disk lets it).
  bool may_write() const { return !options.read_only && !unwritable_open; }

  // A point read; nullopt if the key is absent. The caller holds life_mu (or is the open
  // path or the writer pipeline).
  Result<std::optional<std::string>> get(rocksdb::ColumnFamilyHandle* cf,
                                         std::string_view key) const;
};

// Holds StoreContext::life_mu shared for a RocksDB read; `ok()` is false once the store is
// closed (the read must then fail with closed_error()).
class ReadLock {
 public:
  explicit ReadLock(const StoreContext& ctx) : lock_(ctx.life_mu), open_(ctx.open) {}
  bool ok() const { return open_; }

 private:
  std::shared_lock<std::shared_mutex> lock_;
  bool open_;
};

inline Error closed_error() { return Error(ErrorCode::kUnavailable, "the store is closed"); }

}  // namespace sbx::store_detail
