// Gauge: a value that goes up and down (one child of a GaugeFamily, one label set).
//
// Thread-safe and lock-free: set() is an atomic store, add()/inc()/dec() an atomic
// floating-point add (a compare-and-swap loop). Owned by its family, which the Registry
// owns: a Gauge& stays valid as long as the Registry lives.
#pragma once

#include <atomic>

namespace sbx::metrics {

class alignas(64) Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void inc() { add(1.0); }
  void dec() { add(-1.0); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace sbx::metrics
