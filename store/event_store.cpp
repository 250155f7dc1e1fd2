#include "store/event_store.h"

#include <linux/futex.h>
#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "events/codec.h"
#include "events/decider.h"
#include "src/common/log.h"
#include "src/common/uuid.h"
#include "store/internal.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/sandbox_table.h"

namespace sbx {

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

constexpr std::string_view kSandboxPrefix = "sandbox-";

bool is_sandbox_stream(std::string_view stream) {
  return stream.size() > kSandboxPrefix.size() && stream.starts_with(kSandboxPrefix);
}
std::string_view sandbox_id_of(std::string_view stream) {
  return stream.substr(kSandboxPrefix.size());
}

// Kept in the sandboxes projection (and served by get_sandbox).
bool is_live(const Sandbox& s) { return s.state != SandboxState::kTerminated && !s.deleted; }

// Has an entry in the expiry index.
bool expires(const Sandbox& s) {
  return is_live(s) && s.expires_at.has_value() && s.state != SandboxState::kStopping &&
         s.state != SandboxState::kFailed;
}

std::string_view sv(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

Micros elapsed_micros(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

// One append waiting for the writer. Lives on the appender's stack until `done` counts down.
// What an appender sleeps on until its requests are done: a counter and a futex. std::latch
// would do, but libstdc++'s wait spins and calls sched_yield before it sleeps, which with
// 64 waiting appenders on 2 cores was a tenth of the process's CPU.
class Completion {
 public:
  explicit Completion(std::uint32_t count) : left_(count) {}
  void count_down() {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The waiter may return and free this object as soon as it sees 0; a wake-up on a
      // freed address is harmless (at worst a spurious wake-up of a later futex there).
      ::syscall(SYS_futex, &left_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
  }
  void wait() {
    for (;;) {
      const std::uint32_t v = left_.load(std::memory_order_acquire);
      if (v == 0) return;
      ::syscall(SYS_futex, &left_, FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
    }
  }

 private:
  std::atomic<std::uint32_t> left_;
};

struct Request {
  AppendRequest req;
  Result<AppendResult> result = fail(ErrorCode::kInternal, "append not processed");
  bool in_batch = false;  // the result holds only if the group's batch is written
  Completion* done = nullptr;
};

// What one group commit knows about one stream it touches.
struct StreamWork {
  std::uint64_t version = 0;              // including the events staged so far in this group
  bool sandbox = false;                   // a sandbox-* stream
  bool touched = false;                   // the projection changed in this group
  bool removed = false;                   // the stream has (or now has) no projection
  std::shared_ptr<const Sandbox> before;  // live projection before the group
  std::optional<Sandbox> state;           // projection after the staged events
  std::shared_ptr<const Sandbox> after;   // set when staging ends (null: none); immutable
  // The `after` whose projection entries are in the batch (encoded = true). A group that
  // takes in more requests re-stages only the streams they change; their entries are then
  // encoded again as a change from this one (WriteBatch entries apply in order).
  std::shared_ptr<const Sandbox> encoded_after;
  bool encoded = false;
};

struct StagedId {
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::string stream;
};

// Key ranges per loading thread: enough for the threads to even out uneven ranges (UUID
// keys leave the widths between '9' and 'a' empty), few enough that the seeks and
// readaheads of every range stay cheap (64 ranges cost ~20 % more CPU than 4).
constexpr std::size_t kRangesPerThread = 8;

// Up to `n` - 1 keys strictly between `first` and `last` (first < last), increasing, that
// cut [first, last] into `n` ranges of equal width, reading the 8 bytes after the keys'
// common prefix as a big-endian number. Even for uniformly spread keys such as UUIDs;
// any keys fall into exactly one range, however uneven.
std::vector<std::string> split_keys(std::string_view first, std::string_view last, std::size_t n) {
  std::size_t common = 0;
  while (common < first.size() && common < last.size() && first[common] == last[common]) {
    ++common;
  }
  auto number = [&](std::string_view key) {
    std::uint64_t v = 0;
    for (std::size_t i = common; i < common + 8; ++i) {
      v = (v << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
    }
    return v;
  };
  const std::uint64_t lo = number(first);
  const std::uint64_t hi = number(last);
  std::vector<std::string> out;
  for (std::size_t i = 1; i < n && lo < hi; ++i) {
    const auto v = lo + static_cast<std::uint64_t>(static_cast<unsigned __int128>(hi - lo) * i / n);
    if (v == lo) continue;
    std::string key(first.substr(0, common));
    for (int b = 7; b >= 0; --b) key.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
    if (out.empty() || out.back() < key) out.push_back(std::move(key));
  }
  return out;
}

}  // namespace

struct EventStore::Impl {
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
  rocksdb::WriteOptions write_options;
  std::string owned_secondary_dir;  // removed at close
  std::string instance_id;          // meta/instance_id; set at open, never changed
  // Opened read-only because the directory refused writes (read_only_if_unwritable).
  bool unwritable_open = false;
  // False while a failed write has not been resumed from (written by the group whose turn
  // it is) or for an unwritable_open store.
  std::atomic<bool> writable{true};

  // Corruption found (see event_store.h): log positions that do not decode, each logged and
  // counted once; sandbox records rebuilt at open; failures to append once writers run.
  mutable std::mutex corrupt_mu;
  mutable std::map<std::uint64_t, CorruptEvent> corrupt;
  std::atomic<std::uint64_t> rebuilt_records{0};
  struct PendingFailure {
    std::string id;
    std::uint64_t version = 0;
    std::string message;
  };
  std::vector<PendingFailure> pending_failures;
  std::shared_ptr<spdlog::logger> logger = sbx::logger("store");

  // Projection state: written under the exclusive lock by the writer whose turn it is (or
  // catch_up on a read-only store); read under the shared lock.
  mutable std::shared_mutex state_mu;
  SandboxTable live;
  StringMap<std::uint64_t> versions;  // cache of stream versions (filled lazily)
  std::atomic<std::uint64_t> head{0};

  // Lifetime of the database handle: RocksDB reads hold it shared, close() exclusive.
  mutable std::shared_mutex life_mu;
  bool open = true;

  // Writer queue.
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<Request*> queue;
  bool stopping = false;
  std::vector<std::thread> writers;
  int callers_writing = 0;  // queue_mu: appenders running their own group (fast path)
  std::condition_variable callers_cv;

  // Pipeline: kWriters threads (and, on the fast path, appenders that find stage_mu free
  // and room in the pipeline) take turns. One at a time (stage_mu) takes a group from the
  // queue and stages it (dedupe, expected versions, positions, evolve) against the committed
  // state plus the groups staged before it that are still in flight; then, outside the
  // lock, it encodes the group's events into its WriteBatch and waits for its turn (seq
  // order). When its turn comes the group is still open: under stage_mu it takes in (and
  // stages) whatever was queued while its predecessor was being written (while it holds
  // fewer than kAbsorbBelow appends), then it is sealed,
  // its projections are encoded, and it is written and published. So group N+1 is staged
  // and encoded while group N's WriteBatch is being fsynced, yet a small one collects the
  // appends that arrived meanwhile; at most two groups are in flight, and a new group forms only
  // once the one ahead of it is sealed (`room()`). A failed write bumps `epoch`: every group staged
  // before the failure was known fails unwritten, and staging restarts from the committed head once
  // they have drained.
  static constexpr int kWriters = 3;
  // A group takes in late appends only while it is small: what it takes in is staged and
  // encoded on the write path, which pays off when it saves an fsync for a few appends
  // (8 appenders: +15 % appends/s) and costs more than it saves once groups are big anyway
  // (64 appenders: -8 % when every group took everything in).
  static constexpr std::size_t kAbsorbBelow = 8;
  struct Group;
  std::mutex stage_mu;
  std::uint64_t next_position = 1;  // stage_mu
  std::uint64_t next_seq = 1;       // stage_mu
  std::uint64_t staged_epoch = 0;   // stage_mu
  std::mutex inflight_mu;
  std::condition_variable inflight_cv;
  std::deque<Group*> inflight;    // staged, not yet finished, in seq order
  std::uint64_t epoch = 0;        // inflight_mu
  std::uint64_t written_seq = 0;  // inflight_mu: last group finished
  bool resume_needed = false;     // only touched by the group whose turn it is
  std::mutex listen_mu;
  std::condition_variable listen_cv;
  std::uint64_t listened_seq = 0;  // listen_mu: listeners run in seq order

  // Commit waits.
  mutable std::mutex commit_mu;
  mutable std::condition_variable commit_cv;
  bool commit_closed = false;

  // Listeners (copy on write).
  std::mutex listeners_mu;
  std::shared_ptr<const std::vector<std::pair<int, CommitListener>>> listeners =
      std::make_shared<std::vector<std::pair<int, CommitListener>>>();
  int next_listener = 1;
  // Held shared while listeners run, so remove_commit_listener() can wait until no run
  // that may still call the removed listener is in progress (its owner may then die).
  std::shared_mutex listeners_running;

  std::mutex catch_up_mu;

  // --- setup ------------------------------------------------------------------------------
  Result<void> load_instance_id();
  Result<void> load();
  void writer_loop();
  // A sandboxes record that does not decode: rebuild it from its stream (see the header).
  Result<void> rebuild_record(const std::string& id, const std::string& why);
  // Appends the SandboxFailed events rebuild_record decided on (after the writers run).
  void append_pending_failures(EventStore& store);
  // Records (once per position) that the log record at `position` does not decode.
  CorruptEvent note_corrupt(std::uint64_t position, std::string_view raw,
                            std::string message) const;
  Result<void> refuse_write() const;  // an error if this store cannot write at all

  // --- writer -----------------------------------------------------------------------------
  struct Group {
    std::vector<Request*> requests;
    std::vector<Request*> accepted;  // staged: their events go into the batch
    rocksdb::WriteBatch batch;
    StringMap<StreamWork> streams;  // immutable once in flight
    StringMap<StagedId> ids;        // immutable once in flight
    std::uint64_t next = 1;         // next position while staging
    std::uint64_t seq = 0;
    std::uint64_t epoch = 0;
    std::size_t encoded = 0;  // accepted[0, encoded) have their events in the batch
    std::size_t events = 0;   // events of all requests taken
    bool sealed = false;      // inflight_mu: takes no more requests
    CommitStats stats;
  };
  bool room() const;  // inflight_mu held: a new group may form
  void take_queued(Group& g);
  void start_group(Group& g);
  void stage_group(Group& g, std::size_t from);
  void absorb(Group& g);
  void encode_events(Group& g);
  void encode_projections(Group& g);
  void write_group(Group& g);
  Result<AppendResult> stage(Request& r, Group& g);
  Result<StreamWork*> work_of(Group& g, const std::string& stream);
  std::optional<StagedId> find_in_flight(const std::string& event_id);
  void project(StreamWork& w, const Event& e);
  void stage_projection(Group& g, const std::string& stream, const Sandbox* before,
                        const Sandbox* after);
  void publish(std::uint64_t new_head);
  void run_listeners(const std::vector<Event>& events, const CommitStats& stats);

  // --- reads ------------------------------------------------------------------------------
  Result<std::optional<std::string>> get(rocksdb::ColumnFamilyHandle* cf,
                                         std::string_view key) const;
  // With `tolerant`, records that do not decode go to tolerant->corrupt instead of failing
  // the read (the events go to the result either way; tolerant->next is set).
  Result<std::vector<Event>> read_unlocked(std::uint64_t from, std::size_t max,
                                           std::uint64_t up_to,
                                           LogChunk* tolerant = nullptr) const;
};

// ---------------------------------------------------------------------------------------
// open / close

Result<std::unique_ptr<EventStore>> EventStore::open(const StoreOptions& options) {
  return store_internal::Access::open(options, options.env);
}

Result<std::unique_ptr<EventStore>> store_internal::Access::open(const StoreOptions& options,
                                                                 rocksdb::Env* env) {
  using Impl = EventStore::Impl;
  if (options.path.empty()) {
    return fail(ErrorCode::kInvalidArgument, "store path is empty", "store.path");
  }
  if (env == nullptr) env = options.env;
  if (env != nullptr && options.read_only) {
    return fail(ErrorCode::kInvalidArgument, "a custom environment needs a read-write store");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options.sync = options.sync;
  auto started = std::chrono::steady_clock::now();

  if (options.read_only) {
    std::string secondary = options.secondary_path;
    if (secondary.empty()) {
      const char* base = std::getenv("TMPDIR");
      std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sandboxd-secondary-XXXXXX";
      if (::mkdtemp(tmpl.data()) == nullptr) {
        return fail(ErrorCode::kUnavailable, "cannot create a secondary directory " + tmpl);
      }
      secondary = tmpl;
      impl->owned_secondary_dir = tmpl;
    }
    auto raw = layout::RawDb::open_secondary(options.path, secondary);
    if (!raw) {
      if (!impl->owned_secondary_dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(impl->owned_secondary_dir, ec);
      }
      return std::unexpected(raw.error());
    }
    impl->raw = std::move(*raw);
  } else {
    bool fresh = !layout::exists(options.path);
    auto raw = layout::RawDb::open(options.path, /*create_if_missing=*/true, env);
    if (!raw && options.read_only_if_unwritable && !fresh &&
        raw.error().code == ErrorCode::kUnavailable && raw.error().field != layout::kLockHeld) {
      // The disk refuses writes (full, failing): serve what is there, write nothing.
      impl->logger->error(
          "{}: cannot open for writing ({}); opened read-only: reads work, every write fails "
          "until sandboxd restarts with a writable disk",
          options.path, raw.error().message);
      raw = layout::RawDb::open_read_only(options.path, env);
      if (raw) {
        impl->unwritable_open = true;
        impl->writable = false;
        fresh = false;
      }
    }
    if (!raw) return std::unexpected(raw.error());
    impl->raw = std::move(*raw);
    if (fresh) {
      if (auto r = impl->raw->ensure_column_families(kStoreSchemaVersion); !r) {
        return std::unexpected(r.error());
      }
      // A new directory gets its schema version and its identity in one write.
      rocksdb::WriteBatch batch;
      impl->raw->put_schema_version(batch, kStoreSchemaVersion);
      impl->raw->put_instance_id(batch, new_random_uuid());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      if (auto s = impl->raw->db()->Write(wo, &batch); !s.ok()) {
        return std::unexpected(layout::to_error(s, "write schema_version"));
      }
    }
  }

  auto schema = impl->raw->schema_version();
  if (!schema) return std::unexpected(schema.error());
  if (*schema > kStoreSchemaVersion) {
    return fail(ErrorCode::kFailedPrecondition, "data directory schema " + std::to_string(*schema) +
                                                    " is newer than this binary (" +
                                                    std::to_string(kStoreSchemaVersion) + ")");
  }
  if (*schema < kStoreSchemaVersion) {
    return fail(ErrorCode::kFailedPrecondition,
                "data directory schema " + std::to_string(*schema) +
                    " is older than this binary (" + std::to_string(kStoreSchemaVersion) +
                    "): run the migrations first (migrate(), which sandboxd runs at start)");
  }
  for (const auto& name : layout::column_families_of(kStoreSchemaVersion)) {
    if (!impl->raw->has(name)) {
      return fail(ErrorCode::kDataLoss,
                  "column family '" + name + "' is missing in " + options.path);
    }
  }
  if (auto r = impl->load_instance_id(); !r) return std::unexpected(r.error());
  impl->db = impl->raw->db();
  impl->log = layout::log_families(*impl->raw);
  impl->sandboxes = impl->raw->cf(layout::kSandboxes);
  impl->expiry = impl->raw->cf(layout::kExpiry);
  impl->checkpoints = impl->raw->cf(layout::kCheckpoints);
  impl->idempotency = impl->raw->cf(layout::kIdempotency);
  impl->by_state = impl->raw->cf(layout::kByState);
  impl->secrets = impl->raw->cf(layout::kSecrets);

  if (auto r = impl->load(); !r) return std::unexpected(r.error());
  impl->logger->info("opened {}{} ({} live sandboxes, head {}, {} ms)", options.path,
                     options.read_only ? " read-only" : "", impl->live.size(), impl->head.load(),
                     elapsed_micros(started) / 1000);
  Impl* p = impl.get();
  if (!options.read_only) {
    p->next_position = p->head.load() + 1;
    for (int i = 0; i < Impl::kWriters; ++i) {
      p->writers.emplace_back([p] {
        pthread_setname_np(pthread_self(), "sbx-store-write");
        p->writer_loop();
      });
    }
  }
  std::unique_ptr<EventStore> store(new EventStore(std::move(impl)));
  p->append_pending_failures(*store);
  return store;
}

// The store's identity. A read-write open of a directory that has none (made by migrate(),
// or by a version before identities) gives it one: a synced write of meta/instance_id
// alone, done once. A read-only open takes what is there ("" when the primary never wrote
// one).
Result<void> EventStore::Impl::load_instance_id() {
  auto id = raw->instance_id();
  if (!id) return std::unexpected(id.error());
  if (id->empty() && !options.read_only && !unwritable_open) {
    std::string fresh = new_random_uuid();
    rocksdb::WriteBatch batch;
    raw->put_instance_id(batch, fresh);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto s = raw->db()->Write(wo, &batch); !s.ok()) {
      return std::unexpected(layout::to_error(s, "write instance_id"));
    }
    logger->info("{}: new store identity {}", options.path, fresh);
    *id = std::move(fresh);
  }
  instance_id = std::move(*id);
  return {};
}

Result<void> EventStore::Impl::load() {
  auto h = raw->last_position();
  if (!h) return std::unexpected(h.error());
  head.store(*h);

  // The sandboxes column family holds live sandboxes only, so this is O(live), and decoding
  // the JSON records dominates. The key space is cut into ranges (split_keys) that up to
  // hardware_concurrency threads, this one included, take in turn: each iterates its range
  // and decodes the records straight from the iterator. This thread then inserts them all.
  std::uint64_t estimate = 0;
  if (db->GetIntProperty(sandboxes, "rocksdb.estimate-num-keys", &estimate)) {
    live.reserve(static_cast<std::size_t>(estimate + estimate / 8));
  }
  rocksdb::ReadOptions ro;  // RocksDB's automatic readahead for sequential reads
  ro.verify_checksums = true;
  ro.fill_cache = false;
  const std::size_t parallel = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> splits;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, sandboxes));
    it->SeekToFirst();
    if (it->Valid()) {
      const std::string first(sv(it->key()));
      it->SeekToLast();
      if (it->Valid()) splits = split_keys(first, sv(it->key()), kRangesPerThread * parallel);
    }
    if (!it->status().ok()) {
      return std::unexpected(layout::to_error(it->status(), "load sandboxes"));
    }
  }
  struct Range {
    std::vector<std::shared_ptr<const Sandbox>> sandboxes;
    // Records whose key is not their sandbox's id (none that this store wrote).
    std::vector<std::pair<std::string, std::shared_ptr<const Sandbox>>> renamed;
    // Records that do not decode: key, why (rebuilt from their streams below).
    std::vector<std::pair<std::string, std::string>> corrupt;
    std::optional<Error> error;
  };
  std::vector<Range> ranges(splits.size() + 1);
  std::atomic<std::size_t> next_range{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const std::size_t r = next_range.fetch_add(1, std::memory_order_relaxed);
      if (r >= ranges.size()) break;
      Range& out = ranges[r];
      rocksdb::ReadOptions range_ro = ro;
      rocksdb::Slice lower, upper;
      if (r > 0) range_ro.iterate_lower_bound = &(lower = splits[r - 1]);
      if (r < splits.size()) range_ro.iterate_upper_bound = &(upper = splits[r]);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(range_ro, sandboxes));
      for (r > 0 ? it->Seek(lower) : it->SeekToFirst(); it->Valid(); it->Next()) {
        auto sb = decode_sandbox(sv(it->value()));
        if (!sb) {
          out.corrupt.emplace_back(std::string(sv(it->key())), sb.error().message);
          continue;
        }
        auto shared = std::make_shared<const Sandbox>(std::move(*sb));
        if (shared->id == sv(it->key())) {
          out.sandboxes.push_back(std::move(shared));
        } else {
          out.renamed.emplace_back(std::string(sv(it->key())), std::move(shared));
        }
      }
      if (!out.error && !it->status().ok()) {
        out.error = layout::to_error(it->status(), "load sandboxes");
      }
      if (out.error) failed.store(true, std::memory_order_relaxed);
    }
  };
  // A thread per ~2k records at most: a small store loads on this thread alone.
  const std::size_t threads =
      std::min({ranges.size(), parallel, 1 + static_cast<std::size_t>(estimate / 2048)});
  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < threads; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads: the ones running (this one at least) take every range
    }
  }
  work();
  for (auto& t : helpers) t.join();
  for (auto& range : ranges) {
    if (range.error) return std::unexpected(*range.error);
  }
  for (auto& range : ranges) {
    for (auto& sandbox : range.sandboxes) {
      const std::string_view id = sandbox->id;
      live.insert_or_assign(id, std::move(sandbox));
    }
    for (auto& [key, sandbox] : range.renamed) live.insert_or_assign(key, std::move(sandbox));
  }
  for (auto& range : ranges) {
    for (const auto& [key, why] : range.corrupt) {
      if (auto r = rebuild_record(key, why); !r) return r;
    }
  }
  return {};
}

