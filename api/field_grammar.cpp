#include "api/field_grammar.h"

#include <algorithm>
#include <cctype>

#include "api/parse_support.h"
#include "events/quantity.h"

namespace sbx::api {

using parsing::has_nul;
using parsing::is_alnum;
using parsing::printable;

namespace {

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool is_label_name(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: lowercase labels [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by dots.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  while (!s.empty()) {
    const auto dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
    if (!std::all_of(label.begin(), label.end(), ok) || label.front() == '-' || label.back() == '-')
      return false;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (s.empty()) return false;  // trailing dot
  }
  return true;
}

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool word_char(char c) { return is_alnum(c) || c == '_'; }

// alpha-numeric (separator alpha-numeric)*, separator = [_.] | __ | -+
bool is_path_component(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (lower_alnum(s[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    if (s[i] == '-') {
      while (j < s.size() && s[j] == '-') ++j;
    } else if (s[i] == '_' && i + 1 < s.size() && s[i + 1] == '_') {
      j = i + 2;
    } else if (s[i] == '.' || s[i] == '_') {
      j = i + 1;
    } else {
      return false;
    }
    if (j >= s.size() || !lower_alnum(s[j])) return false;
    i = j;
  }
  return true;
}

// host[:port], host a DNS name (any case) or an IPv4 address or [IPv6].
bool is_registry_domain(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    const std::string_view v6 = s.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'; }))
      return false;
    host = {};
    s.remove_prefix(close + 1);
    if (s.empty()) return true;
    if (s.front() != ':') return false;
  } else if (const auto colon = s.find(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    s.remove_prefix(colon);
  } else {
    s = {};
  }
  if (!s.empty()) {  // ":port"
    s.remove_prefix(1);
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
  }
  while (!host.empty()) {
    const auto dot = host.find('.');
    const std::string_view label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || !is_alnum(label.front()) || !is_alnum(label.back()))
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return false;
  }
  return true;
}

}  // namespace

std::string image_reference_problem(std::string_view ref) {
  auto bad = [&](std::string_view why) {
    return "image.uri \"" + printable(ref) + "\" is not an image reference: " + std::string(why);
  };
  if (ref.empty()) return bad("empty");
  if (ref.size() > 512) return bad("longer than 512 characters");
  for (char c : ref) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad("control characters, spaces and non-ASCII are not allowed");
  }
  std::string_view name = ref;
  if (const auto at = name.find('@'); at != std::string_view::npos) {
    const std::string_view digest = name.substr(at + 1);
    name = name.substr(0, at);
    const auto colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("a digest is <algorithm>:<hex>");
    const std::string_view algo = digest.substr(0, colon);
    const std::string_view hex = digest.substr(colon + 1);
    if (!std::isalpha(static_cast<unsigned char>(algo.front())) ||
        !std::all_of(algo.begin(), algo.end(),
                     [](char c) { return is_alnum(c) || c == '+' || c == '.' || c == '-' || c == '_'; }))
      return bad("malformed digest algorithm");
    if (hex.size() < 32 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c));
        }))
      return bad("a digest's hex part has at least 32 hexadecimal digits");
  }
  // A tag is after the last ':' that follows the last '/'.
  const auto slash = name.rfind('/');
  if (const auto colon = name.rfind(':');
      colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    const std::string_view tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (tag.empty() || tag.size() > 128 || !word_char(tag.front()) ||
        !std::all_of(tag.begin(), tag.end(),
                     [](char c) { return word_char(c) || c == '.' || c == '-'; }))
      return bad("a tag is 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
  }
  if (name.empty()) return bad("no repository name");
  if (name.size() > 255) return bad("the repository name is longer than 255 characters");
  std::string_view path = name;
  if (const auto first = name.find('/'); first != std::string_view::npos) {
    const std::string_view head = name.substr(0, first);
    const bool domain = head.find_first_of(".:") != std::string_view::npos ||
                        head == "localhost" ||
                        std::any_of(head.begin(), head.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (domain) {
      if (!is_registry_domain(head)) return bad("malformed registry host \"" + std::string(head) + "\"");
      path = name.substr(first + 1);
    }
  }
  while (true) {
    const auto next = path.find('/');
    if (!is_path_component(path.substr(0, next))) {
      return bad("repository path components are lowercase letters and digits, separated by "
                 "'.', '_', '__' or dashes");
    }
    if (next == std::string_view::npos) break;
    path.remove_prefix(next + 1);
  }
  return {};
}

std::string metadata_key_problem(std::string_view key) {
  if (key.empty()) return "metadata keys must not be empty";
  std::string_view name = key;
  if (const auto slash = key.rfind('/'); slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    for (std::string_view reserved : {"opensandbox.io", "sandboxd.io"}) {
      if (prefix == reserved ||
          (prefix.size() > reserved.size() && prefix.ends_with(reserved) &&
           prefix[prefix.size() - reserved.size() - 1] == '.')) {
        return "metadata key \"" + printable(key) + "\" uses the reserved prefix " +
               std::string(reserved) + "/ (labels there are written by the server only)";
      }
    }
    if (!is_dns_subdomain(prefix)) {
      return "metadata key \"" + printable(key) +
             "\": the prefix must be a DNS subdomain (lowercase, at most 253 characters)";
    }
  }
  if (name.size() > 63 || !is_label_name(name)) {
    return "metadata key \"" + printable(key) +
           "\": the name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending with "
           "an alphanumeric character";
  }
  return {};
}

std::string metadata_value_problem(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > 63 || !is_label_name(value)) {
    return "metadata value \"" + printable(value) +
           "\" must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with an "
           "alphanumeric character";
  }
  return {};
}

std::string cpu_limit_problem(std::string_view s) {
  auto nanos = parse_cpu_quantity(s);
  if (!nanos) {
    return "resourceLimits.cpu: \"" + printable(s) +
           "\" is not a CPU quantity (use cores like \"2\" or \"0.5\", or millicores like "
           "\"500m\")";
  }
  if (*nanos < kMinCpuNanos || *nanos > kMaxCpuNanos) {
    return "resourceLimits.cpu: \"" + std::string(s) + "\" is outside " +
           std::to_string(kMinCpuNanos / 1'000'000) + "m.." +
           std::to_string(kMaxCpuNanos / 1'000'000'000) + " (cores)";
  }
  return {};
}

std::string memory_limit_problem(std::string_view s) {
  auto bytes = parse_memory_quantity(s);
  if (!bytes) {
    return "resourceLimits.memory: \"" + printable(s) +
           "\" is not a memory quantity (use e.g. \"512Mi\", \"2Gi\" or \"1G\")";
  }
  if (*bytes < kMinMemoryBytes || *bytes > kMaxMemoryBytes) {
    return "resourceLimits.memory: \"" + std::string(s) +
           "\" is outside 6Mi..1Pi (a container engine refuses less than 6 MiB)";
  }
  return {};
}

bool json_nesting_exceeds(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace sbx::api
