#include "events/sandbox.h"

#include <cctype>

namespace sbx {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

constexpr Reason kAllReasons[] = {Reason::kUser, Reason::kExpired, Reason::kReconcile,
                                  Reason::kRuntime};

}  // namespace

std::string_view to_string(SandboxState s) {
  switch (s) {
    case SandboxState::kPending:
      return "Pending";
    case SandboxState::kRunning:
      return "Running";
    case SandboxState::kPausing:
      return "Pausing";
    case SandboxState::kPaused:
      return "Paused";
    case SandboxState::kResuming:
      return "Resuming";
    case SandboxState::kStopping:
      return "Stopping";
    case SandboxState::kTerminated:
      return "Terminated";
    case SandboxState::kFailed:
      return "Failed";
  }
  return "Unknown";
}

std::optional<SandboxState> parse_state(std::string_view name) {
  for (SandboxState s : kAllStates) {
    if (iequals(name, to_string(s))) return s;
  }
  return std::nullopt;
}

bool is_final(SandboxState s) {
  return s == SandboxState::kTerminated || s == SandboxState::kFailed;
}

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::kUser:
      return "user";
    case Reason::kExpired:
      return "expired";
    case Reason::kReconcile:
      return "reconcile";
    case Reason::kRuntime:
      return "runtime";
  }
  return "unknown";
}

std::optional<Reason> parse_reason(std::string_view name) {
  for (Reason r : kAllReasons) {
    if (iequals(name, to_string(r))) return r;
  }
  return std::nullopt;
}

}  // namespace sbx
