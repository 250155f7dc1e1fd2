// Kubernetes-style resource quantities, as the OpenSandbox API carries them in
// `resourceLimits`, parsed into what container engines take.
//
//   parse_cpu_quantity("500m") == 500'000'000 nano-CPUs;  "2" -> 2'000'000'000; "0.5" too
//   parse_memory_quantity("512Mi") == 536'870'912 bytes;  "1G" -> 1'000'000'000
//
// Grammar: <decimal number><suffix>, the number unsigned with an optional fraction
// ("1.5"), the suffix one of: binary Ki Mi Gi Ti Pi Ei; decimal n u m "" k K M G T P E; or
// an exponent e<int>/E<int> ("1e9"). CPU accepts only "", "m" (and exponents). Results
// are rounded up to whole units; zero, negative or out-of-range values are errors.
//
// Pure functions, thread-safe. Errors: kInvalidArgument with a message that quotes the
// input and says what is accepted (field "cpu" or "memory").
#pragma once

#include <cstdint>
#include <string_view>

#include "events/result.h"

namespace sbx {

Result<std::int64_t> parse_cpu_quantity(std::string_view text);     // nano-CPUs (> 0)
Result<std::int64_t> parse_memory_quantity(std::string_view text);  // bytes (> 0)

}  // namespace sbx
