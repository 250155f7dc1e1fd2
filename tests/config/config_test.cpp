#include "src/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/temp_dir.h"

namespace sbx {
namespace {

using ::sbx::testing::TempDir;

std::string write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
  return path.string();
}

class ConfigTest : public ::testing::Test {
 protected:
  // An environment with only HOME set (to an empty temp dir).
  EnvMap env() const { return {{"HOME", home_.str()}}; }

  // Loads `text` from a file via --config.
  Result<LoadedConfig> load_text(const std::string& text, EnvMap extra_env = {}) {
    write_file(path_, text);
    LoadOptions o;
    o.explicit_path = path_;
    o.env = env();
    for (auto& [k, v] : extra_env) o.env[k] = v;
    return load_config(o);
  }

  // Loads `text` and returns the error message (empty if it loaded).
  std::string error_of(const std::string& text) {
    auto r = load_text(text);
    return r ? std::string() : r.error().message;
  }

  TempDir home_{"sandboxd-home"};
  TempDir dir_{"sandboxd-config"};
  const std::string path_ = (dir_ / "sandbox.toml").string();  // where load_text() writes
};

TEST_F(ConfigTest, NoFileAnywhereGivesBuiltinDefaults) {
  LoadOptions o;
  o.env = env();
  auto r = load_config(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, kBuiltinDefaultsSource);
  EXPECT_FALSE(r->from_file());
  EXPECT_TRUE(r->warnings.empty());
  const Config& c = r->config;
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.log_level, "INFO");
  EXPECT_FALSE(c.server.api_key);
  EXPECT_FALSE(c.server.eip);
  EXPECT_FALSE(c.server.max_sandbox_timeout_seconds);
  EXPECT_EQ(c.server.timeout_keep_alive, 30);
  EXPECT_EQ(c.server.threads, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(c.server.max_body_bytes, 1048576);
  EXPECT_EQ(c.server.transition_wait_ms, 10000);
  EXPECT_EQ(c.server.create_wait_ms, 30000);
  EXPECT_FALSE(c.server.metrics_auth);
  EXPECT_EQ(c.runtime.type, RuntimeType::kDocker);
  EXPECT_EQ(c.runtime.execd_image, "opensandbox/execd:v1.0.18");
  EXPECT_EQ(c.docker.host, "unix:///var/run/docker.sock");
  EXPECT_EQ(c.docker.network_mode, "host");
  EXPECT_FALSE(c.docker.host_ip);
  EXPECT_EQ(c.docker.api_timeout, 180);
  EXPECT_EQ(c.docker.drop_capabilities,
            (std::vector<std::string>{"AUDIT_WRITE", "MKNOD", "NET_ADMIN", "NET_RAW", "SYS_ADMIN",
                                      "SYS_MODULE", "SYS_PTRACE", "SYS_TIME", "SYS_TTY_CONFIG"}));
  EXPECT_TRUE(c.docker.no_new_privileges);
  EXPECT_FALSE(c.docker.apparmor_profile);
  EXPECT_FALSE(c.docker.seccomp_profile);
  EXPECT_EQ(c.docker.pids_limit, 4096);
  EXPECT_EQ(c.docker.port_bind_ip, "0.0.0.0");
  EXPECT_EQ(c.docker.port_range_low, 40000);
  EXPECT_EQ(c.docker.port_range_high, 60000);
  EXPECT_TRUE(c.docker.adopt_reference_sandboxes);
  EXPECT_FALSE(c.kubernetes.kubeconfig_path);
  EXPECT_EQ(c.kubernetes.namespace_, "default");
  EXPECT_EQ(c.kubernetes.workload_provider, WorkloadProvider::kPod);
  EXPECT_EQ(c.kubernetes.image_pull_policy, ImagePullPolicy::kIfNotPresent);
  EXPECT_EQ(c.kubernetes.qps, 50.0);
  EXPECT_EQ(c.kubernetes.burst, 100);
  EXPECT_EQ(c.kubernetes.request_timeout_seconds, 30);
  EXPECT_EQ(c.kubernetes.pending_timeout_seconds, 300);
  EXPECT_EQ(c.kubernetes.lease_name, "sandboxd");
  EXPECT_EQ(c.kubernetes.lease_duration_seconds, 15);
  EXPECT_FALSE(c.secure_runtime.type);
  EXPECT_FALSE(c.secure_runtime.k8s_runtime_class);
  EXPECT_FALSE(c.secure_runtime.docker_runtime);
  EXPECT_EQ(c.docker.image_pull_policy, ImagePullPolicy::kIfNotPresent);
  EXPECT_EQ(c.ingress.mode, IngressMode::kDirect);
  EXPECT_EQ(c.ingress.gateway_address, "");
  EXPECT_FALSE(c.ingress.gateway_route_mode);
  EXPECT_FALSE(c.egress.image);
  EXPECT_EQ(c.egress.mode, EgressMode::kDns);
  EXPECT_TRUE(c.egress.disable_ipv6);
  EXPECT_EQ(c.egress.readiness_timeout_seconds, 30.0);
  EXPECT_TRUE(c.storage.allowed_host_paths.empty());
  EXPECT_EQ(c.store.path, home_.str() + "/.sandboxd/data");
  EXPECT_TRUE(c.store.sync);
  EXPECT_EQ(c.store.retention_days, 0);
  EXPECT_EQ(c.workers.provisioners, 8);
  EXPECT_EQ(c.workers.reconcile_interval_seconds, 30);
  EXPECT_EQ(c.workers.pending_failure_ttl_seconds, 3600);

  auto d = default_config(env());
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, c);
}

