#include "migrations/rebuild.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "store/internal.h"
#include "store/keys.h"
#include "store/layout.h"
#include "store/subscription.h"

namespace sbx {

namespace {

constexpr std::size_t kChunk = 4096;

bool is_empty_dir(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return true;
  return std::filesystem::is_directory(path, ec) && std::filesystem::is_empty(path, ec);
}

std::string printable_value(std::string_view cf, std::string_view v) {
  if (cf == layout::kStreams && v.size() == 8) {
    return "position " + std::to_string(keys::get_u64(v));
  }
  if (cf == layout::kEventIds) {
    if (auto p = keys::parse_event_id_value(v)) {
      return "position " + std::to_string(p->position) + " version " + std::to_string(p->version);
    }
  }
  if (v.empty()) return "<present>";
  return std::string(v);
}

}  // namespace

Result<RebuildReport> rebuild_projections(const EventStore& source,
                                          const std::string& scratch_path) {
  auto started = std::chrono::steady_clock::now();
  if (!is_empty_dir(scratch_path)) {
    return fail(ErrorCode::kFailedPrecondition,
                "scratch directory " + scratch_path + " is not empty");
  }
  StoreOptions o;
  o.path = scratch_path;
  o.sync = false;
  auto opened = EventStore::open(o);
  if (!opened) return std::unexpected(opened.error());
  EventStore& scratch = **opened;

  RebuildReport report;
  report.head = source.head();
  // The source's log from the start, in batches of at most kChunk; polled, never waited
  // for: the source is not written meanwhile, so a poll that delivers nothing before the
  // head means the log ends there.
  Subscription::Options so;
  so.max_batch = kChunk;
  so.name = "rebuild";
  auto sub = Subscription::open(source, std::move(so));
  if (!sub) return std::unexpected(sub.error());
  while ((*sub)->position() < report.head) {
    const std::uint64_t next = (*sub)->position() + 1;
    auto batch = (*sub)->poll();
    if (batch.error()) return std::unexpected(*batch.error());
    if (!batch.corrupt().empty()) {
      const CorruptEvent& c = batch.corrupt().front();
      return fail(ErrorCode::kDataLoss,
                  "event at position " + std::to_string(c.position) + " " + c.message);
    }
    if (batch.events().empty()) {
      return fail(ErrorCode::kDataLoss, "the log ends at position " + std::to_string(next - 1) +
                                            " but its head is " + std::to_string(report.head));
    }
    std::vector<AppendRequest> requests;
    std::vector<std::uint64_t> expected_first;
    for (const auto& e : batch.events()) {
      if (e.position > report.head) break;
      if (requests.empty() || requests.back().stream != e.stream ||
          requests.back().events.back().version + 1 != e.version) {
        AppendRequest r;
        r.stream = e.stream;
        r.expected = ExpectedVersion::exactly(e.version - 1);
        requests.push_back(std::move(r));
        expected_first.push_back(e.position);
      }
      requests.back().events.push_back(e);
      ++report.events;
    }
    auto results = scratch.append_all(std::move(requests));
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (!r) {
        return fail(ErrorCode::kDataLoss, "replay of position " +
                                              std::to_string(expected_first[i]) +
                                              " failed: " + r.error().message);
      }
      if (r->deduplicated || r->first_position != expected_first[i]) {
        return fail(ErrorCode::kDataLoss,
                    "replay of position " + std::to_string(expected_first[i]) + " landed at " +
                        std::to_string(r->first_position) +
                        (r->deduplicated ? " (its event id was already written)" : ""));
      }
    }
  }
  (*sub)->stop();
  report.live_sandboxes = scratch.live_sandbox_count();
  scratch.close();
  report.micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  return report;
}

