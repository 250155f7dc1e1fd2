// Counter: a value that only goes up (one child of a CounterFamily, one label set).
//
// Thread-safe and lock-free. inc() is one relaxed atomic add on an integer cell, so whole
// increments are exact up to 2^64; fractional increments (e.g. CPU seconds) go to a
// separate double cell updated by compare-and-swap. value() is the sum of both cells.
// Negative, NaN or infinite increments are ignored: a counter never decreases.
//
// Owned by its family, which the Registry owns: a Counter& stays valid as long as the
// Registry lives, so hot paths look it up once and keep the reference.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>

namespace sbx::metrics {

class alignas(64) Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void inc() { whole_.fetch_add(1, std::memory_order_relaxed); }
  void inc(std::uint64_t n) { whole_.fetch_add(n, std::memory_order_relaxed); }
  void inc(double amount) {
    if (!(amount > 0) || std::isinf(amount)) return;
    if (amount < kWholeLimit && amount == std::trunc(amount)) {
      whole_.fetch_add(static_cast<std::uint64_t>(amount), std::memory_order_relaxed);
    } else {
      fraction_.fetch_add(amount, std::memory_order_relaxed);
    }
  }
  // Disambiguates inc(1), inc(some_int): integers count whole units.
  void inc(int n) {
    if (n > 0) inc(static_cast<std::uint64_t>(n));
  }

  double value() const {
    return static_cast<double>(whole_.load(std::memory_order_relaxed)) +
           fraction_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr double kWholeLimit = 9007199254740992.0;  // 2^53
  std::atomic<std::uint64_t> whole_{0};
  std::atomic<double> fraction_{0.0};
};

}  // namespace sbx::metrics
