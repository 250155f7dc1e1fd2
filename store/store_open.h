// The open/load/close path of an EventStore (event_store.h "Layout and lifecycle",
// "Corruption"). store/ only.
//
// open_parts() opens the data directory (read-write, read-only because the disk refused
// writes, or as a RocksDB secondary), creates a new one at the newest schema with its
// identity, checks the schema version and the column families, gives an existing directory
// its identity once, loads the sandboxes column family into the in-memory projection (in
// parallel over key ranges), rebuilds the records that do not decode from their streams,
// and starts the writer pipeline. append_pending_failures() then records the sandboxes
// whose history did not decode either as Failed (it needs the running pipeline).
// close_parts() stops the pipeline, ends commit waits and closes the database.
//
// Thread-safety: open_parts() runs before any other thread sees the parts; close_parts() is
// idempotent and runs once the store's users stopped appending (appends racing it fail
// with kUnavailable).
#pragma once

#include "events/result.h"
#include "store/event_store.h"
#include "store/store_parts.h"

namespace rocksdb {
class Env;
}

namespace sbx::store_detail {

[[nodiscard]] Result<void> open_parts(StoreParts& parts, const StoreOptions& options,
                                      rocksdb::Env* env);
void append_pending_failures(StoreParts& parts);
void close_parts(StoreParts& parts);

}  // namespace sbx::store_detail
