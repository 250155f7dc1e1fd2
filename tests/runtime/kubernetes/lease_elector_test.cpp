// LeaseElector against a real kube-apiserver: one leader of two, takeover when the
// leader stops renewing, release on stop, and a stale resourceVersion refused with 409.
#include "src/runtime/kubernetes/lease_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "events/clock.h"
#include "tests/runtime/kubernetes/kube_test_util.h"

namespace sbx::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

LeaseOptions fast(const std::string& ns, const std::string& identity) {
  LeaseOptions o;
  o.namespace_ = ns;
  o.name = "sandboxd";
  o.identity = identity;
  o.duration = 3s;
  o.renew_interval = 1s;
  o.retry_interval = 300ms;
  return o;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

TEST(LeaseElectorApiServer, OnlyOneLeadsAndTheOtherTakesOverWhenRenewalsStop) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  SystemClock clock;
  std::atomic<int> a_changes{0};
  std::atomic<int> b_changes{0};
  auto a_opts = fast(ns.name(), "sandboxd-a");
  a_opts.release_on_stop = false;  // a crash: the lease is left to expire
  LeaseElector a(*client, a_opts, [&](bool) { ++a_changes; }, clock);
  LeaseElector b(*client, fast(ns.name(), "sandboxd-b"), [&](bool) { ++b_changes; }, clock);
  a.start();
  ASSERT_TRUE(eventually([&] { return a.leading(); }, 5s));
  b.start();
  std::this_thread::sleep_for(4s);  // longer than the lease: a keeps renewing it
  EXPECT_TRUE(a.leading());
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(b.holder(), "sandboxd-a");
  EXPECT_EQ(b_changes.load(), 0);

  const auto stopped = std::chrono::steady_clock::now();
  a.stop();
  EXPECT_FALSE(a.leading());
  EXPECT_EQ(a_changes.load(), 2);  // true, then false
  ASSERT_TRUE(eventually([&] { return b.leading(); }, 6s));
  // Not before the lease expired (3 s after a's last renewal, which was <= 1 s before the
  // stop), and within the duration plus a retry interval and some slack.
  const auto took = std::chrono::steady_clock::now() - stopped;
  EXPECT_GE(took, 1500ms);
  EXPECT_LE(took, 4500ms);
  EXPECT_EQ(b.holder(), "sandboxd-b");

  auto lease = client->get_json("/apis/coordination.k8s.io/v1/namespaces/" + ns.name() +
                                "/leases/sandboxd");
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "sandboxd-b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 3);
  b.stop();
}

TEST(LeaseElectorApiServer, StopReleasesTheLeaseForTheOtherAtOnce) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  SystemClock clock;
  LeaseElector a(*client, fast(ns.name(), "a"), nullptr, clock);
  LeaseElector b(*client, fast(ns.name(), "b"), nullptr, clock);
  a.start();
  ASSERT_TRUE(eventually([&] { return a.leading(); }, 5s));
  b.start();
  std::this_thread::sleep_for(600ms);
  ASSERT_FALSE(b.leading());
  const auto stopped = std::chrono::steady_clock::now();
  a.stop();
  ASSERT_TRUE(eventually([&] { return b.leading(); }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 1500ms) << "did not wait for expiry";
}

TEST(LeaseElectorApiServer, AStaleResourceVersionUpdateIsAConflictNotAWin) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  SystemClock clock;
  LeaseElector a(*client, fast(ns.name(), "a"), nullptr, clock);
  auto first = a.try_acquire_or_renew();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  const std::string path =
      "/apis/coordination.k8s.io/v1/namespaces/" + ns.name() + "/leases/sandboxd";
  auto read = client->get_json(path);
  ASSERT_TRUE(read);
  // a renews: the resourceVersion moves on.
  auto renewed = a.try_acquire_or_renew();
  ASSERT_TRUE(renewed && *renewed);
  // Someone writing with the old resourceVersion loses.
  json stale = *read;
  stale["spec"]["holderIdentity"] = "intruder";
  auto r = client->replace_json(path, stale);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict) << r.error().message;
  auto still = client->get_json(path);
  ASSERT_TRUE(still);
  EXPECT_EQ((*still)["spec"]["holderIdentity"], "a");

  // A second elector sees the live lease and does not take it.
  LeaseElector b(*client, fast(ns.name(), "b"), nullptr, clock);
  auto other = b.try_acquire_or_renew();
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_FALSE(*other);
  EXPECT_EQ(b.holder(), "a");
}

}  // namespace
}  // namespace sbx::testing
