// Clock: where every component that needs "now" gets it. Injected, never global.
//
// The interface and SystemClock (the real UTC clock) are the ground module's
// (events/clock.h), so that the store and the migrations take a Clock without reaching up
// into src/. ManualClock is for tests and only moves when told. Both are thread-safe.
// Times are sbx::Micros (microseconds since the Unix epoch, UTC).
#pragma once

#include <atomic>

#include "events/clock.h"
#include "events/time.h"

namespace sbx {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Micros start = 1'800'000'000LL * kMicrosPerSecond) : now_(start) {}
  Micros now() const override { return now_.load(); }
  void set(Micros t) { now_.store(t); }
  void advance(Micros d) { now_.fetch_add(d); }

 private:
  std::atomic<Micros> now_;
};

}  // namespace sbx
