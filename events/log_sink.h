// LogSink: where the ground modules (events/, store/, migrations/) send their log lines.
//
// They never include src/common/log.h: the composition root (src/server/) and the tools
// hand them a sink (StoreOptions::log_sink, MigrateOptions::log_sink), which
// src/common/log.h implements over spdlog (SpdlogSink). No sink (nullptr) means no log
// lines. A sink must be thread-safe: the store logs from its writer threads, its loading
// threads and its callers' threads.
//
// Logger is the small value the ground modules keep: a sink and a component name
// ("store", "migrations"). Messages are built by the caller (these modules log rarely:
// open, close, corruption, failed writes), so a Logger without a sink costs a branch.
#pragma once

#include <string>
#include <string_view>

namespace sbx {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void log(LogLevel level, std::string_view component, std::string_view message) = 0;
};

class Logger {
 public:
  Logger() = default;  // logs nothing
  Logger(LogSink* sink, std::string component) : sink_(sink), component_(std::move(component)) {}

  void debug(std::string_view message) const { write(LogLevel::kDebug, message); }
  void info(std::string_view message) const { write(LogLevel::kInfo, message); }
  void warn(std::string_view message) const { write(LogLevel::kWarn, message); }
  void error(std::string_view message) const { write(LogLevel::kError, message); }
  LogSink* sink() const { return sink_; }

 private:
  void write(LogLevel level, std::string_view message) const {
    if (sink_ != nullptr) sink_->log(level, component_, message);
  }
  LogSink* sink_ = nullptr;
  std::string component_;
};

}  // namespace sbx
