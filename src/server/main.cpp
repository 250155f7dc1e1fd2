// sandboxd — the server's command line. Everything is wired in src/server/server.cpp.
//
//   sandboxd [--config PATH]                      serve (lookup: --config, $SANDBOX_CONFIG_PATH,
//                                                 ~/.sandbox.toml, built-in defaults)
//   sandboxd init-config [PATH] [--example docker|kubernetes] [--force]
//   sandboxd --version | --help
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "src/common/log.h"
#include "src/config/config.h"
#include "src/config/example_config.h"
#include "src/server/server.h"
#include "src/server/version.h"

namespace {

std::string home_path(const std::string& rel) {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/" + rel;
}

int serve(const std::optional<std::string>& config_path) {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask
  // and only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto log = sbx::logger("sandboxd");
  sbx::LoadOptions load;
  load.explicit_path = config_path;
  auto loaded = sbx::load_config(load);
  if (!loaded) {
    std::fprintf(stderr, "sandboxd: configuration error: %s\n", loaded.error().message.c_str());
    return 2;
  }
  if (!sbx::set_log_level(loaded->config.server.log_level)) {
    std::fprintf(stderr, "sandboxd: configuration error: server.log_level: unknown level %s\n",
                 loaded->config.server.log_level.c_str());
    return 2;
  }
  if (loaded->from_file()) {
    log->info("configuration from {}", loaded->source);
  } else {
    log->info("no configuration file found: running on built-in defaults");
  }
  for (const auto& w : loaded->warnings) log->warn("{}", w.message);

  auto server = sbx::Server::create(loaded->config);
  if (!server) {
    log->critical("cannot start: {}", server.error().message);
    return 1;
  }
  auto port = (*server)->start();
  if (!port) {
    log->critical("cannot start: {}", port.error().message);
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->stop();
  log->info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sandboxd: a control plane for containerized sandboxes (OpenSandbox API)"};
  app.set_version_flag("--version", std::string("sandboxd ") + sbx::kVersion);
  std::optional<std::string> config_path;
  app.add_option("-c,--config", config_path, "configuration file (TOML)");

  auto* init = app.add_subcommand("init-config", "write a commented configuration file");
  std::string init_path = home_path(".sandbox.toml");
  std::string example = "docker";
  bool force = false;
  init->add_option("path", init_path, "where to write it (default ~/.sandbox.toml)");
  init->add_option("--example", example, "docker or kubernetes")
      ->check(CLI::IsMember({"docker", "kubernetes"}));
  init->add_flag("--force", force, "overwrite an existing file");

  CLI11_PARSE(app, argc, argv);

  if (init->parsed()) {
    auto written = sbx::write_example_config(init_path, example, force);
    if (!written) {
      std::fprintf(stderr, "sandboxd init-config: %s\n", written.error().message.c_str());
      return 1;
    }
    std::printf("wrote %s (%s example)\n", init_path.c_str(), example.c_str());
    return 0;
  }
  return serve(config_path);
}
