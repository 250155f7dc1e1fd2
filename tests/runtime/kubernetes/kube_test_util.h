// Helpers for the tests that talk to a real kube-apiserver (header-only).
//
//   TEST(KubeThing, Works) {
//     SBX_REQUIRE_KUBE(client);   // std::unique_ptr<KubeClient> client
//     TestNamespace ns(*client);  // a fresh namespace, deleted at the end
//     ...
//   }
//
// The API server comes from env SANDBOXD_TEST_KUBECONFIG (scripts/kube-env.sh start DIR
// writes DIR/kubeconfig). Without it the test is SKIPPED with a loud message — unless
// env CI=true, where it FAILS (CI must never pass by skipping the real-apiserver tests).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "src/runtime/kubernetes/kube_client.h"
#include "src/runtime/kubernetes/kube_credentials.h"
#include "tests/support/docker_env.h"

namespace sbx::testing {

inline constexpr char kKubeconfigEnv[] = "SANDBOXD_TEST_KUBECONFIG";

inline std::string missing_kube_message() {
  std::string msg =
      "************************************************************************\n"
      "*** No Kubernetes API server for this test: set SANDBOXD_TEST_KUBECONFIG\n"
      "*** (scripts/kube-env.sh start DIR writes DIR/kubeconfig and DIR/env).\n" +
      std::string(running_in_ci() ? "*** CI=true: this is a FAILURE, not a skip.\n"
                                  : "*** Skipping (it would FAIL with CI=true).\n") +
      "************************************************************************";
  std::fprintf(stderr, "%s\n", msg.c_str());
  return msg;
}

inline std::string test_kubeconfig() {
  const char* v = std::getenv(kKubeconfigEnv);
  return v == nullptr ? std::string() : std::string(v);
}

inline Result<std::unique_ptr<KubeClient>> test_kube_client(KubeClientOptions o = {}) {
  auto creds = load_kubeconfig(test_kubeconfig());
  if (!creds) return std::unexpected(creds.error());
  o.credentials = std::move(*creds);
  return KubeClient::create(std::move(o));
}

#define SBX_REQUIRE_KUBE(var)                                          \
  std::unique_ptr<::sbx::KubeClient> var;                              \
  do {                                                                 \
    if (::sbx::testing::test_kubeconfig().empty()) {                   \
      if (::sbx::testing::running_in_ci()) {                           \
        GTEST_FAIL() << ::sbx::testing::missing_kube_message();        \
      } else {                                                         \
        GTEST_SKIP() << ::sbx::testing::missing_kube_message();        \
      }                                                                \
    }                                                                  \
    auto sbx_kube_client_ = ::sbx::testing::test_kube_client();        \
    ASSERT_TRUE(sbx_kube_client_) << sbx_kube_client_.error().message; \
    var = std::move(*sbx_kube_client_);                                \
  } while (false)

inline std::string random_suffix() {
  static std::atomic<unsigned> counter{0};
  std::mt19937 rng(std::random_device{}() + counter++);
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(kChars[rng() % 36]);
  return s;
}

// A namespace of the test's own, so that tests do not see each other's objects.
class TestNamespace {
 public:
  explicit TestNamespace(KubeClient& client, const std::string& prefix = "sbx-test")
      : client_(client), name_(prefix + "-" + random_suffix()) {
    auto r = client_.create_json("/api/v1/namespaces",
                                 {{"apiVersion", "v1"},
                                  {"kind", "Namespace"},
                                  {"metadata", {{"name", name_}}}});
    EXPECT_TRUE(r) << r.error().message;
  }
  ~TestNamespace() {
    // Pods first (no namespace controller runs to empty it), then the namespace.
    (void)client_.request("DELETE", "/api/v1/namespaces/" + name_ + "/pods",
                          R"({"gracePeriodSeconds":0})");
    (void)client_.delete_object("/api/v1/namespaces/" + name_);
  }
  const std::string& name() const { return name_; }
  std::string pods() const { return "/api/v1/namespaces/" + name_ + "/pods"; }
  std::string pod(const std::string& n) const { return pods() + "/" + n; }

 private:
  KubeClient& client_;
  std::string name_;
};

// A minimal sandbox pod (no nodeName: the API server lets it be deleted at once).
inline nlohmann::json sandbox_pod(const std::string& name, const std::string& sandbox_id) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", {{"sandboxd.io/id", sandbox_id}}}}},
          {"spec", {{"containers", {{{"name", "sandbox"}, {"image", "busybox:1"}}}}}}};
}

// What a kubelet would write: Running, an IP, Ready.
inline nlohmann::json running_status(const std::string& ip) {
  return {{"status",
           {{"phase", "Running"},
            {"podIP", ip},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

}  // namespace sbx::testing
