#include "store/layout.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "events/uuid.h"
#include "store/event_store.h"
#include "store/keys.h"

namespace sbx::layout {

namespace {

// One block cache for every family of every store of the process.
std::shared_ptr<rocksdb::Cache> block_cache() {
  static const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  return cache;
}

std::string cf_name(std::string_view name) { return std::string(name); }

}  // namespace

std::vector<std::string> column_families_of(int schema) {
  std::vector<std::string> names;
  if (schema >= 1) {
    for (auto n :
         {kEvents, kStreams, kEventIds, kSandboxes, kExpiry, kCheckpoints, kIdempotency, kMeta}) {
      names.emplace_back(n);
    }
  }
  if (schema >= 2) names.emplace_back(kByState);
  if (schema >= 3) names.emplace_back(kSecrets);
  if (schema >= 5) names.emplace_back(kSnapshots);
  if (schema >= 6) names.emplace_back(kPools);
  return names;
}

rocksdb::DBOptions db_options(rocksdb::Env* env) {
  rocksdb::DBOptions o;
  if (env != nullptr) o.env = env;
  o.create_if_missing = false;
  o.create_missing_column_families = false;
  o.max_background_jobs = 2;
  o.bytes_per_sync = 1 << 20;
  o.keep_log_file_num = 4;
  o.max_total_wal_size = 64 << 20;  // bounds WAL replay after a crash
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

rocksdb::ColumnFamilyOptions cf_options(std::string_view name) {
  rocksdb::ColumnFamilyOptions o;
  o.level_compaction_dynamic_level_bytes = true;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = block_cache();
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.cache_index_and_filter_blocks = false;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  if (name == kEvents) {
    o.write_buffer_size = 32 << 20;
    // Positions only grow: every key shares its first byte with the previous insert, so
    // the memtable inserts next to the last one instead of searching the skiplist.
    o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  } else if (name == kStreams || name == kEventIds) {
    o.write_buffer_size = 16 << 20;
    // Most appends look up keys that do not exist (new event ids, new streams): a
    // memtable bloom filter answers those without a skiplist search.
    o.memtable_whole_key_filtering = true;
    o.memtable_prefix_bloom_size_ratio = 0.05;
  } else if (name == kSandboxes) {
    o.write_buffer_size = 16 << 20;
  } else if (name == kSecrets) {
    o.write_buffer_size = 4 << 20;
    // Deleted credentials linger in table files until a compaction drops them; a daily
    // periodic compaction bounds how long (the family is tiny, rewriting it is cheap).
    o.periodic_compaction_seconds = 24 * 60 * 60;
  } else {
    o.write_buffer_size = 4 << 20;
  }
  return o;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec);
}

Error to_error(const rocksdb::Status& s, std::string_view what) {
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Error(ErrorCode::kDataLoss, std::move(msg));
  if (s.IsNotFound()) return Error(ErrorCode::kNotFound, std::move(msg));
  return Error(ErrorCode::kUnavailable, std::move(msg));
}

namespace {

// The data directory holds the log and the registry credentials of pending sandboxes: it
// is the owner's alone (0700). A directory this process is about to create a store in is
// made so silently; an existing store's directory with wider permissions is tightened
// with a warning (whoever relied on reading it must now use the owner's account or
// sandbox-events). A failure to tighten is a warning too, never a refusal to start.
void make_private(const std::string& path, bool existing_store, const Logger& logger) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  const auto mode = static_cast<unsigned>(st.st_mode & 07777);
  if ((mode & 077) == 0) return;
  char old_mode[8];
  std::snprintf(old_mode, sizeof old_mode, "%04o", mode);
  if (::chmod(path.c_str(), (mode & ~077u) | 0700u) != 0) {
    logger.warn("data directory " + path + " has mode " + old_mode +
                " (readable by others) and cannot be made private: " + std::strerror(errno));
    return;
  }
  if (existing_store) {
    logger.warn("data directory " + path + " had mode " + old_mode +
                "; tightened to 0700 (it holds registry credentials)");
  }
}

Result<std::vector<rocksdb::ColumnFamilyDescriptor>> descriptors_of(const std::string& path,
                                                                    rocksdb::Env* env = nullptr) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options(env), path, &names);
  if (!s.ok()) return std::unexpected(to_error(s, "list column families of " + path));
  std::vector<rocksdb::ColumnFamilyDescriptor> d;
  for (const auto& n : names) d.emplace_back(n, cf_options(n));
  return d;
}

}  // namespace