TEST_F(ConfigTest, EveryKeyIsReadFromTheFile) {
  auto r = load_text(R"(
[server]
host = "127.0.0.1"
port = 9090
log_level = "debug"
api_key = "secret"
eip = "203.0.113.5"
max_sandbox_timeout_seconds = 7200
timeout_keep_alive = 5
threads = 3
max_body_bytes = 2048
transition_wait_ms = 1500
create_wait_ms = 45000
metrics_auth = true

[runtime]
type = "kubernetes"
execd_image = "example/execd:v9"

[docker]
host = "tcp://127.0.0.1:2375"
network_mode = "sandboxes"
host_ip = "192.0.2.1"
api_timeout = 20
drop_capabilities = ["NET_RAW"]
no_new_privileges = false
apparmor_profile = "sandbox-profile"
seccomp_profile = "/etc/seccomp.json"
pids_limit = 128
port_bind_ip = "127.0.0.1"
port_range = "41000-41999"
image_pull_policy = "Never"
adopt_reference_sandboxes = false

[kubernetes]
kubeconfig_path = "~/.kube/config"
namespace = "sandboxes"
workload_provider = "batchsandbox"
image_pull_policy = "Always"
qps = 12.5
burst = 7
request_timeout_seconds = 4
pending_timeout_seconds = 60
lease_name = "sandboxd-a.lease"
lease_duration_seconds = 9

[secure_runtime]
type = "gvisor"
k8s_runtime_class = "gvisor-v2"
docker_runtime = "runsc"

[ingress]
mode = "gateway"
gateway.address = "gw.internal:8000"
gateway.route.mode = "uri"

[egress]
image = "example/egress:v2"
mode = "dns+nft"
disable_ipv6 = false
readiness_timeout_seconds = 2.5

[storage]
allowed_host_paths = ["/srv/data", "/mnt/shared"]

[store]
path = "/var/lib/sandboxd"
sync = false
retention_days = 0

[workers]
provisioners = 2
reconcile_interval_seconds = 7
pending_failure_ttl_seconds = 60
)");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, path_);
  EXPECT_TRUE(r->from_file());
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  const Config& c = r->config;
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.log_level, "DEBUG");
  EXPECT_EQ(c.server.api_key, "secret");
  EXPECT_EQ(c.server.eip, "203.0.113.5");
  EXPECT_EQ(c.server.max_sandbox_timeout_seconds, 7200);
  EXPECT_EQ(c.server.timeout_keep_alive, 5);
  EXPECT_EQ(c.server.threads, 3);
  EXPECT_EQ(c.server.max_body_bytes, 2048);
  EXPECT_EQ(c.server.transition_wait_ms, 1500);
  EXPECT_EQ(c.server.create_wait_ms, 45000);
  EXPECT_TRUE(c.server.metrics_auth);
  EXPECT_EQ(c.runtime.type, RuntimeType::kKubernetes);
  EXPECT_EQ(c.runtime.execd_image, "example/execd:v9");
  EXPECT_EQ(c.docker.host, "tcp://127.0.0.1:2375");
  EXPECT_EQ(c.docker.network_mode, "sandboxes");
  EXPECT_EQ(c.docker.host_ip, "192.0.2.1");
  EXPECT_EQ(c.docker.api_timeout, 20);
  EXPECT_EQ(c.docker.drop_capabilities, std::vector<std::string>{"NET_RAW"});
  EXPECT_FALSE(c.docker.no_new_privileges);
  EXPECT_EQ(c.docker.apparmor_profile, "sandbox-profile");
  EXPECT_EQ(c.docker.seccomp_profile, "/etc/seccomp.json");
  EXPECT_EQ(c.docker.pids_limit, 128);
  EXPECT_EQ(c.docker.port_bind_ip, "127.0.0.1");
  EXPECT_EQ(c.docker.port_range_low, 41000);
  EXPECT_EQ(c.docker.port_range_high, 41999);
  EXPECT_EQ(c.docker.image_pull_policy, ImagePullPolicy::kNever);
  EXPECT_FALSE(c.docker.adopt_reference_sandboxes);
  EXPECT_EQ(c.kubernetes.kubeconfig_path, home_.str() + "/.kube/config");
  EXPECT_EQ(c.kubernetes.namespace_, "sandboxes");
  EXPECT_EQ(c.kubernetes.workload_provider, WorkloadProvider::kBatchSandbox);
  EXPECT_EQ(c.kubernetes.image_pull_policy, ImagePullPolicy::kAlways);
  EXPECT_EQ(c.kubernetes.qps, 12.5);
  EXPECT_EQ(c.kubernetes.burst, 7);
  EXPECT_EQ(c.kubernetes.request_timeout_seconds, 4);
  EXPECT_EQ(c.kubernetes.pending_timeout_seconds, 60);
  EXPECT_EQ(c.kubernetes.lease_name, "sandboxd-a.lease");
  EXPECT_EQ(c.kubernetes.lease_duration_seconds, 9);
  EXPECT_EQ(c.secure_runtime.type, "gvisor");
  EXPECT_EQ(c.secure_runtime.k8s_runtime_class, "gvisor-v2");
  EXPECT_EQ(c.secure_runtime.docker_runtime, "runsc");
  EXPECT_EQ(c.ingress.mode, IngressMode::kGateway);
  EXPECT_EQ(c.ingress.gateway_address, "gw.internal:8000");
  EXPECT_EQ(c.ingress.gateway_route_mode, GatewayRouteMode::kUri);
  EXPECT_EQ(c.egress.image, "example/egress:v2");
  EXPECT_EQ(c.egress.mode, EgressMode::kDnsNft);
  EXPECT_FALSE(c.egress.disable_ipv6);
  EXPECT_EQ(c.egress.readiness_timeout_seconds, 2.5);
  EXPECT_EQ(c.storage.allowed_host_paths, (std::vector<std::string>{"/srv/data", "/mnt/shared"}));
  EXPECT_EQ(c.store.path, "/var/lib/sandboxd");
  EXPECT_FALSE(c.store.sync);
  EXPECT_EQ(c.store.retention_days, 0);
  EXPECT_EQ(c.workers.provisioners, 2);
  EXPECT_EQ(c.workers.reconcile_interval_seconds, 7);
  EXPECT_EQ(c.workers.pending_failure_ttl_seconds, 60);
}

