#include "store/store_open.h"

#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

#include "events/codec.h"
#include "events/decider.h"
#include "events/uuid.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/secrets.h"

namespace sbx::store_detail {

namespace {

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

// The store's identity. A read-write open of a directory that has none (made by migrate(),
// or by a version before identities) gives it one: a synced write of meta/instance_id
// alone, done once. A read-only open takes what is there ("" when the primary never wrote
// one).
Result<void> load_instance_id(StoreContext& ctx) {
  auto id = ctx.raw->instance_id();
  if (!id) return std::unexpected(id.error());
  if (id->empty() && ctx.may_write()) {
    std::string fresh = new_random_uuid();
    rocksdb::WriteBatch batch;
    ctx.raw->put_instance_id(batch, fresh);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto s = ctx.raw->db()->Write(wo, &batch); !s.ok()) {
      return std::unexpected(layout::to_error(s, "write instance_id"));
    }
    ctx.logger.info(ctx.options.path + ": new store identity " + fresh);
    *id = std::move(fresh);
  }
  ctx.instance_id = std::move(*id);
  return {};
}

// A sandboxes record that does not decode: rebuild it from its stream (event_store.h).
Result<void> rebuild_record(StoreParts& p, const std::string& id, const std::string& why) {
  StoreContext& ctx = p.ctx;
  const std::string stream = stream_of(id);
  const std::string prefix = keys::stream_prefix(stream);
  std::optional<Sandbox> state;
  bool unprojected = false;  // the stream does not start with SandboxRequested/-Adopted
  std::uint64_t version = 0;
  std::size_t events = 0;
  std::optional<CorruptEvent> bad;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        ctx.db->NewIterator(rocksdb::ReadOptions(), ctx.log.streams));
    for (it->Seek(prefix); it->Valid() && sv(it->key()).starts_with(prefix); it->Next()) {
      auto k = keys::parse_stream_key(sv(it->key()));
      if (!k || it->value().size() != 8) {
        return fail(ErrorCode::kDataLoss, "malformed stream index entry of " + stream);
      }
      version = k->version;
      const std::string pos(sv(it->value()));
      auto v = ctx.get(ctx.log.events, pos);
      if (!v) return std::unexpected(v.error());
      auto e = *v ? decode_event(**v)
                  : Result<Event>(fail(ErrorCode::kDataLoss, "missing from the log"));
      if (!e) {
        auto c = p.health.note_corrupt(keys::get_u64(pos),
                                       *v ? std::string_view(**v) : std::string_view(),
                                       e.error().message);
        if (!bad) bad = std::move(c);
        continue;
      }
      ++events;
      if (unprojected || (state && !is_live(*state))) continue;
      if (!state && !opens_sandbox_stream(e->data)) {
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
    if (!ctx.may_write()) {
      sb.state = SandboxState::kFailed;  // memory only: nothing can be written
      sb.status_reason = "STORE::CORRUPT_RECORD";
      sb.status_message = message;
    } else {
      p.pending_failures.push_back({id, version, message});
    }
    after = std::make_shared<const Sandbox>(std::move(sb));
  } else if (state && is_live(*state) && !unprojected) {
    after = std::make_shared<const Sandbox>(std::move(*state));
  }
  p.health.count_rebuilt_record();
  ctx.logger.error("sandbox projection record '" + id + "' does not decode (" + why +
                   "); rebuilt from its stream (" + std::to_string(events) + " events" +
                   (bad ? ", some unreadable" : "") + "): " +
                   (after ? std::string(to_string(after->state)) : std::string("not live")));
  if (after) {
    p.projection.live.insert_or_assign(id, after);
  } else {
    p.projection.live.erase(id);
  }
  if (!ctx.may_write()) return {};

  // Rewrite the record and its index entries (whatever they were: the old state is unknown).
  rocksdb::WriteBatch batch;
  for (auto* cf : {ctx.by_state, ctx.expiry}) {
    std::unique_ptr<rocksdb::Iterator> it(ctx.db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = sv(it->key());
      bool mine = false;
      if (cf == ctx.by_state) {
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
    (void)batch.Put(ctx.sandboxes, id, encode_sandbox(*after));
    (void)batch.Put(ctx.by_state, keys::by_state_key(after->state, after->created_at, id),
                    rocksdb::Slice());
    if (expires(*after)) {
      (void)batch.Put(ctx.expiry, keys::expiry_key(*after->expires_at, id), rocksdb::Slice());
    }
  } else {
    (void)batch.Delete(ctx.sandboxes, id);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto s = ctx.db->Write(wo, &batch); !s.ok()) {
    // Memory holds the rebuilt record; the next open rebuilds it again.
    ctx.logger.error("rewriting the projection record of '" + id + "' failed: " + s.ToString());
  }
  return {};
}

// Loads the snapshots column family (every snapshot not yet deleted: few, small records)
// into the projection. A record that does not decode fails the open with kDataLoss, naming
// its key (its stream is in the log: `sandbox-events verify` shows what a replay gives).
Result<void> load_snapshots(StoreParts& p) {
  StoreContext& ctx = p.ctx;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(ctx.db->NewIterator(ro, ctx.snapshots));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto sn = decode_snapshot(sv(it->value()));
    if (!sn) {
      return fail(ErrorCode::kDataLoss, "snapshots record " + std::string(sv(it->key())) +
                                            ": " + sn.error().message);
    }
    p.projection.snapshots.insert_or_assign(std::string(sv(it->key())),
                                            std::make_shared<const Snapshot>(std::move(*sn)));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "load snapshots"));
  return {};
}

// Loads the pools column family (every pool not deleted: few, small records) into the
// projection. A record that does not decode, or whose name is not its key, fails the open
// with kDataLoss naming its key.
Result<void> load_pools(StoreParts& p) {
  StoreContext& ctx = p.ctx;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(ctx.db->NewIterator(ro, ctx.pools));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key(sv(it->key()));
    auto pool = decode_pool(sv(it->value()));
    if (!pool) {
      return fail(ErrorCode::kDataLoss, "pools record " + key + ": " + pool.error().message);
    }
    if (pool->name != key) {
      return fail(ErrorCode::kDataLoss,
                  "pools record " + key + " holds the pool named " + pool->name);
    }
    p.projection.pools.insert_or_assign(key, std::make_shared<const Pool>(std::move(*pool)));
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "load pools"));
  return {};
}

