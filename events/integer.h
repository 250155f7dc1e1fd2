// Decimal integers from text, strictly: the whole input, no spaces, no hex, in range of
// int64. One function for every reader of numbers given as text (configuration values and
// environment overrides, HTTP headers, query parameters, path segments).
//
//   parse_int("42") == 42;  parse_int("-7") == -7;  parse_int("") / ("4x") / (" 4") = nullopt
//   parse_int("+5") == nullopt, but 5 with SignPolicy::kAllowPlus (HTTP's readers take a
//   leading '+', the configuration does not)
//
// Pure, thread-safe.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sbx {

enum class SignPolicy { kMinusOnly, kAllowPlus };

inline std::optional<std::int64_t> parse_int(std::string_view s,
                                             SignPolicy sign = SignPolicy::kMinusOnly) {
  if (sign == SignPolicy::kAllowPlus && s.starts_with('+')) {
    s.remove_prefix(1);
    if (s.starts_with('-') || s.starts_with('+')) return std::nullopt;
  }
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace sbx
