// The Kubernetes objects of a sandbox, without an API server: each test builds a manifest
// for a representative spec and pins one rule of src/runtime/kubernetes/workload_body.h.
#include "src/runtime/kubernetes/workload_body.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "events/time.h"

namespace {

using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::KubernetesWorkloadOptions;

ContainerSpec spec() {
  ContainerSpec s;
  s.sandbox_id = "0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35";
  s.image_uri = "python:3.12-slim";
  s.entrypoint = {"sleep", "infinity"};
  return s;
}

KubernetesWorkloadOptions options() {
  KubernetesWorkloadOptions o;
  o.namespace_ = "sandboxes";
  o.execd_image = "opensandbox/execd:v1.0.18";
  o.instance_id = "store-1";
  return o;
}

const json& container(const json& pod_spec, const std::string& name) {
  for (const json& c : pod_spec.at("containers")) {
    if (c.at("name") == name) return c;
  }
  ADD_FAILURE() << "no container " << name << " in " << pod_spec.dump();
  static const json none = json::object();
  return none;
}

// Base64 decoding, to read the Secret back (the code under test only encodes).
std::string unbase64(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    auto p = kAlphabet.find(c);
    EXPECT_NE(p, std::string::npos) << "not base64: " << in;
    if (p == std::string::npos) return {};
    v = (v << 6) | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

TEST(WorkloadBody, NamesAreSandboxIdAndPullSuffix) {
  EXPECT_EQ(sbx::workload_name("abc"), "sandbox-abc");
  EXPECT_EQ(sbx::workload_name("abc"), sbx::container_name("abc"));
  EXPECT_EQ(sbx::pull_secret_name("abc"), "sandbox-abc-pull");
}

TEST(WorkloadBody, PodIsNamedNamespacedAndNeverRestarts) {
  json pod = sbx::pod_manifest(spec(), options());
  EXPECT_EQ(pod["apiVersion"], "v1");
  EXPECT_EQ(pod["kind"], "Pod");
  EXPECT_EQ(pod["metadata"]["name"], "sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
  EXPECT_EQ(pod["metadata"]["namespace"], "sandboxes");
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(pod["spec"]["automountServiceAccountToken"], false);
  EXPECT_EQ(pod["spec"]["enableServiceLinks"], false);
  EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], 5);
  EXPECT_EQ(pod["spec"], sbx::pod_template(spec(), options())["spec"]);
}

TEST(WorkloadBody, InitContainerCopiesExecdAndBootstrapIntoTheSharedEmptyDir) {
  json pod = sbx::pod_manifest(spec(), options())["spec"];
  ASSERT_EQ(pod["initContainers"].size(), 1u);
  const json& init = pod["initContainers"][0];
  EXPECT_EQ(init["name"], "execd-installer");
  EXPECT_EQ(init["image"], "opensandbox/execd:v1.0.18");
  ASSERT_EQ(init["command"].size(), 3u);
  EXPECT_EQ(init["command"][0], "/bin/sh");
  EXPECT_EQ(init["command"][1], "-c");
  const std::string script = init["command"][2];
  EXPECT_NE(script.find("cp /execd /bootstrap.sh /opt/opensandbox/"), std::string::npos) << script;
  EXPECT_EQ(init["volumeMounts"],
            json::parse(R"([{"name":"opensandbox","mountPath":"/opt/opensandbox"}])"));
  EXPECT_EQ(pod["volumes"], json::parse(R"([{"name":"opensandbox","emptyDir":{}}])"));
  const json& main = container(pod, "sandbox");
  EXPECT_EQ(main["volumeMounts"], json::parse(
      R"([{"name":"opensandbox","mountPath":"/opt/opensandbox","readOnly":true}])"));
}

TEST(WorkloadBody, MainContainerRunsBootstrapThenTheEntrypoint) {
  json pod = sbx::pod_manifest(spec(), options())["spec"];
  ASSERT_EQ(pod["containers"].size(), 1u);
  const json& main = container(pod, "sandbox");
  EXPECT_EQ(main["image"], "python:3.12-slim");
  EXPECT_EQ(main["command"],
            json::parse(R"(["/opt/opensandbox/bootstrap.sh","sleep","infinity"])"));
  EXPECT_FALSE(main.contains("args"));
}

TEST(WorkloadBody, WithoutExecdImageTheEntrypointRunsAloneWithNoInitContainer) {
  auto o = options();
  o.execd_image.clear();
  json pod = sbx::pod_manifest(spec(), o)["spec"];
  EXPECT_FALSE(pod.contains("initContainers"));
  EXPECT_FALSE(pod.contains("volumes"));
  const json& main = container(pod, "sandbox");
  EXPECT_EQ(main["command"], json::parse(R"(["sleep","infinity"])"));
  EXPECT_FALSE(main.contains("volumeMounts"));
}

TEST(WorkloadBody, EnvIsSortedAndExecdPointsAtTheInjectedBinary) {
  auto s = spec();
  s.env = {{"ZED", "1"}, {"ALPHA", "a b"}, {"EXECD", "/mine"}, {"MIDDLE", ""}};
  json env = container(sbx::pod_manifest(s, options())["spec"], "sandbox")["env"];
  EXPECT_EQ(env, json::parse(R"([{"name":"ALPHA","value":"a b"},{"name":"MIDDLE","value":""},
                                 {"name":"ZED","value":"1"},
                                 {"name":"EXECD","value":"/opt/opensandbox/execd"}])"));
  auto o = options();
  o.execd_image.clear();
  json plain = container(sbx::pod_manifest(s, o)["spec"], "sandbox")["env"];
  EXPECT_EQ(plain[1], json::parse(R"({"name":"EXECD","value":"/mine"})"));
}

TEST(WorkloadBody, LabelsCarryIdInstanceAndValidUserLabels) {
  auto s = spec();
  s.labels = {{"team", "infra"}, {"example.com/tier", "gold"}, {"empty", ""}};
  json labels = sbx::pod_manifest(s, options())["metadata"]["labels"];
  EXPECT_EQ(labels, json::parse(R"({"team":"infra","example.com/tier":"gold","empty":"",
      "sandboxd.io/id":"0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35","sandboxd.io/instance":"store-1"})"));
  auto o = options();
  o.instance_id.clear();
  EXPECT_FALSE(sbx::pod_manifest(s, o)["metadata"]["labels"].contains("sandboxd.io/instance"));
}

TEST(WorkloadBody, ReservedUserLabelsAreDroppedNotCopied) {
  auto s = spec();
  s.labels = {{"sandboxd.io/instance", "someone-else"},
              {"sandboxd.io/id", "other"},
              {"x.sandboxd.io/helper", "execd"},
              {"keep", "yes"}};
  json meta = sbx::pod_manifest(s, options())["metadata"];
  EXPECT_EQ(meta["labels"]["sandboxd.io/instance"], "store-1");
  EXPECT_EQ(meta["labels"]["sandboxd.io/id"], "0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
  EXPECT_FALSE(meta["labels"].contains("x.sandboxd.io/helper"));
  EXPECT_FALSE(meta.contains("annotations"));
  EXPECT_EQ(meta["labels"]["keep"], "yes");
  EXPECT_EQ(sbx::dropped_label_keys(s),
            (std::vector<std::string>{"sandboxd.io/id", "sandboxd.io/instance",
                                      "x.sandboxd.io/helper"}));
}

TEST(WorkloadBody, UserLabelsWithInvalidValuesBecomeAnnotationsAndInvalidKeysAreDropped) {
  auto s = spec();
  const std::string long_value(64, 'v');
  s.labels = {{"owner", "Jane Doe"},        // space: not a label value
              {"note", long_value},         // 64 characters
              {"trail", "dash-"},           // must end alphanumeric
              {"bad key", "x"},             // not a key at all
              {"UPPER.example/x", "y"},     // prefix must be lowercase DNS
              {"ok", "fine"}};
  json meta = sbx::pod_manifest(s, options())["metadata"];
  EXPECT_EQ(meta["annotations"],
            (json{{"owner", "Jane Doe"}, {"note", long_value}, {"trail", "dash-"}}));
  EXPECT_EQ(meta["labels"]["ok"], "fine");
  for (const char* k : {"owner", "note", "trail", "bad key", "UPPER.example/x"}) {
    EXPECT_FALSE(meta["labels"].contains(k)) << k;
  }
  EXPECT_EQ(sbx::dropped_label_keys(s), (std::vector<std::string>{"UPPER.example/x", "bad key"}));
}

TEST(WorkloadBody, LabelSyntaxFollowsKubernetes) {
  EXPECT_TRUE(sbx::is_valid_label_key("app"));
  EXPECT_TRUE(sbx::is_valid_label_key("app.kubernetes.io/name"));
  EXPECT_TRUE(sbx::is_valid_label_key("a_b-c.d"));
  EXPECT_FALSE(sbx::is_valid_label_key(""));
  EXPECT_FALSE(sbx::is_valid_label_key("/name"));
  EXPECT_FALSE(sbx::is_valid_label_key("example.com/"));
  EXPECT_FALSE(sbx::is_valid_label_key("-app"));
  EXPECT_FALSE(sbx::is_valid_label_key(std::string(64, 'a')));
  EXPECT_TRUE(sbx::is_valid_label_key(std::string(63, 'a')));
  EXPECT_FALSE(sbx::is_valid_label_key("a..b/x"));
  EXPECT_TRUE(sbx::is_valid_label_value(""));
  EXPECT_TRUE(sbx::is_valid_label_value("v1.2_3-x"));
  EXPECT_FALSE(sbx::is_valid_label_value("a/b"));
  EXPECT_FALSE(sbx::is_valid_label_value("_x"));
}

TEST(WorkloadBody, RequestsEqualLimitsAsGiven) {
  auto s = spec();
  s.limits = {"500m", "512Mi"};
  json pod = sbx::pod_manifest(s, options())["spec"];
  json want = json::parse(R"({"limits":{"cpu":"500m","memory":"512Mi"},
                              "requests":{"cpu":"500m","memory":"512Mi"}})");
  EXPECT_EQ(container(pod, "sandbox")["resources"], want);
  EXPECT_EQ(pod["initContainers"][0]["resources"], want);

  s.limits = {"", "1Gi"};
  EXPECT_EQ(container(sbx::pod_manifest(s, options())["spec"], "sandbox")["resources"],
            json::parse(R"({"limits":{"memory":"1Gi"},"requests":{"memory":"1Gi"}})"));
  s.limits = {};
  EXPECT_FALSE(container(sbx::pod_manifest(s, options())["spec"], "sandbox").contains("resources"));
}

TEST(WorkloadBody, SecurityContextIsHardened) {
  auto o = options();
  json pod = sbx::pod_manifest(spec(), o)["spec"];
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  const json& main = container(pod, "sandbox");
  EXPECT_EQ(main["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(main["securityContext"]["capabilities"]["drop"],
            json::parse(R"(["AUDIT_WRITE","MKNOD","NET_ADMIN","NET_RAW","SYS_ADMIN",
                            "SYS_MODULE","SYS_PTRACE","SYS_TIME","SYS_TTY_CONFIG"])"));
  const json& init = pod["initContainers"][0];
  EXPECT_EQ(init["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(init["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(init["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));

  o.drop_capabilities = {"ALL"};
  EXPECT_EQ(container(sbx::pod_manifest(spec(), o)["spec"], "sandbox")["securityContext"]
                     ["capabilities"]["drop"],
            json::array({"ALL"}));
}

TEST(WorkloadBody, RuntimeClassAndPullPolicyComeFromOptions) {
  auto o = options();
  json pod = sbx::pod_manifest(spec(), o)["spec"];
  EXPECT_FALSE(pod.contains("runtimeClassName"));
  EXPECT_EQ(container(pod, "sandbox")["imagePullPolicy"], "IfNotPresent");
  o.runtime_class = "gvisor";
  o.image_pull_policy = "Always";
  pod = sbx::pod_manifest(spec(), o)["spec"];
  EXPECT_EQ(pod["runtimeClassName"], "gvisor");
  EXPECT_EQ(container(pod, "sandbox")["imagePullPolicy"], "Always");
  EXPECT_EQ(pod["initContainers"][0]["imagePullPolicy"], "Always");
}

TEST(WorkloadBody, ReadinessProbeAsksExecdPing) {
  const json pod = sbx::pod_manifest(spec(), options())["spec"];
  const json& main = container(pod, "sandbox");
  EXPECT_EQ(main["readinessProbe"], json::parse(R"({"httpGet":{"path":"/ping","port":44772},
      "periodSeconds":1,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3})"));
  EXPECT_EQ(main["ports"], json::parse(R"([{"name":"execd","containerPort":44772,"protocol":"TCP"},
      {"name":"http","containerPort":8080,"protocol":"TCP"}])"));
}

TEST(WorkloadBody, PlatformBecomesANodeSelector) {
  auto s = spec();
  EXPECT_FALSE(sbx::pod_manifest(s, options())["spec"].contains("nodeSelector"));
  s.platform = sbx::Platform{"linux", "arm64"};
  EXPECT_EQ(sbx::pod_manifest(s, options())["spec"]["nodeSelector"],
            json::parse(R"({"kubernetes.io/os":"linux","kubernetes.io/arch":"arm64"})"));
  s.platform = sbx::Platform{"linux", ""};
  EXPECT_EQ(sbx::pod_manifest(s, options())["spec"]["nodeSelector"],
            json::parse(R"({"kubernetes.io/os":"linux"})"));
}

TEST(WorkloadBody, DockerNetworkModeAndPortsAreIgnored) {
  auto a = spec();
  auto b = spec();
  b.network_mode = "bridge";
  b.ports = {{44772, 40001}, {8080, 40002}};
  EXPECT_EQ(sbx::pod_manifest(a, options()), sbx::pod_manifest(b, options()));
}

TEST(WorkloadBody, NoPullSecretWithoutAuth) {
  auto s = spec();
  EXPECT_FALSE(sbx::pull_secret_manifest(s, options()).has_value());
  EXPECT_FALSE(sbx::pod_manifest(s, options())["spec"].contains("imagePullSecrets"));
}

TEST(WorkloadBody, PullSecretHoldsDockerConfigForTheImagesRegistry) {
  auto s = spec();
  s.image_uri = "registry.example.com:5000/team/app:v2";
  s.auth = sbx::RegistryAuth{"robot", "s3cr3t-Pa55"};
  auto secret = sbx::pull_secret_manifest(s, options());
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["apiVersion"], "v1");
  EXPECT_EQ((*secret)["kind"], "Secret");
  EXPECT_EQ((*secret)["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ((*secret)["metadata"]["name"], "sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35-pull");
  EXPECT_EQ((*secret)["metadata"]["namespace"], "sandboxes");
  EXPECT_EQ((*secret)["metadata"]["labels"],
            json::parse(R"({"sandboxd.io/id":"0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35",
                            "sandboxd.io/instance":"store-1"})"));
  json config = json::parse(unbase64((*secret)["data"][".dockerconfigjson"]));
  json entry = config["auths"]["registry.example.com:5000"];
  EXPECT_EQ(entry["username"], "robot");
  EXPECT_EQ(entry["password"], "s3cr3t-Pa55");
  EXPECT_EQ(unbase64(entry["auth"]), "robot:s3cr3t-Pa55");
  EXPECT_EQ(config["auths"].size(), 1u);

  json pod = sbx::pod_manifest(s, options());
  EXPECT_EQ(pod["spec"]["imagePullSecrets"],
            json::parse(R"([{"name":"sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35-pull"}])"));
}

TEST(WorkloadBody, PullSecretIsFiledUnderTheImagesRegistryHost) {
  auto s = spec();
  s.auth = sbx::RegistryAuth{"u", "p"};
  auto registry_key = [&](const std::string& image) {
    s.image_uri = image;
    json config = json::parse(unbase64((*sbx::pull_secret_manifest(s, options()))["data"]
                                                                     [".dockerconfigjson"]));
    return config["auths"].begin().key();
  };
  EXPECT_EQ(registry_key("localhost/app"), "localhost");
  EXPECT_EQ(registry_key("registry.internal.test/org/app@sha256:abcd"), "registry.internal.test");
  // Without a registry host there is nowhere to file the credentials: no Secret.
  s.image_uri = "team/app:1";
  EXPECT_FALSE(sbx::pull_secret_manifest(s, options()).has_value());
}

TEST(WorkloadBody, NoCredentialAppearsInAnyWorkload) {
  auto s = spec();
  s.image_uri = "registry.internal.test/org/app:1";
  s.auth = sbx::RegistryAuth{"robot-user-x", "hunter2-very-secret"};
  s.expires_at = 1'800'000'000'000'000;
  const std::string secret_b64_fragment =
      (*sbx::pull_secret_manifest(s, options()))["data"][".dockerconfigjson"].get<std::string>();
  for (const json& m : {sbx::pod_manifest(s, options()), sbx::batchsandbox_manifest(s, options()),
                        sbx::agent_sandbox_manifest(s, options())}) {
    const std::string text = m.dump();
    EXPECT_EQ(text.find("hunter2-very-secret"), std::string::npos) << text;
    EXPECT_EQ(text.find("robot-user-x"), std::string::npos) << text;
    EXPECT_EQ(text.find(secret_b64_fragment), std::string::npos) << text;
  }
}

TEST(WorkloadBody, BatchSandboxHasOneReplicaThePodTemplateAndExpireTime) {
  auto s = spec();
  s.expires_at = *sbx::parse_rfc3339("2026-12-05T03:00:00.250000Z");
  json bs = sbx::batchsandbox_manifest(s, options());
  EXPECT_EQ(bs["apiVersion"], "sandbox.opensandbox.io/v1alpha1");
  EXPECT_EQ(bs["kind"], "BatchSandbox");
  EXPECT_EQ(bs["metadata"]["name"], "sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
  EXPECT_EQ(bs["metadata"]["namespace"], "sandboxes");
  EXPECT_EQ(bs["metadata"]["labels"]["sandboxd.io/id"], s.sandbox_id);
  EXPECT_EQ(bs["spec"]["replicas"], 1);
  EXPECT_EQ(bs["spec"]["template"], sbx::pod_template(s, options()));
  EXPECT_EQ(bs["spec"]["expireTime"], "2026-12-05T03:00:01Z");  // rounded up, never early
  EXPECT_FALSE(bs["spec"].contains("poolRef"));

  s.expires_at.reset();
  EXPECT_FALSE(sbx::batchsandbox_manifest(s, options())["spec"].contains("expireTime"));
}

TEST(WorkloadBody, AgentSandboxCarriesThePodTemplateAndShutdownTime) {
  auto s = spec();
  s.expires_at = *sbx::parse_rfc3339("2026-12-05T03:00:00Z");
  json sb = sbx::agent_sandbox_manifest(s, options());
  EXPECT_EQ(sb["apiVersion"], "agents.x-k8s.io/v1alpha1");
  EXPECT_EQ(sb["kind"], "Sandbox");
  EXPECT_EQ(sb["metadata"]["name"], "sandbox-0f4c2d6e-1b7a-4c1e-9d3f-2a6b8c0e1f35");
  EXPECT_EQ(sb["spec"]["podTemplate"], sbx::pod_template(s, options()));
  EXPECT_EQ(sb["spec"]["replicas"], 1);
  EXPECT_EQ(sb["spec"]["shutdownTime"], "2026-12-05T03:00:00Z");
  EXPECT_EQ(sb["spec"]["shutdownPolicy"], "Delete");

  s.expires_at.reset();
  json open = sbx::agent_sandbox_manifest(s, options());
  EXPECT_FALSE(open["spec"].contains("shutdownTime"));
  EXPECT_FALSE(open["spec"].contains("shutdownPolicy"));
}

TEST(WorkloadBody, KubernetesTimeIsWholeSecondsRoundedUp) {
  EXPECT_EQ(sbx::kubernetes_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(sbx::kubernetes_time(1), "1970-01-01T00:00:01Z");
  EXPECT_EQ(sbx::kubernetes_time(1'000'000), "1970-01-01T00:00:01Z");
  EXPECT_EQ(sbx::kubernetes_time(1'000'001), "1970-01-01T00:00:02Z");
}

TEST(WorkloadBody, SameSpecGivesTheSameBytes) {
  auto s = spec();
  s.env = {{"B", "2"}, {"A", "1"}};
  s.labels = {{"z", "1"}, {"a", "2"}};
  EXPECT_EQ(sbx::pod_manifest(s, options()).dump(), sbx::pod_manifest(s, options()).dump());
}

}  // namespace

namespace {

TEST(WorkloadBody, GpuCountBecomesTheNvidiaLimitAndRequest) {
  auto s = spec();
  s.limits = sbx::ResourceLimits{std::string(1, '1'), {}};
  s.gpu = std::string(1, '2');
  json c = sbx::pod_manifest(s, options())["spec"]["containers"][0];
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"], "2") << c.dump();
  EXPECT_EQ(c["resources"]["requests"]["nvidia.com/gpu"], "2");
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1");
  s.gpu.clear();
  c = sbx::pod_manifest(s, options())["spec"]["containers"][0];
  EXPECT_FALSE(c["resources"]["limits"].contains("nvidia.com/gpu"));
}

}  // namespace

// --- cluster-managed warm pools (issue 14): the Pool CR and the pooled BatchSandbox -------
namespace {

sbx::RuntimePoolSpec pool_spec() {
  sbx::RuntimePoolSpec p;
  p.name = "py-warm";
  p.generation = 3;
  p.template_spec = spec();
  p.template_spec.sandbox_id.clear();
  p.template_spec.labels = {{"team", "ml"}, {"sandboxd.io/id", "forged"}};
  p.template_spec.env = {{"A", "1"}};
  p.template_spec.limits = sbx::ResourceLimits{"500m", "512Mi"};
  p.capacity = sbx::PoolCapacity{1, 4, 2, 10};  // bufferMin, bufferMax, poolMin, poolMax
  return p;
}

TEST(PoolBody, ThePoolTemplateIsASandboxPodWithoutTheSandboxIdButWithThePoolLabels) {
  const auto p = pool_spec();
  const json tmpl = sbx::pool_pod_template(p, options());
  const json& labels = tmpl["metadata"]["labels"];
  EXPECT_FALSE(labels.contains("sandboxd.io/id")) << labels.dump();
  EXPECT_EQ(labels["sandboxd.io/pool"], "py-warm");
  EXPECT_EQ(labels["sandboxd.io/pool-generation"], "3");
  EXPECT_EQ(labels["sandboxd.io/instance"], "store-1");
  EXPECT_EQ(labels["team"], "ml");
  // The pod spec is exactly the one a sandbox of that template gets.
  auto as_sandbox = p.template_spec;
  as_sandbox.sandbox_id = "x";
  EXPECT_EQ(tmpl["spec"], sbx::pod_template(as_sandbox, options())["spec"]);
  const json& c = container(tmpl["spec"], "sandbox");
  EXPECT_EQ(c["command"][0], "/opt/opensandbox/bootstrap.sh");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "512Mi");
  EXPECT_EQ(tmpl["spec"]["initContainers"][0]["name"], "execd-installer");
  EXPECT_FALSE(tmpl["spec"].contains("imagePullSecrets"));
}

TEST(PoolBody, ThePoolCrCarriesTheTemplateCapacityAndOwnership) {
  const json m = sbx::pool_manifest(pool_spec(), options());
  EXPECT_EQ(m["apiVersion"], "sandbox.opensandbox.io/v1alpha1");
  EXPECT_EQ(m["kind"], "Pool");
  EXPECT_EQ(m["metadata"]["name"], "py-warm");
  EXPECT_EQ(m["metadata"]["namespace"], "sandboxes");
  EXPECT_EQ(m["metadata"]["labels"],
            (json{{"sandboxd.io/instance", "store-1"}, {"sandboxd.io/pool-generation", "3"}}));
  EXPECT_EQ(m["spec"]["capacitySpec"],
            (json{{"bufferMax", 4}, {"bufferMin", 1}, {"poolMax", 10}, {"poolMin", 2}}));
  EXPECT_EQ(m["spec"]["template"], sbx::pool_pod_template(pool_spec(), options()));
  // Unscoped: no instance label.
  auto o = options();
  o.instance_id.clear();
  EXPECT_EQ(sbx::pool_manifest(pool_spec(), o)["metadata"]["labels"],
            (json{{"sandboxd.io/pool-generation", "3"}}));
}

TEST(PoolBody, APoolWithCredentialsHasItsOwnPullSecret) {
  auto p = pool_spec();
  p.template_spec.image_uri = "registry.internal.test:5000/team/app:1";
  p.template_spec.auth = sbx::RegistryAuth{"robot", "pw-9Zk"};
  const json tmpl = sbx::pool_pod_template(p, options());
  EXPECT_EQ(tmpl["spec"]["imagePullSecrets"], (json::array({{{"name", "py-warm-pool-pull"}}})));
  auto secret = sbx::pool_pull_secret_manifest(p, options());
  ASSERT_TRUE(secret);
  EXPECT_EQ((*secret)["metadata"]["name"], "py-warm-pool-pull");
  EXPECT_EQ((*secret)["metadata"]["labels"],
            (json{{"sandboxd.io/instance", "store-1"}, {"sandboxd.io/pool", "py-warm"}}));
  EXPECT_NE(unbase64((*secret)["data"][".dockerconfigjson"]).find("registry.internal.test:5000"),
            std::string::npos);
  EXPECT_EQ(sbx::pool_manifest(p, options()).dump().find("pw-9Zk"), std::string::npos);
  p.template_spec.auth.reset();
  EXPECT_FALSE(sbx::pool_pull_secret_manifest(p, options()));
}

TEST(PoolBody, ShellQuotingReadsBackAsTheSameWords) {
  EXPECT_EQ(sbx::shell_quote("sleep"), "sleep");
  EXPECT_EQ(sbx::shell_quote("/usr/bin/python3.12"), "/usr/bin/python3.12");
  EXPECT_EQ(sbx::shell_quote("a=b,c:d@e%f+g"), "a=b,c:d@e%f+g");
  EXPECT_EQ(sbx::shell_quote(""), "''");
  EXPECT_EQ(sbx::shell_quote("two words"), "'two words'");
  EXPECT_EQ(sbx::shell_quote("it's"), "'it'\"'\"'s'");
  EXPECT_EQ(sbx::shell_quote("$(rm -rf /); `x` \"q\" \\ *"), "'$(rm -rf /); `x` \"q\" \\ *'");
  EXPECT_EQ(sbx::shell_quote("line\nbreak"), "'line\nbreak'");
}

TEST(PoolBody, APooledBatchSandboxNamesThePoolAndRunsTheEntrypointThroughBootstrap) {
  auto s = spec();
  s.pool_ref = "py-warm";
  s.entrypoint = {"python", "-c", "print('hi there')"};
  s.env = {{"B", "2"}, {"A", "1"}, {"EXECD", "/evil"}, {"OPENSANDBOX_ID", "forged"}};
  s.labels = {{"team", "ml"}, {"note", "has spaces"}, {"sandboxd.io/pool", "x"}};
  s.expires_at = 1'900'000'000LL * sbx::kMicrosPerSecond + 1;
  s.auth = sbx::RegistryAuth{"robot", "pw-1"};
  const json m = sbx::pooled_batchsandbox_manifest(s, options());
  EXPECT_EQ(m["apiVersion"], "sandbox.opensandbox.io/v1alpha1");
  EXPECT_EQ(m["kind"], "BatchSandbox");
  EXPECT_EQ(m["metadata"]["name"], "sandbox-" + s.sandbox_id);
  EXPECT_EQ(m["metadata"]["labels"], (json{{"sandboxd.io/id", s.sandbox_id},
                                           {"sandboxd.io/instance", "store-1"},
                                           {"team", "ml"}}));
  EXPECT_EQ(m["metadata"]["annotations"], (json{{"note", "has spaces"}}));
  const json& spec_json = m["spec"];
  EXPECT_EQ(spec_json["replicas"], 1);
  EXPECT_EQ(spec_json["poolRef"], "py-warm");
  EXPECT_EQ(spec_json["expireTime"], "2030-03-17T17:46:41Z");
  EXPECT_FALSE(spec_json.contains("template")) << "the pod is the pool's";
  const json& process = spec_json["taskTemplate"]["spec"]["process"];
  EXPECT_EQ(process["command"],
            (json::array({"/bin/sh", "-c",
                          "exec /opt/opensandbox/bootstrap.sh python -c 'print('\"'\"'hi "
                          "there'\"'\"')'"})));
  EXPECT_EQ(process["env"], (json::array({{{"name", "A"}, {"value", "1"}},
                                          {{"name", "B"}, {"value", "2"}},
                                          {{"name", "EXECD"}, {"value", "/opt/opensandbox/execd"}},
                                          {{"name", "OPENSANDBOX_ID"}, {"value", s.sandbox_id}}})));
  EXPECT_EQ(m.dump().find("pw-1"), std::string::npos);
  // Without execd the entrypoint runs alone; no expiry, no expireTime.
  auto o = options();
  o.execd_image.clear();
  s.expires_at.reset();
  s.entrypoint = {"sleep", "infinity"};
  const json plain = sbx::pooled_batchsandbox_manifest(s, o);
  EXPECT_EQ(plain["spec"]["taskTemplate"]["spec"]["process"]["command"][2], "exec sleep infinity");
  EXPECT_FALSE(plain["spec"].contains("expireTime"));
  EXPECT_EQ(plain["spec"]["taskTemplate"]["spec"]["process"]["env"][2],
            (json{{"name", "EXECD"}, {"value", "/evil"}}));
}

json allocated(const std::string& alloc_status) {
  return {{"metadata",
           {{"name", "sandbox-a"},
            {"finalizers", json::array({"other", "pool.sandbox.opensandbox.io/pool-allocation"})},
            {"annotations", {{"sandbox.opensandbox.io/alloc-status", alloc_status}}}}},
          {"spec", {{"replicas", 1}, {"poolRef", "py-warm"}}}};
}

TEST(PoolBody, OnlyAConfirmedAllocationNamesThePod) {
  EXPECT_EQ(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm","pods":["py-warm-7"]})")),
            "py-warm-7");
  // Each piece of evidence missing or wrong: no pod.
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"other","pods":["py-warm-7"]})")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm","pods":[]})")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm"})")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm","pods":["A_B"]})")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm","pods":[7]})")));
  EXPECT_FALSE(
      sbx::confirmed_pool_pod(allocated(R"({"poolRef":"py-warm","pods":["p-1","p-1"]})")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated("not json")));
  EXPECT_FALSE(sbx::confirmed_pool_pod(allocated("[1]")));
  json no_finalizer = allocated(R"({"poolRef":"py-warm","pods":["py-warm-7"]})");
  no_finalizer["metadata"]["finalizers"] = json::array({"other"});
  EXPECT_FALSE(sbx::confirmed_pool_pod(no_finalizer));
  json deleting = allocated(R"({"poolRef":"py-warm","pods":["py-warm-7"]})");
  deleting["metadata"]["deletionTimestamp"] = "2026-12-05T13:00:00Z";
  EXPECT_FALSE(sbx::confirmed_pool_pod(deleting));
  json no_ref = allocated(R"({"poolRef":"py-warm","pods":["py-warm-7"]})");
  no_ref["spec"].erase("poolRef");
  EXPECT_FALSE(sbx::confirmed_pool_pod(no_ref));
  EXPECT_FALSE(sbx::confirmed_pool_pod(json::array()));
  EXPECT_FALSE(sbx::confirmed_pool_pod(json{{"metadata", 1}, {"spec", {{"poolRef", "p"}}}}));
}

}  // namespace
