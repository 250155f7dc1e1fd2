// sandbox-events: the thin main of the audit tool (src/tools/cli.h does the work). SIGINT
// and SIGTERM end `follow` cleanly (exit 0). It lives under src/server because `adopt`
// needs the configuration and the Docker engine (src/server/adopt_command.h), which the
// tool library itself does not reach.
#include <csignal>
#include <iostream>

#include "src/server/adopt_command.h"
#include "src/tools/cli.h"

namespace {
std::atomic<bool> g_stop{false};  // the one thing a signal handler may touch
extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  static_assert(std::atomic<bool>::is_always_lock_free);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sbx::CliCommands commands;
  commands.adopt = &sbx::run_adopt;
  return sbx::run_cli(argc, argv, std::cout, std::cerr, &g_stop, commands);
}
