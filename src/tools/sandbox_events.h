// sandbox-events: the audit tool over a sandboxd data directory, as a library.
//
// Every command opens the data directory as a RocksDB secondary (EventStore read_only) of a
// possibly running sandboxd, so it works beside the server and never writes to the
// directory (the secondary keeps its own files in a temporary directory it removes).
// Each run_* takes parsed options and writes its report to `out` and its diagnostics to
// `err`; src/tools/cli.h turns argv into these options, src/server/sandbox_events/main.cpp
// is the thin main.
//
//   dump    events in log order matching an EventFilter, as JSON Lines (the codec's
//           envelope, one object per line) or an aligned table. Env values are shown as
//           "***" unless `reveal` (event_format.h).
//   follow  dump, then follow the log with a Subscription (store/subscription.h) fed by
//           the secondary's catch_up every poll_interval (the server is another process:
//           there is no commit notification) and print new matching events until `stop`
//           is set, max_events were printed, the timeout passes or the filter's position
//           range is past.
//   replay  rebuild every projection from the log into a scratch directory
//           (migrations/rebuild.h rebuild_projections) and print a summary.
//   verify  replay into a temporary directory and compare with the live projections
//           (verify_projections); print each difference (projection, key, live, rebuilt).
//   stats   events by type, live sandboxes by state, sandbox streams, snapshots by state,
//           pools (streams, live, deleted, unclaimed members), log size (events, bytes on
//           disk), first and last event time.
//   adopt   the one command that writes: adopts the reference server's sandboxes from the
//           Docker engine into the store (AdoptOptions), which no running sandboxd may hold.
//
// A stored event that does not decode is skipped by dump, follow and stats, each one
// reported on `err` ("corrupt event at position N (stream S): why (skipped)"); verify prints
// each on `out` and does not replay (the replay cannot go past one).
//
// Exit codes (kExit*): 0 success; 1 verify found differences, or dump/stats/verify met
// corrupt events; 2 the command could not run:
// no data directory ("no sandboxd data directory at X"), a schema newer than this binary,
// an older one that needs migrating, bad arguments, or a read/replay failure.
//
// Thread-safety: the functions are reentrant; each opens its own secondary. `stop` may be
// set from another thread or a signal handler.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "events/result.h"
#include "src/tools/event_filter.h"
#include "store/event_store.h"

namespace sbx {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDifferences = 1;
inline constexpr int kExitError = 2;

enum class DumpFormat { kJsonl, kTable };

struct DumpOptions {
  std::string data_dir;
  EventFilter filter;
  DumpFormat format = DumpFormat::kJsonl;
  bool reveal = false;  // --reveal: print env values instead of "***"
};

struct FollowOptions {
  DumpOptions dump;
  std::chrono::milliseconds poll_interval{200};
  std::optional<std::uint64_t> max_events;  // stop after printing this many (dump included)
  std::optional<std::chrono::milliseconds> timeout;  // stop after this long following
  const std::atomic<bool>* stop = nullptr;           // stop when set (SIGINT/SIGTERM in main)
};

struct ReplayOptions {
  std::string data_dir;
  std::string into;  // scratch directory: missing or empty
};

struct VerifyOptions {
  std::string data_dir;
  std::string scratch_dir;  // empty: a temporary directory, removed afterwards
  std::size_t max_differences = 100;
};

struct StatsOptions {
  std::string data_dir;
};

// `adopt`: record the reference server's sandboxes on the Docker engine in the log, offline
// (src/server/adopt_command.h does it: it needs the configuration and the engine, which
// this library does not reach; the sandbox-events main hands it to run_cli).
struct AdoptOptions {
  std::string config_path;              // --config; "" = sandboxd's own lookup
  std::optional<std::string> data_dir;  // --data when given, else the config's store.path
  // --reference-metadata: the reference server's override directory (its PATCHed metadata
  // and renewals); "" = ~/.opensandbox/metadata, its default.
  std::string reference_metadata_dir;
};
using AdoptCommand =
    std::function<int(const AdoptOptions& options, std::ostream& out, std::ostream& err)>;

[[nodiscard]] int run_dump(const DumpOptions& options, std::ostream& out, std::ostream& err);
[[nodiscard]] int run_follow(const FollowOptions& options, std::ostream& out, std::ostream& err);
[[nodiscard]] int run_replay(const ReplayOptions& options, std::ostream& out, std::ostream& err);
[[nodiscard]] int run_verify(const VerifyOptions& options, std::ostream& out, std::ostream& err);
[[nodiscard]] int run_stats(const StatsOptions& options, std::ostream& out, std::ostream& err);

// Opens `data_dir` read-only (secondary). Errors: kNotFound "no sandboxd data directory at
// X" (missing directory, or no store in it), kFailedPrecondition (schema newer than this
// binary, or older: migrate first; the store's message), kUnavailable (I/O).
[[nodiscard]] Result<std::unique_ptr<EventStore>> open_data_dir(const std::string& data_dir);

// "~" and "~/..." expanded with $HOME; other paths unchanged.
[[nodiscard]] std::string expand_home(const std::string& path);

}  // namespace sbx