Result<std::unique_ptr<RawDb>> RawDb::open(const std::string& path, bool create_if_missing,
                                           rocksdb::Env* env, const Logger& logger) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  rocksdb::DBOptions options = db_options(env);
  if (!exists(path)) {
    if (!create_if_missing) return fail(ErrorCode::kNotFound, "no store at " + path);
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return fail(ErrorCode::kUnavailable, "cannot create " + path + ": " + ec.message());
    }
    make_private(path, /*existing_store=*/false, logger);
    options.create_if_missing = true;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options("default"));
  } else {
    make_private(path, /*existing_store=*/true, logger);
    auto d = descriptors_of(path, env);
    if (!d) return std::unexpected(d.error());
    descriptors = std::move(*d);
  }
  std::unique_ptr<RawDb> raw(new RawDb());
  rocksdb::Status s = rocksdb::DB::Open(options, path, descriptors, &raw->handles_, &raw->db_);
  if (!s.ok()) {
    Error e = to_error(s, "open " + path);
    // RocksDB reports a held lock (by another process, or another open in this one) as an
    // I/O error naming the LOCK file.
    if (s.IsIOError() && s.ToString().find("/LOCK") != std::string::npos) {
      e.field = std::string(kLockHeld);
    }
    return std::unexpected(std::move(e));
  }
  return raw;
}

Result<std::unique_ptr<RawDb>> RawDb::open_read_only(const std::string& path, rocksdb::Env* env) {
  if (!exists(path)) return fail(ErrorCode::kNotFound, "no store at " + path);
  auto d = descriptors_of(path, env);
  if (!d) return std::unexpected(d.error());
  std::unique_ptr<RawDb> raw(new RawDb());
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(db_options(env), path, *d, &raw->handles_, &raw->db_);
  if (!s.ok()) return std::unexpected(to_error(s, "open " + path + " read-only"));
  raw->secondary_ = true;
  return raw;
}

Result<std::unique_ptr<RawDb>> RawDb::open_secondary(const std::string& path,
                                                     const std::string& secondary_path) {
  if (!exists(path)) return fail(ErrorCode::kNotFound, "no store at " + path);
  auto d = descriptors_of(path);
  if (!d) return std::unexpected(d.error());
  rocksdb::DBOptions options = db_options();
  options.max_open_files = -1;  // required by secondary instances
  std::unique_ptr<RawDb> raw(new RawDb());
  rocksdb::Status s =
      rocksdb::DB::OpenAsSecondary(options, path, secondary_path, *d, &raw->handles_, &raw->db_);
  if (!s.ok()) return std::unexpected(to_error(s, "open " + path + " as secondary"));
  raw->secondary_ = true;
  return raw;
}

RawDb::~RawDb() { close(); }

void RawDb::close() {
  if (db_ == nullptr) return;
  if (!secondary_) {
    // A clean shutdown leaves no WAL to replay: the next open is fast.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    (void)db_->Flush(fo, handles_);
  }
  for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  (void)db_->Close();
  delete db_;
  db_ = nullptr;
}

rocksdb::ColumnFamilyHandle* RawDb::cf(std::string_view name) const {
  for (auto* h : handles_) {
    if (h->GetName() == name) return h;
  }
  return nullptr;
}

Result<void> RawDb::create_column_family(std::string_view name) {
  if (has(name)) return {};
  rocksdb::ColumnFamilyHandle* h = nullptr;
  rocksdb::Status s = db_->CreateColumnFamily(cf_options(name), cf_name(name), &h);
  if (!s.ok()) return std::unexpected(to_error(s, "create column family " + cf_name(name)));
  handles_.push_back(h);
  return {};
}

Result<void> RawDb::drop_column_family(std::string_view name) {
  auto* h = cf(name);
  if (h == nullptr) return {};
  rocksdb::Status s = db_->DropColumnFamily(h);
  if (!s.ok()) return std::unexpected(to_error(s, "drop column family " + cf_name(name)));
  (void)db_->DestroyColumnFamilyHandle(h);
  std::erase(handles_, h);
  return {};
}