// Loads the sandboxes column family into the projection. It holds live sandboxes only, so
// this is O(live), and decoding the JSON records dominates. The key space is cut into
// ranges (split_keys) that up to hardware_concurrency threads, this one included, take in
// turn: each iterates its range and decodes the records straight from the iterator. This
// thread then inserts them all.
Result<void> load(StoreParts& p) {
  StoreContext& ctx = p.ctx;
  auto h = ctx.raw->last_position();
  if (!h) return std::unexpected(h.error());
  p.feed.set_head(*h);

  SandboxTable& live = p.projection.live;  // no other thread sees the parts yet
  std::uint64_t estimate = 0;
  if (ctx.db->GetIntProperty(ctx.sandboxes, "rocksdb.estimate-num-keys", &estimate)) {
    live.reserve(static_cast<std::size_t>(estimate + estimate / 8));
  }
  rocksdb::ReadOptions ro;  // RocksDB's automatic readahead for sequential reads
  ro.verify_checksums = true;
  ro.fill_cache = false;
  const std::size_t parallel = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> splits;
  {
    std::unique_ptr<rocksdb::Iterator> it(ctx.db->NewIterator(ro, ctx.sandboxes));
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
      std::unique_ptr<rocksdb::Iterator> it(ctx.db->NewIterator(range_ro, ctx.sandboxes));
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
      if (auto r = rebuild_record(p, key, why); !r) return r;
    }
  }
  if (auto r = load_snapshots(p); !r) return r;
  return load_pools(p);
}

}  // namespace

