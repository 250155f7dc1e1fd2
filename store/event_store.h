// EventStore: the durable event log of sandboxd and the projections derived from it.
//
// One RocksDB database (layout in store/FORMAT.md) holds the global log (by position),
// the stream index (stream, version -> position), the sandbox projection, the expiry
// index, consumer checkpoints, idempotency keys and meta. An append writes the events,
// the stream index entries and every projection change `evolve` derives from them in
// ONE WriteBatch; with `sync` the WAL is fsynced before append() returns. Log and
// projections therefore never disagree, also after kill -9.
//
// Appends are group-committed: pending appends go into one batch and one fsync, one batch
// at a time, written and published strictly in order. The next batch is staged while the
// previous one is being fsynced, and until its turn it takes in appends that arrive
// meanwhile. Writer threads take turns doing this; an append that finds the pipeline free
// does it on its own thread (no hand-off). Each append carries
// an expected stream version; a mismatch fails with kConflict and writes nothing. An event whose
// eventId was already written is not written again: the append returns the original positions with
// `deduplicated = true`.
//
// `evolve` runs once per event, in the store, while the append is staged: the append's
// result carries the sandbox as projected after it (AppendResult::sandbox), and commit
// observers get what the projection staged per event (store/commit.h SandboxChange), so
// nobody re-runs `evolve` to learn what was just written.
//
// Reads of the sandbox projection are served from memory (loaded from its column family
// at open, updated after each commit) and never touch RocksDB.
//
// Thread-safety: every method is thread-safe. Commit listeners run on the thread that wrote
// the batch (a writer thread or an appender), after the batch is durable and the in-memory
// projection is updated, one batch at a time in position order, in the order they were
// added; the appenders of a batch may already have returned when they run. They must be
// quick and must not call append() (they may call reads).
// On a read-only store, catch_up() runs them on its caller's thread with the newly
// visible events. Consumers that read the log from a position and then follow the commits
// use a Subscription (store/subscription.h), which is built on these listeners.
//
// The parts behind this facade, one concept per file pair: store/store_open.h (open, load,
// close), store/write_pipeline.h (group commit) with store/append_staging.h (checks,
// dedupe, positions), store/projection.h (the sandbox projection: memory table and
// staged entries), store/secrets.h, store/reads.h, store/commit_feed.h (head, commit
// waits, listeners), store/store_health.h (corruption and writability bookkeeping).
//
// Secrets (store/FORMAT.md "secrets"): the registry credentials of a create never enter
// the log or the projections. They come beside the events (AppendRequest::secrets), are
// written in the same batch, and are deleted in the batch of the event that takes the
// sandbox out of Pending (started, failed, stopping, terminated) or out of the projection.
// Only sandbox_secrets() reads them (the provisioner).
//
// Layout and lifecycle (additions to the contract above):
// - A missing or empty data directory is created at the newest schema
//   (kStoreSchemaVersion). An existing one must already be at that schema: run
//   migrations/ first (migrate()); open() refuses an older schema with a message saying so,
//   and a newer one with "data directory schema N is newer than this binary (M)".
// - Every data directory has an identity (instance_id()): a new directory is created with
//   one; a read-write open of an existing directory without one (made by migrate() or by an
//   earlier version) writes one, once. It is not part of the schema version: an older binary
//   opens the directory and ignores it.
// - The sandboxes projection holds live sandboxes only: a sandbox that becomes Terminated,
//   or is deleted while Failed, is removed from it (and from the expiry and by_state
//   indexes) while its history stays in the log. Events appended to the stream of a removed
//   sandbox, or to a sandbox stream whose first event is neither SandboxRequested nor
//   SandboxAdopted (events/event.h opens_sandbox_stream), change no projection.
// - The pools projection (events/pool.h) holds the Pool of each `pool-<name>` stream from
//   its PoolCreated until its PoolDeleted (which deletes the record in its batch); a later
//   PoolCreated on the same stream starts a fresh pool (a new generation). Events on a pool
//   stream that has no pool, other than PoolCreated, change no projection.
// - The expiry index holds (expires_at, id) of every live sandbox that has a deadline and is
//   not Stopping, Failed or Terminated; a renewal moves the entry in the same batch.
// - An event with an empty event_id gets a fresh UUID. An append whose event ids were all
//   written before is deduplicated (checked before the expected version, so a retry after
//   a lost answer succeeds); one that mixes written and new ids, or repeats an id, or
//   reuses an id of another stream fails with kInvalidArgument.
// - A failed RocksDB write fails every append of its batch (and of the batch already staged
//   behind it) with kUnavailable (field "store") and changes nothing in memory: nothing
//   half-written is visible, the memory projection stays equal to a replay of the log. The
//   next batch first asks RocksDB to resume; where it cannot (a failed WAL write or sync
//   needs a reopen), the store is degraded: writable() is false and every write fails
//   with kUnavailable (field "store") until the store is reopened. Reads keep working.
// - With StoreOptions::read_only_if_unwritable, a directory that RocksDB cannot open for
//   writing (an I/O error such as a full disk; not a lock held by another process) is
//   opened read-only instead: reads work, writable() is false, writes fail as above.
// - Corruption: a log record that does not decode fails read() and read_stream() with
//   kDataLoss; read_log() reports it as a CorruptEvent and reads on past it. Each corrupt
//   position is logged once and counted (corrupt_events_found()). A sandboxes projection
//   record that does not decode at open is rebuilt from its stream (and rewritten, unless
//   read-only); if that stream does not decode either, the sandbox is rebuilt from the
//   events that do and a SandboxFailed event (code STORE::CORRUPT_RECORD) is appended to
//   its stream (counted by projection_records_rebuilt()).
//
// Errors: kConflict (expected version), kInvalidArgument (empty append, bad stream name),
// kUnavailable (the store is closed or the disk failed: the write did not happen),
// kDataLoss (a stored record does not decode), kFailedPrecondition (schema newer than this
// binary, or a write on a read-only store), kNotFound.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/clock.h"
#include "events/event.h"
#include "events/log_sink.h"
#include "events/result.h"
#include "events/sandbox.h"
#include "store/commit.h"

