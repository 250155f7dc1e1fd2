// A random but valid workload for store tests: commands go through the real decider
// (`decide`) against the store's projection and are appended with the expected version,
// like the service does. Plus an independent replay oracle of the sandbox projection.
// Header-only; used by store_test, migrations_test and the crash helper. A Workload is
// not thread-safe: use one per thread (they may share the store).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "events/command.h"
#include "events/decider.h"
#include "src/common/uuid.h"
#include "store/event_store.h"

namespace sbx::testing {

inline Event make_event(EventData data, Micros time, Reason reason = Reason::kUser) {
  Event e;
  e.event_id = new_uuid();
  e.time = time;
  e.actor = "test";
  e.request_id = "req-" + e.event_id.substr(0, 8);
  e.reason = reason;
  e.data = std::move(data);
  return e;
}

// An append that creates sandbox `id` (one SandboxRequested at `t`, expiring a second later).
inline AppendRequest create_append(const std::string& id, Micros t) {
  SandboxRequested r;
  r.sandbox_id = id;
  r.spec.image_uri = "img";
  r.expires_at = t + kMicrosPerSecond;
  return {stream_of(id), ExpectedVersion::no_stream(), {make_event(r, t)}};
}

inline SandboxSpec test_spec(std::mt19937_64& rng) {
  SandboxSpec spec;
  spec.image_uri = "sandboxd-test/busybox:" + std::to_string(rng() % 5);
  spec.entrypoint = {"/bin/sh", "-c", "sleep 3600"};
  spec.env = {{"A", "1"}, {"B", std::to_string(rng() % 1000)}};
  spec.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
  spec.network_mode = "bridge";
  spec.ports = {{44772, 40000 + static_cast<int>(rng() % 20000)}};
  return spec;
}

class Workload {
 public:
  Workload(EventStore& store, std::uint64_t seed, Micros start = 1'800'000'000LL * 1'000'000)
      : store_(store), rng_(seed), now_(start) {}

  Micros now() const { return now_; }
  std::mt19937_64& rng() { return rng_; }

  // Creates a sandbox; returns its id and the append result.
  std::pair<std::string, Result<AppendResult>> create() {
    CreateSandbox c;
    c.sandbox_id = new_uuid();
    c.spec = test_spec(rng_);
    c.metadata = {{"team", "t" + std::to_string(rng_() % 4)}};
    if (rng_() % 4 != 0) {
      c.expires_at = now_ + static_cast<Micros>(60 + rng_() % 3600) * 1'000'000;
      c.spec.timeout_seconds = (*c.expires_at - now_) / 1'000'000;
    }
    auto r = run(std::nullopt, c.sandbox_id, c);
    if (r && *r) ids_.push_back(c.sandbox_id);
    return {c.sandbox_id, r ? *r : Result<AppendResult>(fail(ErrorCode::kInternal, "no events"))};
  }

  // One random command: a create (sometimes) or a command on a known sandbox. Returns
  // nullopt when the decider refused the command (nothing appended).
  std::optional<Result<AppendResult>> step() {
    now_ += 1 + static_cast<Micros>(rng_() % 2'000'000);
    if (ids_.empty() || rng_() % 8 == 0) return create().second;
    std::size_t i = rng_() % ids_.size();
    std::string id = ids_[i];
    auto current = store_.get_sandbox(id);
    if (!current) {  // terminated or deleted: forget it
      ids_[i] = ids_.back();
      ids_.pop_back();
      return std::nullopt;
    }
    return run(*current, id, random_command(*current));
  }

  std::optional<Result<AppendResult>> run(const std::optional<Sandbox>& state,
                                          const std::string& id, const Command& command) {
    auto data = decide(state, command, now_);
    if (!data || data->empty()) return std::nullopt;
    AppendRequest req;
    req.stream = stream_of(id);
    req.expected = state ? ExpectedVersion::exactly(state->version) : ExpectedVersion::no_stream();
    for (auto& d : *data) req.events.push_back(make_event(std::move(d), now_, reason_of(command)));
    if (!state && rng_() % 3 == 0) {
      req.idempotency = IdempotencyRecord{"idem-" + id, id, RequestOutcome::kAccepted, now_ + 3600LL * 1'000'000};
    }
    last_event_ids_.clear();
    for (const auto& e : req.events) last_event_ids_.push_back(e.event_id);
    return store_.append(std::move(req));
  }

  // The event ids of the last append attempted by run() (in order).
  const std::vector<std::string>& last_event_ids() const { return last_event_ids_; }

  const std::vector<std::string>& ids() const { return ids_; }

 private:
  Command random_command(const Sandbox& s) {
    switch (rng_() % 16) {
      case 0:
        return PauseSandbox{};
      case 1:
        return ResumeSandbox{};
      case 2:
        return DeleteSandbox{rng_() % 2 ? Reason::kUser : Reason::kExpired};
      case 3:
        return RenewExpiration{now_ + static_cast<Micros>(60 + rng_() % 7200) * 1'000'000};
      case 4: {
        PatchMetadata p;
        p.patch["k" + std::to_string(rng_() % 3)] = std::to_string(rng_() % 100);
        if (rng_() % 2) p.patch["team"] = std::nullopt;
        return p;
      }
      case 5:
        return RecordProvisioningStarted{"worker:test"};
      case 6:
      case 7:
        return RecordStarted{"container-" + s.id.substr(0, 8)};
      case 8:
        return RecordProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "no such image"};
      case 9:
        return RecordPaused{};
      case 10:
        return RecordPauseFailed{"pause failed"};
      case 11:
        return RecordResumed{};
      case 12:
        return RecordResumeFailed{"resume failed"};
      case 13:
        return RecordTerminated{static_cast<int>(rng_() % 2), "exited"};
      case 14:
        return RecordFailed{"RUNTIME::DIED", "container died", 137};
      default:
        return RecordStarted{"container-" + s.id.substr(0, 8)};
    }
  }