Result<void> EventStore::Impl::rebuild_record(const std::string& id, const std::string& why) {
  const std::string stream = "sandbox-" + id;
  const std::string prefix = keys::stream_prefix(stream);
  std::optional<Sandbox> state;
  bool unprojected = false;  // the stream does not start with SandboxRequested
  std::uint64_t version = 0;
  std::size_t events = 0;
  std::optional<CorruptEvent> bad;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), log.streams));
    for (it->Seek(prefix); it->Valid() && sv(it->key()).starts_with(prefix); it->Next()) {
      auto k = keys::parse_stream_key(sv(it->key()));
      if (!k || it->value().size() != 8) {
        return fail(ErrorCode::kDataLoss, "malformed stream index entry of " + stream);
      }
      version = k->version;
      const std::string pos(sv(it->value()));
      auto v = get(log.events, pos);
      if (!v) return std::unexpected(v.error());
      auto e = *v ? decode_event(**v)
                  : Result<Event>(fail(ErrorCode::kDataLoss, "missing from the log"));
      if (!e) {
        auto c = note_corrupt(keys::get_u64(pos), *v ? std::string_view(**v) : std::string_view(),
                              e.error().message);
        if (!bad) bad = std::move(c);
        continue;
      }
      ++events;
      if (unprojected || (state && !is_live(*state))) continue;
      if (!state && !std::holds_alternative<SandboxRequested>(e->data)) {
        unprojected = true;
        continue;
      }
      state = evolve(state, *e);
    }
    if (!it->status().ok()) {
      return std::unexpected(layout::to_error(it->status(), "read stream index"));
    }
  }
  std::shared_ptr<const Sandbox> after;
  if (bad && !(state && !is_live(*state))) {
    // Part of the history is unreadable: keep what is known, then mark it Failed.
    Sandbox sb = state.value_or(Sandbox{});
    sb.id = id;
    sb.version = version;
    const std::string message = "corrupt event at position " + std::to_string(bad->position) +
                                " (its projection record did not decode either)";
    if (options.read_only || unwritable_open) {
      sb.state = SandboxState::kFailed;  // memory only: nothing can be written
      sb.status_reason = "STORE::CORRUPT_RECORD";
      sb.status_message = message;
    } else {
      pending_failures.push_back({id, version, message});
    }
    after = std::make_shared<const Sandbox>(std::move(sb));
  } else if (state && is_live(*state) && !unprojected) {
    after = std::make_shared<const Sandbox>(std::move(*state));
  }
  rebuilt_records.fetch_add(1, std::memory_order_relaxed);
  logger->error(
      "sandbox projection record '{}' does not decode ({}); rebuilt from its stream ({} events"
      "{}): {}",
      id, why, events, bad ? ", some unreadable" : "",
      after ? std::string(to_string(after->state)) : std::string("not live"));
  if (after) {
    live.insert_or_assign(id, after);
  } else {
    live.erase(id);
  }
  if (options.read_only || unwritable_open) return {};

  // Rewrite the record and its index entries (whatever they were: the old state is unknown).
  rocksdb::WriteBatch batch;
  for (auto* cf : {by_state, expiry}) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = sv(it->key());
      bool mine = false;
      if (cf == by_state) {
        auto k = keys::parse_by_state_key(key);
        mine = k && k->sandbox_id == id;
      } else {
        auto k = keys::parse_expiry_key(key);
        mine = k && k->sandbox_id == id;
      }
      if (mine) (void)batch.Delete(cf, key);
    }
    if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "scan index"));
  }
  if (after) {
    (void)batch.Put(sandboxes, id, encode_sandbox(*after));
    (void)batch.Put(by_state, keys::by_state_key(after->state, after->created_at, id),
                    rocksdb::Slice());
    if (expires(*after)) {
      (void)batch.Put(expiry, keys::expiry_key(*after->expires_at, id), rocksdb::Slice());
    }
  } else {
    (void)batch.Delete(sandboxes, id);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = db->Write(wo, &batch); !s.ok()) {
    // Memory holds the rebuilt record; the next open rebuilds it again.
    logger->error("rewriting the projection record of '{}' failed: {}", id, s.ToString());
  }
  return {};
}

