// KubeClient against a real kube-apiserver: CRUD, the error mapping, watches, TLS from
// kubeconfig data, the rate limit.
#include "src/runtime/kubernetes/kube_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "tests/runtime/kubernetes/kube_test_util.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(KubeClientApiServer, PingAnswers) {
  SBX_REQUIRE_KUBE(client);
  auto r = client->ping();
  EXPECT_TRUE(r) << r.error().message;
}

TEST(KubeClientApiServer, PodCrudAndEveryErrorClass) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);

  auto created = client->create_json(ns.pods(), sandbox_pod("p1", "sb-1"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ((*created)["metadata"]["labels"]["sandboxd.io/id"], "sb-1");

  auto again = client->create_json(ns.pods(), sandbox_pod("p1", "sb-1"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists) << again.error().message;
  EXPECT_TRUE(again.error().message.starts_with("KUBERNETES::API_ERROR: POST " + ns.pods()))
      << again.error().message;

  auto got = client->get_json(ns.pod("p1"));
  ASSERT_TRUE(got) << got.error().message;
  const std::string rv = (*got)["metadata"]["resourceVersion"];

  auto patched = client->merge_patch(ns.pod("p1"), {{"metadata", {{"labels", {{"extra", "yes"}}}}}});
  ASSERT_TRUE(patched) << patched.error().message;
  EXPECT_EQ((*patched)["metadata"]["labels"]["extra"], "yes");
  EXPECT_NE((*patched)["metadata"]["resourceVersion"], rv);

  // An update with the resourceVersion read before the patch: someone else changed it.
  json stale = *got;
  stale["metadata"]["labels"]["stale"] = "1";
  auto conflict = client->replace_json(ns.pod("p1"), stale);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict) << conflict.error().message;

  auto missing = client->get_json(ns.pod("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("\"nope\" not found"), std::string::npos)
      << missing.error().message;

  json invalid = sandbox_pod("p2", "sb-2");
  invalid["spec"]["containers"] = json::array();
  auto bad = client->create_json(ns.pods(), invalid);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument) << bad.error().message;

  // Status: the tests play the kubelet through the status subresource.
  auto status = client->merge_patch(ns.pod("p1") + "/status", running_status("10.0.0.7"));
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ((*status)["status"]["podIP"], "10.0.0.7");

  auto del = client->delete_object(ns.pod("p1"), 0);
  ASSERT_TRUE(del) << del.error().message;
  auto del_again = client->delete_object(ns.pod("p1"), 0);
  ASSERT_FALSE(del_again);
  EXPECT_EQ(del_again.error().code, ErrorCode::kNotFound);
}

TEST(KubeClientApiServer, AWrongTokenIsUnauthenticated) {
  SBX_REQUIRE_KUBE(good);
  KubeClientOptions o;
  o.credentials = good->credentials();
  o.credentials.token = "not-the-token";
  o.credentials.token_file.clear();
  auto client = KubeClient::create(o);
  ASSERT_TRUE(client);
  auto r = (*client)->get_json("/api/v1/namespaces");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << r.error().message;
}

TEST(KubeClientApiServer, ARotatedTokenFileIsReadAgain) {
  SBX_REQUIRE_KUBE(good);
  TempDir dir("sandboxd-token");
  const std::string file = (dir / "token").string();
  std::ofstream(file) << "stale-token\n";
  KubeClientOptions o;
  o.credentials = good->credentials();
  const std::string real = o.credentials.token;
  ASSERT_FALSE(real.empty()) << "the test kubeconfig has no token";
  o.credentials.token = "stale-token";
  o.credentials.token_file = file;
  o.token_reread_interval = 200ms;
  auto client = KubeClient::create(o);
  ASSERT_TRUE(client);
  auto before = (*client)->get_json("/api/v1/namespaces");
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, ErrorCode::kUnauthenticated);
  std::ofstream(file) << real << "\n";  // the kubelet rotates the projected token
  std::this_thread::sleep_for(300ms);
  auto after = (*client)->get_json("/api/v1/namespaces");
  EXPECT_TRUE(after) << after.error().message;
  // An unreadable file keeps the last good token.
  std::filesystem::remove(file);
  std::this_thread::sleep_for(300ms);
  auto kept = (*client)->get_json("/api/v1/namespaces");
  EXPECT_TRUE(kept) << kept.error().message;
}

TEST(KubeClientApiServer, CaFromKubeconfigDataVerifiesTheServer) {
  SBX_REQUIRE_KUBE(good);
  const KubeCredentials& c = good->credentials();
  // scripts/kube-env.sh always writes certificate-authority (a file): a kubeconfig without
  // one would leave this test nothing to check, so that is a failure, not a skip.
  ASSERT_FALSE(c.ca_file.empty()) << "the test kubeconfig carries no CA file";
  std::ifstream in(c.ca_file);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KubeClientOptions o;
  o.credentials = c;
  o.credentials.ca_file.clear();
  o.credentials.ca_pem = pem;
  auto client = KubeClient::create(o);
  ASSERT_TRUE(client);
  auto r = (*client)->ping();
  EXPECT_TRUE(r) << r.error().message;

  // Without any CA the system bundle does not know the test server's certificate.
  o.credentials.ca_pem.clear();
  auto unverified = KubeClient::create(o);
  ASSERT_TRUE(unverified);
  auto refused = (*unverified)->ping();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition) << refused.error().message;
  o.credentials.insecure_skip_verify = true;
  auto insecure = KubeClient::create(o);
  ASSERT_TRUE(insecure);
  EXPECT_TRUE((*insecure)->ping());
}

TEST(KubeClientApiServer, WatchLinesDeliversEachEventAsOneLineAndEndsAtTheTimeout) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  auto list = client->get_json(ns.pods());
  ASSERT_TRUE(list);
  const std::string rv = (*list)["metadata"]["resourceVersion"];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->create_json(ns.pods(), sandbox_pod("w" + std::to_string(i), "s")));
  }
  std::vector<json> events;
  const auto start = std::chrono::steady_clock::now();
  auto r = client->watch_lines(
      ns.pods() + "?watch=1&resourceVersion=" + rv + "&timeoutSeconds=2",
      [&](std::string_view line) {
        events.push_back(json::parse(line));  // throws (fails the test) on a split line
        return true;
      },
      std::stop_token{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1500ms);
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i]["type"], "ADDED");
    EXPECT_EQ(events[i]["object"]["metadata"]["name"], "w" + std::to_string(i));
  }
}

TEST(KubeClientApiServer, WatchStopsPromptlyOnRequest) {
  SBX_REQUIRE_KUBE(client);
  TestNamespace ns(*client);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = client->watch_lines(ns.pods() + "?watch=1&timeoutSeconds=60",
                               [](std::string_view) { return true; }, stop.get_token());
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(KubeClientApiServer, RateLimitSpacesRequestsBeyondTheBurst) {
  SBX_REQUIRE_KUBE(unused);
  KubeClientOptions o;
  o.qps = 10;
  o.burst = 2;
  auto client = test_kube_client(o);
  ASSERT_TRUE(client) << client.error().message;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*client)->ping());
  // 2 at once, then 5 more at 10/s: at least ~0.5 s.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
}

}  // namespace
}  // namespace sbx::testing
