#include "events/snapshot_decider.h"

#include <cctype>
#include <string>
#include <utility>

namespace sbx {
namespace {

using Events = std::vector<EventData>;
using St = SnapshotState;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

Result<Events> one(EventData e) {
  Events v;
  v.push_back(std::move(e));
  return v;
}

}  // namespace

std::string_view to_string(SnapshotState s) {
  switch (s) {
    case St::kCreating: return "Creating";
    case St::kReady: return "Ready";
    case St::kFailed: return "Failed";
    case St::kDeleting: return "Deleting";
  }
  return "Unknown";
}

std::optional<SnapshotState> parse_snapshot_state(std::string_view name) {
  for (St s : kAllSnapshotStates) {
    const std::string_view n = to_string(s);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(n[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return s;
  }
  return std::nullopt;
}

bool opens_snapshot_stream(const EventData& data) {
  return std::holds_alternative<SnapshotRequested>(data);
}

Reason snapshot_reason_of(const SnapshotCommand& command) {
  if (std::holds_alternative<CreateSnapshot>(command) ||
      std::holds_alternative<DeleteSnapshot>(command)) {
    return Reason::kUser;
  }
  return Reason::kRuntime;
}

Result<std::vector<EventData>> decide_snapshot(const std::optional<Snapshot>& state,
                                               const SnapshotCommand& command, Micros /*now*/) {
  if (const auto* c = std::get_if<CreateSnapshot>(&command)) {
    if (state) return fail(ErrorCode::kAlreadyExists, std::string("snapshot ") + state->id + " already exists");
    return one(SnapshotRequested{c->snapshot_id, c->sandbox_id, c->name, c->image_ref});
  }
  if (!state || state->deleted) {
    return fail(ErrorCode::kNotFound,
                state ? std::string("snapshot ") + state->id + " not found" : std::string("snapshot not found"));
  }
  const Snapshot& sn = *state;
  return std::visit(
      Overloaded{
          [&](const CreateSnapshot&) -> Result<Events> { return Events{}; },  // handled above
          [&](const DeleteSnapshot&) -> Result<Events> {
            if (sn.state == St::kDeleting) return Events{};
            if (sn.state == St::kCreating) {
              return fail(ErrorCode::kFailedPrecondition,
                          std::string("snapshot ") + sn.id +
                              " is still being created and cannot be deleted (state Creating)",
                          "snapshot.state");
            }
            return one(SnapshotDeletionRequested{});
          },
          [&](const RecordSnapshotReady& c) -> Result<Events> {
            if (sn.state != St::kCreating) return Events{};
            return one(SnapshotReady{c.image_id});
          },
          [&](const RecordSnapshotFailed& c) -> Result<Events> {
            // Creating: the commit failed. Ready: the reconcile found its image gone.
            if (sn.state != St::kCreating && sn.state != St::kReady) return Events{};
            return one(SnapshotFailed{c.error_code, c.message});
          },
          [&](const RecordSnapshotDeleted&) -> Result<Events> {
            if (sn.state != St::kDeleting) return Events{};
            return one(SnapshotDeleted{});
          },
      },
      command);
}

Snapshot evolve_snapshot(const std::optional<Snapshot>& state, const Event& event) {
  Snapshot sn = state.value_or(Snapshot{});
  sn.version = event.version;
  auto move_to = [&](St to, std::string reason, std::string message) {
    if (sn.state != to) sn.last_transition_at = event.time;
    sn.state = to;
    sn.status_reason = std::move(reason);
    sn.status_message = std::move(message);
  };
  std::visit(Overloaded{
                 [&](const SnapshotRequested& e) {
                   if (state) return;  // a second request on the stream changes nothing
                   sn.id = e.snapshot_id;
                   sn.sandbox_id = e.sandbox_id;
                   sn.name = e.name;
                   sn.image_ref = e.image_ref;
                   sn.state = St::kCreating;
                   sn.status_reason = "snapshot_accepted";
                   sn.status_message = "Snapshot creation accepted.";
                   sn.created_at = event.time;
                   sn.last_transition_at = event.time;
                 },
                 [&](const SnapshotReady& e) {
                   if (!state || sn.state != St::kCreating) return;
                   sn.image_id = e.image_id;
                   move_to(St::kReady, "snapshot_ready", "Snapshot image committed.");
                 },
                 [&](const SnapshotFailed& e) {
                   if (!state || (sn.state != St::kCreating && sn.state != St::kReady)) return;
                   move_to(St::kFailed, e.error_code, e.message);
                 },
                 [&](const SnapshotDeletionRequested&) {
                   if (!state || sn.state == St::kCreating || sn.state == St::kDeleting) return;
                   move_to(St::kDeleting, "snapshot_delete_requested",
                           "Snapshot deletion requested.");
                 },
                 [&](const SnapshotDeleted&) {
                   if (!state || sn.state != St::kDeleting) return;
                   sn.deleted = true;
                   sn.status_reason = "snapshot_deleted";
                   sn.status_message = "Snapshot image removed.";
                   sn.last_transition_at = event.time;
                 },
                 [&](const auto&) {},
             },
             event.data);
  return sn;
}

}  // namespace sbx