void EventStore::Impl::append_pending_failures(EventStore& store) {
  for (auto& f : pending_failures) {
    AppendRequest req;
    req.stream = "sandbox-" + f.id;
    req.expected = ExpectedVersion::exactly(f.version);
    Event e;
    e.time = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    e.actor = "store";
    e.reason = Reason::kRuntime;
    e.data = SandboxFailed{"STORE::CORRUPT_RECORD", f.message, std::nullopt};
    req.events.push_back(std::move(e));
    if (auto r = store.append(std::move(req)); !r) {
      logger->error("sandbox {}: recording it Failed ({}) failed: {}", f.id, f.message,
                    r.error().message);
    } else {
      logger->error("sandbox {}: marked Failed: {}", f.id, f.message);
    }
  }
  pending_failures.clear();
}

CorruptEvent EventStore::Impl::note_corrupt(std::uint64_t position, std::string_view raw,
                                            std::string message) const {
  {
    std::lock_guard l(corrupt_mu);
    if (auto it = corrupt.find(position); it != corrupt.end()) return it->second;
  }
  CorruptEvent c;
  c.position = position;
  c.message = std::move(message);
  const std::string pos = keys::u64_key(position);
  // The record's own stream and version, if it still says them and the index agrees.
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_object() && j.contains("stream") && j["stream"].is_string() && j.contains("version") &&
      j["version"].is_number_unsigned()) {
    const auto stream = j["stream"].get<std::string>();
    auto v = get(log.streams, keys::stream_key(stream, j["version"].get<std::uint64_t>()));
    if (v && *v && **v == pos) c.stream = stream;
  }
  if (c.stream.empty()) {
    // Otherwise the stream index entry that points here (a scan: corruption is rare).
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), log.streams));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (sv(it->value()) != pos) continue;
      if (auto k = keys::parse_stream_key(sv(it->key()))) c.stream = k->stream;
      break;
    }
  }
  std::lock_guard l(corrupt_mu);
  auto [it, inserted] = corrupt.emplace(position, c);
  if (inserted) {
    logger->error("corrupt event at position {} (stream {}): {}; readers skip it", position,
                  c.stream.empty() ? "unknown" : c.stream, c.message);
  }
  return it->second;
}

