// The manifests of workload_body.h are accepted by a real kube-apiserver (the test peer of
// scripts/kube-env.sh, with tests/kubernetes/crds installed): each is created with
// `kubectl create --dry-run=server`, so the server's validation (names, label syntax,
// resource quantities, securityContext, probe, CRD schemas incl. date-time) runs and
// nothing is stored. A planted invalid label shows the check can refuse.
// Needs SANDBOXD_TEST_KUBECONFIG and SANDBOXD_TEST_KUBECTL: skipped loudly without them,
// failed under CI=true.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "events/time.h"
#include "src/runtime/kubernetes/workload_body.h"
#include "tests/support/docker_env.h"  // running_in_ci()
#include "tests/support/temp_dir.h"

namespace {

using json = nlohmann::json;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

#define SBX_REQUIRE_KUBECTL(kubectl)                                                        \
  const std::string kubectl = env_or_empty("SANDBOXD_TEST_KUBECTL");                        \
  if (kubectl.empty() || env_or_empty("SANDBOXD_TEST_KUBECONFIG").empty()) {                \
    const char* msg =                                                                       \
        "*** no Kubernetes API server: SANDBOXD_TEST_KUBECONFIG / SANDBOXD_TEST_KUBECTL "   \
        "unset (scripts/run-tests.sh starts one with scripts/kube-env.sh)";                 \
    if (sbx::testing::running_in_ci()) FAIL() << msg << " — CI=true: a FAILURE.";           \
    GTEST_SKIP() << msg << " — SKIPPED (it would FAIL with CI=true).";                       \
  }

struct Outcome {
  int status = -1;
  std::string output;
};

// `kubectl create --dry-run=server -o name -f <manifest>` in namespace "default".
Outcome dry_run_create(const std::string& kubectl, const json& manifest) {
  sbx::testing::TempDir dir("sandboxd-k8s-body");
  const std::string path = (dir / "manifest.json").string();
  std::ofstream(path) << manifest.dump(2);
  const std::string cmd = kubectl + " create --dry-run=server -o name -n default -f " + path + " 2>&1";
  Outcome out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.output.append(buf.data(), n);
  int raw = pclose(pipe);
  out.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

sbx::ContainerSpec full_spec() {
  sbx::ContainerSpec s;
  s.sandbox_id = "0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35";
  s.image_uri = "registry.example.com:5000/team/app:v2";
  s.auth = sbx::RegistryAuth{"robot", "s3cr3t"};
  s.entrypoint = {"python", "-m", "http.server"};
  s.env = {{"A", "1"}, {"EXECD", "/mine"}, {"WITH SPACE", "x"}};
  s.limits = {"500m", "512Mi"};
  s.labels = {{"team", "infra"}, {"owner", "Jane Doe"}, {"sandboxd.io/id", "spoof"}};
  s.platform = sbx::Platform{"linux", "amd64"};
  s.expires_at = *sbx::parse_rfc3339("2030-01-02T03:04:05.5Z");
  return s;
}

sbx::KubernetesWorkloadOptions full_options() {
  sbx::KubernetesWorkloadOptions o;
  o.namespace_ = "default";
  o.execd_image = "opensandbox/execd:v1.0.18";
  o.instance_id = "store-1";
  return o;
}

void expect_accepted(const std::string& kubectl, const json& manifest, const std::string& name) {
  Outcome r = dry_run_create(kubectl, manifest);
  EXPECT_EQ(r.status, 0) << "refused:\n" << r.output << "\nmanifest:\n" << manifest.dump(2);
  EXPECT_NE(r.output.find(name), std::string::npos) << r.output;
}

TEST(WorkloadBodyApiServer, PodIsAccepted) {
  SBX_REQUIRE_KUBECTL(kubectl);
  expect_accepted(kubectl, sbx::pod_manifest(full_spec(), full_options()),
                  "pod/sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
}

TEST(WorkloadBodyApiServer, PodWithoutExecdOrLimitsIsAccepted) {
  SBX_REQUIRE_KUBECTL(kubectl);
  auto s = full_spec();
  s.limits = {};
  s.auth.reset();
  auto o = full_options();
  o.execd_image.clear();
  expect_accepted(kubectl, sbx::pod_manifest(s, o),
                  "pod/sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
}

TEST(WorkloadBodyApiServer, PullSecretIsAccepted) {
  SBX_REQUIRE_KUBECTL(kubectl);
  auto secret = sbx::pull_secret_manifest(full_spec(), full_options());
  ASSERT_TRUE(secret.has_value());
  expect_accepted(kubectl, *secret, "secret/sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35-pull");
}

TEST(WorkloadBodyApiServer, BatchSandboxIsAccepted) {
  SBX_REQUIRE_KUBECTL(kubectl);
  expect_accepted(kubectl, sbx::batchsandbox_manifest(full_spec(), full_options()),
                  "batchsandbox.sandbox.opensandbox.io/sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
}

TEST(WorkloadBodyApiServer, AgentSandboxIsAccepted) {
  SBX_REQUIRE_KUBECTL(kubectl);
  expect_accepted(kubectl, sbx::agent_sandbox_manifest(full_spec(), full_options()),
                  "sandbox.agents.x-k8s.io/sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
}

// Why pod_template() moves "Jane Doe" to the annotations: the server refuses it as a label.
TEST(WorkloadBodyApiServer, AnInvalidLabelValueIsRefused) {
  SBX_REQUIRE_KUBECTL(kubectl);
  json pod = sbx::pod_manifest(full_spec(), full_options());
  ASSERT_EQ(pod["metadata"]["annotations"]["owner"], "Jane Doe");
  pod["metadata"]["labels"]["owner"] = "Jane Doe";
  Outcome r = dry_run_create(kubectl, pod);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("metadata.labels"), std::string::npos) << r.output;
}

}  // namespace