namespace rocksdb {
class Env;
}

namespace sbx {

namespace store_internal {
struct Access;  // store/ and migrations/ only (store/internal.h)
}
namespace store_detail {
struct StoreParts;  // store/store_parts.h
}

// The newest data-directory layout this binary reads and writes (store/FORMAT.md).
inline constexpr int kStoreSchemaVersion = 6;

struct ExpectedVersion {
  enum class Kind { kAny, kNoStream, kExact };
  Kind kind = Kind::kAny;
  std::uint64_t version = 0;  // for kExact: the stream's current last version

  static ExpectedVersion any() { return {Kind::kAny, 0}; }
  static ExpectedVersion no_stream() { return {Kind::kNoStream, 0}; }
  static ExpectedVersion exactly(std::uint64_t v) { return {Kind::kExact, v}; }
};

// What a create that carried an Idempotency-Key ended in. The codes are part of the format
// (store/FORMAT.md "idempotency"); how a protocol answers each is the caller's business
// (the service maps them to HTTP statuses).
enum class RequestOutcome : std::uint8_t {
  kAccepted = 1,  // the sandbox was recorded Pending; it is provisioned asynchronously
};

// Idempotency-Key of a create: remembered with the sandbox it created and the outcome of
// the request until `expires_at`.
struct IdempotencyRecord {
  std::string key;
  std::string sandbox_id;
  RequestOutcome outcome = RequestOutcome::kAccepted;
  Micros expires_at = 0;
};

// Credentials of one sandbox, kept out of the log (the `secrets` column family).
struct SandboxSecrets {
  std::optional<ImageAuth> image_auth;  // registry credentials for the image pull
  bool operator==(const SandboxSecrets&) const = default;
};

struct AppendRequest {
  std::string stream;
  ExpectedVersion expected;
  // position, stream and version are assigned by the store; the caller sets the rest
  // (event_id, time, request_id, actor, reason, data).
  std::vector<Event> events;
  // Written in the same batch as the events: a create with an Idempotency-Key, or the claim
  // of a pool member for such a create (an append to the member's existing stream). Any
  // stream and expected version; idempotency(key) returns it once the append is durable.
  std::optional<IdempotencyRecord> idempotency;
  // Written in the same batch as the events, under the sandbox id of `stream`: only with
  // the SandboxRequested that creates the sandbox and records them (a `sandbox-<id>`
  // stream, expected no_stream, spec.image_auth_provided), else kInvalidArgument. Never
  // part of any event.
  std::optional<SandboxSecrets> secrets;
};

struct AppendResult {
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
  std::uint64_t stream_version = 0;  // the stream's version after the append
  bool deduplicated = false;         // every event id had been written before
  // The sandbox as the projection folded it after this append's events: the record the
  // projection now holds (get_sandbox returns it until the next change), or — when this
  // append took the sandbox out of the projection (Terminated, or deleted while Failed) —
  // its final state, which no read serves any more. Null when the stream is not a sandbox
  // stream or has no projection (it did not start with SandboxRequested/-Adopted, or its sandbox
  // had left the projection before), and on a deduplicated append (nothing was appended:
  // read the projection with get_sandbox).
  std::shared_ptr<const Sandbox> sandbox;
  // The same for a snapshot stream (`snapshot-<id>`, events/snapshot.h): the snapshot as
  // projected after this append (its final state when a SnapshotDeleted took it out).
  std::shared_ptr<const Snapshot> snapshot;
  // The same for a pool stream (`pool-<name>`, events/pool.h): the pool as projected after
  // this append (its final state when a PoolDeleted took it out).
  std::shared_ptr<const Pool> pool;
};

struct StoreOptions {
  std::string path;            // data directory (created if missing, unless read_only)
  bool sync = true;            // fsync the WAL before an append is acknowledged
  bool read_only = false;      // open as a RocksDB secondary of a (possibly running) primary
  std::string secondary_path;  // scratch dir for the secondary (read_only); default: temp dir
  std::size_t max_batch_events = 4096;  // group-commit cap per batch
  // Open read-only when the directory cannot be opened for writing (see above). The server
  // sets it: a full disk must not stop it from serving reads.
  bool read_only_if_unwritable = false;
  // Tests only: the RocksDB environment (fault injection). Must outlive the store.
  rocksdb::Env* env = nullptr;
  // Where the store logs (open, close, corruption, failed writes); nullptr: nowhere. Must
  // outlive the store. The composition root passes src/common/log.h's SpdlogSink.
  LogSink* log_sink = nullptr;
  // "Now" for the events the store appends itself (a SandboxFailed for a record found
  // corrupt at open); nullptr: the system clock. Must outlive the store.
  const Clock* clock = nullptr;
};

// A log record that does not decode (read_log).
struct CorruptEvent {
  std::uint64_t position = 0;
  std::string stream;   // the stream it was appended to, from its record or the stream index
                        // ("" when neither tells)
  std::string message;  // why it does not decode
};

struct LogChunk {
  std::vector<Event> events;          // in position order
  std::vector<CorruptEvent> corrupt;  // positions that do not decode, in order
  std::uint64_t next = 0;             // where the next read starts (after the last position
                                      // read, whether it decoded or not)
};

class EventStore {
 public:
  using CommitListener =
      std::function<void(const std::vector<Event>& committed, const CommitStats& stats)>;

