// reference_candidate / reference_sandbox_id: what a reference server's container is adopted
// as, from inspect documents shaped like opensandbox-server 1.1.1's (no engine needed; the
// Docker e2e test tests/e2e/adopt_test.cpp adopts real ones).
#include "src/runtime/docker/reference_containers.h"

#include <gtest/gtest.h>

namespace {

using nlohmann::json;
using sbx::SandboxState;

constexpr const char* kId = "0f8e2d7c-1b3a-4c5d-9e6f-7a8b9c0d1e2f";

json reference_inspect() {
  return json::parse(R"({
    "Id": "c0ffee1234",
    "Name": "/sandbox-0f8e2d7c-1b3a-4c5d-9e6f-7a8b9c0d1e2f",
    "Created": "2026-12-05T04:00:00.123456789Z",
    "Image": "sha256:abc",
    "State": {"Status": "running", "Running": true, "Paused": false},
    "Config": {
      "Image": "sandboxd-test/busybox:1",
      "Entrypoint": ["/opt/opensandbox/bootstrap.sh"],
      "Cmd": ["sleep", "3600"],
      "Labels": {
        "opensandbox.io/id": "0f8e2d7c-1b3a-4c5d-9e6f-7a8b9c0d1e2f",
        "opensandbox.io/expires-at": "2026-12-05T04:10:00.623456+00:00",
        "opensandbox.io/embedding-proxy-port": "47001",
        "opensandbox.io/http-port": "47002",
        "team": "ml",
        "maintainer": "image author",
        "org.opencontainers.image.version": "1",
        "sandboxd.io/instance": "forged"
      }
    },
    "HostConfig": {
      "NetworkMode": "bridge", "NanoCpus": 500000000, "Memory": 536870912,
      "PortBindings": {"44772/tcp": [{"HostIp": "127.0.0.1", "HostPort": "47001"}]}
    }
  })");
}

const json kImageLabels = json{{"maintainer", "image author"}};

TEST(ReferenceCandidate, ARunningContainerIsAdoptedWithWhatItShows) {
  const auto c = sbx::reference_candidate(reference_inspect(), kImageLabels);
  EXPECT_EQ(c.sandbox_id, kId);
  EXPECT_EQ(c.container_name, std::string("sandbox-") + kId);
  ASSERT_TRUE(c.adopted) << c.skipped;
  const sbx::SandboxAdopted& a = *c.adopted;
  EXPECT_EQ(a.sandbox_id, kId);
  EXPECT_EQ(a.runtime_id, "c0ffee1234");
  EXPECT_EQ(a.state, SandboxState::kRunning);
  EXPECT_EQ(a.source, "opensandbox-server");
  EXPECT_EQ(sbx::format_rfc3339(a.created_at), "2026-12-05T04:00:00.123456Z");
  ASSERT_TRUE(a.expires_at);
  EXPECT_EQ(sbx::format_rfc3339(*a.expires_at), "2026-12-05T04:10:00.623456Z");
  EXPECT_EQ(a.spec.timeout_seconds, 601);
  EXPECT_EQ(a.spec.image_uri, "sandboxd-test/busybox:1");
  EXPECT_EQ(a.spec.entrypoint, (std::vector<std::string>{"sleep", "3600"}));
  EXPECT_EQ(a.spec.network_mode, "bridge");
  EXPECT_EQ(a.spec.ports, (std::map<int, int>{{44772, 47001}, {8080, 47002}}));
  EXPECT_EQ(a.spec.resource_limits,
            (std::map<std::string, std::string>{{"cpu", "500m"}, {"memory", "512Mi"}}));
  EXPECT_TRUE(a.spec.env.empty());
  // User labels only: not the reference's own, not the image's, not sandboxd's namespace.
  EXPECT_EQ(a.metadata, (std::map<std::string, std::string>{{"team", "ml"}}));
}

