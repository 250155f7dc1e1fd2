#include "src/config/example_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "src/config/config.h"
#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using ::sbx::testing::TempDir;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ExampleConfigTest : public ::testing::Test {
 protected:
  EnvMap env() const { return {{"HOME", home_.str()}}; }

  Result<LoadedConfig> load(const std::string& path) {
    LoadOptions o;
    o.explicit_path = path;
    o.env = env();
    return load_config(o);
  }

  TempDir home_{"sandboxd-home"};
  TempDir dir_{"sandboxd-example"};
};

TEST_F(ExampleConfigTest, DockerExampleLoadsAsExactlyTheDefaults) {
  const std::string path = (dir_ / "etc/sandboxd/sandbox.toml").string();  // parents missing
  auto w = write_example_config(path, "docker", false);
  ASSERT_TRUE(w) << w.error().message;
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  auto defaults = default_config(env());
  ASSERT_TRUE(defaults);
  EXPECT_EQ(r->config, *defaults);
  EXPECT_EQ(r->config.runtime.type, RuntimeType::kDocker);
  EXPECT_EQ(read_file(path), render_example_config("docker"));
}

TEST_F(ExampleConfigTest, KubernetesExampleLoadsAsTheKubernetesSettings) {
  const std::string path = (dir_ / "k8s.toml").string();
  auto w = write_example_config(path, "kubernetes", false);
  ASSERT_TRUE(w) << w.error().message;
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  auto defaults = default_config(env());
  ASSERT_TRUE(defaults);
  EXPECT_EQ(r->config, kubernetes_example_config(*defaults));
  EXPECT_EQ(r->config.runtime.type, RuntimeType::kKubernetes);
  EXPECT_EQ(r->config.kubernetes.namespace_, "opensandbox");
  EXPECT_NE(r->config, *defaults);
}

