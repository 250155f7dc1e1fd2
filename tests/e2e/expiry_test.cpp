// Expiry end to end: the deadline (set with renew-expiration, since a create timeout is at
// least 60 s) removes the sandbox on time, survives a clean restart, and one that passed
// while sandboxd was killed is honoured right at the next start. The history of an expired
// sandbox ends with DeletionRequested (reason expired) and SandboxTerminated.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/e2e/e2e_fixture.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;

// How long after expiresAt the sandbox may still answer GET.
constexpr Micros kExpiryTolerance = 1 * kMicrosPerSecond;

class Expiry : public E2eTest {
 protected:
  // Renews `id` to now + `seconds`; returns the expiresAt sandboxd answered (µs).
  Micros renew_in(const std::string& id, double seconds) {
    const Micros wanted = wall_now() + static_cast<Micros>(seconds * kMicrosPerSecond);
    Reply r =
        api().post(sandbox_path(id) + "/renew-expiration", {{"expiresAt", format_rfc3339(wanted)}});
    EXPECT_EQ(r.status, 200) << r.describe();
    auto at = parse_rfc3339(r.str("expiresAt"));
    EXPECT_TRUE(at.has_value()) << r.describe();
    EXPECT_LE(std::llabs(at.value_or(0) - wanted), 1000) << r.describe();
    return at.value_or(wanted);
  }

  static void sleep_until_wall(Micros t) {
    const Micros left = t - wall_now();
    if (left > 0) std::this_thread::sleep_for(std::chrono::microseconds(left));
  }

  // Polls every 100 ms until GET answers 404; returns the wall time it first did (0 if it
  // never did before `deadline`).
  Micros wait_gone(const std::string& id, Micros deadline) {
    Micros gone_at = 0;
    poll_until(
        [&] {
          if (state_of(api(), id) == "NotFound") {
            gone_at = wall_now();
            return true;
          }
          return false;
        },
        milliseconds(std::max<Micros>(0, (deadline - wall_now()) / 1000)), milliseconds(100));
    return gone_at;
  }

  void expect_history_ends_expired(const std::string& id) {
    Reply r = api().get(sandbox_path(id) + "/events");
    ASSERT_EQ(r.status, 200) << r.describe();
    Json events = events_of(r);
    ASSERT_GE(events.size(), 2u) << r.describe();
    const Json& last = events[events.size() - 1];
    const Json& before = events[events.size() - 2];
    EXPECT_EQ(before.value("type", ""), "DeletionRequested") << r.describe();
    EXPECT_EQ(before.value("reason", ""), "expired") << r.describe();
    EXPECT_EQ(last.value("type", ""), "SandboxTerminated") << r.describe();
  }

  void expect_container_gone(const std::string& id) {
    EXPECT_TRUE(poll_until([&] { return docker_->inspect("sandbox-" + id).first == 404; },
                           milliseconds(5'000)))
        << "container sandbox-" << id << " still exists";
  }
};

TEST_F(Expiry, DeadlineRemovesSandboxOnTime) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  const std::string id = create_running(create_request(60));
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());

  const Micros expires = renew_in(id, 3);
  ASSERT_FALSE(HasFailure());
  // Not before its time...
  sleep_until_wall(expires - 700'000);
  EXPECT_EQ(state_of(api(), id), "Running") << "removed before expiresAt";
  // ...and not much after.
  const Micros gone_at = wait_gone(id, expires + 10 * kMicrosPerSecond);
  ASSERT_NE(gone_at, 0) << "still there 10 s after expiresAt: "
                        << api().get(sandbox_path(id)).describe();
  std::cerr << "[timing] gone " << (gone_at - expires) / 1000 << " ms after expiresAt\n";
  EXPECT_LE(gone_at - expires, kExpiryTolerance);
  expect_container_gone(id);
  expect_history_ends_expired(id);
}

TEST_F(Expiry, RenewedDeadlineSurvivesCleanRestart) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  const std::string id = create_running(create_request(60));
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());

  const Micros expires = renew_in(id, 8);
  const std::string expires_text = api().get(sandbox_path(id)).str("expiresAt");
  ASSERT_TRUE(sandboxd_->stop());
  ASSERT_TRUE(sandboxd_->start());
  std::cerr << "[timing] restart listening after " << sandboxd_->listening_after_seconds()
            << " s\n";
  ASSERT_LT(wall_now(), expires - 1'000'000) << "the restart took too long to check anything";

  // The renewed deadline came back from the store; the container kept running.
  Reply got = api().get(sandbox_path(id));
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(state_of(got), "Running");
  EXPECT_EQ(parse_rfc3339(got.str("expiresAt")), expires) << got.describe();
  EXPECT_EQ(got.str("expiresAt"), expires_text);
  EXPECT_EQ(docker_->inspect("sandbox-" + id).second, "running");

  sleep_until_wall(expires - 700'000);
  EXPECT_EQ(state_of(api(), id), "Running") << "removed before expiresAt";
  const Micros gone_at = wait_gone(id, expires + 10 * kMicrosPerSecond);
  ASSERT_NE(gone_at, 0) << "still there 10 s after expiresAt";
  std::cerr << "[timing] gone " << (gone_at - expires) / 1000 << " ms after expiresAt\n";
  EXPECT_LE(gone_at - expires, kExpiryTolerance);
  expect_container_gone(id);
  expect_history_ends_expired(id);
}

TEST_F(Expiry, ExpiredWhileDownIsRemovedAtStart) {
  ASSERT_NO_FATAL_FAILURE(start_sandboxd(default_options()));
  const std::string id = create_running(create_request(60));
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(HasFailure());

  const Micros expires = renew_in(id, 3);
  sandboxd_->kill();  // at once: the renewal was acknowledged, so it is durable
  sleep_ms(5'000);
  ASSERT_GT(wall_now(), expires);
  EXPECT_EQ(docker_->inspect("sandbox-" + id).second, "running")
      << "nobody should have touched the container while sandboxd was down";

  ASSERT_TRUE(sandboxd_->start());
  const auto t0 = SteadyClock::now();
  const Micros gone_at = wait_gone(id, wall_now() + 10 * kMicrosPerSecond);
  ASSERT_NE(gone_at, 0) << "still there 10 s after the restart: "
                        << api().get(sandbox_path(id)).describe();
  std::cerr << "[timing] expired-while-down sandbox gone " << seconds_since(t0)
            << " s after the restart was listening\n";
  EXPECT_LE(seconds_since(t0), 3.0);
  expect_container_gone(id);
  expect_history_ends_expired(id);
}

}  // namespace
}  // namespace sbx::testing