TEST(ReferenceCandidate, PausedManualCleanupAndPortsFromBindings) {
  json j = reference_inspect();
  j["State"]["Status"] = "paused";
  j["Config"]["Labels"]["opensandbox.io/manual-cleanup"] = "true";
  j["Config"]["Labels"].erase("opensandbox.io/expires-at");
  j["Config"]["Labels"].erase("opensandbox.io/embedding-proxy-port");
  j["Config"]["Labels"].erase("opensandbox.io/http-port");
  const auto c = sbx::reference_candidate(j, json::object());
  ASSERT_TRUE(c.adopted) << c.skipped;
  EXPECT_EQ(c.adopted->state, SandboxState::kPaused);
  EXPECT_FALSE(c.adopted->expires_at);
  EXPECT_FALSE(c.adopted->spec.timeout_seconds);
  EXPECT_EQ(c.adopted->spec.ports, (std::map<int, int>{{44772, 47001}}));
  EXPECT_EQ(c.adopted->metadata.count("maintainer"), 1u) << "not the image's: no image labels";
}

TEST(ReferenceCandidate, WhatCannotBeAdoptedSaysWhy) {
  json exited = reference_inspect();
  exited["State"]["Status"] = "exited";
  auto c = sbx::reference_candidate(exited, kImageLabels);
  EXPECT_FALSE(c.adopted);
  EXPECT_NE(c.skipped.find("exited"), std::string::npos) << c.skipped;

  json bad_id = reference_inspect();
  bad_id["Config"]["Labels"]["opensandbox.io/id"] = "../../etc";
  c = sbx::reference_candidate(bad_id, kImageLabels);
  EXPECT_FALSE(c.adopted);
  EXPECT_NE(c.skipped.find("UUID"), std::string::npos) << c.skipped;

  json bad_expiry = reference_inspect();
  bad_expiry["Config"]["Labels"]["opensandbox.io/expires-at"] = "tomorrow";
  c = sbx::reference_candidate(bad_expiry, kImageLabels);
  EXPECT_FALSE(c.adopted);
  EXPECT_NE(c.skipped.find("expires-at"), std::string::npos) << c.skipped;

  json bad_port = reference_inspect();
  bad_port["Config"]["Labels"]["opensandbox.io/http-port"] = "99999";
  c = sbx::reference_candidate(bad_port, kImageLabels);
  EXPECT_FALSE(c.adopted);
  EXPECT_NE(c.skipped.find("http-port"), std::string::npos) << c.skipped;
}

TEST(ReferenceCandidate, HelpersAndSandboxdContainersAreNoReferenceSandboxes) {
  json sidecar = reference_inspect();
  sidecar["Config"]["Labels"]["opensandbox.io/egress-sidecar-for"] = kId;
  EXPECT_EQ(sbx::reference_candidate(sidecar, kImageLabels).sandbox_id, "");
  EXPECT_FALSE(sbx::reference_candidate(sidecar, kImageLabels).adopted);
  json ours = reference_inspect();
  ours["Config"]["Labels"]["sandboxd.io/id"] = kId;
  EXPECT_FALSE(sbx::reference_candidate(ours, kImageLabels).adopted);
  json helper = json::parse(R"({"Id":"h","Name":"/sandbox-execd-1","Config":{"Labels":null}})");
  EXPECT_EQ(sbx::reference_candidate(helper, kImageLabels).sandbox_id, "");
  EXPECT_EQ(sbx::reference_sandbox_id(json::array()), "");
  EXPECT_EQ(sbx::reference_sandbox_id(json{{"opensandbox.io/id", 7}}), "");
}

TEST(ReferenceCandidate, QuantitiesFromEngineNumbers) {
  EXPECT_EQ(sbx::cpu_quantity_from_nanos(2'000'000'000), "2");
  EXPECT_EQ(sbx::cpu_quantity_from_nanos(250'000'000), "250m");
  EXPECT_EQ(sbx::cpu_quantity_from_nanos(1), "1m");
  EXPECT_EQ(sbx::cpu_quantity_from_nanos(0), "");
  EXPECT_EQ(sbx::memory_quantity_from_bytes(1LL << 30), "1Gi");
  EXPECT_EQ(sbx::memory_quantity_from_bytes(3LL << 20), "3Mi");
  EXPECT_EQ(sbx::memory_quantity_from_bytes(1000), "1000");
  EXPECT_EQ(sbx::memory_quantity_from_bytes(-1), "");
}

}  // namespace
