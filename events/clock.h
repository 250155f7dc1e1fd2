// Clock: where every component that needs "now" gets it. Injected, never global.
//
// This is the ground part of the clock (the modules below src/ — store/, migrations/ — take
// a `const Clock&` or `const Clock*`): the interface and the real UTC clock. Test clocks
// (ManualClock) live in src/common/clock.h, which includes this header. Thread-safe.
// Times are sbx::Micros (microseconds since the Unix epoch, UTC).
#pragma once

#include "events/time.h"

namespace sbx {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Micros now() const override;
};

}  // namespace sbx