TEST_F(ConfigTest, LookupPrefersExplicitPathThenEnvThenHome) {
  std::string explicit_file = write_file(dir_ / "explicit.toml", "[server]\nport = 1001\n");
  std::string env_file = write_file(dir_ / "env.toml", "[server]\nport = 1002\n");
  std::string home_file = write_file(home_.path() / ".sandbox.toml", "[server]\nport = 1003\n");

  LoadOptions o;
  o.env = env();
  o.env["SANDBOX_CONFIG_PATH"] = env_file;
  o.explicit_path = explicit_file;
  auto r = load_config(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, explicit_file);
  EXPECT_EQ(r->config.server.port, 1001);

  o.explicit_path.reset();
  r = load_config(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, env_file);
  EXPECT_EQ(r->config.server.port, 1002);

  o.env.erase("SANDBOX_CONFIG_PATH");
  r = load_config(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, home_file);
  EXPECT_EQ(r->config.server.port, 1003);

  std::filesystem::remove(home_file);
  r = load_config(o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source, kBuiltinDefaultsSource);
  EXPECT_EQ(r->config.server.port, 8080);
}

TEST_F(ConfigTest, MissingExplicitFileIsAnErrorEvenWhenOthersExist) {
  write_file(home_.path() / ".sandbox.toml", "[server]\nport = 1003\n");
  LoadOptions o;
  o.env = env();
  o.explicit_path = (dir_ / "nope.toml").string();
  auto r = load_config(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, o.explicit_path.value() + ": config file not found (from --config)");
}

TEST_F(ConfigTest, MissingFileNamedBySandboxConfigPathIsAnError) {
  LoadOptions o;
  o.env = env();
  o.env["SANDBOX_CONFIG_PATH"] = (dir_ / "nope.toml").string();
  auto r = load_config(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("SANDBOX_CONFIG_PATH"), std::string::npos);
}