Result<void> open_parts(StoreParts& p, const StoreOptions& options, rocksdb::Env* env) {
  StoreContext& ctx = p.ctx;
  ctx.options = options;
  ctx.write_options.sync = options.sync;
  ctx.logger = Logger(options.log_sink, "store");
  if (options.clock != nullptr) ctx.clock = options.clock;
  auto started = std::chrono::steady_clock::now();

  // A store is a directory. An existing file at the path is someone else's data (the
  // reference server's SQLite database at the same store.path, say): never opened, never
  // turned into a store.
  {
    std::error_code ec;
    auto st = std::filesystem::symlink_status(options.path, ec);
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_directory(st) &&
        !(std::filesystem::is_symlink(st) && std::filesystem::is_directory(options.path, ec))) {
      return fail(ErrorCode::kInvalidArgument,
                  options.path +
                      " is an existing file, not a sandboxd store (a directory); it is not "
                      "opened. Point store.path at a directory (the reference server's "
                      "database file cannot be shared)",
                  "store.path");
    }
  }

  if (options.read_only) {
    std::string secondary = options.secondary_path;
    if (secondary.empty()) {
      const char* base = std::getenv("TMPDIR");
      std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sandboxd-secondary-XXXXXX";
      if (::mkdtemp(tmpl.data()) == nullptr) {
        return fail(ErrorCode::kUnavailable, "cannot create a secondary directory " + tmpl);
      }
      secondary = tmpl;
      ctx.owned_secondary_dir = tmpl;
    }
    auto raw = layout::RawDb::open_secondary(options.path, secondary);
    if (!raw) {
      if (!ctx.owned_secondary_dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(ctx.owned_secondary_dir, ec);
      }
      return std::unexpected(raw.error());
    }
    ctx.raw = std::move(*raw);
  } else {
    bool fresh = !layout::exists(options.path);
    auto raw = layout::RawDb::open(options.path, /*create_if_missing=*/true, env, ctx.logger);
    if (!raw && options.read_only_if_unwritable && !fresh &&
        raw.error().code == ErrorCode::kUnavailable && raw.error().field != layout::kLockHeld) {
      // The disk refuses writes (full, failing): serve what is there, write nothing.
      ctx.logger.error(options.path + ": cannot open for writing (" + raw.error().message +
                       "); opened read-only: reads work, every write fails until sandboxd "
                       "restarts with a writable disk");
      raw = layout::RawDb::open_read_only(options.path, env);
      if (raw) {
        ctx.unwritable_open = true;
        p.health.set_writable(false);
        fresh = false;
      }
    }
    if (!raw) return std::unexpected(raw.error());
    ctx.raw = std::move(*raw);
    if (fresh) {
      if (auto r = ctx.raw->ensure_column_families(kStoreSchemaVersion); !r) {
        return std::unexpected(r.error());
      }
      // A new directory gets its schema version and its identity in one write.
      rocksdb::WriteBatch batch;
      ctx.raw->put_schema_version(batch, kStoreSchemaVersion);
      ctx.raw->put_instance_id(batch, new_random_uuid());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      if (auto s = ctx.raw->db()->Write(wo, &batch); !s.ok()) {
        return std::unexpected(layout::to_error(s, "write schema_version"));
      }
    }
  }

  auto schema = ctx.raw->schema_version();
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
    if (!ctx.raw->has(name)) {
      return fail(ErrorCode::kDataLoss,
                  "column family '" + name + "' is missing in " + options.path);
    }
  }
  if (auto r = load_instance_id(ctx); !r) return std::unexpected(r.error());
  ctx.db = ctx.raw->db();
  ctx.log = layout::log_families(*ctx.raw);
  ctx.sandboxes = ctx.raw->cf(layout::kSandboxes);
  ctx.expiry = ctx.raw->cf(layout::kExpiry);
  ctx.checkpoints = ctx.raw->cf(layout::kCheckpoints);
  ctx.idempotency = ctx.raw->cf(layout::kIdempotency);
  ctx.by_state = ctx.raw->cf(layout::kByState);
  ctx.secrets = ctx.raw->cf(layout::kSecrets);
  ctx.snapshots = ctx.raw->cf(layout::kSnapshots);
  ctx.pools = ctx.raw->cf(layout::kPools);
  if (auto r = load_egress_token_key(ctx); !r) return std::unexpected(r.error());

  if (auto r = load(p); !r) return std::unexpected(r.error());
  ctx.logger.info("opened " + options.path + (options.read_only ? " read-only" : "") + " (" +
                  std::to_string(p.projection.live.size()) + " live sandboxes, head " +
                  std::to_string(p.feed.head()) + ", " +
                  std::to_string(elapsed_micros(started) / 1000) + " ms)");
  if (!options.read_only) p.pipeline.start(p.feed.head());
  return {};
}

void append_pending_failures(StoreParts& p) {
  for (auto& f : p.pending_failures) {
    AppendRequest req;
    req.stream = stream_of(f.id);
    req.expected = ExpectedVersion::exactly(f.version);
    Event e;
    e.time = p.ctx.clock->now();
    e.actor = "store";
    e.reason = Reason::kRuntime;
    e.data = SandboxFailed{"STORE::CORRUPT_RECORD", f.message, std::nullopt};
    req.events.push_back(std::move(e));
    if (auto r = p.pipeline.append(std::move(req)); !r) {
      p.ctx.logger.error("sandbox " + f.id + ": recording it Failed (" + f.message +
                         ") failed: " + r.error().message);
    } else {
      p.ctx.logger.error("sandbox " + f.id + ": marked Failed: " + f.message);
    }
  }
  p.pending_failures.clear();
}

void close_parts(StoreParts& p) {
  p.pipeline.stop();
  p.feed.close();
  std::unique_lock life(p.ctx.life_mu);
  if (!p.ctx.open) return;
  p.ctx.open = false;
  p.ctx.raw->close();
  if (!p.ctx.owned_secondary_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(p.ctx.owned_secondary_dir, ec);
  }
  p.ctx.logger.info("closed " + p.ctx.options.path);
}

}  // namespace sbx::store_detail
