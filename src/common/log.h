// Logging: one line per event with time, level and component, through spdlog.
//
// `sbx::logger("store")` returns the component's logger (created on first use, shared,
// thread-safe). `set_log_level("INFO")` applies `server.log_level` to every logger,
// present and future. Lines look like:
//   2026-11-27T10:11:22.123Z INFO  [store] opened /data (12 live sandboxes)
//
// The ground modules (events/, store/, migrations/) do not include this header: they log
// through an injected LogSink (events/log_sink.h). SpdlogSink is the one the composition
// root and the tools hand them: each line goes to logger(component) at its level.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

#include "events/log_sink.h"

namespace sbx {

std::shared_ptr<spdlog::logger> logger(std::string_view component);

// Accepts DEBUG, INFO, WARNING/WARN, ERROR, CRITICAL, TRACE (any case). False if unknown.
bool set_log_level(std::string_view level);

class SpdlogSink final : public LogSink {
 public:
  void log(LogLevel level, std::string_view component, std::string_view message) override;
};

}  // namespace sbx
