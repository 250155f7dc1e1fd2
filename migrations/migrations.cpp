#include "migrations/migrations.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "events/event.h"
#include "events/pool_decider.h"
#include "events/uuid.h"
#include "store/event_store.h"
#include "store/keys.h"
#include "store/layout.h"

namespace sbx {

namespace {

using StepFn = std::function<Result<void>(layout::RawDb&, rocksdb::WriteBatch&)>;

// Runs once the step's batch is durable (cleanup that needs the data written; its failure
// is logged, not fatal: the step is applied).
using AfterFn = std::function<Result<void>(layout::RawDb&)>;

struct Step {
  int version;
  const char* name;
  StepFn apply;  // DDL first, then data changes staged into the batch
  AfterFn after = nullptr;
};

// Step 1: the column families of the first layout. Nothing to convert.
Result<void> create_initial_layout(layout::RawDb& db, rocksdb::WriteBatch&) {
  return db.ensure_column_families(1);
}

// Step 2: by_state (state code, created_at, id) for every live sandbox. A by_state family
// left by an interrupted earlier run is dropped and rebuilt.
Result<void> index_by_state(layout::RawDb& db, rocksdb::WriteBatch& batch) {
  if (auto r = db.drop_column_family(layout::kByState); !r) return r;
  if (auto r = db.ensure_column_families(2); !r) return r;
  auto* by_state = db.cf(layout::kByState);
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(layout::kSandboxes)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view id(it->key().data(), it->key().size());
    auto sb = decode_sandbox(std::string_view(it->value().data(), it->value().size()));
    if (!sb) {
      return fail(ErrorCode::kDataLoss, "sandbox projection '" + std::string(id) +
                                            "' does not decode: " + sb.error().message);
    }
    (void)batch.Put(by_state, keys::by_state_key(sb->state, sb->created_at, id), rocksdb::Slice());
  }
  if (!it->status().ok()) {
    return std::unexpected(layout::to_error(it->status(), "scan sandboxes"));
  }
  return {};
}

// Step 3: registry credentials leave the log and the projections. Stores of schema 2 and
// older kept `spec.imageAuth` {username, password} in every SandboxRequested event and in
// the sandbox records. This step
//   - rewrites those events IN PLACE with `spec.imageAuth` {"provided": true} (the one
//     exception to the log's immutability, store/FORMAT.md); the rest of the event is
//     kept as it was, its `schema` too (the codec upcasts it as before);
//   - rewrites the sandbox records the same way;
//   - moves the credentials of sandboxes still Pending into the new `secrets` column
//     family, so their provisioning still pulls with them.
// The event rewrites are written in synced chunks of at most kScrubChunkBytes as the scan
// goes (a log may hold millions of creates); they are idempotent, so an interrupted run
// redoes what is left. The records, the secrets, the schema version and MigrationApplied
// are the step's one batch. After it, compact_scrubbed (the `after` hook) rewrites the
// table files of the two families, so the old values leave the disk too.
using ojson = nlohmann::ordered_json;
constexpr std::size_t kScrubChunkBytes = 16 << 20;

// `spec.imageAuth` of a parsed event data or sandbox record: the credentials it holds
// (nullopt: none, or already {"provided": ...}) and rewrites it to {"provided": true}.
std::optional<ImageAuth> scrub_spec(ojson& holder) {
  auto spec = holder.find("spec");
  if (spec == holder.end() || !spec->is_object()) return std::nullopt;
  auto auth = spec->find("imageAuth");
  if (auth == spec->end() || !auth->is_object()) return std::nullopt;
  if (!auth->contains("username") && !auth->contains("password")) return std::nullopt;
  ImageAuth out;
  if (auto u = auth->find("username"); u != auth->end() && u->is_string()) {
    out.username = u->get<std::string>();
  }
  if (auto p = auth->find("password"); p != auth->end() && p->is_string()) {
    out.password = p->get<std::string>();
  }
  *auth = ojson{{"provided", true}};
  return out;
}

std::string dump_json(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

Result<void> move_credentials(layout::RawDb& db, rocksdb::WriteBatch& batch) {
  if (auto r = db.ensure_column_families(3); !r) return r;
  auto* events = db.cf(layout::kEvents);
  auto* sandboxes = db.cf(layout::kSandboxes);
  auto* secrets = db.cf(layout::kSecrets);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  try {
    rocksdb::WriteBatch chunk;
    std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), events));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view value(it->value().data(), it->value().size());
      // Cheap filter first: only SandboxRequested events with credentials are parsed.
      if (value.find("\"imageAuth\"") == std::string_view::npos ||
          value.find("\"SandboxRequested\"") == std::string_view::npos) {
        continue;
      }
      ojson doc = ojson::parse(value);
      if (doc.value("type", "") != "SandboxRequested" || !doc.contains("data") ||
          !doc["data"].is_object()) {
        continue;
      }
      if (!scrub_spec(doc["data"])) continue;
      (void)chunk.Put(events, it->key(), dump_json(doc));
      if (chunk.GetDataSize() >= kScrubChunkBytes) {
        if (auto s = db.db()->Write(synced, &chunk); !s.ok()) {
          return std::unexpected(layout::to_error(s, "rewrite events"));
        }
        chunk.Clear();
      }
    }
    if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "scan events"));
    if (chunk.Count() > 0) {
      if (auto s = db.db()->Write(synced, &chunk); !s.ok()) {
        return std::unexpected(layout::to_error(s, "rewrite events"));
      }
    }

    std::unique_ptr<rocksdb::Iterator> sb(db.db()->NewIterator(rocksdb::ReadOptions(), sandboxes));
    for (sb->SeekToFirst(); sb->Valid(); sb->Next()) {
      const std::string_view value(sb->value().data(), sb->value().size());
      if (value.find("\"imageAuth\"") == std::string_view::npos) continue;
      ojson record = ojson::parse(value);
      auto auth = scrub_spec(record);
      if (!auth) continue;
      (void)batch.Put(sandboxes, sb->key(), dump_json(record));
      if (record.value("state", "") == to_string(SandboxState::kPending)) {
        (void)batch.Put(secrets, sb->key(), keys::secrets_value(SandboxSecrets{std::move(*auth)}));
      }
    }
    if (!sb->status().ok()) {
      return std::unexpected(layout::to_error(sb->status(), "scan sandboxes"));
    }
  } catch (const std::exception& e) {
    return fail(ErrorCode::kDataLoss, std::string("a stored record is not JSON: ") + e.what());
  }
  return {};
}

