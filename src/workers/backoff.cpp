#include "src/workers/backoff.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace sbx {

Backoff::Backoff(const BackoffOptions& options)
    : options_(options), start_(std::chrono::steady_clock::now()), delay_(options.initial) {}

std::optional<std::chrono::milliseconds> Backoff::next() {
  ++failures_;
  if (options_.max_attempts > 0 && failures_ >= options_.max_attempts) return std::nullopt;
  std::chrono::milliseconds d = std::max(delay_, std::chrono::milliseconds(1));
  if (options_.max_elapsed.count() > 0) {
    const auto left = options_.max_elapsed - elapsed();
    if (left.count() <= 0) return std::nullopt;
    d = std::min(d, left);
  }
  delay_ = std::min(delay_ * 2, std::max(options_.max, options_.initial));
  return d;
}

void Backoff::reset() {
  delay_ = options_.initial;
  failures_ = 0;
}

std::chrono::milliseconds Backoff::elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start_);
}

bool sleep_unless_stopped(std::stop_token stop, std::chrono::milliseconds duration) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace sbx
