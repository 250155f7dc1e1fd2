// The field grammars of the lifecycle API: what a metadata label, a resource quantity, an
// image reference must look like, and how deep a JSON body may nest. Each check returns ""
// when the value is acceptable, else the message of the 400 (naming the field). Used by the
// request parsers (request_parsing.h) and by whoever needs the same rule.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sbx::api {

// Kubernetes label rules. Empty string when valid, else why not.
std::string metadata_key_problem(std::string_view key);
std::string metadata_value_problem(std::string_view value);

// resourceLimits.cpu / .memory: "" when acceptable, else the message of the 400. The
// grammar is events/quantity.h (the one the runtimes use), and the value must lie in
// what a container engine accepts: cpu 10m..1024, memory 6Mi..1Pi.
inline constexpr std::int64_t kMinCpuNanos = 10'000'000;              // 10m, Docker's floor
inline constexpr std::int64_t kMaxCpuNanos = 1024LL * 1'000'000'000;  // 1024 cores
inline constexpr std::int64_t kMinMemoryBytes = 6LL << 20;            // Docker's floor
inline constexpr std::int64_t kMaxMemoryBytes = 1LL << 50;            // 1 PiB
std::string cpu_limit_problem(std::string_view s);
std::string memory_limit_problem(std::string_view s);

// image.uri against the Docker/OCI reference grammar ([host[:port]/]path[:tag][@digest],
// lowercase path components, at most 255 characters of name): "" when valid, else why not.
std::string image_reference_problem(std::string_view ref);

// JSON bodies nest at most this deep (objects and arrays); deeper is a 400 before parsing.
inline constexpr int kMaxJsonDepth = 64;
// Whether `text` (JSON, possibly malformed) opens more than `limit` nested arrays/objects.
// A linear scan that skips strings; never recursive.
bool json_nesting_exceeds(std::string_view text, int limit);

}  // namespace sbx::api
