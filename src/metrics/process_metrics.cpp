#include "src/metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sbx::metrics {

namespace {

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// /proc/self/statm: "size resident shared text lib data dt" in pages. Returns bytes.
std::optional<double> statm_bytes(int index) {
  auto text = read_file("/proc/self/statm");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  unsigned long long pages[2] = {0, 0};
  if (!(in >> pages[0] >> pages[1])) return std::nullopt;
  return static_cast<double>(pages[index]) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

std::optional<double> read_virtual_memory() { return statm_bytes(0); }
std::optional<double> read_resident_memory() { return statm_bytes(1); }

std::optional<double> read_open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return std::nullopt;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n;
}

std::optional<double> read_max_fds() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<double>(lim.rlim_cur);
}

std::optional<double> read_cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return std::nullopt;
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Boot time (/proc/stat "btime") plus the process start in clock ticks after boot
// (/proc/self/stat field 22; the command in field 2 may contain spaces and parentheses,
// so fields are counted after the last ')').
std::optional<double> read_start_time() {
  auto stat = read_file("/proc/stat");
  auto self = read_file("/proc/self/stat");
  if (!stat || !self) return std::nullopt;
  std::optional<double> btime;
  std::istringstream lines(*stat);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("btime ")) {
      std::istringstream value(line.substr(6));
      double v = 0;
      if (value >> v) btime = v;
      break;
    }
  }
  auto close = self->rfind(')');
  if (!btime || close == std::string::npos) return std::nullopt;
  std::istringstream fields(self->substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return std::nullopt;
  }
  std::istringstream start_ticks(field);
  double ticks_after_boot = 0;
  if (!(start_ticks >> ticks_after_boot)) return std::nullopt;
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return *btime + ticks_after_boot / static_cast<double>(ticks);
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats s;
  s.resident_memory_bytes = read_resident_memory();
  s.virtual_memory_bytes = read_virtual_memory();
  s.open_fds = read_open_fds();
  s.max_fds = read_max_fds();
  s.start_time_seconds = read_start_time();
  s.cpu_seconds_total = read_cpu_seconds();
  return s;
}

Result<ProcessMetrics> ProcessMetrics::attach(Registry& registry) {
  ProcessMetrics pm;
  // The start time does not change: read it once.
  const std::optional<double> start = read_start_time();
  using Reader = std::optional<double> (*)();
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    Reader read;
  };
  const Def defs[] = {
      {"process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::kGauge,
       &read_resident_memory},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::kGauge,
       &read_virtual_memory},
      {"process_open_fds", "Number of open file descriptors.", MetricType::kGauge, &read_open_fds},
      {"process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge,
       &read_max_fds},
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
       MetricType::kCounter, &read_cpu_seconds},
  };
  for (const Def& def : defs) {
    auto handle = registry.add_callback(def.name, def.help, def.type, {},
                                        [read = def.read]() -> std::vector<CallbackSample> {
                                          auto v = read();
                                          if (!v) return {};
                                          return {{{}, *v}};
                                        });
    if (!handle) return std::unexpected(handle.error());
    pm.handles_.push_back(std::move(*handle));
  }
  auto handle = registry.add_callback(
      "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::kGauge, {}, [start]() -> std::vector<CallbackSample> {
        if (!start) return {};
        return {{{}, *start}};
      });
  if (!handle) return std::unexpected(handle.error());
  pm.handles_.push_back(std::move(*handle));
  return pm;
}

}  // namespace sbx::metrics