Result<void> RawDb::ensure_column_families(int schema) {
  std::vector<rocksdb::ColumnFamilyDescriptor> missing;
  for (const auto& n : column_families_of(schema)) {
    if (!has(n)) missing.emplace_back(n, cf_options(n));
  }
  if (missing.empty()) return {};
  std::vector<rocksdb::ColumnFamilyHandle*> created;
  rocksdb::Status s = db_->CreateColumnFamilies(missing, &created);
  handles_.insert(handles_.end(), created.begin(), created.end());
  if (!s.ok()) return std::unexpected(to_error(s, "create column families"));
  return {};
}

Result<int> RawDb::schema_version() const {
  auto* meta = cf(kMeta);
  if (meta == nullptr) return 0;
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta, keys::kSchemaVersionKey, &v);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return std::unexpected(to_error(s, "read schema_version"));
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n <= 0) {
    return fail(ErrorCode::kDataLoss, "meta schema_version is not a positive number: '" + v + "'");
  }
  return n;
}

void RawDb::put_schema_version(rocksdb::WriteBatch& batch, int schema) const {
  (void)batch.Put(cf(kMeta), keys::kSchemaVersionKey, std::to_string(schema));
}

Result<std::string> RawDb::instance_id() const {
  auto* meta = cf(kMeta);
  if (meta == nullptr) return std::string();
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta, keys::kInstanceIdKey, &v);
  if (s.IsNotFound()) return std::string();
  if (!s.ok()) return std::unexpected(to_error(s, "read instance_id"));
  if (!is_uuid(v)) {
    return fail(ErrorCode::kDataLoss, "meta instance_id is not a UUID: '" + v + "'");
  }
  return v;
}

void RawDb::put_instance_id(rocksdb::WriteBatch& batch, std::string_view id) const {
  (void)batch.Put(cf(kMeta), keys::kInstanceIdKey, rocksdb::Slice(id.data(), id.size()));
}

Result<std::uint64_t> RawDb::last_position() const {
  auto* events = cf(kEvents);
  if (events == nullptr) return 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), events));
  it->SeekToLast();
  if (!it->status().ok()) return std::unexpected(to_error(it->status(), "read log head"));
  if (!it->Valid()) return 0;
  auto p = keys::parse_event_key(std::string_view(it->key().data(), it->key().size()));
  if (!p) return fail(ErrorCode::kDataLoss, "malformed key in events column family");
  return *p;
}

Result<std::uint64_t> RawDb::last_stream_version(std::string_view stream) const {
  auto* streams = cf(kStreams);
  if (streams == nullptr) return 0;
  // Versions start at 1 and have no gaps: without version 1 the stream does not exist
  // (a bloom-filtered point lookup, much cheaper than positioning an iterator).
  std::string ignored;
  rocksdb::Status first =
      db_->Get(rocksdb::ReadOptions(), streams, keys::stream_key(stream, 1), &ignored);
  if (first.IsNotFound()) return 0;
  if (!first.ok()) return std::unexpected(to_error(first, "read stream index"));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams));
  it->SeekForPrev(keys::stream_key(stream, UINT64_MAX));
  if (!it->status().ok()) return std::unexpected(to_error(it->status(), "read stream index"));
  if (!it->Valid()) return 0;
  auto k = keys::parse_stream_key(std::string_view(it->key().data(), it->key().size()));
  if (!k || k->stream != stream) return 0;
  return k->version;
}

LogFamilies log_families(const RawDb& db) {
  return LogFamilies{db.cf(kEvents), db.cf(kStreams), db.cf(kEventIds)};
}

void stage_event(rocksdb::WriteBatch& batch, const LogFamilies& f, const Event& event,
                 std::string_view encoded) {
  std::string pos = keys::event_key(event.position);
  (void)batch.Put(f.events, pos, rocksdb::Slice(encoded.data(), encoded.size()));
  (void)batch.Put(f.streams, keys::stream_key(event.stream, event.version), pos);
  (void)batch.Put(f.event_ids, event.event_id, keys::event_id_value(event.position, event.version));
}

}  // namespace sbx::layout
