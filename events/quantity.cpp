#include "events/quantity.h"

#include <limits>
#include <optional>
#include <string>

namespace sbx {
namespace {

using i128 = __int128;

struct Multiplier {
  i128 num = 1;
  i128 den = 1;
};

i128 pow10(int n) {
  i128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

// Parses "<digits>[.<digits>]" at the front of `s`; returns mantissa and fraction digits.
bool parse_number(std::string_view& s, i128& mantissa, int& frac_digits) {
  mantissa = 0;
  frac_digits = 0;
  int digits = 0;
  bool seen_dot = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.' && !seen_dot) {
      seen_dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (digits >= 30) return false;  // absurdly long
    mantissa = mantissa * 10 + (c - '0');
    ++digits;
    if (seen_dot) ++frac_digits;
  }
  if (digits == 0) return false;
  s.remove_prefix(i);
  return true;
}

// Parses an exponent suffix "e<int>"/"E<int>" (the whole of `s`).
bool parse_exponent(std::string_view s, int& exp) {
  if (s.size() < 2 || (s[0] != 'e' && s[0] != 'E')) return false;
  s.remove_prefix(1);
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 2) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  exp = neg ? -v : v;
  return true;
}

Multiplier from_exponent(int exp) {
  return exp >= 0 ? Multiplier{pow10(exp), 1} : Multiplier{1, pow10(-exp)};
}

// ceil(mantissa * m.num / (m.den * 10^frac)) in [1, int64 max], or nullopt.
std::optional<std::int64_t> scale(i128 mantissa, int frac_digits, Multiplier m) {
  const i128 max = std::numeric_limits<std::int64_t>::max();
  if (mantissa == 0) return std::nullopt;
  const i128 limit = std::numeric_limits<i128>::max() / 4;
  if (m.num > limit / mantissa) return std::nullopt;
  i128 numer = mantissa * m.num;
  i128 denom = m.den * pow10(frac_digits);
  i128 v = (numer + denom - 1) / denom;
  if (v < 1 || v > max) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

Error invalid(std::string_view what, std::string_view text, std::string_view accepted) {
  return Error(ErrorCode::kInvalidArgument,
               "invalid " + std::string(what) + " quantity \"" + std::string(text) +
                   "\": " + std::string(accepted),
               std::string(what));
}

constexpr std::string_view kCpuHelp =
    "expected a positive number of CPUs such as \"2\", \"0.5\" or \"500m\"";
constexpr std::string_view kMemoryHelp =
    "expected a positive size such as \"512Mi\", \"2Gi\", \"1G\" or \"1048576\" "
    "(suffixes Ki Mi Gi Ti Pi Ei, k K M G T P E)";

}  // namespace

Result<std::int64_t> parse_cpu_quantity(std::string_view text) {
  std::string_view s = text;
  i128 mantissa = 0;
  int frac = 0;
  if (!parse_number(s, mantissa, frac)) return std::unexpected(invalid("cpu", text, kCpuHelp));
  Multiplier m;
  int exp = 0;
  if (s.empty()) {
    m = {1'000'000'000, 1};
  } else if (s == "m") {
    m = {1'000'000, 1};
  } else if (parse_exponent(s, exp) && exp + 9 >= 0 && exp <= 18) {
    m = from_exponent(exp + 9);
  } else {
    return std::unexpected(invalid("cpu", text, kCpuHelp));
  }
  auto v = scale(mantissa, frac, m);
  if (!v) return std::unexpected(invalid("cpu", text, kCpuHelp));
  return *v;
}

Result<std::int64_t> parse_memory_quantity(std::string_view text) {
  std::string_view s = text;
  i128 mantissa = 0;
  int frac = 0;
  if (!parse_number(s, mantissa, frac)) {
    return std::unexpected(invalid("memory", text, kMemoryHelp));
  }
  static constexpr std::pair<std::string_view, int> kBinary[] = {
      {"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  static constexpr std::pair<std::string_view, int> kDecimal[] = {
      {"", 0},   {"k", 3},  {"K", 3},  {"M", 6},  {"G", 9}, {"T", 12},
      {"P", 15}, {"E", 18}, {"m", -3}, {"u", -6}, {"n", -9}};
  std::optional<Multiplier> m;
  for (auto [suffix, shift] : kBinary) {
    if (s == suffix) m = Multiplier{i128(1) << shift, 1};
  }
  for (auto [suffix, exp] : kDecimal) {
    if (s == suffix) m = from_exponent(exp);
  }
  int exp = 0;
  if (!m && parse_exponent(s, exp) && exp >= -9 && exp <= 18) m = from_exponent(exp);
  if (!m) return std::unexpected(invalid("memory", text, kMemoryHelp));
  auto v = scale(mantissa, frac, *m);
  if (!v) return std::unexpected(invalid("memory", text, kMemoryHelp));
  return *v;
}

}  // namespace sbx
