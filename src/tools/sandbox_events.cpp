#include "src/tools/sandbox_events.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <thread>
#include <unordered_set>
#include <vector>

#include "events/codec.h"
#include "events/time.h"
#include "migrations/rebuild.h"
#include "src/common/log.h"
#include "src/tools/event_format.h"
#include "store/subscription.h"

namespace sbx {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 1024;
constexpr std::size_t kTableBlock = 4096;
// Consecutive failed catch-ups that follow tolerates (a primary restarting or compacting
// can make one fail) before it gives up.
constexpr int kMaxCatchUpFailures = 25;

int report_error(std::ostream& err, const Error& e) {
  err << "sandbox-events: " << e.message << '\n';
  return kExitError;
}

// Prints events in the chosen format. Table rows are buffered into aligned blocks.
class EventPrinter {
 public:
  EventPrinter(std::ostream& out, DumpFormat format, Reveal reveal)
      : out_(out), format_(format), reveal_(reveal), table_(out) {}

  void add(const Event& event) {
    if (format_ == DumpFormat::kJsonl) {
      out_ << event_json_line(event, reveal_) << '\n';
      return;
    }
    rows_.push_back(TableWriter::row_of(event, reveal_));
    if (rows_.size() >= kTableBlock) flush();
  }

  void flush() {
    if (format_ == DumpFormat::kTable && (!rows_.empty() || !table_started_)) {
      table_.write(rows_);
      rows_.clear();
      table_started_ = true;
    }
    out_.flush();
  }

 private:
  std::ostream& out_;
  DumpFormat format_;
  Reveal reveal_;
  TableWriter table_;
  std::vector<TableWriter::Row> rows_;
  bool table_started_ = false;
};

std::string describe(const CorruptEvent& c) {
  return "corrupt event at position " + std::to_string(c.position) + " (stream " +
         (c.stream.empty() ? std::string("unknown") : c.stream) + "): " + c.message;
}

// Calls `sink` with every event matching `filter` whose position is in (after, up_to], in
// log order, until `sink` returns false. With `use_stream_index` and a stream filter, only
// that stream is read (through the stream index) instead of the whole log. A record that
// does not decode is skipped and reported to `corrupt` (with a stream filter: only one of
// that stream or of an unknown stream).
Result<void> scan(const EventStore& store, const EventFilter& filter, std::uint64_t after,
                  std::uint64_t up_to, bool use_stream_index,
                  const std::function<bool(const Event&)>& sink,
                  const std::function<void(const CorruptEvent&)>& corrupt) {
  if (filter.to_position) up_to = std::min(up_to, *filter.to_position);
  std::uint64_t next = std::max(after + 1, filter.from_position);
  if (next > up_to) return {};
  if (use_stream_index && filter.stream) {
    auto events = store.read_stream(*filter.stream);
    if (events) {
      for (const auto& e : *events) {
        if (e.position < next || e.position > up_to) continue;
        if (filter.matches(e) && !sink(e)) return {};
      }
      return {};
    }
    // A record of the stream does not decode: read the log, which skips it.
    if (events.error().code != ErrorCode::kDataLoss) return std::unexpected(events.error());
  }
  while (next <= up_to) {
    auto chunk = store.read_log(next, std::min<std::uint64_t>(kReadChunk, up_to - next + 1));
    if (!chunk) return std::unexpected(chunk.error());
    if (chunk->next <= next) {
      return fail(ErrorCode::kDataLoss, "the log has no event at position " + std::to_string(next) +
                                            " (head " + std::to_string(store.head()) + ")");
    }
    auto bad = chunk->corrupt.begin();
    for (const auto& e : chunk->events) {
      for (; bad != chunk->corrupt.end() && bad->position < e.position; ++bad) {
        if (!filter.stream || bad->stream.empty() || bad->stream == *filter.stream) corrupt(*bad);
      }
      if (filter.matches(e) && !sink(e)) return {};
    }
    for (; bad != chunk->corrupt.end(); ++bad) {
      if (!filter.stream || bad->stream.empty() || bad->stream == *filter.stream) corrupt(*bad);
    }
    next = chunk->next;
  }
  return {};
}

std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

std::string millis(Micros us) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << static_cast<double>(us) / 1000.0 << " ms";
  return s.str();
}

}  // namespace

