// EventStore: a facade over the store's parts (store/store_parts.h). Every method
// delegates; the behaviour and its contract are in event_store.h and the parts' headers.
#include "store/event_store.h"

#include <filesystem>
#include <system_error>

#include "store/internal.h"
#include "store/secrets.h"
#include "store/store_open.h"
#include "store/store_parts.h"

namespace sbx {

using store_detail::StoreParts;

// ---------------------------------------------------------------------------------------
// open / close

Result<std::unique_ptr<EventStore>> EventStore::open(const StoreOptions& options) {
  return store_internal::Access::open(options, options.env);
}

Result<std::unique_ptr<EventStore>> store_internal::Access::open(const StoreOptions& options,
                                                                 rocksdb::Env* env) {
  if (options.path.empty()) {
    return fail(ErrorCode::kInvalidArgument, "store path is empty", "store.path");
  }
  if (env == nullptr) env = options.env;
  if (env != nullptr && options.read_only) {
    return fail(ErrorCode::kInvalidArgument, "a custom environment needs a read-write store");
  }
  auto parts = std::make_unique<StoreParts>();
  if (auto r = store_detail::open_parts(*parts, options, env); !r) {
    return std::unexpected(r.error());
  }
  StoreParts* p = parts.get();
  std::unique_ptr<EventStore> store(new EventStore(std::move(parts)));
  store_detail::append_pending_failures(*p);
  return store;
}

const layout::RawDb& store_internal::Access::raw(const EventStore& store) {
  return *store.impl_->ctx.raw;
}

EventStore::EventStore(std::unique_ptr<StoreParts> parts) : impl_(std::move(parts)) {}

EventStore::~EventStore() { close(); }

void EventStore::close() { store_detail::close_parts(*impl_); }

const StoreOptions& EventStore::options() const { return impl_->ctx.options; }
const Logger& EventStore::logger() const { return impl_->ctx.logger; }
const std::string& EventStore::instance_id() const { return impl_->ctx.instance_id; }
const std::string& EventStore::egress_token_key() const { return impl_->ctx.egress_token_key; }

// ---------------------------------------------------------------------------------------
// writes

Result<AppendResult> EventStore::append(AppendRequest request) {
  return impl_->pipeline.append(std::move(request));
}

std::vector<Result<AppendResult>> EventStore::append_all(std::vector<AppendRequest> requests) {
  return impl_->pipeline.append_all(std::move(requests));
}

Result<void> EventStore::save_checkpoint(std::string_view consumer, std::uint64_t position) {
  return impl_->reads.save_checkpoint(consumer, position);
}

// ---------------------------------------------------------------------------------------
// commits

std::uint64_t EventStore::head() const { return impl_->feed.head(); }

std::uint64_t EventStore::wait_for_commit(std::uint64_t after_position, Micros timeout) const {
  return impl_->feed.wait_for_commit(after_position, timeout);
}

int EventStore::add_commit_listener(CommitListener listener) const {
  return impl_->feed.add(
      [listener = std::move(listener)](const std::shared_ptr<const CommittedBatch>& batch) {
        if (!batch->events.empty()) listener(batch->events, batch->stats);
      });
}

int EventStore::add_batch_listener(BatchListener listener) const {
  return impl_->feed.add(std::move(listener));
}

void EventStore::remove_commit_listener(int id) const { impl_->feed.remove(id); }

// ---------------------------------------------------------------------------------------
// reads

Result<std::vector<Event>> EventStore::read(std::uint64_t from_position,
                                            std::size_t max_count) const {
  return impl_->reads.read(from_position, max_count);
}

Result<std::vector<Event>> EventStore::read_stream(std::string_view stream,
                                                   std::uint64_t from_version,
                                                   std::size_t max_count) const {
  return impl_->reads.read_stream(stream, from_version, max_count);
}

std::uint64_t EventStore::stream_version(std::string_view stream) const {
  return impl_->reads.stream_version(stream);
}

Result<LogChunk> EventStore::read_log(std::uint64_t from_position, std::size_t max_count) const {
  return impl_->reads.read_log(from_position, max_count);
}

std::shared_ptr<const Sandbox> EventStore::get_sandbox(std::string_view sandbox_id) const {
  return impl_->projection.get(sandbox_id);
}

std::vector<std::shared_ptr<const Sandbox>> EventStore::list_sandboxes() const {
  return impl_->projection.list();
}

std::size_t EventStore::live_sandbox_count() const { return impl_->projection.size(); }

std::shared_ptr<const Snapshot> EventStore::get_snapshot(std::string_view snapshot_id) const {
  return impl_->projection.get_snapshot(snapshot_id);
}

std::vector<std::shared_ptr<const Snapshot>> EventStore::list_snapshots() const {
  return impl_->projection.list_snapshots();
}

std::shared_ptr<const Pool> EventStore::get_pool(std::string_view name) const {
  return impl_->projection.get_pool(name);
}

std::vector<std::shared_ptr<const Pool>> EventStore::list_pools() const {
  return impl_->projection.list_pools();
}

Result<std::vector<std::string>> EventStore::sandbox_ids_in_state(SandboxState state,
                                                                  std::size_t max_count) const {
  return impl_->reads.sandbox_ids_in_state(state, max_count);
}

Result<std::map<SandboxState, std::size_t>> EventStore::count_by_state() const {
  return impl_->reads.count_by_state();
}

Result<std::vector<std::pair<Micros, std::string>>> EventStore::expiring(
    Micros until, std::size_t max_count) const {
  return impl_->reads.expiring(until, max_count);
}

std::optional<Micros> EventStore::next_expiry() const { return impl_->reads.next_expiry(); }

Result<std::uint64_t> EventStore::checkpoint(std::string_view consumer) const {
  return impl_->reads.checkpoint(consumer);
}

Result<std::optional<IdempotencyRecord>> EventStore::idempotency(std::string_view key,
                                                                 Micros now) const {
  return impl_->reads.idempotency(key, now);
}

Result<std::optional<SandboxSecrets>> EventStore::sandbox_secrets(
    std::string_view sandbox_id) const {
  return store_detail::read_secrets(impl_->ctx, sandbox_id);
}

Result<void> EventStore::catch_up() { return impl_->reads.catch_up(); }

// ---------------------------------------------------------------------------------------
// health

bool EventStore::writable() const {
  return !impl_->ctx.options.read_only && impl_->health.writable();
}

std::uint64_t EventStore::corrupt_events_found() const {
  return impl_->health.corrupt_events_found();
}

std::uint64_t EventStore::projection_records_rebuilt() const {
  return impl_->health.projection_records_rebuilt();
}

std::uint64_t EventStore::size_on_disk() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(impl_->ctx.options.path, ec)) {
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
