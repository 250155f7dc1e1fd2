// Histogram: counts observations into fixed buckets (one child of a HistogramFamily).
//
// Thread-safe and lock-free: observe() finds the bucket by binary search over the family's
// upper bounds, then does one relaxed atomic add on that bucket's count and one atomic
// floating-point add on the sum. Counts are stored per bucket (not cumulative);
// snapshot() accumulates them, so the exposed `+Inf` bucket always equals `_count`.
// A value v lands in the first bucket whose upper bound b satisfies v <= b (Prometheus
// `le` semantics); NaN and values above the last bound land in the implicit +Inf bucket.
//
// The upper bounds are owned by the family and shared by all its children. Owned by its
// family, which the Registry owns: a Histogram& stays valid as long as the Registry lives.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace sbx::metrics {

class Histogram {
 public:
  // `upper_bounds`: strictly increasing, finite; must outlive the histogram (the family
  // keeps them). The +Inf bucket is implicit.
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value) {
    auto it = std::partition_point(bounds_.begin(), bounds_.end(),
                                   [value](double bound) { return !(value <= bound); });
    counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per upper bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;  // == cumulative.back()
  };
  Snapshot snapshot() const;

  std::span<const double> upper_bounds() const { return bounds_; }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

// Bucket helpers. `count` bounds: start, start*factor, ... / start, start+width, ...
std::vector<double> exponential_buckets(double start, double factor, int count);
std::vector<double> linear_buckets(double start, double width, int count);

}  // namespace sbx::metrics