std::string expand_home(const std::string& path) {
  if (path != "~" && !path.starts_with("~/")) return path;
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return path;
  return std::string(home) + path.substr(1);
}

Result<std::unique_ptr<EventStore>> open_data_dir(const std::string& data_dir) {
  const std::string path = expand_home(data_dir);
  std::error_code ec;
  if (path.empty() || !fs::is_directory(path, ec)) {
    return fail(ErrorCode::kNotFound, "no sandboxd data directory at " + path, "--data");
  }
  static SpdlogSink log_sink;  // stateless: the store's lines go to stderr as the tool's do
  StoreOptions o;
  o.path = path;
  o.read_only = true;
  o.sync = false;
  o.log_sink = &log_sink;
  auto store = EventStore::open(o);
  if (!store) {
    if (store.error().code == ErrorCode::kNotFound) {
      return fail(ErrorCode::kNotFound,
                  "no sandboxd data directory at " + path + " (no event store in it)", "--data");
    }
    Error e = store.error();
    e.message = path + ": " + e.message;
    return std::unexpected(std::move(e));
  }
  return std::move(*store);
}

// ---------------------------------------------------------------------------------------
// dump / follow

int run_dump(const DumpOptions& options, std::ostream& out, std::ostream& err) {
  auto store = open_data_dir(options.data_dir);
  if (!store) return report_error(err, store.error());
  EventPrinter printer(out, options.format, options.reveal ? Reveal::kYes : Reveal::kNo);
  std::size_t corrupt = 0;
  auto r = scan(
      **store, options.filter, 0, (*store)->head(), /*use_stream_index=*/true,
      [&](const Event& e) {
        printer.add(e);
        return true;
      },
      [&](const CorruptEvent& c) {
        ++corrupt;
        err << "sandbox-events: " << describe(c) << " (skipped)\n";
      });
  printer.flush();
  if (!r) return report_error(err, r.error());
  if (!out) return kExitError;
  return corrupt > 0 ? kExitDifferences : kExitOk;
}

int run_follow(const FollowOptions& options, std::ostream& out, std::ostream& err) {
  const auto started = SteadyClock::now();
  auto opened = open_data_dir(options.dump.data_dir);
  if (!opened) return report_error(err, opened.error());
  EventStore& store = **opened;
  const EventFilter& filter = options.dump.filter;
  EventPrinter printer(out, options.dump.format,
                       options.dump.reveal ? Reveal::kYes : Reveal::kNo);

  std::uint64_t printed = 0;
  bool enough = options.max_events && *options.max_events == 0;
  auto sink = [&](const Event& e) {
    printer.add(e);
    ++printed;
    if (options.max_events && printed >= *options.max_events) {
      enough = true;
      return false;
    }
    return true;
  };
  auto on_corrupt = [&](const CorruptEvent& c) {
    err << "sandbox-events: " << describe(c) << " (skipped)\n";
  };
  auto stopped = [&] { return options.stop != nullptr && options.stop->load(); };
  auto timed_out = [&] { return options.timeout && SteadyClock::now() - started >= *options.timeout; };

  std::uint64_t scanned = store.head();
  if (!enough) {
    if (auto r = scan(store, filter, 0, scanned, /*use_stream_index=*/true, sink, on_corrupt);
        !r) {
      printer.flush();
      return report_error(err, r.error());
    }
  }
  printer.flush();

  // Then follow: a subscription from what the scan covered, fed by the secondary's
  // catch-ups (the server is another process: there is no commit notification to wait
  // for, so the primary is asked every poll interval).
  Subscription::Options so;
  so.after = scanned;
  so.max_batch = kReadChunk;
  so.name = "follow";
  auto subscription = Subscription::open(store, std::move(so));
  if (!subscription) return report_error(err, subscription.error());
  Subscription& sub = **subscription;
  int failures = 0;
  auto next_catch_up = SteadyClock::now() + options.poll_interval;
  while (!enough && !stopped() && !filter.past_end(sub.position() + 1) && out) {
    // Wait in short slices so that a stop request is seen quickly.
    auto batch = sub.next(std::min(next_catch_up, SteadyClock::now() + std::chrono::milliseconds(20)));
    auto bad = batch.corrupt().begin();
    auto report_corrupt_before = [&](std::uint64_t position) {
      for (; bad != batch.corrupt().end() && bad->position < position; ++bad) {
        if (bad->position < filter.from_position || filter.past_end(bad->position)) continue;
        if (!filter.stream || bad->stream.empty() || bad->stream == *filter.stream) on_corrupt(*bad);
      }
    };
    for (const auto& e : batch.events()) {
      report_corrupt_before(e.position);
      if (filter.matches(e) && !sink(e)) break;
    }
    if (!enough) report_corrupt_before(UINT64_MAX);
    printer.flush();
    if (stopped() || timed_out()) break;
    if (SteadyClock::now() >= next_catch_up) {
      next_catch_up = SteadyClock::now() + options.poll_interval;
      if (auto r = store.catch_up(); !r) {
        if (++failures >= kMaxCatchUpFailures) return report_error(err, r.error());
        continue;
      }
      failures = 0;
    }
  }
  printer.flush();
  return out ? kExitOk : kExitError;
}