// Flushes and rewrites every table file of `events` and `sandboxes`, so the values the
// step overwrote are gone from the disk (nothing holds a snapshot during migrations).
Result<void> compact_scrubbed(layout::RawDb& db) {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto name : {layout::kEvents, layout::kSandboxes}) {
    auto* cf = db.cf(name);
    if (auto s = db.db()->Flush(fo, cf); !s.ok()) {
      return std::unexpected(layout::to_error(s, "flush " + std::string(name)));
    }
    if (auto s = db.db()->CompactRange(co, cf, nullptr, nullptr); !s.ok()) {
      return std::unexpected(layout::to_error(s, "compact " + std::string(name)));
    }
  }
  return {};
}

// Step 4: idempotency records hold the outcome of the create, not an HTTP status. Schema 3
// and older stored expires_at:i64 http_status:u32 sandbox_id; every record a server wrote
// had status 202 (the create was accepted, the sandbox Pending). Each is rewritten to the
// current encoding (store/keys.h: expires_at:i64 outcome:u8 sandbox_id) with outcome
// Accepted, in the step's batch. A record too short to hold a status, or with another
// status, is not one sandboxd wrote: kDataLoss (damage is not rewritten away).
constexpr std::uint32_t kAcceptedHttpStatus = 202;

Result<void> record_outcomes(layout::RawDb& db, rocksdb::WriteBatch& batch) {
  auto* cf = db.cf(layout::kIdempotency);
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::string_view value(it->value().data(), it->value().size());
    if (value.size() < 12 || keys::get_u32(value.substr(8)) != kAcceptedHttpStatus) {
      return fail(ErrorCode::kDataLoss,
                  "idempotency record '" + std::string(key) +
                      "' is not a schema 3 record of an accepted create (expires_at, HTTP "
                      "status 202, sandbox id)");
    }
    IdempotencyRecord record;
    record.key = std::string(key);
    record.expires_at = keys::get_micros(value);
    record.outcome = RequestOutcome::kAccepted;
    record.sandbox_id = std::string(value.substr(12));
    (void)batch.Put(cf, it->key(), keys::idempotency_value(record));
  }
  if (!it->status().ok()) {
    return std::unexpected(layout::to_error(it->status(), "scan idempotency"));
  }
  return {};
}

