// The RocksDB side of the store's layout, shared by store/ and migrations/ only (RocksDB
// types never leave these two folders): column family names and options per schema
// version, opening a data directory with every column family it has, reading the schema
// version, and staging one event (log + stream index + event-id index) into a WriteBatch.
//
// The byte layouts are in store/FORMAT.md and store/keys.h. RawDb is not thread-safe to
// create/drop column families concurrently; reads and writes through db() are
// thread-safe as RocksDB's are. Errors are sbx::Error (see to_error).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "events/log_sink.h"
#include "events/result.h"

namespace sbx::layout {

inline constexpr std::string_view kEvents = "events";
inline constexpr std::string_view kStreams = "streams";
inline constexpr std::string_view kEventIds = "event_ids";
inline constexpr std::string_view kSandboxes = "sandboxes";
inline constexpr std::string_view kExpiry = "expiry";
inline constexpr std::string_view kCheckpoints = "checkpoints";
inline constexpr std::string_view kIdempotency = "idempotency";
inline constexpr std::string_view kMeta = "meta";
inline constexpr std::string_view kByState = "by_state";  // schema 2
inline constexpr std::string_view kSecrets = "secrets";   // schema 3
inline constexpr std::string_view kSnapshots = "snapshots";  // schema 5
inline constexpr std::string_view kPools = "pools";          // schema 6

// The column families (besides RocksDB's unused "default") that schema `schema` has.
std::vector<std::string> column_families_of(int schema);

// `env`: nullptr for the default environment (tests inject failing ones).
rocksdb::DBOptions db_options(rocksdb::Env* env = nullptr);
rocksdb::ColumnFamilyOptions cf_options(std::string_view name);

// True if a RocksDB database exists at `path` (its CURRENT file does).
bool exists(const std::string& path);

// RocksDB status -> sbx::Error: corruption -> kDataLoss, not found -> kNotFound,
// everything else (I/O, no space, lock held, busy) -> kUnavailable.
Error to_error(const rocksdb::Status& status, std::string_view what);

// The `field` of RawDb::open's error when another process holds the directory's lock.
inline constexpr std::string_view kLockHeld = "store.lock";

// A RocksDB database opened with every column family it has.
class RawDb {
 public:
  // Read-write. With create_if_missing, a missing directory becomes an empty database
  // holding only "default"; create the schema's families with ensure_column_families. The
  // directory is made private (0700); widening found on an existing one is tightened and
  // logged to `logger`.
  static Result<std::unique_ptr<RawDb>> open(const std::string& path, bool create_if_missing,
                                             rocksdb::Env* env = nullptr,
                                             const Logger& logger = {});
  // Read-only, writing nothing to the directory (a disk that refuses writes); `env` as for
  // open.
  static Result<std::unique_ptr<RawDb>> open_read_only(const std::string& path,
                                                       rocksdb::Env* env = nullptr);
  // A RocksDB secondary instance following the primary at `path`.
  static Result<std::unique_ptr<RawDb>> open_secondary(const std::string& path,
                                                       const std::string& secondary_path);
  ~RawDb();
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* cf(std::string_view name) const;  // nullptr if absent
  bool has(std::string_view name) const { return cf(name) != nullptr; }

  // Creates the families of `schema` that are missing (idempotent).
  Result<void> ensure_column_families(int schema);
  Result<void> create_column_family(std::string_view name);
  Result<void> drop_column_family(std::string_view name);

  // meta/schema_version; 0 if absent (an empty or half-created directory).
  Result<int> schema_version() const;
  void put_schema_version(rocksdb::WriteBatch& batch, int schema) const;

  // meta/instance_id: the store's identity (a UUID), "" if absent (a directory written
  // only by versions that had none). kDataLoss if present but not a UUID.
  Result<std::string> instance_id() const;
  void put_instance_id(rocksdb::WriteBatch& batch, std::string_view id) const;

  // Position of the newest event (0: empty log) and a stream's last version (0: none).
  Result<std::uint64_t> last_position() const;
  Result<std::uint64_t> last_stream_version(std::string_view stream) const;

  bool secondary() const { return secondary_; }

  // Flushes memtables (primary only: a clean shutdown leaves no WAL to replay) and
  // closes. Idempotent; the destructor calls it.
  void close();

 private:
  RawDb() = default;
  rocksdb::DB* db_ = nullptr;
  bool secondary_ = false;  // or read-only: never flushed
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// The handles of the three log families (schema 1 and later).
struct LogFamilies {
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* streams = nullptr;
  rocksdb::ColumnFamilyHandle* event_ids = nullptr;
};
LogFamilies log_families(const RawDb& db);

// Stages `event` (position, stream, version and event_id set) into `batch`: the log
// record `encoded` (= encode_event(event), encoded once by the caller), the stream index
// entry and the event-id index entry.
void stage_event(rocksdb::WriteBatch& batch, const LogFamilies& families, const Event& event,
                 std::string_view encoded);

}  // namespace sbx::layout