  // Opens (or creates) the store. Refuses a schema newer than this binary knows
  // (kFailedPrecondition). Migrations must have run before a read-write open (see
  // migrations/); open() itself checks the schema version and fails if it is older.
  [[nodiscard]] static Result<std::unique_ptr<EventStore>> open(const StoreOptions& options);

  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // --- writes -----------------------------------------------------------------------
  // Blocks the caller until the batch holding this append is durable (or failed).
  [[nodiscard]] Result<AppendResult> append(AppendRequest request);

  // Appends every request as if by concurrent append() calls submitted in this order (they
  // are group-committed together, each checked against the ones before it) and waits for
  // all. One result per request, in order. For bulk imports (projection replay).
  [[nodiscard]] std::vector<Result<AppendResult>> append_all(std::vector<AppendRequest> requests);

  [[nodiscard]] Result<void> save_checkpoint(std::string_view consumer, std::uint64_t position);

  // Stops the writer (pending appends fail with kUnavailable), flushes and closes.
  // Idempotent; the destructor calls it.
  void close();

  // --- log reads --------------------------------------------------------------------
  std::uint64_t head() const;  // position of the newest committed event (0: empty log)
  [[nodiscard]] Result<std::vector<Event>> read(std::uint64_t from_position,
                                                std::size_t max_count) const;
  [[nodiscard]] Result<std::vector<Event>> read_stream(std::string_view stream,
                                                       std::uint64_t from_version = 1,
                                                       std::size_t max_count = SIZE_MAX) const;
  std::uint64_t stream_version(std::string_view stream) const;  // 0: no such stream
  // Like read() (max_count positions from from_position on), but a record that does not
  // decode does not fail the read: it is reported in `corrupt` and skipped. Consumers that
  // tail the log use this (through store/subscription.h), so one bad record never stalls
  // them.
  [[nodiscard]] Result<LogChunk> read_log(std::uint64_t from_position,
                                          std::size_t max_count) const;

  // Blocks until head() > after_position, the timeout passes, or the store closes.
  // Returns head(). No polling: woken by the commit.
  std::uint64_t wait_for_commit(std::uint64_t after_position, Micros timeout) const;

