// The egress sidecar's create body and the sandbox body that joins its namespace (pure
// parts of src/runtime/docker/egress_sidecar.h), and the mapping of sidecar events.
#include "src/runtime/docker/egress_sidecar.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "src/runtime/docker/container_body.h"
#include "src/runtime/docker/event_watch.h"

namespace {

using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::DockerOptions;

ContainerSpec egress_spec() {
  ContainerSpec s;
  s.sandbox_id = "sb-1";
  s.image_uri = "busybox:1";
  s.entrypoint = {"sleep", "3600"};
  s.network_mode = "bridge";
  s.ports = {{44772, 40001}, {8080, 40002}, {18080, 40003}};
  s.egress = sbx::EgressSpec{"egress:1", R"({"defaultAction":"deny"})", "dns+nft", true,
                             "tok", std::chrono::milliseconds(5000)};
  return s;
}

bool has(const json& arr, const std::string& v) {
  return arr.is_array() && std::find(arr.begin(), arr.end(), v) != arr.end();
}

TEST(EgressSidecarBody, PublishesTheSandboxPortsHasNetAdminAndCarriesPolicyModeToken) {
  DockerOptions o;
  o.port_bind_ip = "127.0.0.1";
  o.instance_id = "inst-1";
  const json b = sbx::egress_sidecar_body(egress_spec(), o, "seccomp=unconfined");
  EXPECT_EQ(b["Image"], "egress:1");
  EXPECT_EQ(b["Labels"], json({{"sandboxd.io/egress-of", "sb-1"}, {"sandboxd.io/instance", "inst-1"}}));
  EXPECT_FALSE(b["Labels"].contains("sandboxd.io/id"));
  EXPECT_EQ(b["Env"], json({R"(OPENSANDBOX_EGRESS_RULES={"defaultAction":"deny"})",
                            "OPENSANDBOX_EGRESS_MODE=dns+nft", "OPENSANDBOX_EGRESS_TOKEN=tok",
                            "OPENSANDBOX_EGRESS_SANDBOX_ID=sb-1"}));
  const json& h = b["HostConfig"];
  EXPECT_EQ(h["NetworkMode"], "bridge");
  EXPECT_EQ(h["CapAdd"], json({"NET_ADMIN"}));
  EXPECT_FALSE(has(h["CapDrop"], "NET_ADMIN"));
  EXPECT_TRUE(has(h["CapDrop"], "SYS_ADMIN"));
  EXPECT_EQ(h["PidsLimit"], o.pids_limit);
  EXPECT_TRUE(has(h["SecurityOpt"], "no-new-privileges:true"));
  EXPECT_TRUE(has(h["SecurityOpt"], "seccomp=unconfined"));
  EXPECT_EQ(h["Sysctls"]["net.ipv6.conf.all.disable_ipv6"], "1");
  EXPECT_EQ(h["Sysctls"]["net.ipv6.conf.default.disable_ipv6"], "1");
  for (const char* port : {"44772/tcp", "8080/tcp", "18080/tcp"}) {
    EXPECT_TRUE(b["ExposedPorts"].contains(port)) << port;
    EXPECT_EQ(h["PortBindings"][port][0]["HostIp"], "127.0.0.1") << port;
  }
  EXPECT_EQ(h["PortBindings"]["18080/tcp"][0]["HostPort"], "40003");
}

TEST(EgressSidecarBody, IPv6StaysOnWhenNotDisabledAndNoInstanceMeansNoInstanceLabel) {
  ContainerSpec s = egress_spec();
  s.egress->disable_ipv6 = false;
  const json b = sbx::egress_sidecar_body(s, DockerOptions{}, "");
  EXPECT_FALSE(b["HostConfig"].contains("Sysctls"));
  EXPECT_FALSE(b["Labels"].contains("sandboxd.io/instance"));
}

TEST(EgressSidecarBody, TheSandboxJoinsTheSidecarPublishesNothingAndNeverHasNetAdmin) {
  DockerOptions o;
  o.drop_capabilities = {"SYS_ADMIN"};  // an operator list without NET_ADMIN
  auto body = sbx::container_create_body(egress_spec(), o, "", "");
  ASSERT_TRUE(body);
  json b = body->body;
  b["HostConfig"]["CapAdd"] = json::array({"NET_ADMIN", "CHOWN"});  // whatever put it there
  sbx::join_egress_namespace(b, "sb-1");
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "container:sandbox-egress-sb-1");
  EXPECT_FALSE(b.contains("ExposedPorts"));
  EXPECT_FALSE(b["HostConfig"].contains("PortBindings"));
  EXPECT_EQ(b["HostConfig"]["CapAdd"], json({"CHOWN"}));
  EXPECT_TRUE(has(b["HostConfig"]["CapDrop"], "NET_ADMIN"));
  EXPECT_TRUE(has(b["HostConfig"]["CapDrop"], "SYS_ADMIN"));
  EXPECT_EQ(b["Labels"]["sandboxd.io/id"], "sb-1");
  EXPECT_TRUE(sbx::joins_egress_sidecar(b, "sb-1"));
  EXPECT_FALSE(sbx::joins_egress_sidecar(json{{"HostConfig", {{"NetworkMode", "bridge"}}}}, "x"));
}

TEST(EgressSidecarSpec, ValidationRefusesWhatCannotWork) {
  EXPECT_TRUE(sbx::validate_container_spec(egress_spec()));
  auto field_of = [](ContainerSpec s) {
    auto r = sbx::validate_container_spec(s);
    return r ? std::string("ok") : r.error().field;
  };
  ContainerSpec s = egress_spec();
  s.egress->image.clear();
  EXPECT_EQ(field_of(s), "egress.image");
  s = egress_spec();
  s.egress->token.clear();
  EXPECT_EQ(field_of(s), "networkPolicy");
  s = egress_spec();
  s.network_mode = "host";
  EXPECT_EQ(field_of(s), "networkPolicy");
  s = egress_spec();
  s.ports.erase(18080);
  EXPECT_EQ(field_of(s), "ports");
  s = egress_spec();
  s.egress->readiness_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(field_of(s), "egress.readiness_timeout_seconds");
}

TEST(EgressSidecarEvents, ASidecarDeathOrRemovalIsItsSandboxsDeathOtherEventsAreNot) {
  auto line = [](const char* action) {
    return std::string(R"({"Type":"container","Action":")") + action +
           R"(","Actor":{"ID":"e1","Attributes":{"sandboxd.io/egress-of":"sb-1",)"
           R"("sandboxd.io/instance":"i1","exitCode":"1"}},"timeNano":5000})";
  };
  for (const char* action : {"die", "destroy"}) {
    auto e = sbx::parse_engine_event(line(action));
    ASSERT_TRUE(e && *e) << action;
    EXPECT_EQ((*e)->kind, sbx::RuntimeEventKind::kDied) << action;
    EXPECT_EQ((*e)->sandbox_id, "sb-1");
    EXPECT_EQ((*e)->instance_id, "i1");
  }
  for (const char* action : {"start", "pause", "unpause", "oom"}) {
    auto e = sbx::parse_engine_event(line(action));
    ASSERT_TRUE(e) << action;
    EXPECT_FALSE(*e) << action;
  }
}

}  // namespace
