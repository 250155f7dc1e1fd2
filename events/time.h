// Time as sandboxd stores and prints it: microseconds since the Unix epoch, UTC.
//
// Pure: nothing here reads a clock. RFC 3339 formatting always prints UTC with `Z` and
// six fractional digits ("2026-11-27T10:11:22.123456Z"); parsing accepts any RFC 3339
// offset and fraction length and normalises to UTC. Years outside 0000..9999 (no
// real timestamp) print as std::chrono's year_month_day with "%04d" ("-001-…", "12345-…",
// wrapped beyond its ±32767 range); they are not RFC 3339 and do not parse back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sbx {

using Micros = std::int64_t;  // microseconds since 1970-01-01T00:00:00Z

std::string format_rfc3339(Micros t);
// Appends exactly the characters format_rfc3339(t) returns (no quotes), without a temporary.
void append_rfc3339(std::string& out, Micros t);
std::optional<Micros> parse_rfc3339(std::string_view s);

constexpr Micros kMicrosPerSecond = 1'000'000;

}  // namespace sbx