Result<void> EventStore::Impl::refuse_write() const {
  if (!unwritable_open) return {};
  return fail(ErrorCode::kUnavailable,
              "storage unavailable: the data directory refused writes at start (disk full?); "
              "reads keep working, writes fail until sandboxd restarts with a writable disk",
              "store");
}

EventStore::EventStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventStore::~EventStore() { close(); }

void EventStore::close() {
  Impl& m = *impl_;
  {
    std::lock_guard l(m.queue_mu);
    m.stopping = true;
  }
  m.queue_cv.notify_all();
  for (auto& w : m.writers) {
    if (w.joinable()) w.join();
  }
  {
    std::unique_lock l(m.queue_mu);
    m.callers_cv.wait(l, [&] { return m.callers_writing == 0; });
  }
  {
    std::lock_guard l(m.commit_mu);
    m.commit_closed = true;
  }
  m.commit_cv.notify_all();
  std::unique_lock life(m.life_mu);
  if (!m.open) return;
  m.open = false;
  m.raw->close();
  if (!m.owned_secondary_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(m.owned_secondary_dir, ec);
  }
  m.logger->info("closed {}", m.options.path);
}

const StoreOptions& EventStore::options() const { return impl_->options; }

const std::string& EventStore::instance_id() const { return impl_->instance_id; }

const layout::RawDb& store_internal::Access::raw(const EventStore& store) {
  return *store.impl_->raw;
}

// ---------------------------------------------------------------------------------------
// appends

Result<AppendResult> EventStore::append(AppendRequest request) {
  Impl& m = *impl_;
  if (m.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition, "the store is open read-only");
  }
  if (auto r = m.refuse_write(); !r) return std::unexpected(r.error());
  Completion done(1);
  Request r;
  r.req = std::move(request);
  r.done = &done;

  // Fast path: when no other thread is forming a group and the pipeline has room, the
  // caller forms and writes the group itself (taking along whatever is queued), which
  // saves the two thread hand-offs (to a writer thread and back) a lone append would pay.
  std::unique_lock stage_lock(m.stage_mu, std::try_to_lock);
  if (stage_lock.owns_lock()) {
    bool room;
    {
      std::lock_guard l(m.inflight_mu);
      room = m.room();
    }
    if (room) {
      Impl::Group g;
      {
        std::lock_guard l(m.queue_mu);
        if (m.stopping) return fail(ErrorCode::kUnavailable, "the store is closed");
        ++m.callers_writing;
        g.requests.push_back(&r);
        g.events = r.req.events.size();
        m.take_queued(g);
      }
      m.start_group(g);
      stage_lock.unlock();
      m.encode_events(g);
      m.encode_projections(g);
      m.write_group(g);
      {
        std::lock_guard l(m.queue_mu);
        --m.callers_writing;
      }
      m.callers_cv.notify_all();
      return std::move(r.result);
    }
    stage_lock.unlock();
  }

  {
    std::lock_guard l(m.queue_mu);
    if (m.stopping) return fail(ErrorCode::kUnavailable, "the store is closed");
    m.queue.push_back(&r);
  }
  m.queue_cv.notify_one();
  done.wait();
  return std::move(r.result);
}

std::vector<Result<AppendResult>> EventStore::append_all(std::vector<AppendRequest> requests) {
  Impl& m = *impl_;
  std::vector<Result<AppendResult>> out;
  out.reserve(requests.size());
  if (requests.empty()) return out;
  if (m.options.read_only) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      out.push_back(fail(ErrorCode::kFailedPrecondition, "the store is open read-only"));
    }
    return out;
  }
  if (auto r = m.refuse_write(); !r) {
    for (std::size_t i = 0; i < requests.size(); ++i) out.push_back(std::unexpected(r.error()));
    return out;
  }
  Completion done(static_cast<std::uint32_t>(requests.size()));
  std::vector<Request> rs(requests.size());
  bool accepted = false;
  {
    std::lock_guard l(m.queue_mu);
    if (!m.stopping) {
      accepted = true;
      for (std::size_t i = 0; i < requests.size(); ++i) {
        rs[i].req = std::move(requests[i]);
        rs[i].done = &done;
        m.queue.push_back(&rs[i]);
      }
    }
  }
  if (!accepted) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      out.push_back(fail(ErrorCode::kUnavailable, "the store is closed"));
    }
    return out;
  }
  m.queue_cv.notify_one();
  done.wait();
  for (auto& r : rs) out.push_back(std::move(r.result));
  return out;
}

