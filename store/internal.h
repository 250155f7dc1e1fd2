// Access to an open EventStore's RocksDB database, for migrations/ (projection audits)
// and the store's own tests. RocksDB types never leave store/ and migrations/: nothing
// else may include this header.
//
// The returned RawDb is owned by the store and valid until the store is closed; reads
// through it are thread-safe, writes through it bypass the writer thread and must not
// be made while the store is open for writes.
#pragma once

#include "store/event_store.h"
#include "store/layout.h"

namespace sbx::store_internal {

struct Access {
  static const layout::RawDb& raw(const EventStore& store);
  // EventStore::open with a RocksDB environment (read-write only; tests inject I/O
  // failures through it). `env` must outlive the store.
  static Result<std::unique_ptr<EventStore>> open(const StoreOptions& options, rocksdb::Env* env);
};

}  // namespace sbx::store_internal
