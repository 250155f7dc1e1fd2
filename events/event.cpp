#include "events/event.h"

#include <type_traits>

namespace sbx {

std::string_view event_type(const EventData& data) {
  return std::visit(
      [](const auto& e) -> std::string_view {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, SandboxRequested>)
          return "SandboxRequested";
        else if constexpr (std::is_same_v<T, ProvisioningStarted>)
          return "ProvisioningStarted";
        else if constexpr (std::is_same_v<T, SandboxStarted>)
          return "SandboxStarted";
        else if constexpr (std::is_same_v<T, ProvisioningFailed>)
          return "ProvisioningFailed";
        else if constexpr (std::is_same_v<T, PauseRequested>)
          return "PauseRequested";
        else if constexpr (std::is_same_v<T, SandboxPaused>)
          return "SandboxPaused";
        else if constexpr (std::is_same_v<T, PauseFailed>)
          return "PauseFailed";
        else if constexpr (std::is_same_v<T, ResumeRequested>)
          return "ResumeRequested";
        else if constexpr (std::is_same_v<T, SandboxResumed>)
          return "SandboxResumed";
        else if constexpr (std::is_same_v<T, ResumeFailed>)
          return "ResumeFailed";
        else if constexpr (std::is_same_v<T, ExpirationRenewed>)
          return "ExpirationRenewed";
        else if constexpr (std::is_same_v<T, MetadataPatched>)
          return "MetadataPatched";
        else if constexpr (std::is_same_v<T, NetworkPolicyChanged>)
          return "NetworkPolicyChanged";
        else if constexpr (std::is_same_v<T, DeletionRequested>)
          return "DeletionRequested";
        else if constexpr (std::is_same_v<T, SandboxTerminated>)
          return "SandboxTerminated";
        else if constexpr (std::is_same_v<T, SandboxFailed>)
          return "SandboxFailed";
        else if constexpr (std::is_same_v<T, ServerStarted>)
          return "ServerStarted";
        else if constexpr (std::is_same_v<T, OrphanRemoved>)
          return "OrphanRemoved";
        else if constexpr (std::is_same_v<T, ReconcileFinding>)
          return "ReconcileFinding";
        else if constexpr (std::is_same_v<T, MigrationApplied>)
          return "MigrationApplied";
        else if constexpr (std::is_same_v<T, SandboxAdopted>)
          return "SandboxAdopted";
        else if constexpr (std::is_same_v<T, SnapshotRequested>)
          return "SnapshotRequested";
        else if constexpr (std::is_same_v<T, SnapshotReady>)
          return "SnapshotReady";
        else if constexpr (std::is_same_v<T, SnapshotFailed>)
          return "SnapshotFailed";
        else if constexpr (std::is_same_v<T, SnapshotDeletionRequested>)
          return "SnapshotDeletionRequested";
        else if constexpr (std::is_same_v<T, SnapshotDeleted>)
          return "SnapshotDeleted";
        else if constexpr (std::is_same_v<T, SandboxClaimed>)
          return "SandboxClaimed";
        else if constexpr (std::is_same_v<T, PoolCreated>)
          return "PoolCreated";
        else if constexpr (std::is_same_v<T, PoolCapacityChanged>)
          return "PoolCapacityChanged";
        else if constexpr (std::is_same_v<T, PoolDeleted>)
          return "PoolDeleted";
        else
          static_assert(sizeof(T) == 0, "event type without a name");
      },
      data);
}

bool opens_sandbox_stream(const EventData& data) {
  return std::holds_alternative<SandboxRequested>(data) ||
         std::holds_alternative<SandboxAdopted>(data);
}

}  // namespace sbx
