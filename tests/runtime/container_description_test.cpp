// describe_container (Docker inspect as text) and describe_pod (a Pod as text).
#include "src/runtime/docker/container_description.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/runtime/kubernetes/pod_description.h"

namespace sbx {
namespace {

using json = nlohmann::json;

TEST(DescribeContainer, ShowsStateResourcesPortsLabelsAndEnvKeysOnly) {
  const json inspect = json::parse(R"({
    "Id": "0123456789abcdef0123", "Name": "/sandbox-1",
    "State": {"Status": "exited", "Running": false, "Paused": false, "OOMKilled": true,
              "ExitCode": 137, "StartedAt": "2026-01-01T00:00:00Z",
              "FinishedAt": "2026-01-01T00:01:00Z", "Error": ""},
    "Config": {"Image": "busybox:1", "Labels": {"sandboxd.io/id": "1", "team": "a"},
               "Env": ["API_TOKEN=hunter2", "PLAIN=visible-value", "NOVALUE"]},
    "HostConfig": {"NanoCpus": 500000000, "Memory": 536870912, "PidsLimit": 4096,
                   "NetworkMode": "bridge"},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}},
                        "Ports": {"44772/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40001"}],
                                  "8080/tcp": null}}
  })");
  const std::string text = describe_container(inspect);
  for (const char* needle :
       {"Container ID:   0123456789ab\n", "Name:           sandbox-1\n",
        "Image:          busybox:1\n", "Status:         exited\n", "OOMKilled:      True\n",
        "Exit Code:      137\n", "CPU:          0.50 cores", "Memory:       512 MiB",
        "PIDs Limit:   4096", "bridge: 172.17.0.2", "44772/tcp -> 127.0.0.1:40001",
        "8080/tcp (not bound)", "sandboxd.io/id=1", "team=a", "API_TOKEN=***", "PLAIN=***",
        "NOVALUE=***"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("visible-value"), std::string::npos);
}

TEST(DescribeContainer, ToleratesAMissingOrMistypedDocument) {
  EXPECT_NE(describe_container(json::object()).find("Status:         unknown"), std::string::npos);
  EXPECT_NE(describe_container(json::array()).find("Image:          N/A"), std::string::npos);
  const json odd = {{"State", {{"Status", "running\nInjected: yes"}}}, {"Config", {{"Env", 5}}}};
  const std::string text = describe_container(odd);
  EXPECT_NE(text.find("Status:         running Injected: yes"), std::string::npos) << text;
}

TEST(DescribePod, ShowsPhaseContainersConditionsAndNeverEnv) {
  const json pod = json::parse(R"({
    "metadata": {"name": "sandbox-1", "namespace": "ns", "labels": {"sandboxd.io/id": "1"}},
    "spec": {"containers": [{"name": "sandbox", "image": "img",
                             "env": [{"name": "SECRET", "value": "hunter2"}],
                             "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}}]},
    "status": {"phase": "Pending",
               "conditions": [{"type": "PodScheduled", "status": "False",
                               "reason": "Unschedulable", "message": "no nodes"}],
               "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0,
                                      "image": "img",
                                      "state": {"waiting": {"reason": "ContainerCreating"}}}]}
  })");
  const std::string text = describe_pod(pod);
  for (const char* needle :
       {"Pod Name:       sandbox-1\n", "Namespace:      ns\n", "Node:           N/A\n",
        "Phase:          Pending\n", "State:          Waiting (ContainerCreating)",
        "PodScheduled: False (reason=Unschedulable)", "Message: no nodes",
        "sandboxd.io/id=1", "Limits:   cpu=500m, memory=512Mi"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace sbx
