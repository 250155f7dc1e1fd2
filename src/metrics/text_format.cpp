#include "src/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace sbx::metrics {

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegerLimit) {
    // -0.0 prints as "0": Prometheus treats both the same and "-0" only confuses readers.
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value));
    out.append(buf, r.ptr);
    return;
  }
  // Plain decimals from 0.0001 up (so bucket bounds read "0.0005", as the Go client writes
  // them, not "5e-04"); exponent form only for very small or very large magnitudes.
  const double magnitude = std::fabs(value);
  auto r = magnitude >= 1e-4 && magnitude < 1e21
               ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed)
               : std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

std::string format_value(double value) {
  std::string out;
  append_value(out, value);
  return out;
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_labels(std::string& out, std::span<const std::string> names,
                   std::span<const std::string> values, std::string_view extra_name,
                   std::string_view extra_value) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_escaped_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    append_escaped_label_value(out, extra_value);
    out += '"';
  }
  out += '}';
}

namespace {

bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  if (!is_alpha_(name[0]) && name[0] != ':') return false;
  for (char c : name.substr(1)) {
    if (!is_alpha_(c) && !is_digit(c) && c != ':') return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  if (!is_alpha_(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!is_alpha_(c) && !is_digit(c)) return false;
  }
  return true;
}

}  // namespace sbx::metrics