// ---------------------------------------------------------------------------------------
// replay / verify

int run_replay(const ReplayOptions& options, std::ostream& out, std::ostream& err) {
  if (options.into.empty()) {
    return report_error(err, Error(ErrorCode::kInvalidArgument, "replay needs --into DIR"));
  }
  const std::string into = expand_home(options.into);
  std::error_code ec;
  if (fs::exists(into, ec) && fs::equivalent(into, expand_home(options.data_dir), ec)) {
    return report_error(
        err, Error(ErrorCode::kInvalidArgument, "--into must not be the data directory itself"));
  }
  auto store = open_data_dir(options.data_dir);
  if (!store) return report_error(err, store.error());
  auto report = rebuild_projections(**store, into);
  if (!report) return report_error(err, report.error());
  out << "replayed " << report->events << " events (head " << report->head << ") into " << into
      << ": " << report->live_sandboxes << " live sandboxes, " << millis(report->micros) << '\n';
  return kExitOk;
}

int run_verify(const VerifyOptions& options, std::ostream& out, std::ostream& err) {
  auto store = open_data_dir(options.data_dir);
  if (!store) return report_error(err, store.error());
  // Records that do not decode first: the replay cannot go past them.
  std::vector<CorruptEvent> corrupt;
  auto scanned = scan(
      **store, EventFilter{}, 0, (*store)->head(), false, [](const Event&) { return true; },
      [&](const CorruptEvent& c) { corrupt.push_back(c); });
  if (!scanned) return report_error(err, scanned.error());
  if (!corrupt.empty()) {
    for (const auto& c : corrupt) out << describe(c) << '\n';
    out << corrupt.size() << (corrupt.size() == 1 ? " corrupt event" : " corrupt events")
        << " in the log (head " << (*store)->head()
        << "): the projections cannot be replayed past position " << corrupt.front().position
        << '\n';
    return kExitDifferences;
  }
  std::string scratch = expand_home(options.scratch_dir);
  std::string owned;
  if (scratch.empty()) {
    owned = make_temp_dir("sandbox-events-verify");
    if (owned.empty()) {
      return report_error(err, Error(ErrorCode::kUnavailable,
                                     "cannot create a temporary directory for the replay"));
    }
    scratch = owned;
  }
  auto report = verify_projections(**store, scratch, options.max_differences);
  if (!owned.empty()) {
    std::error_code ec;
    fs::remove_all(owned, ec);
  }
  if (!report) return report_error(err, report.error());
  const auto& diffs = report->differences;
  for (const auto& d : diffs) {
    out << d.projection << "  " << d.key << '\n'
        << "  live:    " << d.live << '\n'
        << "  rebuilt: " << d.rebuilt << '\n';
  }
  if (diffs.empty()) {
    out << "ok: the projections equal a replay of " << report->rebuild.events << " events (head "
        << report->rebuild.head << ", " << report->rebuild.live_sandboxes << " live sandboxes)\n";
    return kExitOk;
  }
  out << diffs.size() << (diffs.size() >= options.max_differences ? " or more" : "")
      << (diffs.size() == 1 ? " difference" : " differences")
      << " between the live projections and a replay of " << report->rebuild.events
      << " events (head " << report->rebuild.head << ")\n";
  return kExitDifferences;
}

// ---------------------------------------------------------------------------------------
// stats

