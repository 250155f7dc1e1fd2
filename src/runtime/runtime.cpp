#include "src/runtime/runtime.h"

#include <cctype>
#include <string>

#include "events/quantity.h"

namespace sbx {

std::string container_name(std::string_view sandbox_id) {
  return "sandbox-" + std::string(sandbox_id);
}

std::string egress_container_name(std::string_view sandbox_id) {
  return "sandbox-egress-" + std::string(sandbox_id);
}

std::string_view runtime_error_code(const Error& error) {
  std::string_view m = error.message;
  auto sep = m.find("::");
  auto colon = m.find(": ");
  if (sep == std::string_view::npos || colon == std::string_view::npos || sep > colon) return {};
  std::string_view code = m.substr(0, colon);
  for (char c : code) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':')) return {};
  }
  return code;
}

bool is_reserved_label(std::string_view key) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view prefix = key.substr(0, slash);
  constexpr std::string_view kDomain = "sandboxd.io";
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  };
  if (iequals(prefix, kDomain)) return true;
  return prefix.size() > kDomain.size() && prefix[prefix.size() - kDomain.size() - 1] == '.' &&
         iequals(prefix.substr(prefix.size() - kDomain.size()), kDomain);
}

Result<void> validate_container_spec(const ContainerSpec& spec) {
  if (spec.sandbox_id.empty() || spec.sandbox_id.size() > 200) {
    return fail(ErrorCode::kInvalidArgument, "sandbox id must have 1..200 characters",
                "sandbox_id");
  }
  for (char c : spec.sandbox_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return fail(ErrorCode::kInvalidArgument,
                  "sandbox id \"" + spec.sandbox_id + "\" may contain only [A-Za-z0-9_.-]",
                  "sandbox_id");
    }
  }
  if (spec.image_uri.empty()) {
    return fail(ErrorCode::kInvalidArgument, "image uri is empty", "image.uri");
  }
  if (spec.entrypoint.empty() || spec.entrypoint.front().empty()) {
    return fail(ErrorCode::kInvalidArgument, "entrypoint needs at least one non-empty element",
                "entrypoint");
  }
  if (spec.network_mode.empty()) {
    return fail(ErrorCode::kInvalidArgument, "network mode is empty", "network_mode");
  }
  if (!spec.limits.cpu.empty()) {
    if (auto r = parse_cpu_quantity(spec.limits.cpu); !r) return std::unexpected(r.error());
  }
  if (!spec.limits.memory.empty()) {
    if (auto r = parse_memory_quantity(spec.limits.memory); !r) {
      return std::unexpected(r.error());
    }
  }
  for (auto [container_port, host_port] : spec.ports) {
    if (container_port == 0 || host_port == 0) {
      return fail(ErrorCode::kInvalidArgument, "ports must be in 1..65535", "ports");
    }
  }
  if (spec.egress) {
    const EgressSpec& e = *spec.egress;
    if (e.image.empty()) {
      return fail(ErrorCode::kInvalidArgument, "the egress sidecar needs an image (egress.image)",
                  "egress.image");
    }
    if (e.token.empty()) {
      return fail(ErrorCode::kInvalidArgument, "the egress sidecar needs a token", "networkPolicy");
    }
    if (e.readiness_timeout.count() <= 0) {
      return fail(ErrorCode::kInvalidArgument, "the egress readiness timeout must be positive",
                  "egress.readiness_timeout_seconds");
    }
    if (spec.network_mode == "host" || spec.network_mode.starts_with("container:")) {
      return fail(ErrorCode::kInvalidArgument,
                  "a network policy needs a bridge-type network, not \"" + spec.network_mode +
                      "\"",
                  "networkPolicy");
    }
    if (!spec.ports.contains(18080)) {
      return fail(ErrorCode::kInvalidArgument,
                  "a sandbox with an egress sidecar needs a host port for 18080", "ports");
    }
  }
  if (!spec.pool_ref.empty()) {
    // A pool's name is a DNS-1123 label (it names a cluster object): 1..63 of [a-z0-9-],
    // alphanumeric at both ends.
    auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    const std::string& r = spec.pool_ref;
    bool ok = r.size() <= 63 && lower_alnum(r.front()) && lower_alnum(r.back());
    for (char c : r) ok = ok && (lower_alnum(c) || c == '-');
    if (!ok) {
      return fail(ErrorCode::kInvalidArgument,
                  "extensions.poolRef must be a pool name: 1..63 of [a-z0-9-], alphanumeric at "
                  "both ends",
                  "extensions.poolRef");
    }
    if (spec.egress) {
      return fail(ErrorCode::kInvalidArgument,
                  "a sandbox taken from a pool cannot have a network policy", "networkPolicy");
    }
    if (!spec.volumes.empty()) {
      return fail(ErrorCode::kInvalidArgument, "a sandbox taken from a pool cannot have volumes",
                  "volumes");
    }
  }
  return {};
}

std::string_view to_string(ContainerState state) {
  switch (state) {
    case ContainerState::kCreated:
      return "created";
    case ContainerState::kRunning:
      return "running";
    case ContainerState::kPaused:
      return "paused";
    case ContainerState::kRestarting:
      return "restarting";
    case ContainerState::kRemoving:
      return "removing";
    case ContainerState::kExited:
      return "exited";
    case ContainerState::kDead:
      return "dead";
  }
  return "unknown";
}

std::optional<ContainerState> parse_container_state(std::string_view s) {
  for (auto st : {ContainerState::kCreated, ContainerState::kRunning, ContainerState::kPaused,
                  ContainerState::kRestarting, ContainerState::kRemoving, ContainerState::kExited,
                  ContainerState::kDead}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

std::string_view to_string(RuntimeEventKind kind) {
  switch (kind) {
    case RuntimeEventKind::kStarted:
      return "start";
    case RuntimeEventKind::kDied:
      return "die";
    case RuntimeEventKind::kOomKilled:
      return "oom";
    case RuntimeEventKind::kDestroyed:
      return "destroy";
    case RuntimeEventKind::kPaused:
      return "pause";
    case RuntimeEventKind::kUnpaused:
      return "unpause";
  }
  return "unknown";
}

}  // namespace sbx