TEST_F(ExampleConfigTest, RefusesToOverwriteWithoutForce) {
  const std::string path = (dir_ / "sandbox.toml").string();
  std::ofstream(path) << "# mine\n";
  auto w = write_example_config(path, "docker", false);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(w.error().message.find("--force"), std::string::npos);
  EXPECT_NE(w.error().message.find(path), std::string::npos);
  EXPECT_EQ(read_file(path), "# mine\n");

  w = write_example_config(path, "kubernetes", true);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(read_file(path), render_example_config("kubernetes"));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(ExampleConfigTest, UnknownKindIsRejected) {
  EXPECT_TRUE(is_example_kind("docker"));
  EXPECT_TRUE(is_example_kind("kubernetes"));
  EXPECT_FALSE(is_example_kind("podman"));
  const std::string path = (dir_ / "x.toml").string();
  auto w = write_example_config(path, "podman", false);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ExampleConfigTest, ExampleListsEveryKeyWithAnExplanation) {
  const std::string text = render_example_config("docker");
  const std::vector<std::pair<std::string, std::vector<std::string>>> keys = {
      {"server",
       {"host", "port", "log_level", "api_key", "eip", "max_sandbox_timeout_seconds",
        "timeout_keep_alive", "threads", "max_body_bytes", "transition_wait_ms", "create_wait_ms",
        "metrics_auth", "insecure_server", "max_connections", "max_parked_requests",
        "max_event_streams", "event_stream_buffer_bytes", "max_queued_mutations",
        "header_timeout_seconds", "body_timeout_seconds"}},
      {"runtime", {"type", "execd_image"}},
      {"docker",
       {"host", "network_mode", "host_ip", "api_timeout", "drop_capabilities", "no_new_privileges",
        "apparmor_profile", "seccomp_profile", "pids_limit", "port_bind_ip", "port_range",
        "tls_verify", "cert_path", "image_pull_policy", "adopt_reference_sandboxes",
        "sandbox_env", "sandbox_binds"}},
      {"kubernetes",
       {"kubeconfig_path", "namespace", "workload_provider", "image_pull_policy", "qps", "burst",
        "request_timeout_seconds", "pending_timeout_seconds", "lease_name",
        "lease_duration_seconds"}},
      {"secure_runtime", {"type", "k8s_runtime_class", "docker_runtime"}},
      {"ingress", {"mode"}},
      {"ingress.gateway", {"address"}},
      {"ingress.gateway.route", {"mode"}},
      {"egress", {"image", "mode", "disable_ipv6", "readiness_timeout_seconds"}},
      {"storage", {"allowed_host_paths"}},
      {"proxy",
       {"enabled", "threads", "max_connections", "connect_timeout_seconds", "idle_timeout_seconds",
        "buffer_bytes", "max_idle_upstream", "forward_credentials", "connect_in_netns",
        "signing_secret"}},
      {"renew_intent", {"enabled", "min_interval_seconds"}},
      {"pools", {"enabled", "max_members", "max_pools", "keeper_interval_ms"}},
      {"store", {"path", "sync", "retention_days"}},
      {"workers", {"provisioners", "reconcile_interval_seconds", "pending_failure_ttl_seconds"}},
  };
  for (const auto& [table, names] : keys) {
    const size_t start = text.find("[" + table + "]\n");
    ASSERT_NE(start, std::string::npos) << table;
    const size_t end = text.find("\n[", start + 1);
    const std::string section = text.substr(start, end == std::string::npos ? end : end - start);
    for (const std::string& name : names) {
      // "# <explanation>\n" then "name = " or "# name = ".
      const std::regex line("\\n# [^\\n]+\\n(# )?" + name + " = [^\\n]+\\n");
      EXPECT_TRUE(std::regex_search(section, line)) << table << "." << name;
    }
  }
}

TEST_F(ExampleConfigTest, CommentedOutKeysAreValidWhenUncommented) {
  // Uncomment every "# key = value" and "# [table]" line.
  std::string text = render_example_config("docker");
  text = std::regex_replace(text, std::regex(R"((^|\n)# (\[[a-z.]+\]|[a-z0-9_]+ = ))"), "$1$2");
  text = std::regex_replace(text, std::regex(R"(mode = "direct")"), R"(mode = "gateway")");
  const std::string path = (dir_ / "all.toml").string();
  std::ofstream(path) << text;
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message << "\n" << text;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  const Config& c = r->config;
  EXPECT_TRUE(c.server.api_key);
  EXPECT_TRUE(c.server.eip);
  EXPECT_TRUE(c.server.max_sandbox_timeout_seconds);
  EXPECT_TRUE(c.docker.host_ip);
  EXPECT_TRUE(c.docker.apparmor_profile);
  EXPECT_TRUE(c.docker.seccomp_profile);
  EXPECT_EQ(c.kubernetes.kubeconfig_path, home_.str() + "/.kube/config");
  EXPECT_EQ(c.ingress.mode, IngressMode::kGateway);
  EXPECT_FALSE(c.ingress.gateway_address.empty());
  EXPECT_EQ(c.ingress.gateway_route_mode, GatewayRouteMode::kHeader);
  EXPECT_TRUE(c.egress.image);
  EXPECT_EQ(c.secure_runtime.type, "gvisor");
  EXPECT_EQ(c.secure_runtime.k8s_runtime_class, "gvisor");
  EXPECT_EQ(c.secure_runtime.docker_runtime, "runsc");
  EXPECT_EQ(c.docker.image_pull_policy, ImagePullPolicy::kIfNotPresent);
}

TEST_F(ExampleConfigTest, KubernetesExampleWritesTheClientAndLeaseKeys) {
  const std::string text = render_example_config("kubernetes");
  for (const char* line :
       {"\nimage_pull_policy = \"IfNotPresent\"\n", "\nqps = 50.0\n", "\nburst = 100\n",
        "\nrequest_timeout_seconds = 30\n", "\npending_timeout_seconds = 300\n",
        "\nlease_name = \"sandboxd\"\n", "\nlease_duration_seconds = 15\n",
        "\n# k8s_runtime_class = \"gvisor\"\n",
        "\n# docker_runtime = \"runsc\"\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace sbx
