#include "src/workers/container_spec_mapping.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

SandboxSpec spec() {
  SandboxSpec s;
  s.image_uri = "img:1";
  s.entrypoint = {"sh", "-c", "sleep 1"};
  return s;
}

TEST(ContainerSpecMapping, CopiesEveryField) {
  SandboxSpec s = spec();
  s.image_auth_provided = true;
  s.env = {{"K", "V"}};
  s.resource_limits = {{"cpu", "2"}, {"memory", "1Gi"}, {"gpu", "1"}};
  s.network_mode = "bridge";
  s.ports = {{44772, 45000}};
  s.platform = Platform{"linux", "arm64"};
  s.pool_ref = "web";
  auto c = to_container_spec("id-1", s, {{"k", "v"}}, ImageAuth{"u", "p"});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->sandbox_id, "id-1");
  EXPECT_EQ(c->image_uri, "img:1");
  ASSERT_TRUE(c->auth.has_value());
  EXPECT_EQ(c->auth->username, "u");
  EXPECT_EQ(c->auth->password, "p");
  EXPECT_EQ(c->entrypoint, s.entrypoint);
  EXPECT_EQ(c->env, s.env);
  EXPECT_EQ(c->limits.cpu, "2");
  EXPECT_EQ(c->limits.memory, "1Gi");
  EXPECT_EQ(c->labels.at("k"), "v");
  EXPECT_EQ(c->network_mode, "bridge");
  EXPECT_EQ(c->ports.at(44772), 45000);
  EXPECT_EQ(c->platform->os, "linux");
  EXPECT_EQ(c->platform->arch, "arm64");
  EXPECT_EQ(c->pool_ref, "web");
  // Without one: none.
  auto plain = to_container_spec("id-2", spec(), {});
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  EXPECT_EQ(plain->pool_ref, "");
}

TEST(ContainerSpecMapping, CredentialsMustMatchWhatTheSpecRecords) {
  SandboxSpec s = spec();
  EXPECT_FALSE(to_container_spec("id-1", s, {})->auth.has_value());
  auto extra = to_container_spec("id-1", s, {}, ImageAuth{"u", "p"});
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code, ErrorCode::kInvalidArgument);
  s.image_auth_provided = true;
  auto missing = to_container_spec("id-1", s, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "imageAuth");
}

TEST(ContainerSpecMapping, EmptyNetworkModeMeansHost) {
  auto c = to_container_spec("id-1", spec(), {});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->network_mode, "host");
  EXPECT_FALSE(c->auth.has_value());
  EXPECT_FALSE(c->platform.has_value());
}

TEST(ContainerSpecMapping, VolumesAndGpuAreCarriedOver) {
  SandboxSpec s = spec();
  s.volumes_json = R"([{"name":"h","mountPath":"/h","readOnly":true,"host":{"path":"/srv/h"}},
                       {"name":"p","mountPath":"/p","subPath":"x","pvc":{"claimName":"c"}}])";
  s.resource_limits["gpu"] = "all";
  auto c = to_container_spec("a", s, {});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->volumes.size(), 2u);
  EXPECT_EQ(c->volumes[0].host_path, "/srv/h");
  EXPECT_TRUE(c->volumes[0].read_only);
  EXPECT_EQ(c->volumes[1].claim_name, "c");
  EXPECT_EQ(c->volumes[1].sub_path, "x");
  EXPECT_EQ(c->gpu, "all");
  EXPECT_TRUE(to_container_spec("a", spec(), {})->gpu.empty());
}

TEST(ContainerSpecMapping, RejectsWhatTheRuntimeCannotHonour) {
  SandboxSpec snapshot = spec();
  snapshot.image_uri.clear();
  snapshot.snapshot_id = "snap-1";
  // The service records the snapshot's image: a spec naming a snapshot without one is
  // malformed.
  EXPECT_EQ(to_container_spec("a", snapshot, {}).error().field, "snapshotId");

  SandboxSpec volumes = spec();
  volumes.volumes_json = "[{}]";
  EXPECT_EQ(to_container_spec("a", volumes, {}).error().field, "volumes[0].name");
  SandboxSpec ossfs = spec();
  ossfs.volumes_json = R"([{"name":"o","mountPath":"/o","ossfs":{}}])";
  EXPECT_EQ(to_container_spec("a", ossfs, {}).error().field, "volumes[0].ossfs");

  // A network policy without the egress settings (or without a token) cannot be enforced.
  SandboxSpec policy = spec();
  policy.network_policy_json = "{}";
  EXPECT_EQ(to_container_spec("a", policy, {}).error().field, "networkPolicy");
  EXPECT_EQ(to_container_spec("a", policy, {}, std::nullopt, EgressSettings{"egress:1"}, "")
                .error()
                .field,
            "networkPolicy");

  SandboxSpec ports = spec();
  ports.network_mode = "bridge";
  ports.ports = {{70000, 1}};
  EXPECT_EQ(to_container_spec("a", ports, {}).error().code, ErrorCode::kInvalidArgument);

  SandboxSpec no_entrypoint = spec();
  no_entrypoint.entrypoint.clear();
  EXPECT_EQ(to_container_spec("a", no_entrypoint, {}).error().code, ErrorCode::kInvalidArgument);
}

TEST(ContainerSpecMapping, ANetworkPolicyBecomesTheEgressSidecarSpec) {
  SandboxSpec s = spec();
  s.network_mode = "bridge";
  s.ports = {{44772, 40001}, {8080, 40002}, {18080, 40003}};
  s.network_policy_json = R"({"defaultAction":"deny"})";
  auto c = to_container_spec("a", s, {}, std::nullopt,
                             EgressSettings{"egress:1", "dns+nft", false, std::chrono::seconds(7)},
                             "tok");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->egress);
  EXPECT_EQ(c->egress->image, "egress:1");
  EXPECT_EQ(c->egress->policy_json, R"({"defaultAction":"deny"})");
  EXPECT_EQ(c->egress->mode, "dns+nft");
  EXPECT_FALSE(c->egress->disable_ipv6);
  EXPECT_EQ(c->egress->token, "tok");
  EXPECT_EQ(c->egress->readiness_timeout, std::chrono::milliseconds(7000));
  // Without a policy, the egress settings change nothing.
  s.network_policy_json.clear();
  s.ports.erase(18080);
  auto plain = to_container_spec("a", s, {}, std::nullopt, EgressSettings{"egress:1"}, "tok");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->egress);
}

}  // namespace
}  // namespace sbx