int run_stats(const StatsOptions& options, std::ostream& out, std::ostream& err) {
  auto opened = open_data_dir(options.data_dir);
  if (!opened) return report_error(err, opened.error());
  const EventStore& store = **opened;

  std::map<std::string, std::uint64_t, std::less<>> by_type;
  std::unordered_set<std::string> sandbox_streams;
  std::unordered_set<std::string> snapshot_streams;
  std::unordered_set<std::string> pool_streams;
  std::uint64_t system_events = 0;
  std::optional<Event> first, last;
  const std::uint64_t head = store.head();
  std::size_t corrupt = 0;
  auto r = scan(
      store, EventFilter{}, 0, head, false,
      [&](const Event& e) {
        ++by_type[std::string(e.type())];
        if (e.stream == kSystemStream) {
          ++system_events;
        } else if (!snapshot_id_of(e.stream).empty()) {
          snapshot_streams.insert(e.stream);
        } else if (!pool_name_of(e.stream).empty()) {
          pool_streams.insert(e.stream);
        } else {
          sandbox_streams.insert(e.stream);
        }
        if (!first) first = e;
        last = e;
        return true;
      },
      [&](const CorruptEvent& c) {
        ++corrupt;
        err << "sandbox-events: " << describe(c) << " (skipped)\n";
      });
  if (!r) return report_error(err, r.error());
  auto states = store.count_by_state();
  if (!states) return report_error(err, states.error());

  const std::size_t live = store.live_sandbox_count();
  auto line = [&](std::string_view label, const std::string& value) {
    out << std::left << std::setw(24) << label << value << '\n';
  };
  line("data directory", store.options().path);
  line("schema", std::to_string(kStoreSchemaVersion));
  line("events", std::to_string(head));
  line("bytes on disk", std::to_string(store.size_on_disk()));
  line("first event",
       first ? format_rfc3339(first->time) + " (position " + std::to_string(first->position) + ")"
             : "-");
  line("last event",
       last ? format_rfc3339(last->time) + " (position " + std::to_string(last->position) + ")"
            : "-");
  line("system events", std::to_string(system_events));
  if (corrupt > 0) line("corrupt events", std::to_string(corrupt));
  line("sandboxes", std::to_string(sandbox_streams.size()) + " (streams in the log)");
  line("  live", std::to_string(live));
  const std::size_t gone = sandbox_streams.size() >= live ? sandbox_streams.size() - live : 0;
  line("  gone", std::to_string(gone) + " (terminated or deleted)");
  out << "live sandboxes by state\n";
  for (SandboxState s : kAllStates) {
    if (s == SandboxState::kTerminated) continue;  // never live
    auto it = states->find(s);
    line("  " + std::string(to_string(s)), std::to_string(it == states->end() ? 0 : it->second));
  }
  const auto snapshots = store.list_snapshots();
  line("snapshots", std::to_string(snapshot_streams.size()) + " (streams in the log)");
  std::map<SnapshotState, std::size_t> snapshot_states;
  for (const auto& sn : snapshots) ++snapshot_states[sn->state];
  for (SnapshotState s : kAllSnapshotStates) {
    auto it = snapshot_states.find(s);
    line("  " + std::string(to_string(s)),
         std::to_string(it == snapshot_states.end() ? 0 : it->second));
  }
  const std::size_t deleted =
      snapshot_streams.size() >= snapshots.size() ? snapshot_streams.size() - snapshots.size() : 0;
  line("  deleted", std::to_string(deleted));
  // Pools: a stream may hold several generations (deleted, created again); `live` are those
  // whose last generation is not deleted. Members are sandboxes (counted above too).
  const std::size_t live_pools = store.list_pools().size();
  std::size_t unclaimed = 0;
  for (const auto& sb : store.list_sandboxes()) {
    if (sb->is_unclaimed_member()) ++unclaimed;
  }
  line("pools", std::to_string(pool_streams.size()) + " (streams in the log)");
  line("  live", std::to_string(live_pools));
  line("  deleted",
       std::to_string(pool_streams.size() >= live_pools ? pool_streams.size() - live_pools : 0));
  line("  unclaimed members", std::to_string(unclaimed) + " (live sandboxes)");
  out << "events by type\n";
  for (const auto& [type, count] : by_type) line("  " + type, std::to_string(count));
  return kExitOk;
}

}  // namespace sbx