TEST_F(ConfigTest, DirectoryGivenAsConfigIsAnError) {
  LoadOptions o;
  o.env = env();
  o.explicit_path = dir_.str();
  auto r = load_config(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ConfigTest, WrongTypeNamesKeyFileAndLine) {
  auto r = load_text("# comment\n\n[server]\nhost = \"::\"\nport = \"abc\"\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "server.port");
  EXPECT_EQ(r.error().message,
            path_ + ":5: server.port: expected an integer in 0..65535, got \"abc\"");

  EXPECT_EQ(error_of("[store]\nsync = \"yes\"\n"),
            path_ + ":2: store.sync: expected true or false, got \"yes\"");
  EXPECT_EQ(error_of("[server]\nport = 8080.0\n"),
            path_ + ":2: server.port: expected an integer in 0..65535, got 8080.0");
  EXPECT_EQ(error_of("[runtime]\nexecd_image = 7\n"),
            path_ + ":2: runtime.execd_image: expected a non-empty string, got 7");
  EXPECT_EQ(error_of("[docker]\ndrop_capabilities = \"NET_RAW\"\n"),
            path_ +
                ":2: docker.drop_capabilities: expected an array of non-empty strings, got "
                "\"NET_RAW\"");
  EXPECT_EQ(error_of("[docker]\ndrop_capabilities = [\n  \"NET_RAW\",\n  3,\n]\n"),
            path_ +
                ":4: docker.drop_capabilities: expected an array of non-empty strings, got 3 at "
                "index 1");
  EXPECT_EQ(error_of("server = 5\n"), path_ + ":1: server: expected a table, got 5");
  EXPECT_EQ(error_of("[ingress]\ngateway = \"x\"\n"),
            path_ + ":2: ingress.gateway: expected a table, got \"x\"");
}

TEST_F(ConfigTest, OutOfRangeNamesKeyFileAndLine) {
  EXPECT_EQ(error_of("[server]\nport = 70000\n"),
            path_ + ":2: server.port: expected an integer in 0..65535, got 70000");
  EXPECT_EQ(error_of("[server]\nmax_sandbox_timeout_seconds = 59\n"),
            path_ + ":2: server.max_sandbox_timeout_seconds: expected an integer >= 60, got 59");
  EXPECT_EQ(error_of("[workers]\nprovisioners = 0\n"),
            path_ + ":2: workers.provisioners: expected an integer in 1..1024, got 0");
  EXPECT_EQ(error_of("[store]\nretention_days = -1\n"),
            path_ + ":2: store.retention_days: expected an integer >= 0, got -1");
  // A retention that would never prune is refused rather than silently ignored.
  EXPECT_EQ(error_of("[store]\nretention_days = 14\n"),
            path_ +
                ":2: store.retention_days: pruning old events is not implemented in this version, "
                "every event is kept; set 0 or remove the key");
  EXPECT_EQ(error_of("[server]\nthreads = -2\n"),
            path_ + ":2: server.threads: expected an integer in 0..4096, got -2");
  EXPECT_NE(error_of("[server]\ntransition_wait_ms = -1\n"), "");
  EXPECT_NE(error_of("[server]\ncreate_wait_ms = 3600001\n"), "");
  EXPECT_NE(error_of("[docker]\npids_limit = -2\n"), "");
  EXPECT_EQ(error_of("[docker]\npids_limit = -1\n"), "");
}

TEST_F(ConfigTest, EveryWorkloadProviderOfTheReferenceIsAccepted) {
  for (const auto& [text, provider] :
       std::vector<std::pair<std::string, WorkloadProvider>>{
           {"pod", WorkloadProvider::kPod},
           {"batchsandbox", WorkloadProvider::kBatchSandbox},
           {"agent-sandbox", WorkloadProvider::kAgentSandbox}}) {
    auto c = load_text("[kubernetes]\nworkload_provider = \"" + text + "\"\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->config.kubernetes.workload_provider, provider);
    EXPECT_EQ(to_string(provider), text);
  }
}

TEST_F(ConfigTest, BadEnumValueNamesKeyFileAndLine) {
  EXPECT_EQ(error_of("[runtime]\ntype = \"podman\"\n"),
            path_ + ":2: runtime.type: expected one of \"docker\", \"kubernetes\", got \"podman\"");
  EXPECT_EQ(error_of("[kubernetes]\nworkload_provider = \"job\"\n"),
            path_ +
                ":2: kubernetes.workload_provider: expected one of \"pod\", \"batchsandbox\", "
                "\"agent-sandbox\", got \"job\"");
  EXPECT_EQ(error_of("[ingress]\nmode = \"proxy\"\n"),
            path_ + ":2: ingress.mode: expected one of \"direct\", \"gateway\", got \"proxy\"");
  EXPECT_EQ(error_of("[server]\nlog_level = \"verbose\"\n"),
            path_ +
                ":2: server.log_level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any "
                "case), got \"verbose\"");
  EXPECT_EQ(error_of("[runtime]\ntype = \"Docker\"\n"),
            path_ + ":2: runtime.type: expected one of \"docker\", \"kubernetes\", got \"Docker\"");
}

TEST_F(ConfigTest, BadEgressValuesNameTheKey) {
  EXPECT_EQ(error_of("[egress]\nmode = \"nft\"\n"),
            path_ + ":2: egress.mode: expected one of \"dns\", \"dns+nft\", got \"nft\"");
  EXPECT_NE(error_of("[egress]\nreadiness_timeout_seconds = 0\n")
                .find("egress.readiness_timeout_seconds: expected a number > 0"),
            std::string::npos);
  EXPECT_NE(error_of("[egress]\ndisable_ipv6 = \"yes\"\n").find("egress.disable_ipv6"),
            std::string::npos);
}

TEST_F(ConfigTest, LogLevelIsCaseInsensitiveAndStoredUpperCase) {
  for (const char* level : {"debug", "Info", "WARNING", "error", "critical"}) {
    auto r = load_text(std::string("[server]\nlog_level = \"") + level + "\"\n");
    ASSERT_TRUE(r) << r.error().message;
    std::string want = level;
    for (char& ch : want) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(r->config.server.log_level, want);
  }
}

TEST_F(ConfigTest, SyntaxErrorGivesFileLineAndColumn) {
  auto r = load_text("[server]\nhost = \"0.0.0.0\"\nport = \n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  const std::regex want(std::regex_replace(path_, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                        R"(:3:\d+: .+)");
  EXPECT_TRUE(std::regex_match(r.error().message, want)) << r.error().message;

  r = load_text("[server\nport = 1\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind(path_ + ":1:", 0), 0u) << r.error().message;
}

TEST_F(ConfigTest, DockerPortRangeIsParsedAndValidated) {
  auto r = load_text("[docker]\nport_range = \"1000-1000\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.docker.port_range_low, 1000);
  EXPECT_EQ(r->config.docker.port_range_high, 1000);
  for (const char* bad :
       {"2000-1000", "0-10", "1-65536", "abc", "1000", "1000-", "-5-10", "10-20x", ""}) {
    EXPECT_EQ(error_of(std::string("[docker]\nport_range = \"") + bad + "\"\n"),
              path_ +
                  ":2: docker.port_range: expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= "
                  "65535, got \"" +
                  bad + "\"")
        << bad;
  }
}

TEST_F(ConfigTest, DockerAddressesAreValidated) {
  EXPECT_EQ(error_of("[docker]\nport_bind_ip = \"localhost\"\n"),
            path_ + ":2: docker.port_bind_ip: expected an IPv4 or IPv6 address, got \"localhost\"");
  EXPECT_EQ(error_of("[docker]\nport_bind_ip = \"::1\"\n"), "");
  EXPECT_EQ(error_of("[docker]\nhost = \"ssh://box\"\n"),
            path_ + ":2: docker.host: expected unix:///PATH or tcp://HOST:PORT, got \"ssh://box\"");
  EXPECT_EQ(error_of("[docker]\nnetwork_mode = \"\"\n"),
            path_ + ":2: docker.network_mode: expected a non-empty string, got \"\"");
  auto r = load_text("[docker]\nnetwork_mode = \"bridge\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.docker.network_mode, "bridge");
}

TEST_F(ConfigTest, AllowedHostPathsMustBeAbsolute) {
  EXPECT_EQ(error_of("[storage]\nallowed_host_paths = [\"/ok\", \"relative/dir\"]\n"),
            path_ +
                ":2: storage.allowed_host_paths: expected an array of absolute paths, got "
                "\"relative/dir\" at index 1");
}

TEST_F(ConfigTest, SandboxEnvAndBindsAreReadAndChecked) {
  auto r = load_text(
      "[docker]\nsandbox_env = { HTTP_PROXY = \"http://127.0.0.1:3128\", TEAM = \"\" }\n"
      "sandbox_binds = [\"/etc/ssl/certs:/etc/ssl/certs:ro\", \"/srv/tools:/opt/tools\"]\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.docker.sandbox_env,
            (std::map<std::string, std::string>{{"HTTP_PROXY", "http://127.0.0.1:3128"},
                                                {"TEAM", ""}}));
  EXPECT_EQ(r->config.docker.sandbox_binds,
            (std::vector<std::string>{"/etc/ssl/certs:/etc/ssl/certs:ro", "/srv/tools:/opt/tools"}));
  EXPECT_TRUE(r->warnings.empty());
  // Defaults: nothing.
  auto d = load_text("[docker]\n");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->config.docker.sandbox_env.empty());
  EXPECT_TRUE(d->config.docker.sandbox_binds.empty());

  for (const char* bad : {"relative:/x", "/x:relative", "/x", "/a/../b:/x", "/x:/a/..:ro",
                          "/x:/y:rx", "/x:/y:ro:z", "volume-name:/x"}) {
    const std::string text = std::string("[docker]\nsandbox_binds = [\"") + bad + "\"]\n";
    EXPECT_EQ(error_of(text),
              path_ + ":2: docker.sandbox_binds: expected Docker binds \"SRC:DST[:ro|:rw]\" with "
                      "absolute paths without '..', got \"" + bad + "\" at index 0")
        << bad;
  }
  EXPECT_EQ(error_of("[docker]\nsandbox_env = [\"A=1\"]\n"),
            path_ + ":2: docker.sandbox_env: expected a table of strings, got an array");
  EXPECT_NE(error_of("[docker]\nsandbox_env = { A = 1 }\n").find("docker.sandbox_env.A"),
            std::string::npos);
  EXPECT_NE(error_of("[docker.sandbox_env]\n\"A=B\" = \"x\"\n").find("docker.sandbox_env.A=B"),
            std::string::npos);
}

TEST_F(ConfigTest, GatewayModeRequiresAddressAndRouteMode) {
  auto r = load_text("[ingress]\nmode = \"gateway\"\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "ingress.gateway.address");
  EXPECT_EQ(r.error().message,
            path_ + ":2: ingress.gateway.address: required when ingress.mode = \"gateway\"");

  r = load_text("[ingress]\nmode = \"gateway\"\n[ingress.gateway]\naddress = \"gw:80\"\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "ingress.gateway.route.mode");

  EXPECT_EQ(error_of("[ingress.gateway.route]\nmode = \"path\"\n"),
            path_ +
                ":2: ingress.gateway.route.mode: expected one of \"wildcard\", \"header\", "
                "\"uri\", got \"path\"");

  r = load_text(
      "[ingress]\nmode = \"gateway\"\n[ingress.gateway]\naddress = \"gw:80\"\n"
      "[ingress.gateway.route]\nmode = \"header\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.ingress.gateway_address, "gw:80");
  EXPECT_EQ(r->config.ingress.gateway_route_mode, GatewayRouteMode::kHeader);
}

TEST_F(ConfigTest, GatewayKeysInDirectModeAreIgnoredWithAWarning) {
  auto r = load_text("[ingress]\nmode = \"direct\"\ngateway.address = \"gw:80\"\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].key, "ingress.gateway");
  EXPECT_EQ(r->warnings[0].line, 3);
}

TEST_F(ConfigTest, UnknownKeysAndTablesAreWarningsWithTheirLine) {
  auto r = load_text(
      "[server]\nport = 9000\nprot = 9001\n\n[telemetry]\nendpoint = \"x\"\n\n[docker]\n"
      "network = \"bridge\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.port, 9000);
  ASSERT_EQ(r->warnings.size(), 3u);
  // Tables are walked in a fixed order (server, docker, ..., then unknown top-level tables).
  EXPECT_EQ(r->warnings[0].key, "server.prot");
  EXPECT_EQ(r->warnings[0].line, 3);
  EXPECT_EQ(r->warnings[0].file, path_);
  EXPECT_EQ(r->warnings[0].message,
            path_ + ":3: unknown key server.prot (ignored; did you mean server.port?)");
  EXPECT_EQ(r->warnings[1].key, "docker.network");
  EXPECT_EQ(r->warnings[1].line, 9);
  EXPECT_EQ(r->warnings[2].key, "telemetry");
  EXPECT_EQ(r->warnings[2].line, 5);
  EXPECT_EQ(r->warnings[2].message, path_ + ":5: unknown table telemetry (ignored)");
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  auto r = load_text(
      "[server]\napi_key = \"from-file\"\n[docker]\nhost = \"unix:///a.sock\"\n"
      "[workers]\npending_failure_ttl_seconds = 10\n",
      {{"OPENSANDBOX_SERVER_API_KEY", "from-env"},
       {"DOCKER_HOST", "unix:///run/user/1000/docker.sock"},
       {"PENDING_FAILURE_TTL", "120"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.api_key, "from-env");
  EXPECT_EQ(r->config.docker.host, "unix:///run/user/1000/docker.sock");
  EXPECT_EQ(r->config.workers.pending_failure_ttl_seconds, 120);

  // Empty variables do not override (an empty key never turns auth off).
  r = load_text("[server]\napi_key = \"from-file\"\n",
                {{"OPENSANDBOX_SERVER_API_KEY", ""}, {"DOCKER_HOST", ""}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.api_key, "from-file");
  EXPECT_EQ(r->config.docker.host, "unix:///var/run/docker.sock");

  // Overrides apply to the built-in defaults too.
  EnvMap e = env();
  e["OPENSANDBOX_SERVER_API_KEY"] = "k";
  auto d = default_config(e);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->server.api_key, "k");
}

TEST_F(ConfigTest, DockerTlsFollowsTheDockerCliEnvironment) {
  auto r = load_text("", {{"DOCKER_HOST", "tcp://127.0.0.1:2376"},
                          {"DOCKER_TLS_VERIFY", "1"},
                          {"DOCKER_CERT_PATH", "/etc/docker-certs"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->config.docker.tls_verify);
  EXPECT_EQ(r->config.docker.cert_path, "/etc/docker-certs");
  // The default cert path is ~/.docker, expanded.
  r = load_text("[docker]\nhost = \"tcp://127.0.0.1:2376\"\ntls_verify = true\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->config.docker.cert_path.ends_with("/.docker"));
  EXPECT_FALSE(r->config.docker.cert_path.starts_with("~"));
  // Meaningless for a unix socket: ignored with a warning, as the CLI ignores it.
  r = load_text("", {{"DOCKER_TLS_VERIFY", "1"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.docker.tls_verify);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_EQ(r->warnings.back().key, "docker.tls_verify");
}

TEST_F(ConfigTest, InsecureServerComesFromTheReferenceServersSwitch) {
  auto r = load_text("", {{"OPENSANDBOX_INSECURE_SERVER", "YES"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->config.server.insecure_server);
  r = load_text("[server]\ninsecure_server = true\n", {{"OPENSANDBOX_INSECURE_SERVER", "no"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.server.insecure_server);
  r = load_text("");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.server.insecure_server);
}

TEST_F(ConfigTest, BadEnvironmentOverrideIsAnError) {
  auto r = load_text("", {{"PENDING_FAILURE_TTL", "soon"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "env PENDING_FAILURE_TTL: workers.pending_failure_ttl_seconds: expected an integer "
            ">= 0, got \"soon\"");
  r = load_text("", {{"DOCKER_HOST", "npipe:////./pipe/docker"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "docker.host");
  EXPECT_NE(r.error().message.find("env DOCKER_HOST"), std::string::npos);
}

TEST_F(ConfigTest, ZeroThreadsMeansOnePerCore) {
  auto r = load_text("[server]\nthreads = 0\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.threads, default_thread_count());
  EXPECT_GE(r->config.server.threads, 1);
}

TEST_F(ConfigTest, EmptyOptionalStringMeansUnset) {
  auto r = load_text("[server]\napi_key = \"\"\neip = \"\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.server.api_key);
  EXPECT_FALSE(r->config.server.eip);
}

TEST_F(ConfigTest, TildeInStorePathIsExpandedWithHome) {
  auto r = load_text("[store]\npath = \"~/events\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.store.path, home_.str() + "/events");
  r = load_text("[store]\npath = \"relative~/x\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.store.path, "relative~/x");
}

TEST_F(ConfigTest, MetricsAuthWithoutApiKeyWarns) {
  auto r = load_text("[server]\nmetrics_auth = true\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].key, "server.metrics_auth");
  EXPECT_EQ(r->warnings[0].line, 2);

  r = load_text("[server]\nmetrics_auth = true\n", {{"OPENSANDBOX_SERVER_API_KEY", "k"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->warnings.empty());
}

TEST_F(ConfigTest, ImagePullPolicyIsOneOfTheKubernetesNames) {
  // The same names for kubernetes.image_pull_policy and docker.image_pull_policy, each read
  // into its own table's field only.
  for (std::string table : {"kubernetes", "docker"}) {
    for (auto [name, want] : {std::pair{"IfNotPresent", ImagePullPolicy::kIfNotPresent},
                              std::pair{"Always", ImagePullPolicy::kAlways},
                              std::pair{"Never", ImagePullPolicy::kNever}}) {
      auto r = load_text("[" + table + "]\nimage_pull_policy = \"" + name + "\"\n");
      ASSERT_TRUE(r) << r.error().message;
      const Config& c = r->config;
      EXPECT_EQ(table == "docker" ? c.docker.image_pull_policy : c.kubernetes.image_pull_policy,
                want);
      EXPECT_EQ(table == "docker" ? c.kubernetes.image_pull_policy : c.docker.image_pull_policy,
                ImagePullPolicy::kIfNotPresent);
      EXPECT_EQ(to_string(want), name);
    }
    const std::string want_error = ":2: " + table +
                                   ".image_pull_policy: expected one of \"IfNotPresent\", "
                                   "\"Always\", \"Never\", got ";
    // Case matters, as in a pod spec.
    EXPECT_EQ(error_of("[" + table + "]\nimage_pull_policy = \"always\"\n"),
              path_ + want_error + "\"always\"");
    EXPECT_EQ(error_of("[" + table + "]\nimage_pull_policy = 1\n"), path_ + want_error + "1");
  }
}

TEST_F(ConfigTest, KubernetesRateLimitIsValidated) {
  auto r = load_text("[kubernetes]\nqps = 5\nburst = 1\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.kubernetes.qps, 5.0);  // an integer is a number too
  EXPECT_EQ(r->config.kubernetes.burst, 1);
  r = load_text("[kubernetes]\nqps = 0.25\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.kubernetes.qps, 0.25);

  EXPECT_EQ(error_of("[kubernetes]\nqps = 0\n"),
            path_ + ":2: kubernetes.qps: expected a number > 0, got 0");
  EXPECT_EQ(error_of("[kubernetes]\nqps = -1.5\n"),
            path_ + ":2: kubernetes.qps: expected a number > 0, got -1.5");
  EXPECT_EQ(error_of("[kubernetes]\nqps = \"fast\"\n"),
            path_ + ":2: kubernetes.qps: expected a number > 0, got \"fast\"");
  EXPECT_EQ(error_of("[kubernetes]\nqps = nan\n").find(path_ + ":2: kubernetes.qps: "), 0u);
  EXPECT_EQ(error_of("[kubernetes]\nqps = inf\n").find(path_ + ":2: kubernetes.qps: "), 0u);
  EXPECT_EQ(error_of("[kubernetes]\nburst = 0\n"),
            path_ + ":2: kubernetes.burst: expected an integer >= 1, got 0");
  EXPECT_EQ(error_of("[kubernetes]\nburst = 2.5\n"),
            path_ + ":2: kubernetes.burst: expected an integer >= 1, got 2.5");
}

TEST_F(ConfigTest, KubernetesTimeoutsAreValidated) {
  auto r = load_text("[kubernetes]\nrequest_timeout_seconds = 1\npending_timeout_seconds = 10\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.kubernetes.request_timeout_seconds, 1);
  EXPECT_EQ(r->config.kubernetes.pending_timeout_seconds, 10);
  EXPECT_EQ(error_of("[kubernetes]\nrequest_timeout_seconds = 0\n"),
            path_ + ":2: kubernetes.request_timeout_seconds: expected an integer >= 1, got 0");
  EXPECT_EQ(error_of("[kubernetes]\nrequest_timeout_seconds = \"30s\"\n"),
            path_ +
                ":2: kubernetes.request_timeout_seconds: expected an integer >= 1, got \"30s\"");
  EXPECT_EQ(error_of("[kubernetes]\n\npending_timeout_seconds = 9\n"),
            path_ + ":3: kubernetes.pending_timeout_seconds: expected an integer >= 10, got 9");
}

TEST_F(ConfigTest, LeaseNameAndDurationAreValidated) {
  auto r = load_text("[kubernetes]\nlease_name = \"sandboxd-0\"\nlease_duration_seconds = 3\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.kubernetes.lease_name, "sandboxd-0");
  EXPECT_EQ(r->config.kubernetes.lease_duration_seconds, 3);
  const std::string requirement =
      "expected a DNS-1123 name (lower-case letters, digits, '-' and '.', at most 253 "
      "characters, starting and ending with a letter or digit)";
  const std::vector<std::string> bad_names = {"Sandboxd", "-sandboxd", "sandboxd-", "sand_boxd",
                                             "a..b",     ".a",        "",
                                             std::string(254, 'a'), std::string(64, 'a') + ".b"};
  for (const std::string& bad : bad_names) {
    EXPECT_EQ(error_of("[kubernetes]\nlease_name = \"" + bad + "\"\n"),
              path_ + ":2: kubernetes.lease_name: " + requirement + ", got \"" + bad + "\"")
        << bad;
  }
  EXPECT_EQ(error_of("[kubernetes]\nlease_duration_seconds = 2\n"),
            path_ + ":2: kubernetes.lease_duration_seconds: expected an integer >= 3, got 2");
}

TEST_F(ConfigTest, Dns1123NamesFollowTheKubernetesRules) {
  EXPECT_TRUE(is_dns1123_name("a"));
  EXPECT_TRUE(is_dns1123_name("kata-qemu"));
  EXPECT_TRUE(is_dns1123_name("a.b-c.d0"));
  EXPECT_TRUE(is_dns1123_name(std::string(63, 'a') + "." + std::string(63, 'b')));
  EXPECT_FALSE(is_dns1123_name(""));
  EXPECT_FALSE(is_dns1123_name("A"));
  EXPECT_FALSE(is_dns1123_name("a-"));
  EXPECT_FALSE(is_dns1123_name("a.-b"));
  EXPECT_FALSE(is_dns1123_name("a."));
  EXPECT_FALSE(is_dns1123_name("a b"));
  EXPECT_FALSE(is_dns1123_name(std::string(64, 'a')));
}

TEST_F(ConfigTest, SecureRuntimeKeysAreRead) {
  auto r = load_text("[secure_runtime]\ntype = \"kata\"\nk8s_runtime_class = \"kata-qemu\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  EXPECT_EQ(r->config.secure_runtime.type, "kata");
  EXPECT_EQ(r->config.secure_runtime.k8s_runtime_class, "kata-qemu");

  // "" means unset, as for every optional string.
  r = load_text("[secure_runtime]\ntype = \"\"\nk8s_runtime_class = \"\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.secure_runtime.type);
  EXPECT_FALSE(r->config.secure_runtime.k8s_runtime_class);

  EXPECT_EQ(error_of("[secure_runtime]\nk8s_runtime_class = \"Kata_QEMU\"\n"),
            path_ +
                ":2: secure_runtime.k8s_runtime_class: expected a DNS-1123 name (lower-case "
                "letters, digits, '-' and '.', at most 253 characters, starting and ending with a "
                "letter or digit), got \"Kata_QEMU\"");
  EXPECT_EQ(error_of("[secure_runtime]\ntype = 3\n"),
            path_ + ":2: secure_runtime.type: expected a string, got 3");
}

TEST_F(ConfigTest, DockerRuntimeIsReadAndMustBeARuntimeName) {
  auto r = load_text("[secure_runtime]\ntype = \"gvisor\"\ndocker_runtime = \"runsc\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front().message;
  EXPECT_EQ(r->config.secure_runtime.docker_runtime, "runsc");
  r = load_text("[secure_runtime]\ndocker_runtime = \"io.containerd.runc.v2\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.secure_runtime.docker_runtime, "io.containerd.runc.v2");
  // "" = unset (the engine's default runtime).
  r = load_text("[secure_runtime]\ndocker_runtime = \"\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->config.secure_runtime.docker_runtime);

  const std::string requirement =
      ":2: secure_runtime.docker_runtime: expected the name of an OCI runtime registered with "
      "the Docker engine (letters, digits, '.', '_' and '-', at most 128 characters), e.g. "
      "\"runsc\", got ";
  EXPECT_EQ(error_of("[secure_runtime]\ndocker_runtime = 5\n"), path_ + requirement + "5");
  EXPECT_EQ(error_of("[secure_runtime]\ndocker_runtime = \"run sc\"\n"),
            path_ + requirement + "\"run sc\"");
  EXPECT_EQ(error_of("[secure_runtime]\ndocker_runtime = \"/usr/bin/runsc\"\n"),
            path_ + requirement + "\"/usr/bin/runsc\"");
  EXPECT_EQ(error_of("[secure_runtime]\ndocker_runtime = \"" + std::string(129, 'r') + "\"\n"),
            path_ + requirement + "\"" + std::string(129, 'r') + "\"");
  EXPECT_TRUE(is_docker_runtime_name(std::string(128, 'r')));
  EXPECT_FALSE(is_docker_runtime_name(""));

  // Other unknown keys of the table keep the ordinary warning.
  r = load_text("[secure_runtime]\nk8s_runtimeclass = \"x\"\n");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].message,
            path_ +
                ":2: unknown key secure_runtime.k8s_runtimeclass (ignored; did you mean "
                "secure_runtime.k8s_runtime_class?)");
}

TEST_F(ConfigTest, ParseConfigUsesTheGivenSourceName) {
  auto r = parse_config("[server]\nport = -1\n", "inline.toml", env());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "inline.toml:2: server.port: expected an integer in 0..65535, got -1");
}

}  // namespace
}  // namespace sbx

namespace sbx {
namespace {

class ProxyConfigTest : public ConfigTest {};

TEST_F(ProxyConfigTest, ProxyKeysAreReadWithTheirBounds) {
  auto d = load_text("");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->config.proxy.enabled);
  EXPECT_FALSE(d->config.proxy.signing_secret);
  EXPECT_TRUE(d->config.proxy.connect_in_netns);
  auto r = load_text(
      "[proxy]\nenabled = false\nthreads = 3\nmax_connections = 10\nconnect_timeout_seconds = 2\n"
      "idle_timeout_seconds = 30\nbuffer_bytes = 8192\nmax_idle_upstream = 0\n"
      "forward_credentials = true\nsigning_secret = \"0123456789abcdef\"\n"
      "connect_in_netns = false\n");
  ASSERT_TRUE(r) << r.error().message;
  const ProxyConfig& p = r->config.proxy;
  EXPECT_FALSE(p.enabled);
  EXPECT_EQ(p.threads, 3);
  EXPECT_EQ(p.max_connections, 10);
  EXPECT_EQ(p.connect_timeout_seconds, 2);
  EXPECT_EQ(p.idle_timeout_seconds, 30);
  EXPECT_EQ(p.buffer_bytes, 8192);
  EXPECT_EQ(p.max_idle_upstream, 0);
  EXPECT_TRUE(p.forward_credentials);
  EXPECT_FALSE(p.connect_in_netns);
  EXPECT_EQ(p.signing_secret, "0123456789abcdef");
  for (const char* bad : {"threads = 0", "max_connections = 0", "buffer_bytes = 100",
                          "connect_timeout_seconds = 301", "idle_timeout_seconds = 0",
                          "max_idle_upstream = -1", "signing_secret = \"short\"",
                          "connect_in_netns = 1"}) {
    auto e = load_text(std::string("[proxy]\n") + bad + "\n");
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().field.rfind("proxy.", 0), 0u) << bad << ": " << e.error().field;
  }
}

TEST_F(ProxyConfigTest, SigningSecretComesFromTheEnvironmentToo) {
  auto r = load_text("[proxy]\nsigning_secret = \"file-secret-0123456\"\n",
                     {{"SANDBOXD_PROXY_SIGNING_SECRET", "env-secret-0123456789"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.proxy.signing_secret, "env-secret-0123456789");
  auto bad = load_text("", {{"SANDBOXD_PROXY_SIGNING_SECRET", "short"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "proxy.signing_secret");
  EXPECT_NE(bad.error().message.find("SANDBOXD_PROXY_SIGNING_SECRET"), std::string::npos);
}

}  // namespace
}  // namespace sbx