Result<std::vector<ProjectionDifference>> compare_projections(const EventStore& live,
                                                              const EventStore& rebuilt,
                                                              std::size_t max_differences) {
  if (live.head() != rebuilt.head()) {
    return fail(ErrorCode::kFailedPrecondition, "cannot compare projections at different heads (" +
                                                    std::to_string(live.head()) + " and " +
                                                    std::to_string(rebuilt.head()) + ")");
  }
  std::vector<ProjectionDifference> out;
  auto add = [&](std::string_view cf, std::string key, std::string a, std::string b) {
    if (out.size() < max_differences) {
      out.push_back({std::string(cf), std::move(key), std::move(a), std::move(b)});
    }
  };
  const auto& a = store_internal::Access::raw(live);
  const auto& b = store_internal::Access::raw(rebuilt);
  for (std::string_view cf : {layout::kSandboxes, layout::kExpiry, layout::kByState,
                              layout::kSnapshots, layout::kPools, layout::kStreams,
                              layout::kEventIds}) {
    std::unique_ptr<rocksdb::Iterator> ia(a.db()->NewIterator(rocksdb::ReadOptions(), a.cf(cf)));
    std::unique_ptr<rocksdb::Iterator> ib(b.db()->NewIterator(rocksdb::ReadOptions(), b.cf(cf)));
    ia->SeekToFirst();
    ib->SeekToFirst();
    while ((ia->Valid() || ib->Valid()) && out.size() < max_differences) {
      int c = !ia->Valid() ? 1 : !ib->Valid() ? -1 : ia->key().compare(ib->key());
      if (c < 0) {
        add(cf, keys::describe_key(cf, ia->key().ToStringView()),
            printable_value(cf, ia->value().ToStringView()), "<missing>");
        ia->Next();
      } else if (c > 0) {
        add(cf, keys::describe_key(cf, ib->key().ToStringView()), "<missing>",
            printable_value(cf, ib->value().ToStringView()));
        ib->Next();
      } else {
        if (ia->value() != ib->value()) {
          add(cf, keys::describe_key(cf, ia->key().ToStringView()),
              printable_value(cf, ia->value().ToStringView()),
              printable_value(cf, ib->value().ToStringView()));
        }
        ia->Next();
        ib->Next();
      }
    }
    if (!ia->status().ok()) return std::unexpected(layout::to_error(ia->status(), "scan live"));
    if (!ib->status().ok()) return std::unexpected(layout::to_error(ib->status(), "scan rebuilt"));
  }
  // The in-memory view must equal its own column family, hence the rebuilt one.
  auto describe = [](const std::shared_ptr<const Sandbox>& s) {
    if (!s) return std::string("<missing>");
    return std::string(to_string(s->state)) + " v" + std::to_string(s->version);
  };
  for (const auto& s : live.list_sandboxes()) {
    auto r = rebuilt.get_sandbox(s->id);
    if (!r || *r != *s) add("memory", s->id, describe(s), describe(r));
  }
  for (const auto& s : rebuilt.list_sandboxes()) {
    if (!live.get_sandbox(s->id)) add("memory", s->id, "<missing>", describe(s));
  }
  auto describe_snapshot = [](const std::shared_ptr<const Snapshot>& s) {
    if (!s) return std::string("<missing>");
    return std::string(to_string(s->state)) + " v" + std::to_string(s->version);
  };
  for (const auto& s : live.list_snapshots()) {
    auto r = rebuilt.get_snapshot(s->id);
    if (!r || *r != *s) add("memory", "snapshot " + s->id, describe_snapshot(s), describe_snapshot(r));
  }
  for (const auto& s : rebuilt.list_snapshots()) {
    if (!live.get_snapshot(s->id)) add("memory", "snapshot " + s->id, "<missing>", describe_snapshot(s));
  }
  auto describe_pool = [](const std::shared_ptr<const Pool>& p) {
    if (!p) return std::string("<missing>");
    return "generation " + std::to_string(p->generation) + " v" + std::to_string(p->version);
  };
  for (const auto& p : live.list_pools()) {
    auto r = rebuilt.get_pool(p->name);
    if (!r || *r != *p) add("memory", "pool " + p->name, describe_pool(p), describe_pool(r));
  }
  for (const auto& p : rebuilt.list_pools()) {
    if (!live.get_pool(p->name)) add("memory", "pool " + p->name, "<missing>", describe_pool(p));
  }
  return out;
}

Result<VerifyReport> verify_projections(const EventStore& source, const std::string& scratch_path,
                                        std::size_t max_differences) {
  VerifyReport report;
  auto rebuilt = rebuild_projections(source, scratch_path);
  if (!rebuilt) return std::unexpected(rebuilt.error());
  report.rebuild = *rebuilt;
  StoreOptions o;
  o.path = scratch_path;
  o.sync = false;
  auto scratch = EventStore::open(o);
  if (!scratch) return std::unexpected(scratch.error());
  auto diff = compare_projections(source, **scratch, max_differences);
  if (!diff) return std::unexpected(diff.error());
  report.differences = std::move(*diff);
  return report;
}

}  // namespace sbx