void EventStore::Impl::writer_loop() {
  for (;;) {
    {
      // Idle writers wait here without stage_mu, so an appender can take the fast path.
      std::unique_lock l(queue_mu);
      queue_cv.wait(l, [&] { return !queue.empty() || stopping; });
      if (stopping) {
        // Pending appends fail; nothing of theirs was written.
        for (Request* r : queue) {
          r->result = fail(ErrorCode::kUnavailable, "the store is closing");
          r->done->count_down();
        }
        queue.clear();
        return;
      }
    }
    {
      // At most one group ahead of the one being written, and only once that one is
      // sealed: until then it takes in what is queued (big groups, few fsyncs). Waited
      // for without stage_mu, which the group ahead needs to take requests in.
      std::unique_lock l(inflight_mu);
      inflight_cv.wait(l, [&] { return room(); });
    }
    auto g = std::make_unique<Group>();
    {
      std::unique_lock stage_lock(stage_mu);
      {
        std::lock_guard l(inflight_mu);
        if (!room()) continue;  // another thread formed a group meanwhile
      }
      {
        std::lock_guard l(queue_mu);
        take_queued(*g);
      }
      if (g->requests.empty()) continue;  // another writer, an appender or a group took them
      start_group(*g);
    }
    encode_events(*g);  // JSON encoding, outside stage_mu: overlaps the previous write
    encode_projections(*g);
    write_group(*g);
  }
}

bool EventStore::Impl::room() const {
  return inflight.empty() || (inflight.size() == 1 && inflight.front()->sealed);
}

void EventStore::Impl::take_queued(Group& g) {
  while (!queue.empty()) {
    Request* r = queue.front();
    if (!g.requests.empty() && g.events + r->req.events.size() > options.max_batch_events) {
      break;
    }
    g.events += r->req.events.size();
    g.requests.push_back(r);
    queue.pop_front();
  }
}

void EventStore::Impl::absorb(Group& g) {
  // stage_mu held, g is the newest staged group and it is its turn: nothing staged after it
  // has read its streams, and its positions continue at next_position.
  const std::size_t from = g.requests.size();
  {
    std::lock_guard l(queue_mu);
    take_queued(g);
  }
  if (g.requests.size() == from) return;
  stage_group(g, from);  // project() reopens the `after` of each stream it touches again
  next_position = g.next;
}

void EventStore::Impl::start_group(Group& g) {
  {
    std::unique_lock l(inflight_mu);
    if (staged_epoch != epoch) {
      // A write failed: restart from the committed state once its successors drained.
      inflight_cv.wait(l, [&] { return inflight.empty(); });
      staged_epoch = epoch;
      next_position = head.load() + 1;
    }
    g.epoch = staged_epoch;
  }
  g.seq = next_seq++;
  g.next = next_position;
  stage_group(g, 0);
  next_position = g.next;
  std::lock_guard l(inflight_mu);
  inflight.push_back(&g);
}

std::optional<StagedId> EventStore::Impl::find_in_flight(const std::string& event_id) {
  std::lock_guard l(inflight_mu);
  for (auto it = inflight.rbegin(); it != inflight.rend(); ++it) {
    if (auto f = (*it)->ids.find(event_id); f != (*it)->ids.end()) return f->second;
  }
  return std::nullopt;
}

Result<StreamWork*> EventStore::Impl::work_of(Group& g, const std::string& stream) {
  if (auto it = g.streams.find(stream); it != g.streams.end()) return &it->second;
  StreamWork w;
  w.sandbox = is_sandbox_stream(stream);
  bool known = false;
  {
    // In-flight groups first (newest first), else the committed state. A group leaves
    // `inflight` only after its changes are in the committed state, so holding
    // inflight_mu across both lookups sees every group exactly once.
    std::lock_guard l(inflight_mu);
    for (auto it = inflight.rbegin(); it != inflight.rend() && !known; ++it) {
      if (auto f = (*it)->streams.find(stream); f != (*it)->streams.end()) {
        const StreamWork& p = f->second;
        w.version = p.version;
        w.before = p.touched ? p.after : p.before;
        w.removed = p.removed;
        known = true;
      }
    }
    if (!known) {
      std::shared_lock sl(state_mu);
      if (auto v = versions.find(stream); v != versions.end()) {
        w.version = v->second;
        known = true;
      }
      if (w.sandbox) {
        if (auto* sb = live.find(sandbox_id_of(stream))) w.before = *sb;
      }
    }
  }
  if (!known) {
    // Not cached and not in flight: everything about it is committed, in the stream index.
    auto last = raw->last_stream_version(stream);
    if (!last) return std::unexpected(last.error());
    w.version = *last;
  }
  if (w.sandbox) {
    if (w.before) {
      w.state = *w.before;
      w.removed = false;
    } else if (w.version > 0) {
      w.removed = true;  // history but no projection: terminated or deleted
    }
  }
  return &g.streams.emplace(stream, std::move(w)).first->second;
}

void EventStore::Impl::project(StreamWork& w, const Event& e) {
  if (!w.sandbox || w.removed) return;
  if (w.touched && !w.state && w.after) w.state = *w.after;  // reopened by absorb()
  if (!w.state && !std::holds_alternative<SandboxRequested>(e.data)) {
    w.removed = true;  // a sandbox stream must start with SandboxRequested to be projected
    return;
  }
  w.state = evolve(w.state, e);
  w.touched = true;
  if (!is_live(*w.state)) w.removed = true;
}

Result<AppendResult> EventStore::Impl::stage(Request& r, Group& g) {
  AppendRequest& req = r.req;
  if (req.stream.empty() || req.stream.find('\0') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "stream name must be non-empty without NUL bytes",
                "stream");
  }
  if (req.events.empty()) {
    return fail(ErrorCode::kInvalidArgument, "an append needs at least one event", "events");
  }
  if (req.secrets) {
    // Only with the create that records them: their deletion (stage_projection) keys on
    // spec.image_auth_provided, so secrets of any other append would never be deleted.
    const auto* created = is_sandbox_stream(req.stream) &&
                                  req.expected.kind == ExpectedVersion::Kind::kNoStream
                              ? std::get_if<SandboxRequested>(&req.events.front().data)
                              : nullptr;
    if (created == nullptr || !created->spec.image_auth_provided) {
      return fail(ErrorCode::kInvalidArgument,
                  "secrets are written only with the SandboxRequested that creates their sandbox "
                  "and records them (spec.imageAuth.provided, expected version: no stream)",
                  "secrets");
    }
  }
  for (auto& e : req.events) {
    if (e.event_id.empty()) e.event_id = new_uuid();
  }
  if (req.events.size() > 1) {
    std::unordered_set<std::string_view> seen;
    for (const auto& e : req.events) {
      if (!seen.insert(e.event_id).second) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + e.event_id + " appears twice in one append", "eventId");
      }
    }
  }

  // Deduplication by event id, before the expected version: a retried append succeeds.
  std::size_t known = 0;
  AppendResult dedup;
  dedup.deduplicated = true;
  dedup.first_position = UINT64_MAX;
  bool dedup_in_group = false;
  std::string first_known_id;
  std::uint64_t first_known_position = 0;
  for (const auto& e : req.events) {
    keys::EventIdValue found;
    if (auto it = g.ids.find(e.event_id); it != g.ids.end()) {
      if (it->second.stream != req.stream) {
        return fail(
            ErrorCode::kInvalidArgument,
            "event id " + e.event_id + " was already written to stream " + it->second.stream,
            "eventId");
      }
      found = {it->second.position, it->second.version};
      dedup_in_group = true;
    } else if (auto staged = find_in_flight(e.event_id)) {
      if (staged->stream != req.stream) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + e.event_id + " was already written to stream " + staged->stream,
                    "eventId");
      }
      found = {staged->position, staged->version};
      dedup_in_group = true;  // holds only if that group's write succeeds
    } else {
      auto v = get(log.event_ids, e.event_id);
      if (!v) return std::unexpected(v.error());
      if (!*v) continue;
      auto parsed = keys::parse_event_id_value(**v);
      if (!parsed) {
        return fail(ErrorCode::kDataLoss,
                    "event id index entry of " + e.event_id + " is malformed");
      }
      found = *parsed;
      if (first_known_id.empty()) {
        first_known_id = e.event_id;
        first_known_position = found.position;
      }
    }
    ++known;
    dedup.first_position = std::min(dedup.first_position, found.position);
    dedup.last_position = std::max(dedup.last_position, found.position);
    dedup.stream_version = std::max(dedup.stream_version, found.version);
  }
  if (known == req.events.size()) {
    if (!first_known_id.empty()) {
      auto stored = get(log.events, keys::event_key(first_known_position));
      if (!stored) return std::unexpected(stored.error());
      if (!*stored) {
        return fail(ErrorCode::kDataLoss, "event id " + first_known_id + " points to position " +
                                              std::to_string(first_known_position) +
                                              " which is not in the log");
      }
      auto ev = decode_event(**stored);
      if (!ev) return std::unexpected(ev.error());
      if (ev->stream != req.stream) {
        return fail(ErrorCode::kInvalidArgument,
                    "event id " + first_known_id + " was already written to stream " + ev->stream,
                    "eventId");
      }
    }
    r.in_batch = dedup_in_group;
    return dedup;
  }
  if (known > 0) {
    return fail(ErrorCode::kInvalidArgument,
                "append mixes event ids already written with new ones (stream " + req.stream + ")",
                "eventId");
  }

  auto wr = work_of(g, req.stream);
  if (!wr) return std::unexpected(wr.error());
  StreamWork& w = **wr;
  const auto& ex = req.expected;
  if (ex.kind == ExpectedVersion::Kind::kNoStream && w.version != 0) {
    return fail(ErrorCode::kConflict, "stream " + req.stream + " already exists (version " +
                                          std::to_string(w.version) + ")");
  }
  if (ex.kind == ExpectedVersion::Kind::kExact && w.version != ex.version) {
    return fail(ErrorCode::kConflict, "stream " + req.stream + " is at version " +
                                          std::to_string(w.version) + ", expected " +
                                          std::to_string(ex.version));
  }

  // Accepted: stage every event (encoded once) and its projection changes.
  AppendResult result;
  result.first_position = g.next;
  for (auto& e : req.events) {
    e.position = g.next++;
    e.stream = req.stream;
    e.version = ++w.version;
    e.schema = current_schema(e.type());
    g.ids.emplace(e.event_id, StagedId{e.position, e.version, req.stream});
    project(w, e);
  }
  result.last_position = g.next - 1;
  result.stream_version = w.version;
  g.accepted.push_back(&r);  // encoded into the batch by encode_events
  r.in_batch = true;
  return result;
}