// Step 5: the `snapshots` column family (the projection of snapshot-* streams). No stream
// of that kind exists before this schema, so the family starts empty; a half-created one
// (an interrupted run) is dropped first.
Result<void> create_snapshots_family(layout::RawDb& db, rocksdb::WriteBatch&) {
  if (db.has(layout::kSnapshots)) {
    if (auto r = db.drop_column_family(layout::kSnapshots); !r) return r;
  }
  return db.create_column_family(layout::kSnapshots);
}

// Step 6: the `pools` column family (the projection of pool-* streams, events/pool.h). A
// half-created family (an interrupted run) is dropped first. A schema-5 binary never wrote a
// pool stream, but its log accepts any stream name: every `pool-<name>` stream found in the
// stream index is replayed (evolve_pool, as the store folds it) and the pool it leaves, if
// not deleted, is written in the step's batch.
Result<void> create_pools_family(layout::RawDb& db, rocksdb::WriteBatch& batch) {
  if (db.has(layout::kPools)) {
    if (auto r = db.drop_column_family(layout::kPools); !r) return r;
  }
  if (auto r = db.create_column_family(layout::kPools); !r) return r;
  auto* pools = db.cf(layout::kPools);
  auto* events = db.cf(layout::kEvents);
  const std::string prefix(kPoolStreamPrefix);
  std::string stream;         // the stream being folded
  std::optional<Pool> state;  // its pool so far
  auto finish = [&] {
    if (state && !state->deleted && !state->name.empty()) {
      (void)batch.Put(pools, pool_name_of(stream), encode_pool(*state));
    }
    state.reset();
  };
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(layout::kStreams)));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (!key.starts_with(prefix)) break;
    auto k = keys::parse_stream_key(key);
    if (!k || it->value().size() != 8) {
      return fail(ErrorCode::kDataLoss, "malformed stream index entry " +
                                            keys::describe_key(layout::kStreams, key));
    }
    if (pool_name_of(k->stream).empty()) continue;  // "pool-" alone is no pool stream
    if (k->stream != stream) {
      finish();
      stream = std::string(k->stream);
    }
    std::string value;
    const std::string position(it->value().data(), it->value().size());
    if (auto s = db.db()->Get(rocksdb::ReadOptions(), events, position, &value); !s.ok()) {
      return std::unexpected(layout::to_error(s, "read event of " + stream));
    }
    auto e = decode_event(value);
    if (!e) {
      return fail(ErrorCode::kDataLoss, "event " + std::to_string(keys::get_u64(position)) +
                                            " of " + stream + ": " + e.error().message);
    }
    if ((!state || state->deleted) && !opens_pool_stream(e->data)) continue;
    state = evolve_pool(state, *e);
  }
  if (!it->status().ok()) return std::unexpected(layout::to_error(it->status(), "scan streams"));
  finish();
  return {};
}

const std::vector<Step>& steps() {
  static const std::vector<Step> all = {
      {1, "create the log and projection column families", create_initial_layout},
      {2, "index live sandboxes by state", index_by_state},
      {3, "move registry credentials out of the log into secrets", move_credentials,
       compact_scrubbed},
      {4, "record the outcome of idempotent creates instead of an HTTP status", record_outcomes},
      {5, "create the snapshots projection", create_snapshots_family},
      {6, "create the pools projection", create_pools_family},
  };
  return all;
}

