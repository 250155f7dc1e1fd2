#include "src/tools/cli.h"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/sandbox.h"
#include "events/time.h"
#include "src/common/log.h"
#include "src/tools/sandbox_events.h"

namespace sbx {
namespace {

// The filter and format options shared by dump and follow, as typed on the command line.
struct FilterArgs {
  std::string sandbox;
  std::string stream;
  std::optional<std::uint64_t> from;
  std::optional<std::uint64_t> to;
  std::string since;
  std::string until;
  std::vector<std::string> types;
  std::string format = "jsonl";
  bool reveal = false;
};

void add_filter_options(CLI::App* cmd, FilterArgs& a) {
  auto* sandbox = cmd->add_option("--sandbox", a.sandbox, "Only the events of this sandbox id");
  cmd->add_option("--stream", a.stream, "Only the events of this stream (e.g. system)")
      ->excludes(sandbox);
  cmd->add_option("--from", a.from, "First position (inclusive)");
  cmd->add_option("--to", a.to, "Last position (inclusive)");
  cmd->add_option("--since", a.since, "Only events at or after this RFC 3339 time");
  cmd->add_option("--until", a.until, "Only events before this RFC 3339 time");
  cmd->add_option("--type", a.types, "Only events of this type (repeatable, comma-separated)")
      ->take_all();
  cmd->add_option("--format", a.format, "Output format")->check(CLI::IsMember({"jsonl", "table"}));
  cmd->add_flag("--reveal", a.reveal,
                "Show env values (otherwise \"***\"); for an operator on the host");
}

Result<DumpOptions> to_dump_options(const FilterArgs& a, const std::string& data_dir) {
  DumpOptions o;
  o.data_dir = data_dir;
  o.format = a.format == "table" ? DumpFormat::kTable : DumpFormat::kJsonl;
  o.reveal = a.reveal;
  if (!a.sandbox.empty()) o.filter.stream = stream_of(a.sandbox);
  if (!a.stream.empty()) o.filter.stream = a.stream;
  if (a.from) o.filter.from_position = *a.from;
  o.filter.to_position = a.to;
  for (auto [text, field, target] : {std::tuple{&a.since, "--since", &o.filter.since},
                                     std::tuple{&a.until, "--until", &o.filter.until}}) {
    if (text->empty()) continue;
    auto t = parse_rfc3339(*text);
    if (!t) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(field) + ": not an RFC 3339 time: '" + *text + "'", field);
    }
    *target = *t;
  }
  auto types = parse_event_types(a.types);
  if (!types) return std::unexpected(types.error());
  o.filter.types = std::move(*types);
  return o;
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
            const std::atomic<bool>* stop, const CliCommands& commands) {
  CLI::App app{"sandbox-events: audit a sandboxd event log (works beside a running server)",
               "sandbox-events"};
  app.require_subcommand(1);
  app.fallthrough();  // --data after the command too
  std::string data_dir = kDefaultDataDir;
  bool verbose = false;
  auto* data_option = app.add_option("--data", data_dir, "sandboxd data directory (store.path)")
                          ->capture_default_str();
  app.add_flag("--verbose", verbose, "Log what the store does (to stderr)");

  FilterArgs dump_args, follow_args;
  auto* dump = app.add_subcommand("dump", "Print the events in log order");
  add_filter_options(dump, dump_args);

  auto* follow = app.add_subcommand("follow", "Print the events, then new ones as they come");
  add_filter_options(follow, follow_args);
  std::int64_t interval_ms = 200;
  std::optional<std::uint64_t> max_events;
  std::optional<double> timeout_s;
  follow->add_option("--interval", interval_ms, "Poll interval in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{60'000}));
  follow->add_option("--max-events", max_events, "Stop after printing N events");
  follow->add_option("--timeout", timeout_s, "Stop after SECONDS")->check(CLI::NonNegativeNumber);

  auto* replay = app.add_subcommand("replay", "Rebuild the projections from the log into DIR");
  std::string into;
  replay->add_option("--into", into, "Scratch directory (missing or empty)")->required();

  auto* verify =
      app.add_subcommand("verify", "Check that the live projections equal a replay of the log");
  std::string scratch;
  std::size_t max_differences = 100;
  verify->add_option("--scratch", scratch, "Replay here instead of a temporary directory");
  verify->add_option("--max-differences", max_differences, "Print at most N differences")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  auto* stats = app.add_subcommand("stats", "Events by type, sandboxes by state, log size");

  auto* adopt = app.add_subcommand(
      "adopt",
      "Record the reference server's running and paused sandboxes on the Docker engine "
      "(offline: stop sandboxd first)");
  std::string config_path;
  adopt->add_option("--config", config_path,
                    "sandboxd configuration (docker.*, store.path); default: sandboxd's lookup");
  std::string reference_metadata;
  adopt->add_option("--reference-metadata", reference_metadata,
                    "The reference server's metadata override directory (renewals, patched "
                    "metadata); default: ~/.opensandbox/metadata");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitError;
  }
  set_log_level(verbose ? "info" : "warning");

  auto usage_error = [&](const Error& e) {
    err << "sandbox-events: " << e.message << '\n';
    return kExitError;
  };
  if (dump->parsed()) {
    auto o = to_dump_options(dump_args, data_dir);
    if (!o) return usage_error(o.error());
    return run_dump(*o, out, err);
  }
  if (follow->parsed()) {
    auto o = to_dump_options(follow_args, data_dir);
    if (!o) return usage_error(o.error());
    FollowOptions f;
    f.dump = std::move(*o);
    f.poll_interval = std::chrono::milliseconds(interval_ms);
    f.max_events = max_events;
    if (timeout_s) {
      f.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*timeout_s * 1000.0));
    }
    f.stop = stop;
    return run_follow(f, out, err);
  }
  if (replay->parsed()) return run_replay({data_dir, into}, out, err);
  if (verify->parsed()) {
    VerifyOptions v;
    v.data_dir = data_dir;
    v.scratch_dir = scratch;
    v.max_differences = max_differences;
    return run_verify(v, out, err);
  }
  if (stats->parsed()) return run_stats({data_dir}, out, err);
  if (adopt->parsed()) {
    if (!commands.adopt) {
      return usage_error(
          Error(ErrorCode::kFailedPrecondition, "adopt is not available in this build"));
    }
    AdoptOptions a;
    a.config_path = config_path;
    a.reference_metadata_dir = reference_metadata;
    if (data_option->count() > 0) a.data_dir = data_dir;
    return commands.adopt(a, out, err);
  }
  return usage_error(Error(ErrorCode::kInvalidArgument, "no command given"));
}

}  // namespace sbx
