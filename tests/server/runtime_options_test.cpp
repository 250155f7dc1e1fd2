// The Config -> DockerOptions / WorkerOptions mappings of the composition root.
#include "src/server/runtime_options.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(RuntimeOptions, DockerOptionsCarryEveryDockerKeyTheExecdImageAndTheInstance) {
  Config c;
  c.docker.host = "tcp://10.0.0.5:2376";
  c.docker.api_timeout = 42;
  c.runtime.execd_image = "registry.local/execd:v9";
  c.docker.drop_capabilities = {"NET_RAW"};
  c.docker.no_new_privileges = false;
  c.docker.apparmor_profile = "sbx-profile";
  c.docker.seccomp_profile = "/etc/sbx/seccomp.json";
  c.docker.pids_limit = 128;
  c.docker.port_bind_ip = "127.0.0.1";
  const DockerOptions o = docker_options_from(c, "inst-7");
  EXPECT_EQ(o.instance_id, "inst-7");
  EXPECT_EQ(o.host, "tcp://10.0.0.5:2376");
  EXPECT_EQ(o.api_timeout, std::chrono::seconds(42));
  EXPECT_EQ(o.execd_image, "registry.local/execd:v9");
  EXPECT_EQ(o.drop_capabilities, std::vector<std::string>{"NET_RAW"});
  EXPECT_FALSE(o.no_new_privileges);
  EXPECT_EQ(o.apparmor_profile, "sbx-profile");
  EXPECT_EQ(o.seccomp_profile, "/etc/sbx/seccomp.json");
  EXPECT_EQ(o.pids_limit, 128);
  EXPECT_EQ(o.port_bind_ip, "127.0.0.1");
  EXPECT_FALSE(o.tls);
  // Unset: the engine's default runtime, pull only when missing.
  EXPECT_EQ(o.oci_runtime, "");
  EXPECT_EQ(o.pull_policy, PullPolicy::kIfNotPresent);
}

TEST(RuntimeOptions, PullPolicyAndOciRuntimeComeFromDockerAndSecureRuntime) {
  Config c;
  c.secure_runtime.docker_runtime = "runsc";
  c.secure_runtime.type = "gvisor";
  for (auto [policy, want] : {std::pair{ImagePullPolicy::kIfNotPresent, PullPolicy::kIfNotPresent},
                              std::pair{ImagePullPolicy::kAlways, PullPolicy::kAlways},
                              std::pair{ImagePullPolicy::kNever, PullPolicy::kNever}}) {
    c.docker.image_pull_policy = policy;
    // kubernetes.image_pull_policy is another key: it never leaks into the Docker options.
    c.kubernetes.image_pull_policy = ImagePullPolicy::kAlways;
    const DockerOptions o = docker_options_from(c, "");
    EXPECT_EQ(o.pull_policy, want);
    EXPECT_EQ(o.oci_runtime, "runsc");
  }
}

TEST(RuntimeOptions, DockerOptionsCarryTheAllowlistSandboxEnvAndBinds) {
  Config c;
  c.storage.allowed_host_paths = {"/srv/data"};
  c.docker.sandbox_env = {{"HTTP_PROXY", "http://127.0.0.1:3128"}};
  c.docker.sandbox_binds = {"/etc/ssl/certs:/etc/ssl/certs:ro"};
  const DockerOptions o = docker_options_from(c, "");
  EXPECT_EQ(o.allowed_host_paths, std::vector<std::string>{"/srv/data"});
  EXPECT_EQ(o.sandbox_env, c.docker.sandbox_env);
  EXPECT_EQ(o.sandbox_binds, c.docker.sandbox_binds);
}

TEST(RuntimeOptions, UnsetProfilesAreEngineDefaultsAndTlsReadsTheCertPath) {
  Config c;
  c.docker.tls_verify = true;
  c.docker.cert_path = "/home/u/.docker";
  const DockerOptions o = docker_options_from(c, "");
  EXPECT_EQ(o.apparmor_profile, "");
  EXPECT_EQ(o.seccomp_profile, "");
  ASSERT_TRUE(o.tls);
  EXPECT_EQ(o.tls->ca_file, "/home/u/.docker/ca.pem");
  EXPECT_EQ(o.tls->cert_file, "/home/u/.docker/cert.pem");
  EXPECT_EQ(o.tls->key_file, "/home/u/.docker/key.pem");
}

TEST(RuntimeOptions, WorkerOptionsFollowWorkersAndTheErrorPrefixFollowsRuntimeType) {
  Config c;
  c.workers.provisioners = 3;
  c.workers.reconcile_interval_seconds = 7;
  c.workers.pending_failure_ttl_seconds = 90;
  WorkerOptions o = worker_options_from(c);
  EXPECT_EQ(o.provisioners, 3);
  EXPECT_EQ(o.reconcile_interval, std::chrono::seconds(7));
  EXPECT_EQ(o.pending_failure_ttl, 90 * kMicrosPerSecond);
  EXPECT_EQ(o.error_code_prefix, "DOCKER");
  c.runtime.type = RuntimeType::kKubernetes;
  EXPECT_EQ(worker_options_from(c).error_code_prefix, "KUBERNETES");
  EXPECT_FALSE(o.egress);  // no egress.image: no sidecar settings
}

TEST(WorkerOptionsFrom, EgressSettingsComeFromTheEgressTable) {
  Config c;
  c.egress.image = "egress:2";
  c.egress.mode = EgressMode::kDnsNft;
  c.egress.disable_ipv6 = false;
  c.egress.readiness_timeout_seconds = 2.5;
  WorkerOptions o = worker_options_from(c);
  ASSERT_TRUE(o.egress);
  EXPECT_EQ(o.egress->image, "egress:2");
  EXPECT_EQ(o.egress->mode, "dns+nft");
  EXPECT_FALSE(o.egress->disable_ipv6);
  EXPECT_EQ(o.egress->readiness_timeout, std::chrono::milliseconds(2500));
  c.egress.image = "";
  EXPECT_FALSE(worker_options_from(c).egress);
}

}  // namespace
}  // namespace sbx