void EventStore::Impl::stage_projection(Group& g, const std::string& stream, const Sandbox* before,
                                        const Sandbox* after) {
  std::string id(sandbox_id_of(stream));
  if (after != nullptr) {
    (void)g.batch.Put(sandboxes, id, encode_sandbox(*after));
  } else if (before != nullptr) {
    (void)g.batch.Delete(sandboxes, id);
  }
  auto expiry_of = [&](const Sandbox* s) -> std::optional<std::string> {
    if (s == nullptr || !expires(*s)) return std::nullopt;
    return keys::expiry_key(*s->expires_at, id);
  };
  auto old_e = expiry_of(before);
  auto new_e = expiry_of(after);
  if (old_e != new_e) {
    if (old_e) (void)g.batch.Delete(expiry, *old_e);
    if (new_e) (void)g.batch.Put(expiry, *new_e, rocksdb::Slice());
  }
  auto state_of = [&](const Sandbox* s) -> std::optional<std::string> {
    if (s == nullptr) return std::nullopt;
    return keys::by_state_key(s->state, s->created_at, id);
  };
  auto old_s = state_of(before);
  auto new_s = state_of(after);
  if (old_s != new_s) {
    if (old_s) (void)g.batch.Delete(by_state, *old_s);
    if (new_s) (void)g.batch.Put(by_state, *new_s, rocksdb::Slice());
  }
  // Credentials serve the provisioning of a Pending sandbox only: they go in the batch of
  // the event that takes it out of Pending (started, failed, stopping) or out of the
  // projection. A sandbox never returns to Pending. (Without a projection on either side,
  // a create and its end in one group, the spec is unknown: delete anyway.)
  auto pending = [](const Sandbox* s) {
    return s != nullptr && s->state == SandboxState::kPending;
  };
  const Sandbox* known = after != nullptr ? after : before;
  if (!pending(after) && (before == nullptr || pending(before)) &&
      (known == nullptr || known->spec.image_auth_provided)) {
    (void)g.batch.Delete(secrets, id);
  }
}

void EventStore::Impl::stage_group(Group& g, std::size_t from) {
  for (std::size_t i = from; i < g.requests.size(); ++i) {
    Request* r = g.requests[i];
    r->result = stage(*r, g);
    if (r->result && !r->result->deduplicated) {
      ++g.stats.appends;
      g.stats.events += r->req.events.size();
    }
  }
  for (auto& [stream, w] : g.streams) {
    if (!w.touched || !w.state) continue;  // not touched (again) by these requests
    w.after = !w.removed ? std::make_shared<const Sandbox>(std::move(*w.state)) : nullptr;
    w.state.reset();
  }
}

void EventStore::Impl::encode_events(Group& g) {
  for (; g.encoded < g.accepted.size(); ++g.encoded) {
    const Request* r = g.accepted[g.encoded];
    for (const auto& e : r->req.events) layout::stage_event(g.batch, log, e, encode_event(e));
    if (r->req.idempotency) {
      (void)g.batch.Put(idempotency, r->req.idempotency->key,
                        keys::idempotency_value(*r->req.idempotency));
    }
    if (r->req.secrets) {
      // Before the projection entries of this group (encode_projections), so that an
      // outcome staged in the same group deletes them again.
      (void)g.batch.Put(secrets, sandbox_id_of(r->req.stream),
                        keys::secrets_value(*r->req.secrets));
    }
  }
}

void EventStore::Impl::encode_projections(Group& g) {
  for (auto& [stream, w] : g.streams) {
    if (!w.touched || (w.encoded && w.encoded_after == w.after)) continue;
    stage_projection(g, stream, w.encoded ? w.encoded_after.get() : w.before.get(), w.after.get());
    w.encoded_after = w.after;
    w.encoded = true;
  }
}

void EventStore::Impl::write_group(Group& g) {
  bool stale = false;
  {
    std::unique_lock l(inflight_mu);
    inflight_cv.wait(l, [&] { return written_seq + 1 == g.seq; });
    stale = g.epoch != epoch;
  }
  if (!stale) {
    // Take in what was queued while the predecessor was written, then seal. A group that
    // is not stale now cannot become stale (every group before it is written), so no
    // stager holds stage_mu waiting for it to drain (start_group waits so only after a
    // failed write, for the stale groups, which never take stage_mu here).
    std::unique_lock stage_lock(stage_mu);
    if (next_seq == g.seq + 1 && g.requests.size() < kAbsorbBelow) absorb(g);
    std::lock_guard l(inflight_mu);
    g.sealed = true;
  } else {
    std::lock_guard l(inflight_mu);
    g.sealed = true;
  }
  inflight_cv.notify_all();
  if (!stale) {
    encode_events(g);
    encode_projections(g);
  }
  std::optional<Error> failed;
  if (stale) {
    failed = Error(ErrorCode::kUnavailable, "an earlier append write failed; retry", "store");
  } else if (g.batch.Count() > 0) {
    if (resume_needed) {
      rocksdb::Status s = db->Resume();
      if (s.ok()) {
        resume_needed = false;
        writable = true;
        logger->info("store resumed writing after an error");
      } else {
        failed = layout::to_error(s, "the store cannot write");
      }
    }
    if (!failed) {
      auto t0 = std::chrono::steady_clock::now();
      rocksdb::Status s = db->Write(write_options, &g.batch);
      g.stats.write_micros = elapsed_micros(t0);
      if (!s.ok()) {
        resume_needed = true;
        writable = false;
        failed = layout::to_error(s, "append write failed");
        logger->error("{}", failed->message);
      }
    }
    if (failed) {
      failed->code = ErrorCode::kUnavailable;
      failed->field = "store";
      std::lock_guard l(inflight_mu);
      ++epoch;  // every group staged on top of this one fails too
    }
  }

  if (!failed) {
    // Durable: publish to memory. The head moves inside the projection's lock, so a reader
    // that sees the new projection also sees the new head (and the events up to it), and a
    // consumer woken by the head sees the new projection.
    std::unique_lock l(state_mu);
    for (auto& [stream, w] : g.streams) {
      if (w.removed && w.sandbox) {
        versions.erase(stream);  // kept in the stream index; bounded cache
      } else {
        versions.insert_or_assign(stream, w.version);
      }
      if (!w.touched) continue;
      if (w.after) {
        live.insert_or_assign(sandbox_id_of(stream), w.after);
      } else {
        live.erase(sandbox_id_of(stream));
      }
    }
    publish(g.next - 1);
    l.unlock();
  }
  {
    std::lock_guard l(inflight_mu);
    inflight.pop_front();  // == &g
    written_seq = g.seq;
  }
  inflight_cv.notify_all();

  // Wake the appenders, then run the listeners (in seq order, off the write path).
  bool have_listeners;
  {
    std::lock_guard l(listeners_mu);
    have_listeners = !listeners->empty();
  }
  std::vector<Event> committed;
  if (have_listeners && !failed) committed.reserve(g.stats.events);
  for (Request* r : g.requests) {
    if (failed && r->in_batch) r->result = std::unexpected(*failed);
    if (have_listeners && !failed && r->result && !r->result->deduplicated && r->in_batch) {
      for (auto& e : r->req.events) committed.push_back(std::move(e));
    }
    r->done->count_down();  // r is gone after this
  }
  {
    std::unique_lock l(listen_mu);
    listen_cv.wait(l, [&] { return listened_seq + 1 == g.seq; });
  }
  if (!committed.empty()) run_listeners(committed, g.stats);
  {
    std::lock_guard l(listen_mu);
    listened_seq = g.seq;
  }
  listen_cv.notify_all();
}

