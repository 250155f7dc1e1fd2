// Backoff: exponential retry delays for the workers, and a sleep that a stop request ends.
//
// Not thread-safe (one per retried operation). Pure except for reading steady_clock.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>

#include "src/workers/worker_options.h"

namespace sbx {

class Backoff {
 public:
  explicit Backoff(const BackoffOptions& options);

  // Called after a failed attempt: the delay before the next one, or nullopt when the
  // attempts or the time allowed are used up (the delay is clipped to the time left).
  std::optional<std::chrono::milliseconds> next();
  // Back to the initial delay (after a success), keeping the limits' start time.
  void reset();

  int failures() const { return failures_; }
  std::chrono::milliseconds elapsed() const;

 private:
  BackoffOptions options_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::milliseconds delay_;
  int failures_ = 0;
};

// Sleeps `duration` unless `stop` is requested first. Returns false when stopped.
bool sleep_unless_stopped(std::stop_token stop, std::chrono::milliseconds duration);

}  // namespace sbx
