#include "src/config/config_reader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>
#include <system_error>

namespace sbx::config_internal {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

// How a TOML value is shown after "got".
std::string describe(const toml::node& n) {
  if (const auto* s = n.as_string()) return quote(s->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) {
    std::ostringstream os;
    os << *f;
    return os.str();
  }
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date/time";
}

std::string range_text(int64_t lo, int64_t hi) {
  if (hi == kNoMax) return ">= " + std::to_string(lo);
  return "in " + std::to_string(lo) + ".." + std::to_string(hi);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_ip_address(std::string_view s) {
  std::string str(s);
  unsigned char buf[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, str.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

bool is_docker_host(std::string_view s) {
  if (s.starts_with("unix://")) return s.size() > 7 && s[7] == '/';
  if (s.starts_with("tcp://")) return s.size() > 6;
  return false;
}

bool is_absolute_path(std::string_view s) { return s.starts_with('/'); }

bool is_signing_secret(std::string_view s) {
  return s.size() >= 16 && s.find('\0') == std::string_view::npos;
}

namespace {
// Absolute, no ".." segment, no NUL, no ':' (the bind separator).
bool is_clean_bind_path(std::string_view p) {
  if (!p.starts_with('/') || p.find('\0') != std::string_view::npos ||
      p.find(':') != std::string_view::npos) {
    return false;
  }
  while (!p.empty()) {
    const auto slash = p.find('/');
    if (p.substr(0, slash) == "..") return false;
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return true;
}
}  // namespace

bool is_docker_bind(std::string_view s) {
  const auto first = s.find(':');
  if (first == std::string_view::npos) return false;
  std::string_view src = s.substr(0, first);
  std::string_view rest = s.substr(first + 1);
  std::string_view dst = rest;
  const auto second = rest.find(':');
  if (second != std::string_view::npos) {
    dst = rest.substr(0, second);
    const std::string_view mode = rest.substr(second + 1);
    if (mode != "ro" && mode != "rw") return false;
  }
  return is_clean_bind_path(src) && is_clean_bind_path(dst);
}

bool is_env_name(std::string_view s) {
  return !s.empty() && s.find('=') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

// "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535.
std::optional<std::pair<int, int>> parse_port_range(std::string_view s) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto lo = parse_int(s.substr(0, dash));
  auto hi = parse_int(s.substr(dash + 1));
  if (!lo || !hi || *lo < 1 || *hi > 65535 || *lo > *hi) return std::nullopt;
  return std::pair<int, int>(static_cast<int>(*lo), static_cast<int>(*hi));
}

}  // namespace sbx::config_internal