void EventStore::Impl::publish(std::uint64_t new_head) {
  {
    std::lock_guard l(commit_mu);
    head.store(new_head, std::memory_order_release);
  }
  commit_cv.notify_all();
}

namespace {
thread_local bool t_in_listener = false;  // this thread is running commit listeners
}  // namespace

void EventStore::Impl::run_listeners(const std::vector<Event>& events, const CommitStats& stats) {
  std::shared_lock running(listeners_running);
  struct InListener {
    bool was = t_in_listener;
    InListener() { t_in_listener = true; }
    ~InListener() { t_in_listener = was; }
  } in_listener;
  std::shared_ptr<const std::vector<std::pair<int, CommitListener>>> ls;
  {
    std::lock_guard l(listeners_mu);
    ls = listeners;
  }
  for (const auto& [id, fn] : *ls) {
    try {
      fn(events, stats);
    } catch (const std::exception& ex) {
      logger->error("commit listener {} threw: {}", id, ex.what());
    } catch (...) {
      logger->error("commit listener {} threw", id);
    }
  }
}

int EventStore::add_commit_listener(CommitListener listener) {
  Impl& m = *impl_;
  std::lock_guard l(m.listeners_mu);
  auto next = std::make_shared<std::vector<std::pair<int, CommitListener>>>(*m.listeners);
  int id = m.next_listener++;
  next->emplace_back(id, std::move(listener));
  m.listeners = std::move(next);
  return id;
}

void EventStore::remove_commit_listener(int id) {
  Impl& m = *impl_;
  {
    std::lock_guard l(m.listeners_mu);
    auto next = std::make_shared<std::vector<std::pair<int, CommitListener>>>(*m.listeners);
    std::erase_if(*next, [id](const auto& p) { return p.first == id; });
    m.listeners = std::move(next);
  }
  // Wait out a run that took its snapshot before the removal, so the listener's owner may
  // be destroyed once this returns (not from inside a listener: it would wait for itself).
  if (!t_in_listener) std::unique_lock wait(m.listeners_running);
}

Result<void> EventStore::save_checkpoint(std::string_view consumer, std::uint64_t position) {
  Impl& m = *impl_;
  if (m.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition, "the store is open read-only");
  }
  if (consumer.empty()) {
    return fail(ErrorCode::kInvalidArgument, "checkpoint consumer name is empty", "consumer");
  }
  if (auto r = m.refuse_write(); !r) return r;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  rocksdb::Status s = m.db->Put(m.write_options, m.checkpoints, consumer, keys::u64_key(position));
  if (!s.ok()) {
    Error e = layout::to_error(s, "save checkpoint");
    e.code = ErrorCode::kUnavailable;
    e.field = "store";
    return std::unexpected(e);
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// reads

Result<std::optional<std::string>> EventStore::Impl::get(rocksdb::ColumnFamilyHandle* cf,
                                                         std::string_view key) const {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return std::unexpected(layout::to_error(s, "read " + cf->GetName()));
  return std::optional<std::string>(std::move(value));
}

std::uint64_t EventStore::head() const { return impl_->head.load(std::memory_order_acquire); }

Result<std::vector<Event>> EventStore::Impl::read_unlocked(std::uint64_t from, std::size_t max,
                                                           std::uint64_t up_to,
                                                           LogChunk* tolerant) const {
  std::vector<Event> out;
  if (tolerant != nullptr) tolerant->next = from;
  if (max == 0 || from > up_to) return out;
  std::size_t seen = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), log.events));
  for (it->Seek(keys::event_key(from)); it->Valid() && seen < max; it->Next()) {
    auto pos = keys::parse_event_key(sv(it->key()));
    if (!pos) return fail(ErrorCode::kDataLoss, "malformed key in the events column family");
    if (*pos > up_to) break;
    ++seen;
    auto e = decode_event(sv(it->value()));
    std::string error;
    if (!e) {
      error = "does not decode: " + e.error().message;
    } else if (e->position != *pos) {
      error = "says position " + std::to_string(e->position);
    }
    if (!error.empty()) {
      auto c = note_corrupt(*pos, sv(it->value()), error);
      if (tolerant == nullptr) {
        return fail(ErrorCode::kDataLoss, "event at position " + std::to_string(*pos) + " " + error);
      }
      tolerant->corrupt.push_back(std::move(c));
      tolerant->next = *pos + 1;
      continue;
    }
    if (tolerant != nullptr) tolerant->next = *pos + 1;
    out.push_back(std::move(*e));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read log"));
  return out;
}

Result<std::vector<Event>> EventStore::read(std::uint64_t from_position,
                                            std::size_t max_count) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  return m.read_unlocked(std::max<std::uint64_t>(from_position, 1), max_count, head());
}

Result<std::vector<Event>> EventStore::read_stream(std::string_view stream,
                                                   std::uint64_t from_version,
                                                   std::size_t max_count) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  std::vector<Event> out;
  if (max_count == 0 || stream.empty()) return out;
  const std::uint64_t up_to = head();
  const std::string prefix = keys::stream_prefix(stream);
  std::vector<std::string> positions;
  {
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(rocksdb::ReadOptions(), m.log.streams));
    for (it->Seek(keys::stream_key(stream, std::max<std::uint64_t>(from_version, 1)));
         it->Valid() && positions.size() < max_count; it->Next()) {
      if (!sv(it->key()).starts_with(prefix)) break;
      if (it->value().size() != 8) {
        return fail(ErrorCode::kDataLoss, "malformed stream index entry of " + std::string(stream));
      }
      if (keys::get_u64(sv(it->value())) > up_to) break;
      positions.emplace_back(sv(it->value()));
    }
    if (!it->status().ok()) {
      return std::unexpected(layout::to_error(it->status(), "read stream index"));
    }
  }
  out.reserve(positions.size());
  for (const auto& p : positions) {
    auto v = m.get(m.log.events, p);
    if (!v) return std::unexpected(v.error());
    if (!*v) {
      return fail(ErrorCode::kDataLoss, "stream " + std::string(stream) + " points to position " +
                                            std::to_string(keys::get_u64(p)) +
                                            " which is not in the log");
    }
    auto e = decode_event(**v);
    if (!e) {
      (void)m.note_corrupt(keys::get_u64(p), **v, "does not decode: " + e.error().message);
      return fail(ErrorCode::kDataLoss, "event at position " + std::to_string(keys::get_u64(p)) +
                                            " does not decode: " + e.error().message);
    }
    out.push_back(std::move(*e));
  }
  return out;
}

Result<LogChunk> EventStore::read_log(std::uint64_t from_position, std::size_t max_count) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  LogChunk chunk;
  const std::uint64_t from = std::max<std::uint64_t>(from_position, 1);
  auto events = m.read_unlocked(from, max_count, head(), &chunk);
  if (!events) return std::unexpected(events.error());
  chunk.events = std::move(*events);
  return chunk;
}

bool EventStore::writable() const {
  return !impl_->options.read_only && impl_->writable.load(std::memory_order_relaxed);
}