  // Runs after every commit (see Thread-safety above) with the committed events and the
  // group commit's statistics. Returns an id for remove_commit_listener.
  int add_commit_listener(CommitListener listener) const;
  // The same with the whole CommittedBatch (store/commit.h): the events, what the
  // projection staged for them, the statistics; shared, so a listener may keep it.
  int add_batch_listener(BatchListener listener) const;
  // Returns once no listener run that may still call it is in progress (unless called
  // from inside a listener), so the listener's owner may be destroyed afterwards.
  void remove_commit_listener(int id) const;

  // --- projections (memory) -----------------------------------------------------------
  // Sandboxes that are not Terminated and not deleted.
  std::shared_ptr<const Sandbox> get_sandbox(std::string_view sandbox_id) const;
  std::vector<std::shared_ptr<const Sandbox>> list_sandboxes() const;  // in no particular order
  std::size_t live_sandbox_count() const;
  // Snapshots (events/snapshot.h) from their SnapshotRequested until their SnapshotDeleted,
  // in every state (the snapshots column family, loaded at open).
  std::shared_ptr<const Snapshot> get_snapshot(std::string_view snapshot_id) const;
  std::vector<std::shared_ptr<const Snapshot>> list_snapshots() const;  // no particular order
  // Pools (events/pool.h) from their PoolCreated until their PoolDeleted (the pools column
  // family, loaded at open).
  std::shared_ptr<const Pool> get_pool(std::string_view name) const;
  std::vector<std::shared_ptr<const Pool>> list_pools() const;  // no particular order

  // --- projections (RocksDB) -----------------------------------------------------------
  // Ids of live sandboxes in `state`, oldest first (created_at, then id), from the by_state
  // index. Terminated sandboxes are never listed (they leave the projection).
  [[nodiscard]] Result<std::vector<std::string>> sandbox_ids_in_state(
      SandboxState state, std::size_t max_count = SIZE_MAX) const;
  // Live sandboxes per state (states with none are absent), from the by_state index.
  [[nodiscard]] Result<std::map<SandboxState, std::size_t>> count_by_state() const;

  // Expiry index entries with deadline <= `until`, earliest first.
  [[nodiscard]] Result<std::vector<std::pair<Micros, std::string>>> expiring(
      Micros until, std::size_t max_count) const;
  std::optional<Micros> next_expiry() const;
  [[nodiscard]] Result<std::uint64_t> checkpoint(std::string_view consumer) const;  // 0 if none
  [[nodiscard]] Result<std::optional<IdempotencyRecord>> idempotency(std::string_view key,
                                                                     Micros now) const;

  // --- secrets (RocksDB) ---------------------------------------------------------------
  // The credentials given with the create of a sandbox that is still Pending (nullopt:
  // none given, or the sandbox left Pending). For the provisioner only: a read-only store
  // refuses (kFailedPrecondition). kDataLoss if the record does not decode.
  [[nodiscard]] Result<std::optional<SandboxSecrets>> sandbox_secrets(
      std::string_view sandbox_id) const;

  // Read-only (secondary) stores: bring in the primary's newer writes.
  [[nodiscard]] Result<void> catch_up();

  // --- health ------------------------------------------------------------------------------
  // False once the store cannot write (opened read-only because the disk refused writes, or
  // a failed write RocksDB cannot resume from); it stays false until the store is reopened.
  // Always false for a read_only store.
  bool writable() const;
  // Distinct log positions found not to decode since open, and sandbox projection records
  // rebuilt from their streams at open.
  std::uint64_t corrupt_events_found() const;
  std::uint64_t projection_records_rebuilt() const;

  std::uint64_t size_on_disk() const;  // bytes of SST + WAL files
  const StoreOptions& options() const;
  // The store's log (StoreOptions::log_sink, component "store"), for the store's helpers
  // (Subscription).
  const Logger& logger() const;

  // The store's identity: a random UUID made once for its data directory (meta/instance_id,
  // store/FORMAT.md) and kept across reopens. sandboxd labels the containers it creates with
  // it, so two servers on one engine tell theirs apart. Never empty on a read-write store;
  // "" on a read-only one whose primary never wrote one (a version before identities).
  const std::string& instance_id() const;

  // The store's egress token key: 32 random bytes made once for its data directory and kept
  // in `secrets` (store/FORMAT.md), never in the log or a projection. The token of a
  // sandbox's egress sidecar is HMAC-SHA256(key, sandbox id) (src/common/egress_token.h), so
  // it survives restarts without a record per sandbox. "" on a read-only store of a primary
  // that never made one.
  const std::string& egress_token_key() const;

 private:
  friend struct store_internal::Access;
  explicit EventStore(std::unique_ptr<store_detail::StoreParts> parts);
  std::unique_ptr<store_detail::StoreParts> impl_;
};

}  // namespace sbx