  EventStore& store_;
  std::mt19937_64 rng_;
  Micros now_;
  std::vector<std::string> ids_;
  std::vector<std::string> last_event_ids_;
};

// The live sandbox projection implied by a log, computed independently of the store:
// a sandbox stream is projected from its SandboxRequested until it is Terminated or
// deleted; later events of the stream change nothing.
inline std::map<std::string, Sandbox> replay_live(const std::vector<Event>& log) {
  std::map<std::string, std::optional<Sandbox>> state;
  std::map<std::string, bool> gone;
  std::map<std::string, std::uint64_t> seen;
  for (const auto& e : log) {
    std::uint64_t before = seen[e.stream];
    seen[e.stream] = e.version;
    if (!e.stream.starts_with("sandbox-") || e.stream.size() <= 8) continue;
    std::string id = e.stream.substr(8);
    if (gone[id]) continue;
    auto& s = state[id];
    if (!s && (before != 0 || !std::holds_alternative<SandboxRequested>(e.data))) {
      gone[id] = true;
      continue;
    }
    s = evolve(s, e);
    if (s->state == SandboxState::kTerminated || s->deleted) {
      gone[id] = true;
      s.reset();
    }
  }
  std::map<std::string, Sandbox> out;
  for (auto& [id, s] : state) {
    if (s && !gone[id]) out.emplace(id, *s);
  }
  return out;
}

// The expiry index implied by a live projection.
inline std::vector<std::pair<Micros, std::string>> expected_expiry(
    const std::map<std::string, Sandbox>& live) {
  std::vector<std::pair<Micros, std::string>> out;
  for (const auto& [id, s] : live) {
    if (s.expires_at && s.state != SandboxState::kStopping && s.state != SandboxState::kFailed) {
      out.emplace_back(*s.expires_at, id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sbx::testing