// Stages the MigrationApplied event of `step` (the next position of the log and the next
// version of the system stream) into `batch`.
Result<std::uint64_t> stage_migration_event(layout::RawDb& db, rocksdb::WriteBatch& batch,
                                            const Step& step, Micros now) {
  auto position = db.last_position();
  if (!position) return std::unexpected(position.error());
  auto version = db.last_stream_version(kSystemStream);
  if (!version) return std::unexpected(version.error());
  Event e;
  e.position = *position + 1;
  e.stream = std::string(kSystemStream);
  e.version = *version + 1;
  e.time = now;
  e.event_id = new_uuid();
  e.actor = "migrations";
  e.reason = Reason::kUser;
  e.data = MigrationApplied{step.version, step.name};
  e.schema = current_schema(e.type());
  layout::stage_event(batch, layout::log_families(db), e, encode_event(e));
  return e.position;
}

}  // namespace

std::vector<MigrationStep> migration_steps() {
  std::vector<MigrationStep> out;
  for (const auto& s : steps()) out.push_back({s.version, s.name});
  return out;
}

Result<int> schema_version_of(const std::string& path) {
  if (!layout::exists(path)) return 0;
  auto db = layout::RawDb::open(path, false);
  if (!db) return std::unexpected(db.error());
  return (*db)->schema_version();
}

Result<MigrationReport> migrate(const std::string& path, const Clock& clock,
                                const MigrateOptions& options) {
  const int target = options.target_version == 0 ? kStoreSchemaVersion : options.target_version;
  if (target < 1 || target > kStoreSchemaVersion) {
    return fail(ErrorCode::kFailedPrecondition, "unknown target schema " + std::to_string(target) +
                                                    " (this binary knows 1.." +
                                                    std::to_string(kStoreSchemaVersion) + ")");
  }
  const Logger log(options.log_sink, "migrations");
  if (layout::exists(path)) {
    // Nothing to do is found without opening for writing (which writes RocksDB's own files):
    // a directory on a full disk is still served read-only (store/event_store.h).
    auto ro = layout::RawDb::open_read_only(path, options.env);
    if (ro) {
      auto current = (*ro)->schema_version();
      if (current && *current >= target && *current <= kStoreSchemaVersion) {
        MigrationReport report;
        report.from_version = report.to_version = *current;
        return report;
      }
    }
  }
  auto db = layout::RawDb::open(path, /*create_if_missing=*/true, options.env,
                                Logger(options.log_sink, "store"));
  if (!db) return std::unexpected(db.error());
  auto current = (*db)->schema_version();
  if (!current) return std::unexpected(current.error());
  MigrationReport report;
  report.from_version = *current;
  report.to_version = *current;
  if (*current > kStoreSchemaVersion) {
    return fail(ErrorCode::kFailedPrecondition,
                "data directory schema " + std::to_string(*current) +
                    " is newer than this binary (" + std::to_string(kStoreSchemaVersion) + ")");
  }
  for (const Step& step : steps()) {
    if (step.version <= *current || step.version > target) continue;
    auto started = std::chrono::steady_clock::now();
    rocksdb::WriteBatch batch;
    if (auto r = step.apply(**db, batch); !r) {
      return fail(r.error().code, "migration " + std::to_string(step.version) + " (" + step.name +
                                      ") failed: " + r.error().message);
    }
    (*db)->put_schema_version(batch, step.version);
    auto position = stage_migration_event(**db, batch, step, clock.now());
    if (!position) return std::unexpected(position.error());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto s = (*db)->db()->Write(wo, &batch); !s.ok()) {
      return std::unexpected(
          layout::to_error(s, "write migration " + std::to_string(step.version)));
    }
    AppliedMigration applied{step.version, step.name, *position,
                             std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count()};
    log.info(path + ": applied migration " + std::to_string(step.version) + " (" + step.name +
             ") in " + std::to_string(applied.micros / 1000) + " ms");
    if (step.after) {
      if (auto r = step.after(**db); !r) {
        log.warn(path + ": migration " + std::to_string(step.version) +
                 " applied, but its cleanup failed: " + r.error().message);
      }
    }
    report.applied.push_back(std::move(applied));
    report.to_version = step.version;
  }
  return report;
}

}  // namespace sbx
