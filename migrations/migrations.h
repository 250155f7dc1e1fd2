// Store migrations: numbered, idempotent steps that bring a data directory to the schema
// this binary reads and writes (kStoreSchemaVersion, recorded as meta/schema_version; see
// store/FORMAT.md). sandboxd runs migrate() before EventStore::open, which refuses any
// other schema.
//
//   1  create the log and projection column families (events, streams, event_ids,
//      sandboxes, expiry, checkpoints, idempotency, meta)
//   2  index live sandboxes by state: the by_state column family (state, created_at, id),
//      built from the sandboxes column family; the store maintains it afterwards
//   3  move registry credentials out of the log: create `secrets`, rewrite the
//      SandboxRequested events and sandbox records that hold `imageAuth` {username,
//      password} to {"provided": true} (the log's one in-place rewrite), keep the
//      credentials of Pending sandboxes in `secrets`, then compact `events` and
//      `sandboxes` so the old values leave the table files
//   4  idempotency records hold the request's outcome, not an HTTP status: rewrite every
//      record (expires_at, status 202, sandbox id) to (expires_at, Accepted, sandbox id)
//   5  create the `snapshots` column family (the projection of snapshot-* streams)
//   6  create the `pools` column family (the projection of pool-* streams), replaying any
//      pool stream already in the log
//
// Each step runs as: its DDL (column family creation, idempotent), then ONE synced
// WriteBatch holding its data changes, the new schema_version and a MigrationApplied event
// appended to the `system` stream. A crash leaves the directory at the previous version or
// the next, and re-running redoes only what is missing.
//
// Not thread-safe with anything else on the directory: run it before the store opens for
// writes (RocksDB's lock refuses a second writer: kUnavailable). Errors: kFailedPrecondition
// (the directory is newer than this binary, or the target is not a known version),
// kUnavailable (I/O, lock held), kDataLoss (a record does not decode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "events/result.h"
#include "events/time.h"
#include "events/clock.h"
#include "events/log_sink.h"
#include "store/event_store.h"  // rocksdb::Env (declared)

namespace sbx {

struct MigrationStep {
  int version = 0;   // the schema version the step produces
  std::string name;  // recorded in MigrationApplied
};

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::uint64_t position = 0;  // of its MigrationApplied event in the log
  Micros micros = 0;           // how long it took
};

struct MigrationReport {
  int from_version = 0;  // 0: the directory was new or empty
  int to_version = 0;
  std::vector<AppliedMigration> applied;  // empty: already current
};

struct MigrateOptions {
  int target_version = 0;  // 0: the newest this binary knows (kStoreSchemaVersion)
  rocksdb::Env* env = nullptr;  // tests only: the RocksDB environment (fault injection)
  LogSink* log_sink = nullptr;  // where applied steps are logged; nullptr: nowhere
};

// Every step this binary knows, in order (versions 1..kStoreSchemaVersion).
std::vector<MigrationStep> migration_steps();

// Brings the data directory at `path` (created if missing) to the target version.
[[nodiscard]] Result<MigrationReport> migrate(const std::string& path, const Clock& clock,
                                              const MigrateOptions& options = {});

// The schema version of the data directory at `path` (0 if missing or empty), without
// changing it.
[[nodiscard]] Result<int> schema_version_of(const std::string& path);

}  // namespace sbx
