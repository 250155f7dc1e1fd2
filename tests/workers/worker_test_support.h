// Test support for the worker tests: a store in a temp dir, a ManualClock, a FakeRuntime,
// and a Recorder that does what the service's execute does (projection -> decide ->
// append with the expected version, retried on kConflict).
#pragma once

#include "events/snapshot_decider.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "events/decider.h"
#include "src/common/clock.h"
#include "src/runtime/fake/fake_runtime.h"
#include "src/workers/recorder.h"
#include "src/workers/worker_options.h"
#include "store/event_store.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {

// command -> decide -> append, like SandboxService::execute (and its create: `secrets` go
// with the append, as image.auth does).
inline Result<void> execute(EventStore& store, const Clock& clock, const std::string& id,
                            const Command& command, const RecordContext& context = {},
                            const std::optional<SandboxSecrets>& secrets = std::nullopt) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::optional<Sandbox> state;
    if (auto sb = store.get_sandbox(id)) state = *sb;
    const Micros now = clock.now();
    auto events = decide(state, command, now);
    if (!events) return std::unexpected(events.error());
    if (events->empty()) return {};
    AppendRequest request;
    request.stream = stream_of(id);
    if (state) {
      request.expected = ExpectedVersion::exactly(state->version);
    } else {
      const std::uint64_t v = store.stream_version(request.stream);
      request.expected = v == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(v);
    }
    for (auto& data : *events) {
      Event e;
      e.time = now;
      e.request_id = context.request_id;
      e.actor = context.actor;
      e.reason = reason_of(command);
      e.data = std::move(data);
      request.events.push_back(std::move(e));
    }
    request.secrets = secrets;
    auto r = store.append(std::move(request));
    if (r) return {};
    if (r.error().code != ErrorCode::kConflict) return std::unexpected(r.error());
  }
  return fail(ErrorCode::kConflict, "too many conflicts");
}

// The same for a snapshot command (SnapshotService::execute without the source checks).
inline Result<void> execute_snapshot(EventStore& store, const Clock& clock, const std::string& id,
                                     const SnapshotCommand& command,
                                     const std::string& actor = "test") {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::optional<Snapshot> state;
    if (auto s = store.get_snapshot(id)) state = *s;
    const Micros now = clock.now();
    auto events = decide_snapshot(state, command, now);
    if (!events) return std::unexpected(events.error());
    if (events->empty()) return {};
    AppendRequest request;
    request.stream = snapshot_stream_of(id);
    request.expected = state ? ExpectedVersion::exactly(state->version)
                             : ExpectedVersion::no_stream();
    for (auto& data : *events) {
      Event e;
      e.time = now;
      e.actor = actor;
      e.reason = snapshot_reason_of(command);
      e.data = std::move(data);
      request.events.push_back(std::move(e));
    }
    auto r = store.append(std::move(request));
    if (r) return {};
    if (r.error().code != ErrorCode::kConflict) return std::unexpected(r.error());
  }
  return fail(ErrorCode::kConflict, "too many conflicts");
}

inline Recorder make_recorder(EventStore& store, const Clock& clock) {
  return [&store, &clock](const std::string& id, const Command& command,
                          const RecordContext& context) {
    return execute(store, clock, id, command, context);
  };
}

inline SandboxSpec basic_spec() {
  SandboxSpec spec;
  spec.image_uri = "sandboxd-test/busybox:1";
  spec.entrypoint = {"sleep", "infinity"};
  spec.network_mode = "host";
  return spec;
}

// Polls `done` every millisecond for at most `timeout`. For waiting on effects of worker
// threads; never used to let time pass.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// Fast backoff for tests.
inline WorkerOptions fast_options() {
  WorkerOptions o;
  o.provisioners = 4;
  o.runtime_retry = BackoffOptions{std::chrono::milliseconds(1), std::chrono::milliseconds(4), 5,
                                   std::chrono::milliseconds(5'000)};
  o.record_retry = BackoffOptions{std::chrono::milliseconds(1), std::chrono::milliseconds(10), 0,
                                  std::chrono::milliseconds(0)};
  o.watch_reconnect = BackoffOptions{std::chrono::milliseconds(1), std::chrono::milliseconds(20), 0,
                                     std::chrono::milliseconds(0)};
  o.health_check_interval = std::chrono::milliseconds(20);
  o.reconcile_interval = std::chrono::hours(1);
  return o;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(); }

  void open_store() {
    StoreOptions options;
    options.path = (dir_ / "data").string();
    auto s = EventStore::open(options);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    // As the composition root does: the runtime labels containers with the store's identity.
    runtime_.set_instance_id(store_->instance_id());
  }
  void reopen_store() {
    store_.reset();
    open_store();
  }

  EventStore& store() { return *store_; }
  Recorder recorder() { return make_recorder(*store_, clock_); }

  Result<void> run(const std::string& id, const Command& command,
                   const std::string& request_id = {},
                   const std::optional<SandboxSecrets>& secrets = std::nullopt) {
    return execute(*store_, clock_, id, command, RecordContext{"api:test", request_id}, secrets);
  }
  // A create with registry credentials (image.auth), as the service makes it.
  Result<void> create_with_auth(const std::string& id, ImageAuth auth,
                                SandboxSpec spec = basic_spec()) {
    spec.image_auth_provided = true;
    return run(id, CreateSandbox{id, std::move(spec), {}, std::nullopt}, {},
               SandboxSecrets{std::move(auth)});
  }
  std::optional<SandboxSecrets> secrets_of(const std::string& id) {
    auto s = store_->sandbox_secrets(id);
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return s ? *s : std::nullopt;
  }
  Result<void> create(const std::string& id, SandboxSpec spec = basic_spec(),
                      std::optional<Micros> expires_at = std::nullopt,
                      std::map<std::string, std::string> metadata = {}) {
    return run(id, CreateSandbox{id, std::move(spec), std::move(metadata), expires_at});
  }
  std::optional<SandboxState> state_of(const std::string& id) {
    auto sb = store_->get_sandbox(id);
    if (!sb) return std::nullopt;
    return sb->state;
  }
  bool wait_state(const std::string& id, std::optional<SandboxState> want,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return eventually([&] { return state_of(id) == want; }, timeout);
  }
  std::vector<Event> stream(const std::string& name) {
    auto r = store_->read_stream(name);
    EXPECT_TRUE(r.has_value());
    return r ? *r : std::vector<Event>{};
  }
  template <typename T>
  std::vector<T> events_of(const std::string& stream_name) {
    std::vector<T> out;
    for (const auto& e : stream(stream_name)) {
      if (const auto* d = std::get_if<T>(&e.data)) out.push_back(*d);
    }
    return out;
  }

  TempDir dir_{"sandboxd-workers"};
  ManualClock clock_;
  FakeRuntime runtime_{clock_};
  std::unique_ptr<EventStore> store_;
};

}  // namespace sbx::testing
