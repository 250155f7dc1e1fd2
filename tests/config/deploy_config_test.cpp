// The configuration that deploy/30-configmap.yaml mounts into the sandboxd StatefulSet is
// one sandboxd accepts: read out of the ConfigMap's `sandboxd.toml: |` block and parsed as
// the server parses its file — no error, no warning (an unknown or misspelt key would be
// one), and the values the manifests rely on (the namespace of the Role, the store on the
// claim's mount, the API key from the Secret's environment variable).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "src/config/config.h"

namespace {

// The lines of the `  sandboxd.toml: |` block scalar, de-indented; "" if there is none.
std::string toml_of_configmap(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::string out;
  bool inside = false;
  std::size_t indent = std::string::npos;
  while (std::getline(in, line)) {
    if (!inside) {
      if (line == "  sandboxd.toml: |") inside = true;
      continue;
    }
    if (line.find_first_not_of(' ') == std::string::npos) {
      out += "\n";
      continue;
    }
    std::size_t lead = line.find_first_not_of(' ');
    if (indent == std::string::npos) indent = lead;
    if (lead < indent) break;  // the block ends at the first less-indented line
    out += line.substr(indent) + "\n";
  }
  return out;
}

TEST(DeployConfig, TheConfigMapsTomlIsAcceptedWithoutWarnings) {
  const std::string path = std::string(SANDBOXD_SOURCE_DIR) + "/deploy/30-configmap.yaml";
  const std::string toml = toml_of_configmap(path);
  ASSERT_NE(toml.find("[runtime]"), std::string::npos) << "no sandboxd.toml block in " << path;

  sbx::EnvMap env = {{"HOME", "/home/sandboxd"}, {"OPENSANDBOX_SERVER_API_KEY", "from-secret"}};
  auto loaded = sbx::parse_config(toml, path, env);
  ASSERT_TRUE(loaded) << loaded.error().message;
  for (const auto& w : loaded->warnings) ADD_FAILURE() << w.message;

  const sbx::Config& c = loaded->config;
  EXPECT_EQ(c.runtime.type, sbx::RuntimeType::kKubernetes);
  EXPECT_EQ(c.kubernetes.namespace_, "sandboxd");  // the Role's namespace
  EXPECT_EQ(c.kubernetes.workload_provider, sbx::WorkloadProvider::kPod);
  EXPECT_FALSE(c.kubernetes.kubeconfig_path.has_value());  // in-cluster credentials
  EXPECT_EQ(c.store.path, "/var/lib/sandboxd");             // the volumeClaimTemplate's mount
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 8080);                           // the probes' and Service's port
  ASSERT_TRUE(c.server.api_key.has_value());
  EXPECT_EQ(*c.server.api_key, "from-secret");
}

}  // namespace
