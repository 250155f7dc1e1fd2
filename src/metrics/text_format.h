// Prometheus text exposition format 0.0.4: the primitives every metric family uses to
// write itself, and the name rules it checks at registration.
//
// Pure functions, thread-safe, no allocation beyond appending to the caller's string.
//   - format_value: what Prometheus parses back exactly: "+Inf", "-Inf", "NaN", whole
//     numbers below 2^53 as plain integers ("1000000", never "1e+06"), everything else in
//     the shortest form that round-trips (std::to_chars): plain decimals for magnitudes
//     from 0.0001 ("0.0005", as the Go client writes bucket bounds), exponent form below
//     ("5e-05") and from 1e21.
//   - HELP text escapes backslash and newline; label values escape backslash, double
//     quote and newline (the format's only escapes).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace sbx::metrics {

// The Content-Type of a /metrics response carrying this format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends `value` formatted as a sample value or an `le` bound.
void append_value(std::string& out, double value);
std::string format_value(double value);

// Appends `help` with `\` -> `\\` and newline -> `\n`.
void append_escaped_help(std::string& out, std::string_view help);
// Appends `value` with `\` -> `\\`, `"` -> `\"` and newline -> `\n`.
void append_escaped_label_value(std::string& out, std::string_view value);

// Appends `{n1="v1",n2="v2"}` (values escaped), plus `extra_name="extra_value"` last when
// extra_name is not empty (the histogram `le`). Appends nothing when there is no label at
// all. names.size() must equal values.size().
void append_labels(std::string& out, std::span<const std::string> names,
                   std::span<const std::string> values, std::string_view extra_name = {},
                   std::string_view extra_value = {});

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names: [a-zA-Z_][a-zA-Z0-9_]* and not
// starting with "__" (reserved by Prometheus).
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);

}  // namespace sbx::metrics
