#include "src/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>

namespace sbx {
namespace {

std::mutex g_mu;  // guards logger creation only; spdlog loggers are thread-safe

spdlog::sink_ptr shared_sink() {
  static spdlog::sink_ptr sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    s->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v", spdlog::pattern_time_type::utc));
    return s;
  }();
  return sink;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(std::string_view component) {
  std::string name(component);
  std::lock_guard lock(g_mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto l = std::make_shared<spdlog::logger>(name, shared_sink());
  l->set_level(spdlog::get_level());
  spdlog::register_logger(l);
  return l;
}

bool set_log_level(std::string_view level) {
  std::string l(level);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  spdlog::level::level_enum lv;
  if (l == "trace") lv = spdlog::level::trace;
  else if (l == "debug") lv = spdlog::level::debug;
  else if (l == "info") lv = spdlog::level::info;
  else if (l == "warning" || l == "warn") lv = spdlog::level::warn;
  else if (l == "error") lv = spdlog::level::err;
  else if (l == "critical" || l == "fatal") lv = spdlog::level::critical;
  else return false;
  std::lock_guard lock(g_mu);
  spdlog::set_level(lv);  // applies to all registered loggers and becomes the default
  return true;
}

void SpdlogSink::log(LogLevel level, std::string_view component, std::string_view message) {
  spdlog::level::level_enum lv = spdlog::level::info;
  switch (level) {
    case LogLevel::kDebug:
      lv = spdlog::level::debug;
      break;
    case LogLevel::kInfo:
      lv = spdlog::level::info;
      break;
    case LogLevel::kWarn:
      lv = spdlog::level::warn;
      break;
    case LogLevel::kError:
      lv = spdlog::level::err;
      break;
  }
  logger(component)->log(lv, "{}", message);
}

}  // namespace sbx
