#include "src/server/adopt_command.h"

#include <filesystem>
#include <string>

#include "events/clock.h"
#include "src/common/log.h"
#include "src/config/config.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/server/reference_adoption.h"
#include "src/server/runtime_options.h"
#include "store/event_store.h"

namespace sbx {

int run_adopt(const AdoptOptions& options, std::ostream& out, std::ostream& err) {
  auto refuse = [&](const std::string& why) {
    err << "sandbox-events adopt: " << why << '\n';
    return kExitError;
  };
  LoadOptions load;
  if (!options.config_path.empty()) load.explicit_path = options.config_path;
  auto loaded = load_config(load);
  if (!loaded) return refuse("configuration error: " + loaded.error().message);
  for (const auto& w : loaded->warnings) err << "sandbox-events adopt: " << w.message << '\n';
  const Config& config = loaded->config;
  if (config.runtime.type != RuntimeType::kDocker) {
    return refuse(std::string("adopting the reference server's sandboxes works on Docker only "
                              "(runtime.type is \"") +
                  std::string(to_string(config.runtime.type)) + "\")");
  }

  const std::string path = expand_home(options.data_dir.value_or(config.store.path));
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_directory(path, ec)) {
    return refuse(std::string("no sandboxd data directory at ") + path +
                  " (start sandboxd once, or give --data)");
  }
  static SpdlogSink log_sink;
  SystemClock clock;
  StoreOptions so;
  so.path = path;
  so.sync = true;
  so.log_sink = &log_sink;
  so.clock = &clock;
  auto store = EventStore::open(so);
  if (!store) {
    if (store.error().field == "store.lock") {
      return refuse(std::string("the store at ") + path +
                    " is held by a running sandboxd; stop it first (a running sandboxd adopts "
                    "the reference server's sandboxes at its own start)");
    }
    return refuse(path + ": " + store.error().message);
  }
  if (!(*store)->writable()) return refuse(std::string("the store at ") + path + " cannot write");

  auto runtime = DockerRuntime::create(docker_options_from(config, (*store)->instance_id()));
  if (!runtime) return refuse(runtime.error().message);
  if (auto ping = (*runtime)->ping(); !ping) {
    return refuse(std::string("the Docker engine at ") + config.docker.host +
                  " does not answer: " + ping.error().message);
  }
  set_log_level("info");  // the per-sandbox lines are the command's report
  ReferenceAdoptionOptions ref;
  ref.actor = "sandbox-events";
  ref.metadata_dir = options.reference_metadata_dir.empty()
                         ? default_reference_metadata_dir()
                         : std::filesystem::path(expand_home(options.reference_metadata_dir));
  auto summary = adopt_reference_sandboxes(**runtime, **store, clock, ref);
  if (!summary) return refuse(summary.error().message);
  out << "reference server sandboxes: " << summary->found << " found, " << summary->adopted
      << " adopted (" << summary->expired << " already expired), " << summary->already_known
      << " already known, " << summary->skipped << " left alone, " << summary->failed
      << " failed\n";
  return summary->failed == 0 ? kExitOk : kExitDifferences;
}

}  // namespace sbx
