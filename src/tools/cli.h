// The sandbox-events command line: argv -> the options of src/tools/sandbox_events.h ->
// the matching run_* function. src/tools/main.cpp only installs the signal handlers and
// calls run_cli; tests call it in-process.
//
//   sandbox-events [--data DIR] [--verbose] <command> [options]
//     dump    [filters] [--format jsonl|table] [--reveal]
//     follow  [filters] [--format jsonl|table] [--reveal] [--interval MS] [--max-events N]
//             [--timeout SECONDS]
//     replay  --into DIR
//     verify  [--scratch DIR] [--max-differences N]
//     stats
//   filters: --sandbox ID | --stream NAME, --from N, --to N, --since TIME, --until TIME,
//            --type T (repeatable, or comma-separated)
//
// --reveal prints env values, which are otherwise "***" (keys shown).
// `--data` defaults to ~/.sandboxd/data (the default store.path) and may be given before
// or after the command. Times are RFC 3339. Returns the exit code (sandbox_events.h);
// --help prints usage to `out` and returns 0; a usage error prints to `err` and returns 2.
// Thread-safety: reentrant. `stop` (may be null) ends `follow` when set.
#pragma once

#include <atomic>
#include <ostream>

namespace sbx {

inline constexpr const char* kDefaultDataDir = "~/.sandboxd/data";

[[nodiscard]] int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
                          const std::atomic<bool>* stop = nullptr);

}  // namespace sbx
