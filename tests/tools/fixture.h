// A deterministic sandboxd data directory for the sandbox-events tests: a scripted
// lifecycle of four sandboxes and a few system events, appended through the real decider
// and EventStore with fixed event ids, request ids, sandbox ids and times, so that dumps
// and stats can be compared with golden files. Header-only; not thread-safe (one writer
// per store).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "events/command.h"
#include "events/decider.h"
#include "events/time.h"
#include "store/event_store.h"

namespace sbx::testing {

inline constexpr const char* kSandboxA = "aaaaaaaa-0000-4000-8000-00000000000a";
inline constexpr const char* kSandboxB = "bbbbbbbb-0000-4000-8000-00000000000b";
inline constexpr const char* kSandboxC = "cccccccc-0000-4000-8000-00000000000c";
inline constexpr const char* kSandboxD = "dddddddd-0000-4000-8000-00000000000d";
inline constexpr const char* kSandboxE = "eeeeeeee-0000-4000-8000-00000000000e";
inline constexpr const char* kRegistryUser = "robot-Jq7w";
inline constexpr const char* kRegistryPassword = "s3cret-registry-pw";

// The time of the fixture's first event; event n (1-based) happens at
// kFixtureStart + (n - 1) * kFixtureStep.
inline Micros fixture_start() { return *parse_rfc3339("2026-03-01T10:00:00Z"); }
inline constexpr Micros kFixtureStep = 1'250'000;

class FixtureWriter {
 public:
  explicit FixtureWriter(EventStore& store) : store_(store), now_(fixture_start()) {}

  std::uint64_t appended() const { return counter_; }

  // Runs `command` on sandbox `id` through the decider and appends what it decides (with
  // `secrets`, as the service does for a create with image.auth).
  void run(const std::string& id, const Command& command, const std::string& actor,
           std::optional<SandboxSecrets> secrets = std::nullopt) {
    auto current = store_.get_sandbox(id);
    std::optional<Sandbox> state;
    if (current) state = *current;
    auto data = decide(state, command, now_);
    ASSERT_TRUE(data.has_value()) << id << ": " << data.error().message;
    ASSERT_FALSE(data->empty()) << id << ": the decider produced no event";
    AppendRequest req;
    req.stream = stream_of(id);
    req.expected = state ? ExpectedVersion::exactly(state->version) : ExpectedVersion::no_stream();
    const bool from_api = actor.starts_with("api:");
    for (auto& d : *data)
      req.events.push_back(next_event(std::move(d), reason_of(command), actor, from_api));
    req.secrets = std::move(secrets);
    auto r = store_.append(std::move(req));
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  void system(EventData data, Reason reason, const std::string& actor) {
    AppendRequest req;
    req.stream = std::string(kSystemStream);
    req.events.push_back(next_event(std::move(data), reason, actor, false));
    auto r = store_.append(std::move(req));
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  std::string last_event_id() const { return event_id(counter_); }

  static std::string event_id(std::uint64_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llu",
                  static_cast<unsigned long long>(n));
    return buf;
  }

  static CreateSandbox create(const std::string& id, std::optional<std::int64_t> timeout_s,
                              Micros now) {
    CreateSandbox c;
    c.sandbox_id = id;
    c.spec.image_uri = "sandboxd-test/busybox:1";
    c.spec.entrypoint = {"/bin/sh", "-c", "sleep 3600"};
    c.spec.env = {{"MODE", "test"}};
    c.spec.resource_limits = {{"cpu", "500m"}, {"memory", "512Mi"}};
    c.spec.network_mode = "bridge";
    c.spec.ports = {{44772, 40000 + static_cast<int>(id[0] - 'a')}};
    c.spec.timeout_seconds = timeout_s;
    if (timeout_s) c.expires_at = now + *timeout_s * kMicrosPerSecond;
    return c;
  }

  Micros now() const { return now_; }

 private:
  Event next_event(EventData data, Reason reason, const std::string& actor, bool from_api) {
    ++counter_;
    Event e;
    e.event_id = event_id(counter_);
    e.time = now_;
    now_ += kFixtureStep;
    char req[32];
    std::snprintf(req, sizeof req, "req-%04llu", static_cast<unsigned long long>(counter_));
    if (from_api) e.request_id = req;
    e.actor = actor;
    e.reason = reason;
    e.data = std::move(data);
    return e;
  }

  EventStore& store_;
  Micros now_;
  std::uint64_t counter_ = 0;
};

// The scripted workload (24 events). Afterwards A is Running (with an expiry), D is Failed,
// B (failed, then deleted) and C (expired, terminated) have left the projection.
inline void write_fixture(FixtureWriter& w) {
  const std::string api = "api:key-1";
  const std::string provisioner = "worker:provisioner";
  w.system(ServerStarted{"0.1.0", 0}, Reason::kUser, "server");
  {
    CreateSandbox a = FixtureWriter::create(kSandboxA, 3600, w.now());
    a.spec.image_auth_provided = true;
    a.spec.platform = Platform{"linux", "amd64"};
    a.metadata = {{"team", "alpha"}};
    w.run(kSandboxA, a, api, SandboxSecrets{ImageAuth{kRegistryUser, kRegistryPassword}});
  }
  w.run(kSandboxB, FixtureWriter::create(kSandboxB, std::nullopt, w.now()), api);
  w.run(kSandboxA, RecordProvisioningStarted{provisioner}, provisioner);
  w.run(kSandboxA, RecordStarted{"container-a"}, provisioner);
  w.run(kSandboxB, RecordProvisioningStarted{provisioner}, provisioner);
  w.run(
      kSandboxB,
      RecordProvisioningFailed{"DOCKER::IMAGE_NOT_FOUND", "no such image: sandboxd-test/busybox:1"},
      provisioner);
  w.run(kSandboxC, FixtureWriter::create(kSandboxC, 60, w.now()), api);
  w.run(kSandboxC, RecordStarted{"container-c"}, provisioner);
  w.run(kSandboxA, PauseSandbox{}, api);
  w.run(kSandboxA, RecordPaused{}, provisioner);
  w.run(kSandboxC, DeleteSandbox{Reason::kExpired}, "worker:expirer");
  w.run(kSandboxC, RecordTerminated{0, "stopped"}, provisioner);
  w.run(kSandboxA, ResumeSandbox{}, api);
  w.run(kSandboxA, RecordResumed{}, provisioner);
  w.run(kSandboxA, RenewExpiration{w.now() + 7200 * kMicrosPerSecond}, api);
  {
    PatchMetadata p;
    p.patch = {{"owner", "bob"}, {"team", std::nullopt}};
    w.run(kSandboxA, p, api);
  }
  w.run(kSandboxD, FixtureWriter::create(kSandboxD, 600, w.now()), api);
  w.run(kSandboxD, RecordStarted{"container-d"}, provisioner);
  w.run(kSandboxD, RecordFailed{"RUNTIME::DIED", "container died\n(OOM killed)", 137},
        "worker:reconciler");
  w.system(ReconcileFinding{"died", kSandboxD, "exit code 137"}, Reason::kReconcile,
           "worker:reconciler");
  w.system(OrphanRemoved{"container-zz", "99999999-0000-4000-8000-000000000099"},
           Reason::kReconcile, "worker:reconciler");
  w.run(kSandboxB, DeleteSandbox{Reason::kUser}, api);
  w.system(ServerStarted{"0.1.0", 2}, Reason::kUser, "server");
}

inline constexpr std::uint64_t kFixtureEvents = 24;

}  // namespace sbx::testing
