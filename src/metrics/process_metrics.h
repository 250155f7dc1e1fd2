// ProcessMetrics: the standard Prometheus process metrics of this process, read from
// /proc and getrusage/getrlimit at each scrape (nothing is sampled in between):
//   process_resident_memory_bytes   gauge    /proc/self/statm resident pages * page size
//   process_virtual_memory_bytes    gauge    /proc/self/statm size * page size
//   process_open_fds                gauge    entries of /proc/self/fd
//   process_max_fds                 gauge    RLIMIT_NOFILE soft limit
//   process_start_time_seconds      gauge    /proc/stat btime + /proc/self/stat starttime
//   process_cpu_seconds_total       counter  getrusage(RUSAGE_SELF) user + system
//
// attach() registers them as callbacks on a Registry; the returned object keeps them
// registered and must be destroyed before the Registry. A value that cannot be read at
// scrape time (no /proc) is left out of that scrape. Thread-safe (the callbacks only read
// the kernel's view of this process).
#pragma once

#include <optional>
#include <vector>

#include "events/result.h"
#include "src/metrics/registry.h"

namespace sbx::metrics {

// One reading of the process figures; each field is empty when it could not be read.
struct ProcessStats {
  std::optional<double> resident_memory_bytes;
  std::optional<double> virtual_memory_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;  // Unix time
  std::optional<double> cpu_seconds_total;
};
ProcessStats read_process_stats();

class ProcessMetrics {
 public:
  // Errors: kAlreadyExists when process metrics are already attached to `registry`.
  [[nodiscard]] static Result<ProcessMetrics> attach(Registry& registry);

 private:
  ProcessMetrics() = default;
  std::vector<CallbackHandle> handles_;
};

}  // namespace sbx::metrics
