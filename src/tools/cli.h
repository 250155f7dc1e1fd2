// The sandbox-events command line: argv -> the options of src/tools/sandbox_events.h ->
// the matching run_* function. src/server/sandbox_events/main.cpp only installs the signal
// handlers and calls run_cli; tests call it in-process.
//
//   sandbox-events [--data DIR] [--verbose] <command> [options]
//     dump    [filters] [--format jsonl|table] [--reveal]
//     follow  [filters] [--format jsonl|table] [--reveal] [--interval MS] [--max-events N]
//             [--timeout SECONDS]
//     replay  --into DIR
//     verify  [--scratch DIR] [--max-differences N]
//     stats
//     adopt   [--config PATH] [--reference-metadata DIR]   (offline: no sandboxd may hold
//             the store; --data defaults to the configuration's store.path here)
//   filters: --sandbox ID | --stream NAME, --from N, --to N, --since TIME, --until TIME,
//            --type T (repeatable, or comma-separated)
//
// --reveal prints env values, which are otherwise "***" (keys shown).
// `--data` defaults to ~/.sandboxd/data (the default store.path) and may be given before
// or after the command. Times are RFC 3339. Returns the exit code (sandbox_events.h);
// --help prints usage to `out` and returns 0; a usage error prints to `err` and returns 2.
// Thread-safety: reentrant. `stop` (may be null) ends `follow` when set. `adopt` runs
// `commands.adopt` (the sandbox-events main passes src/server's run_adopt); without it the
// command answers "not available in this build" (exit 2).
#pragma once

#include <atomic>
#include <ostream>

#include "src/tools/sandbox_events.h"

namespace sbx {

inline constexpr const char* kDefaultDataDir = "~/.sandboxd/data";

struct CliCommands {
  AdoptCommand adopt;
};

[[nodiscard]] int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
                          const std::atomic<bool>* stop = nullptr,
                          const CliCommands& commands = {});

}  // namespace sbx
