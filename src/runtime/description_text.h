// Reading runtime JSON (a Docker inspect, a Kubernetes pod) into the diagnostics text of
// container_description.h and pod_description.h: a member that may be absent, a scalar as
// one line of text.
//
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sbx {

// j[key], or a null value when j is not an object or has no such member.
inline const nlohmann::json& json_member(const nlohmann::json& j, std::string_view key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A scalar as text (booleans "True"/"False" as the reference prints them); `fallback` when
// absent or not a scalar, or when empty and `empty_is_absent`. Control characters become
// spaces so one value stays on one line.
inline std::string json_text(const nlohmann::json& v, std::string_view fallback = "N/A",
                             bool empty_is_absent = false) {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_boolean()) {
    s = v.get<bool>() ? "True" : "False";
  } else if (v.is_number_integer()) {
    s = std::to_string(v.get<std::int64_t>());
  } else if (v.is_number()) {
    s = v.dump();
  } else {
    return std::string(fallback);
  }
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (s.empty() && empty_is_absent) return std::string(fallback);
  return s;
}

}  // namespace sbx
