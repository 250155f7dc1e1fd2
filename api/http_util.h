// Small HTTP helpers of the API layer: percent-decoding, query strings that keep repeated
// keys (Pistache 0.0.5's own query map keeps only the first), request ids, constant-time
// comparison of secrets.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/integer.h"

namespace sbx::api {

// Request line and headers larger than this are refused with 431 (the API and the proxy).
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in form-encoded query
// strings). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);

// "a=1&b=2&a=3" -> {{"a","1"},{"b","2"},{"a","3"}}; names and values percent-decoded
// once; a pair without '=' has an empty value; empty pairs are skipped. nullopt when an
// escape is malformed.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
std::optional<QueryParams> parse_query(std::string_view raw);

// Every value of `name`, in order.
std::vector<std::string> query_values(const QueryParams& params, std::string_view name);
std::optional<std::string> query_value(const QueryParams& params, std::string_view name);

std::string_view trim(std::string_view s);

// ASCII case-insensitive equality (header names and values such as "100-continue").
bool iequals(std::string_view a, std::string_view b);

// The X-Request-ID to use: the client's value trimmed (when it is 1..200 visible ASCII
// characters), else a fresh UUID.
std::string request_id_from(std::optional<std::string_view> header);

// Compares two secrets in time that depends only on their lengths.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace sbx::api
