#include "events/decider.h"

#include <string>
#include <type_traits>
#include <utility>

namespace sbx {
namespace {

using Events = std::vector<EventData>;
using S = SandboxState;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

std::string requires_message(S current, std::string_view what, std::string_view required) {
  std::string m = "sandbox is ";
  m += to_string(current);
  m += "; ";
  m += what;
  m += " requires ";
  m += required;
  return m;
}

Result<Events> precondition(S current, std::string_view what, std::string_view required) {
  return fail(ErrorCode::kFailedPrecondition, requires_message(current, what, required));
}

Result<Events> not_found(const std::optional<Sandbox>& state) {
  if (!state) return fail(ErrorCode::kNotFound, "sandbox not found");
  return fail(ErrorCode::kNotFound, "sandbox " + state->id + " not found");
}

Result<Events> one(EventData e) {
  Events v;
  v.push_back(std::move(e));
  return v;
}

// Commands that a client sends. Precondition: the sandbox exists, is not Terminated and
// not deleted.
Result<Events> decide_api(const Sandbox& sb, const Command& command, Micros now) {
  const S s = sb.state;
  return std::visit(
      Overloaded{
          [&](const PauseSandbox&) -> Result<Events> {
            if (s != S::kRunning) return precondition(s, "pause", "Running");
            return one(PauseRequested{});
          },
          [&](const ResumeSandbox&) -> Result<Events> {
            if (s != S::kPaused) return precondition(s, "resume", "Paused");
            return one(ResumeRequested{});
          },
          [&](const DeleteSandbox& c) -> Result<Events> {
            if (c.only_unclaimed_member && !sb.is_unclaimed_member())
              return fail(ErrorCode::kFailedPrecondition,
                          "sandbox " + sb.id + " is no longer an unclaimed pool member");
            if (s == S::kStopping) return Events{};
            return one(DeletionRequested{});
          },
          [&](const RenewExpiration& c) -> Result<Events> {
            if (is_final(s) || s == S::kStopping)
              return precondition(s, "renewing the expiration", "a live sandbox");
            if (!sb.expires_at)
              return fail(
                  ErrorCode::kFailedPrecondition,
                  "sandbox " + sb.id + " has no expiration (manual cleanup); it cannot be renewed");
            if (c.expires_at <= now)
              return fail(ErrorCode::kInvalidArgument,
                          "expiresAt " + format_rfc3339(c.expires_at) +
                              " is not in the future (now " + format_rfc3339(now) + ")",
                          "expiresAt");
            return one(ExpirationRenewed{c.expires_at});
          },
          [&](const ChangeNetworkPolicy& c) -> Result<Events> {
            if (s != S::kRunning)
              return precondition(s, "changing the network policy", "a Running sandbox");
            if (sb.spec.network_policy_json.empty())
              return fail(ErrorCode::kFailedPrecondition,
                          "sandbox " + sb.id + " was created without a network policy",
                          "networkPolicy");
            return one(NetworkPolicyChanged{c.method, c.policy});
          },
          [&](const PatchMetadata& c) -> Result<Events> {
            if (is_final(s) || s == S::kStopping)
              return precondition(s, "patching metadata", "a live sandbox");
            MetadataPatched p;
            for (const auto& [key, value] : c.patch) {
              const auto it = sb.metadata.find(key);
              if (value) {
                if (it == sb.metadata.end() || it->second != *value) p.set.emplace(key, *value);
              } else if (it != sb.metadata.end()) {
                p.removed.push_back(key);
              }
            }
            if (p.set.empty() && p.removed.empty()) return Events{};
            std::size_t after = sb.metadata.size() - p.removed.size();
            for (const auto& [key, value] : p.set) after += sb.metadata.contains(key) ? 0 : 1;
            if (after > kMaxMetadataEntries)
              return fail(ErrorCode::kInvalidArgument,
                          "metadata would hold " + std::to_string(after) + " entries; at most " +
                              std::to_string(kMaxMetadataEntries) + " are allowed per sandbox",
                          "metadata");
            return one(std::move(p));
          },
          [&](const ClaimSandbox& c) -> Result<Events> {
            if (!sb.is_unclaimed_member())
              return fail(ErrorCode::kFailedPrecondition,
                          "sandbox " + sb.id + " is not an unclaimed pool member", "poolRef");
            if (s != S::kRunning) return precondition(s, "claiming a pool member", "Running");
            return one(SandboxClaimed{c.metadata, c.expires_at, c.extensions_json});
          },
          [&](const auto&) -> Result<Events> {
            return fail(ErrorCode::kInternal, "decide_api called with a non-API command");
          },
      },
      command);
}

// Worker outcomes. Precondition: the sandbox exists. Outcomes already reflected in the
// state yield no events, so a worker that redoes its work after a crash is harmless.
Result<Events> decide_record(const Sandbox& sb, const Command& command) {
  const S s = sb.state;
  const bool gone = s == S::kTerminated || sb.deleted;
  // An outcome that does not fit a sandbox which no longer exists is NotFound.
  auto misfit = [&](std::string_view what, std::string_view required) -> Result<Events> {
    if (gone) return fail(ErrorCode::kNotFound, "sandbox " + sb.id + " not found");
    return precondition(s, what, required);
  };
  return std::visit(
      Overloaded{
          [&](const RecordProvisioningStarted& c) -> Result<Events> {
            if (s == S::kPending) return one(ProvisioningStarted{c.worker});
            return misfit("provisioning", "Pending");
          },
          [&](const RecordStarted& c) -> Result<Events> {
            if (s == S::kPending) {
              return one(SandboxStarted{c.runtime_id, c.address, c.created_volumes});
            }
            // Only reachable after the start was recorded: already reflected.
            if (s == S::kRunning || s == S::kPausing || s == S::kPaused || s == S::kResuming)
              return Events{};
            return misfit("a start", "Pending");
          },
          [&](const RecordProvisioningFailed& c) -> Result<Events> {
            if (s == S::kPending) return one(ProvisioningFailed{c.error_code, c.message});
            if (is_final(s)) return Events{};
            return misfit("a provisioning failure", "Pending");
          },
          [&](const RecordPaused&) -> Result<Events> {
            if (s == S::kPausing) return one(SandboxPaused{});
            if (s == S::kPaused || s == S::kResuming) return Events{};
            return misfit("a pause outcome", "Pausing");
          },
          [&](const RecordPauseFailed& c) -> Result<Events> {
            if (s == S::kPausing) return one(PauseFailed{c.message});
            if (s == S::kRunning) return Events{};
            return misfit("a pause failure", "Pausing");
          },
          [&](const RecordResumed&) -> Result<Events> {
            if (s == S::kResuming) return one(SandboxResumed{});
            if (s == S::kRunning) return Events{};
            return misfit("a resume outcome", "Resuming");
          },
          [&](const RecordResumeFailed& c) -> Result<Events> {
            if (s == S::kResuming) return one(ResumeFailed{c.message});
            if (s == S::kPaused) return Events{};
            return misfit("a resume failure", "Resuming");
          },
          [&](const RecordTerminated& c) -> Result<Events> {
            if (is_final(s)) return Events{};
            return one(SandboxTerminated{c.exit_code, c.message});
          },
          [&](const RecordFailed& c) -> Result<Events> {
            if (is_final(s)) return Events{};
            return one(SandboxFailed{c.error_code, c.message, c.exit_code});
          },
          [&](const auto&) -> Result<Events> {
            return fail(ErrorCode::kInternal, "decide_record called with a non-worker command");
          },
      },
      command);
}

bool is_worker_command(const Command& command) {
  return std::visit(
      [](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        return std::is_same_v<T, RecordProvisioningStarted> || std::is_same_v<T, RecordStarted> ||
               std::is_same_v<T, RecordProvisioningFailed> || std::is_same_v<T, RecordPaused> ||
               std::is_same_v<T, RecordPauseFailed> || std::is_same_v<T, RecordResumed> ||
               std::is_same_v<T, RecordResumeFailed> || std::is_same_v<T, RecordTerminated> ||
               std::is_same_v<T, RecordFailed>;
      },
      command);
}

// Moves `sb` to `to`; the transition time is recorded only when the state changes.
void transition(Sandbox& sb, S to, Micros at, std::string reason = {}, std::string message = {}) {
  if (sb.state != to) {
    sb.state = to;
    sb.last_transition_at = at;
  }
  sb.status_reason = std::move(reason);
  sb.status_message = std::move(message);
}

// The sandbox id of a sandbox stream; any other stream name as it is.
std::string id_of_stream(std::string_view stream) {
  const std::string_view id = sandbox_id_of(stream);
  return std::string(id.empty() && !stream.starts_with(kSandboxStreamPrefix) ? stream : id);
}

}  // namespace

Result<std::vector<EventData>> decide(const std::optional<Sandbox>& state, const Command& command,
                                      Micros now) {
  if (const auto* create = std::get_if<CreateSandbox>(&command)) {
    if (state) return fail(ErrorCode::kAlreadyExists, "sandbox " + state->id + " already exists");
    return one(
        SandboxRequested{create->sandbox_id, create->spec, create->metadata, create->expires_at});
  }
  if (!state) return not_found(state);
  if (is_worker_command(command)) return decide_record(*state, command);
  if (state->state == S::kTerminated || state->deleted) return not_found(state);
  return decide_api(*state, command, now);
}

Sandbox evolve(const std::optional<Sandbox>& state, const Event& event) {
  if (!state) {
    Sandbox sb;
    sb.version = event.version;
    if (const auto* r = std::get_if<SandboxRequested>(&event.data)) {
      sb.id = r->sandbox_id;
      sb.state = S::kPending;
      sb.created_at = event.time;
      sb.last_transition_at = event.time;
      sb.expires_at = r->expires_at;
      sb.metadata = r->metadata;
      sb.spec = r->spec;
    } else if (const auto* a = std::get_if<SandboxAdopted>(&event.data)) {
      sb.id = a->sandbox_id;
      sb.state = a->state == S::kPaused ? S::kPaused : S::kRunning;
      sb.status_reason = "adopted";
      sb.status_message =
          std::string("adopted from ") + (a->source.empty() ? "another server" : a->source);
      sb.created_at = a->created_at != 0 ? a->created_at : event.time;
      sb.last_transition_at = event.time;
      sb.expires_at = a->expires_at;
      sb.metadata = a->metadata;
      sb.spec = a->spec;
      sb.runtime_id = a->runtime_id;
    } else {
      sb.id = id_of_stream(event.stream);
    }
    return sb;
  }

  Sandbox sb = *state;
  sb.version = event.version;
  const S s = sb.state;
  const Micros t = event.time;
  std::visit(Overloaded{
                 [&](const SandboxStarted& e) {
                   if (s != S::kPending) return;
                   sb.runtime_id = e.runtime_id;
                   sb.address = e.address;
                   transition(sb, S::kRunning, t);
                 },
                 [&](const ProvisioningFailed& e) {
                   if (s != S::kPending) return;
                   transition(sb, S::kFailed, t, e.error_code, e.message);
                 },
                 [&](const PauseRequested&) {
                   if (s == S::kRunning) transition(sb, S::kPausing, t);
                 },
                 [&](const SandboxPaused&) {
                   if (s == S::kPausing) transition(sb, S::kPaused, t);
                 },
                 [&](const PauseFailed& e) {
                   if (s == S::kPausing) transition(sb, S::kRunning, t, "pause_failed", e.message);
                 },
                 [&](const ResumeRequested&) {
                   if (s == S::kPaused) transition(sb, S::kResuming, t);
                 },
                 [&](const SandboxResumed&) {
                   if (s == S::kResuming) transition(sb, S::kRunning, t);
                 },
                 [&](const ResumeFailed& e) {
                   if (s == S::kResuming) transition(sb, S::kPaused, t, "resume_failed", e.message);
                 },
                 [&](const ExpirationRenewed& e) {
                   if (!is_final(s)) sb.expires_at = e.expires_at;
                 },
                 [&](const NetworkPolicyChanged&) {},
                 [&](const SandboxClaimed& e) {
                   if (is_final(s) || sb.claimed_at || sb.spec.pool_name.empty()) return;
                   sb.metadata = e.metadata;
                   sb.expires_at = e.expires_at;
                   if (!e.extensions_json.empty()) sb.spec.extensions_json = e.extensions_json;
                   sb.claimed_at = t;
                 },
                 [&](const MetadataPatched& e) {
                   if (is_final(s)) return;
                   for (const auto& [k, v] : e.set) sb.metadata[k] = v;
                   for (const auto& k : e.removed) sb.metadata.erase(k);
                 },
                 [&](const DeletionRequested&) {
                   if (s == S::kFailed) {
                     sb.deleted = true;
                   } else if (!is_final(s) && s != S::kStopping) {
                     std::string reason = event.reason == Reason::kUser
                                              ? std::string()
                                              : std::string(to_string(event.reason));
                     std::string message;
                     if (event.reason == Reason::kExpired) message = "sandbox expired";
                     transition(sb, S::kStopping, t, std::move(reason), std::move(message));
                   }
                 },
                 [&](const SandboxTerminated& e) {
                   if (is_final(s)) return;
                   // Keeps why it was stopped ("expired", ...); otherwise the process ended alone.
                   std::string reason =
                       s == S::kStopping ? sb.status_reason : std::string("exited");
                   std::string message =
                       e.message.empty() && s == S::kStopping ? sb.status_message : e.message;
                   if (e.exit_code) sb.exit_code = e.exit_code;
                   sb.address.clear();
                   transition(sb, S::kTerminated, t, std::move(reason), std::move(message));
                 },
                 [&](const SandboxFailed& e) {
                   if (is_final(s)) return;
                   if (e.exit_code) sb.exit_code = e.exit_code;
                   sb.address.clear();
                   transition(sb, S::kFailed, t, e.error_code, e.message);
                 },
                 // SandboxRequested or SandboxAdopted on an existing stream, ProvisioningStarted
                 // and system-stream
                 // events change nothing but the version.
                 [&](const auto&) {},
             },
             event.data);
  return sb;
}

Reason reason_of(const Command& command) {
  if (const auto* d = std::get_if<DeleteSandbox>(&command)) return d->reason;
  return is_worker_command(command) ? Reason::kRuntime : Reason::kUser;
}

}  // namespace sbx