std::uint64_t EventStore::corrupt_events_found() const {
  std::lock_guard l(impl_->corrupt_mu);
  return impl_->corrupt.size();
}

std::uint64_t EventStore::projection_records_rebuilt() const {
  return impl_->rebuilt_records.load(std::memory_order_relaxed);
}

std::uint64_t EventStore::stream_version(std::string_view stream) const {
  const Impl& m = *impl_;
  {
    std::shared_lock l(m.state_mu);
    if (auto it = m.versions.find(stream); it != m.versions.end()) return it->second;
  }
  std::shared_lock life(m.life_mu);
  if (!m.open) return 0;
  auto v = m.raw->last_stream_version(stream);
  return v ? *v : 0;
}

std::uint64_t EventStore::wait_for_commit(std::uint64_t after_position, Micros timeout) const {
  const Impl& m = *impl_;
  std::unique_lock l(m.commit_mu);
  if (timeout > 0) {
    m.commit_cv.wait_for(l, std::chrono::microseconds(timeout), [&] {
      return m.head.load(std::memory_order_acquire) > after_position || m.commit_closed;
    });
  }
  return m.head.load(std::memory_order_acquire);
}

std::shared_ptr<const Sandbox> EventStore::get_sandbox(std::string_view sandbox_id) const {
  const Impl& m = *impl_;
  std::shared_lock l(m.state_mu);
  const auto* sandbox = m.live.find(sandbox_id);
  return sandbox != nullptr ? *sandbox : nullptr;
}

std::vector<std::shared_ptr<const Sandbox>> EventStore::list_sandboxes() const {
  const Impl& m = *impl_;
  std::shared_lock l(m.state_mu);
  std::vector<std::shared_ptr<const Sandbox>> out;
  out.reserve(m.live.size());
  m.live.for_each([&](const std::shared_ptr<const Sandbox>& s) { out.push_back(s); });
  return out;
}

std::size_t EventStore::live_sandbox_count() const {
  const Impl& m = *impl_;
  std::shared_lock l(m.state_mu);
  return m.live.size();
}

Result<std::vector<std::pair<Micros, std::string>>> EventStore::expiring(
    Micros until, std::size_t max_count) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  std::vector<std::pair<Micros, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(rocksdb::ReadOptions(), m.expiry));
  for (it->SeekToFirst(); it->Valid() && out.size() < max_count; it->Next()) {
    auto k = keys::parse_expiry_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed expiry index key");
    if (k->deadline > until) break;
    out.emplace_back(k->deadline, std::string(k->sandbox_id));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read expiry"));
  return out;
}

std::optional<Micros> EventStore::next_expiry() const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return std::nullopt;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(rocksdb::ReadOptions(), m.expiry));
  it->SeekToFirst();
  if (!it->Valid()) return std::nullopt;
  auto k = keys::parse_expiry_key(sv(it->key()));
  if (!k) return std::nullopt;
  return k->deadline;
}

Result<std::uint64_t> EventStore::checkpoint(std::string_view consumer) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  auto v = m.get(m.checkpoints, consumer);
  if (!v) return std::unexpected(v.error());
  if (!*v) return 0;
  if ((*v)->size() != 8) {
    return fail(ErrorCode::kDataLoss, "checkpoint of " + std::string(consumer) + " is malformed");
  }
  return keys::get_u64(**v);
}

Result<std::optional<IdempotencyRecord>> EventStore::idempotency(std::string_view key,
                                                                 Micros now) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  auto v = m.get(m.idempotency, key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<IdempotencyRecord>();
  auto rec = keys::parse_idempotency_value(key, **v);
  if (!rec) {
    return fail(ErrorCode::kDataLoss, "idempotency record " + std::string(key) + " is malformed");
  }
  if (rec->expires_at <= now) return std::optional<IdempotencyRecord>();
  return rec;
}

Result<std::optional<SandboxSecrets>> EventStore::sandbox_secrets(
    std::string_view sandbox_id) const {
  const Impl& m = *impl_;
  if (m.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition,
                "secrets are read by the provisioner of the server that owns the store only");
  }
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  auto v = m.get(m.secrets, sandbox_id);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::optional<SandboxSecrets>();
  auto parsed = keys::parse_secrets_value(**v);
  if (!parsed) {
    return fail(ErrorCode::kDataLoss,
                "secrets record of sandbox " + std::string(sandbox_id) + " is malformed");
  }
  return std::optional<SandboxSecrets>(std::move(*parsed));
}

Result<std::vector<std::string>> EventStore::sandbox_ids_in_state(SandboxState state,
                                                                  std::size_t max_count) const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  std::vector<std::string> out;
  const std::string prefix = keys::by_state_prefix(state);
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(rocksdb::ReadOptions(), m.by_state));
  for (it->Seek(prefix); it->Valid() && out.size() < max_count; it->Next()) {
    if (!sv(it->key()).starts_with(prefix)) break;
    auto k = keys::parse_by_state_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed by_state index key");
    out.emplace_back(k->sandbox_id);
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read by_state"));
  return out;
}

Result<std::map<SandboxState, std::size_t>> EventStore::count_by_state() const {
  const Impl& m = *impl_;
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  std::map<SandboxState, std::size_t> out;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(rocksdb::ReadOptions(), m.by_state));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto k = keys::parse_by_state_key(sv(it->key()));
    if (!k) return fail(ErrorCode::kDataLoss, "malformed by_state index key");
    ++out[k->state];
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "read by_state"));
  return out;
}

// ---------------------------------------------------------------------------------------
// read-only (secondary) stores

Result<void> EventStore::catch_up() {
  Impl& m = *impl_;
  if (!m.options.read_only) return {};
  std::lock_guard serial(m.catch_up_mu);
  std::shared_lock life(m.life_mu);
  if (!m.open) return fail(ErrorCode::kUnavailable, "the store is closed");
  rocksdb::Status s = m.db->TryCatchUpWithPrimary();
  if (!s.ok()) return std::unexpected(layout::to_error(s, "catch up with the primary"));
  auto last = m.raw->last_position();
  if (!last) return std::unexpected(last.error());
  constexpr std::size_t kChunk = 4096;
  while (head() < *last) {
    LogChunk chunk;  // records that do not decode are skipped (and noted)
    auto events = m.read_unlocked(head() + 1, kChunk, *last, &chunk);
    if (!events) return std::unexpected(events.error());
    if (events->empty() && chunk.next > head() + 1) {
      std::unique_lock l(m.state_mu);
      m.publish(chunk.next - 1);
      continue;
    }
    if (events->empty()) break;
    // The secondary's sandboxes column family is as new as the catch-up: re-read the
    // projections of the streams these events touched.
    StringMap<std::uint64_t> touched_streams;
    for (const auto& e : *events) touched_streams.insert_or_assign(e.stream, e.version);
    std::vector<std::pair<std::string, std::shared_ptr<const Sandbox>>> updates;
    for (const auto& [stream, version] : touched_streams) {
      if (!is_sandbox_stream(stream)) continue;
      std::string id(sandbox_id_of(stream));
      auto v = m.get(m.sandboxes, id);
      if (!v) return std::unexpected(v.error());
      std::shared_ptr<const Sandbox> next;
      if (*v) {
        auto sb = decode_sandbox(**v);
        if (!sb) return std::unexpected(sb.error());
        next = std::make_shared<const Sandbox>(std::move(*sb));
      }
      updates.emplace_back(std::move(id), std::move(next));
    }
    {
      std::unique_lock l(m.state_mu);
      for (auto& [stream, version] : touched_streams) m.versions.erase(stream);
      for (auto& [id, next] : updates) {
        if (next) {
          m.live.insert_or_assign(id, std::move(next));
        } else {
          m.live.erase(id);
        }
      }
      m.publish(std::max(events->back().position, chunk.next - 1));  // inside state_mu
    }
    CommitStats stats;
    stats.events = events->size();
    m.run_listeners(*events, stats);
  }
  return {};
}

std::uint64_t EventStore::size_on_disk() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(impl_->options.path, ec)) {
    const auto ext = entry.path().extension();
    if (ext == ".sst" || ext == ".log" || ext == ".blob") {
      std::error_code fec;
      auto n = entry.file_size(fec);
      if (!fec) total += n;
    }
  }
  return total;
}

}  // namespace sbx
