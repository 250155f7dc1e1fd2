#include "src/runtime/docker/reference_containers.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "src/runtime/runtime.h"

namespace sbx {
namespace {

using json = nlohmann::json;

constexpr int kExecdPortNumber = 44772;  // execd; other ports go through its /proxy/{port}
constexpr int kHttpPortNumber = 8080;

constexpr std::array<std::string_view, 4> kNonUserLabelPrefixes = {
    "opensandbox.io/", "org.opencontainers.image.", "com.docker.", "desktop.docker."};

const json& member(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string string_member(const json& j, std::string_view key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// The lowercase UUID form the API addresses sandboxes by (8-4-4-4-12 hex digits).
bool is_lowercase_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::optional<int> parse_port(std::string_view s) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return v;
}

std::vector<std::string> string_array(const json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (const json& x : v) {
    if (x.is_string()) out.push_back(x.get<std::string>());
  }
  return out;
}

std::int64_t int_member(const json& j, std::string_view key) {
  const json& v = member(j, key);
  return v.is_number_integer() ? v.get<std::int64_t>() : 0;
}

// The host port a binding list publishes ("44772/tcp": [{"HostIp": ..., "HostPort": "..."}]).
std::optional<int> bound_host_port(const json& bindings, std::string_view container_port) {
  const json& list = member(bindings, std::string(container_port) + "/tcp");
  if (!list.is_array()) return std::nullopt;
  for (const json& b : list) {
    if (auto p = parse_port(string_member(b, "HostPort"))) return p;
  }
  return std::nullopt;
}

}  // namespace

std::string reference_sandbox_id(const json& labels) {
  if (!labels.is_object()) return {};
  if (labels.contains(std::string(kSandboxIdLabel))) return {};
  if (labels.contains(std::string(kReferenceEgressSidecarLabel))) return {};
  return string_member(labels, kReferenceIdLabel);
}

std::string cpu_quantity_from_nanos(std::int64_t nanos) {
  if (nanos <= 0) return {};
  if (nanos % 1'000'000'000 == 0) return std::to_string(nanos / 1'000'000'000);
  // Millicores, rounded up so a limit never reads smaller than it is.
  return std::to_string((nanos + 999'999) / 1'000'000) + "m";
}

std::string memory_quantity_from_bytes(std::int64_t bytes) {
  if (bytes <= 0) return {};
  constexpr std::int64_t kKi = 1024, kMi = kKi * 1024, kGi = kMi * 1024;
  if (bytes % kGi == 0) return std::to_string(bytes / kGi) + "Gi";
  if (bytes % kMi == 0) return std::to_string(bytes / kMi) + "Mi";
  if (bytes % kKi == 0) return std::to_string(bytes / kKi) + "Ki";
  return std::to_string(bytes);
}

ReferenceCandidate reference_candidate(const json& inspect, const json& image_labels) {
  ReferenceCandidate c;
  const json& config = member(inspect, "Config");
  const json& labels = member(config, "Labels");
  c.sandbox_id = reference_sandbox_id(labels);
  c.container_name = string_member(inspect, "Name");
  if (c.container_name.starts_with('/')) c.container_name.erase(0, 1);
  if (c.sandbox_id.empty()) return c;
  auto skip = [&](std::string why) {
    c.skipped = std::move(why);
    return c;
  };
  if (!is_lowercase_uuid(c.sandbox_id)) {
    return skip(std::string(kReferenceIdLabel) +
                " is not a lowercase UUID, so the API could not address it");
  }

  SandboxAdopted a;
  a.sandbox_id = c.sandbox_id;
  a.source = std::string(kReferenceSource);
  a.runtime_id = string_member(inspect, "Id");
  if (a.runtime_id.empty()) return skip("the engine reported no container id");

  const json& state = member(inspect, "State");
  const std::string status = string_member(state, "Status");
  if (status == "paused") {
    a.state = SandboxState::kPaused;
  } else if (status == "running") {
    a.state = SandboxState::kRunning;
  } else {
    const std::string what = status.empty() ? std::string("in no known state") : status;
    return skip(std::string("container is ") + what +
                "; only running and paused containers are adopted");
  }

  if (auto created = parse_rfc3339(string_member(inspect, "Created"))) a.created_at = *created;

  if (string_member(labels, kReferenceManualCleanupLabel) != "true") {
    const std::string expires = string_member(labels, kReferenceExpiresAtLabel);
    if (!expires.empty()) {
      auto t = parse_rfc3339(expires);
      if (!t) {
        return skip(std::string(kReferenceExpiresAtLabel) + " \"" + expires.substr(0, 64) +
                    "\" is not an ISO 8601 time with an offset");
      }
      a.expires_at = *t;
    }
  }

  SandboxSpec& spec = a.spec;
  spec.image_uri = string_member(config, "Image");
  spec.entrypoint = string_array(member(config, "Cmd"));
  if (spec.entrypoint.empty()) spec.entrypoint = string_array(member(config, "Entrypoint"));
  const json& host_config = member(inspect, "HostConfig");
  if (auto cpu = cpu_quantity_from_nanos(int_member(host_config, "NanoCpus")); !cpu.empty())
    spec.resource_limits["cpu"] = cpu;
  if (auto mem = memory_quantity_from_bytes(int_member(host_config, "Memory")); !mem.empty())
    spec.resource_limits["memory"] = mem;
  const std::string os = string_member(labels, kReferencePlatformOsLabel);
  const std::string arch = string_member(labels, kReferencePlatformArchLabel);
  if (!os.empty() && !arch.empty()) spec.platform = Platform{os, arch};
  const std::string mode = string_member(host_config, "NetworkMode");
  if (mode == "host") {
    spec.network_mode = "host";
  } else if (mode.empty() || mode == "bridge" || mode == "default" ||
             mode.starts_with("container:")) {
    spec.network_mode = "bridge";  // container:<sidecar>: the sidecar publishes the ports
  } else {
    spec.network_mode = mode;
  }
  if (spec.network_mode != "host") {
    const json& bindings = member(host_config, "PortBindings");
    for (const auto& [port, label] :
         {std::pair{kExecdPortNumber, kReferenceExecdPortLabel},
          std::pair{kHttpPortNumber, kReferenceHttpPortLabel}}) {
      const std::string text = string_member(labels, label);
      std::optional<int> host;
      if (!text.empty()) {
        host = parse_port(text);
        if (!host) {
          return skip(std::string(label) + " \"" + text.substr(0, 16) +
                      "\" is not a port number");
        }
      } else {
        host = bound_host_port(bindings, std::to_string(port));
      }
      if (host) spec.ports[port] = *host;
    }
  }
  if (a.expires_at && a.created_at != 0 && *a.expires_at > a.created_at) {
    spec.timeout_seconds = std::max<std::int64_t>(
        1, (*a.expires_at - a.created_at + kMicrosPerSecond / 2) / kMicrosPerSecond);
  }

  if (labels.is_object()) {
    for (const auto& [key, value] : labels.items()) {
      if (!value.is_string()) continue;
      bool user = !is_reserved_label(key);
      for (std::string_view prefix : kNonUserLabelPrefixes) user = user && !key.starts_with(prefix);
      if (!user) continue;
      const std::string v = value.get<std::string>();
      if (image_labels.is_object()) {
        auto it = image_labels.find(key);
        if (it != image_labels.end() && it->is_string() && it->get<std::string>() == v) continue;
      }
      a.metadata.emplace(key, v);
    }
  }
  c.adopted = std::move(a);
  return c;
}

}  // namespace sbx
