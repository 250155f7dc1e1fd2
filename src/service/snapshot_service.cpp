#include "src/service/snapshot_service.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "events/snapshot_decider.h"
#include "events/uuid.h"

namespace sbx {
namespace {

constexpr int kMaxConflictRetries = 8;

Error storage_error() {
  return Error(ErrorCode::kUnavailable,
               "storage unavailable: the event store cannot write (disk full or failing); "
               "snapshot changes are refused, reads keep working",
               "store");
}

}  // namespace

Result<void> validate_snapshot_name(std::string_view name) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "name must not be empty", "name");
  if (name.size() > kMaxSnapshotNameLength) {
    return fail(ErrorCode::kInvalidArgument,
                std::string("name must be at most ") + std::to_string(kMaxSnapshotNameLength) + " bytes",
                "name");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return fail(ErrorCode::kInvalidArgument, "name must not contain control characters",
                  "name");
    }
  }
  return {};
}

SnapshotService::SnapshotService(EventStore& store, const Clock& clock, SandboxService& sandboxes,
                                 bool supported)
    : store_(store), clock_(clock), sandboxes_(sandboxes), supported_(supported),
      pool_(1, "snapshot-mut") {}

SnapshotService::~SnapshotService() { shutdown(); }

void SnapshotService::shutdown() { pool_.shutdown(); }

std::shared_ptr<const Snapshot> SnapshotService::get(std::string_view snapshot_id) const {
  return store_.get_snapshot(snapshot_id);
}

SnapshotPage SnapshotService::list(const SnapshotListQuery& q) const {
  std::vector<std::shared_ptr<const Snapshot>> matched;
  if (!q.no_state_matches) {
    for (auto& s : store_.list_snapshots()) {
      if (!q.sandbox_id.empty() && s->sandbox_id != q.sandbox_id) continue;
      if (!q.name.empty() && s->name != q.name) continue;
      if (!q.states.empty() && std::find(q.states.begin(), q.states.end(), s->state) == q.states.end())
        continue;
      matched.push_back(std::move(s));
    }
  }
  std::sort(matched.begin(), matched.end(), [](const auto& a, const auto& b) {
    if (a->created_at != b->created_at) return a->created_at > b->created_at;
    return a->id < b->id;
  });
  SnapshotPage page;
  page.page = std::max(1, q.page);
  page.page_size = std::max(1, q.page_size);
  page.total_items = matched.size();
  const auto size = static_cast<std::size_t>(page.page_size);
  page.total_pages = (matched.size() + size - 1) / size;
  const std::size_t begin =
      std::min(matched.size(), (static_cast<std::size_t>(page.page) - 1) * size);
  const std::size_t end = std::min(matched.size(), begin + size);
  page.items.assign(matched.begin() + static_cast<std::ptrdiff_t>(begin),
                    matched.begin() + static_cast<std::ptrdiff_t>(end));
  page.has_next_page = static_cast<std::size_t>(page.page) < page.total_pages;
  return page;
}

Result<Snapshot> SnapshotService::create(const std::string& sandbox_id, const std::string& name,
                                         const RequestContext& ctx) {
  if (!supported_) {
    return fail(ErrorCode::kUnimplemented,
                "snapshots are not supported by this runtime (Docker only)", "runtime.snapshots");
  }
  if (!name.empty()) {
    if (auto ok = validate_snapshot_name(name); !ok) return std::unexpected(ok.error());
  }
  auto sandbox = sandboxes_.get(sandbox_id);
  if (!sandbox) return fail(ErrorCode::kNotFound, std::string("sandbox ") + sandbox_id + " not found");
  if (sandbox->state != SandboxState::kRunning) {
    return fail(ErrorCode::kFailedPrecondition,
                std::string("Snapshot can only be created from a Running sandbox (sandbox ") + sandbox_id +
                    std::string(" is ") + std::string(to_string(sandbox->state)) + ")",
                "snapshot.source");
  }
  const std::string id = new_uuid();
  return run(id, CreateSnapshot{id, sandbox_id, name, snapshot_image_ref(id)}, ctx, true);
}

Result<Snapshot> SnapshotService::remove(const std::string& snapshot_id, const RequestContext& ctx) {
  return run(snapshot_id, DeleteSnapshot{}, ctx, true);
}

Result<Snapshot> SnapshotService::execute(const std::string& snapshot_id,
                                          const SnapshotCommand& command,
                                          const RequestContext& ctx) {
  return run(snapshot_id, command, ctx, false);
}

Result<Snapshot> SnapshotService::run(const std::string& snapshot_id,
                                      const SnapshotCommand& command, const RequestContext& ctx,
                                      bool client) {
  if (client) {
    if (auto fence = sandboxes_.fence_holder()) {
      return fail(ErrorCode::kUnavailable,
                  *fence + "; this sandboxd refuses lifecycle changes until the lease is free "
                           "(reads keep working)",
                  "lease");
    }
    if (!store_.writable()) return std::unexpected(storage_error());
  }
  const bool creating = std::holds_alternative<CreateSnapshot>(command);
  for (int attempt = 0; attempt <= kMaxConflictRetries; ++attempt) {
    std::optional<Snapshot> state;
    if (!creating) {
      auto current = store_.get_snapshot(snapshot_id);
      if (!current) {
        return fail(ErrorCode::kNotFound, std::string("snapshot ") + snapshot_id + " not found", "snapshot");
      }
      state = *current;
    }
    const Micros now = clock_.now();
    auto decided = decide_snapshot(state, command, now);
    if (!decided) return std::unexpected(decided.error());
    if (decided->empty()) return std::move(*state);
    AppendRequest append;
    append.stream = snapshot_stream_of(snapshot_id);
    append.expected =
        creating ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(state->version);
    for (auto& d : *decided) {
      Event e;
      e.time = now;
      e.event_id = new_uuid();
      e.request_id = ctx.request_id;
      e.actor = ctx.actor;
      e.reason = snapshot_reason_of(command);
      e.data = std::move(d);
      append.events.push_back(std::move(e));
    }
    auto appended = store_.append(std::move(append));
    if (!appended) {
      if (appended.error().code == ErrorCode::kConflict && !creating) continue;
      return std::unexpected(appended.error());
    }
    if (!appended->snapshot) {
      return fail(ErrorCode::kInternal, std::string("snapshot ") + snapshot_id + " was not projected");
    }
    return *appended->snapshot;
  }
  return fail(ErrorCode::kConflict, std::string("snapshot ") + snapshot_id + " changed concurrently");
}

void SnapshotService::create_async(std::string sandbox_id, std::string name, RequestContext ctx,
                                   std::function<void(Result<Snapshot>)> done) {
  auto task = std::make_shared<std::tuple<std::string, std::string, RequestContext,
                                          std::function<void(Result<Snapshot>)>>>(
      std::move(sandbox_id), std::move(name), std::move(ctx), std::move(done));
  if (!pool_.submit([this, task] {
        auto& [id, n, c, cb] = *task;
        cb(create(id, n, c));
      })) {
    std::get<3>(*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

void SnapshotService::remove_async(std::string snapshot_id, RequestContext ctx,
                                   std::function<void(Result<Snapshot>)> done) {
  auto task = std::make_shared<
      std::tuple<std::string, RequestContext, std::function<void(Result<Snapshot>)>>>(
      std::move(snapshot_id), std::move(ctx), std::move(done));
  if (!pool_.submit([this, task] {
        auto& [id, c, cb] = *task;
        cb(remove(id, c));
      })) {
    std::get<2>(*task)(fail(ErrorCode::kUnavailable, "the server is shutting down"));
  }
}

}  // namespace sbx
