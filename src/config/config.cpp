#include "src/config/config.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "src/config/config_environment.h"
#include "src/config/config_reader.h"

namespace sbx {

using namespace config_internal;

std::string_view to_string(RuntimeType v) {
  return v == RuntimeType::kDocker ? "docker" : "kubernetes";
}

std::string_view to_string(WorkloadProvider v) {
  switch (v) {
    case WorkloadProvider::kPod:
      return "pod";
    case WorkloadProvider::kBatchSandbox:
      return "batchsandbox";
    case WorkloadProvider::kAgentSandbox:
      return "agent-sandbox";
  }
  return "pod";
}

std::string_view to_string(IngressMode v) {
  return v == IngressMode::kDirect ? "direct" : "gateway";
}

std::string_view to_string(GatewayRouteMode v) {
  switch (v) {
    case GatewayRouteMode::kWildcard:
      return "wildcard";
    case GatewayRouteMode::kHeader:
      return "header";
    case GatewayRouteMode::kUri:
      return "uri";
  }
  return "wildcard";
}

std::string_view to_string(EgressMode v) {
  return v == EgressMode::kDnsNft ? "dns+nft" : "dns";
}

std::string_view to_string(ImagePullPolicy v) {
  switch (v) {
    case ImagePullPolicy::kIfNotPresent:
      return "IfNotPresent";
    case ImagePullPolicy::kAlways:
      return "Always";
    case ImagePullPolicy::kNever:
      return "Never";
  }
  return "IfNotPresent";
}

bool is_dns1123_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] != '.') {
      const char c = s[i];
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-') return false;
      continue;
    }
    const std::string_view label = s.substr(label_start, i - label_start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    label_start = i + 1;
  }
  return true;
}

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

constexpr int64_t kMaxWaitMs = 3'600'000;
constexpr std::string_view kDns1123Requirement =
    "expected a DNS-1123 name (lower-case letters, digits, '-' and '.', at most 253 "
    "characters, starting and ending with a letter or digit)";

// Reads every key of `root` (nullptr: none, the built-in defaults) into `c`, validates the
// combinations, then applies the environment (config_environment.h).
void build(Ctx& ctx, const toml::table* root, const EnvMap& env, Config& c) {
  Section top(ctx, root, "");

  Section server = top.table("server");
  server.string("host", c.server.host);
  server.integer("port", 0, 65535, c.server.port);  // 0: any free port (tests)
  server.log_level("log_level", c.server.log_level);
  server.optional_string("api_key", c.server.api_key);
  server.optional_string("eip", c.server.eip);
  server.optional_integer("max_sandbox_timeout_seconds", 60, kNoMax,
                          c.server.max_sandbox_timeout_seconds);
  server.integer("timeout_keep_alive", 1, kNoMax, c.server.timeout_keep_alive);
  int threads = c.server.threads;
  server.integer("threads", 0, 4096, threads);
  c.server.threads = threads == 0 ? default_thread_count() : threads;
  server.integer("max_body_bytes", 1, kNoMax, c.server.max_body_bytes);
  server.integer("transition_wait_ms", 0, kMaxWaitMs, c.server.transition_wait_ms);
  server.integer("create_wait_ms", 0, kMaxWaitMs, c.server.create_wait_ms);
  server.boolean("metrics_auth", c.server.metrics_auth);
  server.boolean("insecure_server", c.server.insecure_server);
  server.integer("max_connections", 1, 1'000'000, c.server.max_connections);
  server.integer("max_parked_requests", 0, 10'000'000, c.server.max_parked_requests);
  server.integer("max_event_streams", 0, 100'000, c.server.max_event_streams);
  server.integer("event_stream_buffer_bytes", 4096, kNoMax, c.server.event_stream_buffer_bytes);
  server.integer("max_queued_mutations", 1, 10'000'000, c.server.max_queued_mutations);
  server.integer("header_timeout_seconds", 1, 3600, c.server.header_timeout_seconds);
  server.integer("body_timeout_seconds", 1, 3600, c.server.body_timeout_seconds);
  const int metrics_auth_line = server.line_of_key("metrics_auth");
  server.finish();

  Section runtime = top.table("runtime");
  runtime.choice("type",
                 {{"docker", RuntimeType::kDocker}, {"kubernetes", RuntimeType::kKubernetes}},
                 c.runtime.type);
  runtime.string("execd_image", c.runtime.execd_image);
  runtime.finish();

  Section docker = top.table("docker");
  docker.checked_string("host", c.docker.host, is_docker_host, kDockerHostRequirement);
  docker.boolean("tls_verify", c.docker.tls_verify);
  docker.string("cert_path", c.docker.cert_path);
  docker.string("network_mode", c.docker.network_mode);
  docker.optional_string("host_ip", c.docker.host_ip);
  docker.integer("api_timeout", 1, kNoMax, c.docker.api_timeout);
  docker.string_list("drop_capabilities", c.docker.drop_capabilities);
  docker.boolean("no_new_privileges", c.docker.no_new_privileges);
  docker.optional_string("apparmor_profile", c.docker.apparmor_profile);
  docker.optional_string("seccomp_profile", c.docker.seccomp_profile);
  docker.integer("pids_limit", -1, kNoMax, c.docker.pids_limit);
  docker.checked_string("port_bind_ip", c.docker.port_bind_ip, is_ip_address,
                        "expected an IPv4 or IPv6 address");
  std::string port_range;
  docker.checked_string(
      "port_range", port_range, [](std::string_view s) { return parse_port_range(s).has_value(); },
      "expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535");
  if (auto range = parse_port_range(port_range)) {
    c.docker.port_range_low = range->first;
    c.docker.port_range_high = range->second;
  }
  docker.finish();

  Section kubernetes = top.table("kubernetes");
  kubernetes.optional_string("kubeconfig_path", c.kubernetes.kubeconfig_path);
  const int kubeconfig_line = kubernetes.line_of_key("kubeconfig_path");
  kubernetes.string("namespace", c.kubernetes.namespace_);
  kubernetes.choice(
      "workload_provider",
      {{"pod", WorkloadProvider::kPod},
       {"batchsandbox", WorkloadProvider::kBatchSandbox},
       {"agent-sandbox", WorkloadProvider::kAgentSandbox}},
      c.kubernetes.workload_provider);
  kubernetes.choice("image_pull_policy",
                    {{"IfNotPresent", ImagePullPolicy::kIfNotPresent},
                     {"Always", ImagePullPolicy::kAlways},
                     {"Never", ImagePullPolicy::kNever}},
                    c.kubernetes.image_pull_policy);
  kubernetes.positive_number("qps", c.kubernetes.qps);
  kubernetes.integer("burst", 1, kNoMax, c.kubernetes.burst);
  kubernetes.integer("request_timeout_seconds", 1, kNoMax, c.kubernetes.request_timeout_seconds);
  kubernetes.integer("pending_timeout_seconds", 10, kNoMax, c.kubernetes.pending_timeout_seconds);
  kubernetes.checked_string("lease_name", c.kubernetes.lease_name, is_dns1123_name,
                            kDns1123Requirement);
  kubernetes.integer("lease_duration_seconds", 3, kNoMax, c.kubernetes.lease_duration_seconds);
  kubernetes.finish();

  Section ingress = top.table("ingress");
  ingress.choice("mode", {{"direct", IngressMode::kDirect}, {"gateway", IngressMode::kGateway}},
                 c.ingress.mode);
  Section gateway = ingress.table("gateway");
  gateway.string("address", c.ingress.gateway_address);
  Section route = gateway.table("route");
  GatewayRouteMode route_mode = GatewayRouteMode::kWildcard;
  route.choice("mode",
               {{"wildcard", GatewayRouteMode::kWildcard},
                {"header", GatewayRouteMode::kHeader},
                {"uri", GatewayRouteMode::kUri}},
               route_mode);
  if (route.has("mode") && !ctx.error) c.ingress.gateway_route_mode = route_mode;
  route.finish();
  gateway.finish();
  if (!ctx.error && c.ingress.mode == IngressMode::kGateway) {
    const int mode_line = ingress.line_of_key("mode");
    if (c.ingress.gateway_address.empty()) {
      ctx.fail(mode_line, "ingress.gateway.address", "required when ingress.mode = \"gateway\"");
    } else if (!c.ingress.gateway_route_mode) {
      ctx.fail(mode_line, "ingress.gateway.route.mode",
               "required when ingress.mode = \"gateway\" (one of \"wildcard\", \"header\", "
               "\"uri\")");
    }
  } else if (!ctx.error && gateway.present()) {
    ctx.warn(ingress.line_of_key("gateway"), "ingress.gateway",
             "ingress.gateway is ignored because ingress.mode is \"direct\"");
  }
  ingress.finish();

  Section egress = top.table("egress");
  egress.optional_string("image", c.egress.image);
  egress.choice("mode", {{"dns", EgressMode::kDns}, {"dns+nft", EgressMode::kDnsNft}},
                c.egress.mode);
  egress.boolean("disable_ipv6", c.egress.disable_ipv6);
  egress.positive_number("readiness_timeout_seconds", c.egress.readiness_timeout_seconds);
  if (!ctx.error && c.egress.readiness_timeout_seconds > 3600) {
    ctx.fail(egress.line_of_key("readiness_timeout_seconds"), "egress.readiness_timeout_seconds",
             "expected a number > 0 and <= 3600");
  }
  egress.finish();

  Section secure_runtime = top.table("secure_runtime");
  secure_runtime.optional_string("type", c.secure_runtime.type);
  secure_runtime.optional_checked_string("k8s_runtime_class", c.secure_runtime.k8s_runtime_class,
                                         is_dns1123_name, kDns1123Requirement);
  secure_runtime.not_honoured("docker_runtime",
                              "sandbox containers run with Docker's default runtime");
  secure_runtime.finish();

  Section storage = top.table("storage");
  storage.string_list("allowed_host_paths", c.storage.allowed_host_paths, is_absolute_path,
                      "expected an array of absolute paths");
  storage.finish();

  Section store = top.table("store");
  store.string("path", c.store.path);
  const int store_path_line = store.line_of_key("path");
  store.boolean("sync", c.store.sync);
  store.integer("retention_days", 0, kNoMax, c.store.retention_days);
  // Accepted but never acted on, it would promise a deletion that does not happen (a user
  // may set it for privacy): refuse it until pruning exists.
  if (c.store.retention_days > 0) {
    ctx.fail(store.line_of_key("retention_days"), "store.retention_days",
             "pruning old events is not implemented in this version, every event is kept; set "
             "0 or remove the key");
  }
  store.finish();

  Section workers = top.table("workers");
  workers.integer("provisioners", 1, 1024, c.workers.provisioners);
  workers.integer("reconcile_interval_seconds", 1, kNoMax, c.workers.reconcile_interval_seconds);
  workers.integer("pending_failure_ttl_seconds", 0, kNoMax, c.workers.pending_failure_ttl_seconds);
  workers.finish();

  top.finish();
  if (ctx.error) return;

  apply_environment(ctx, env, c,
                    {.store_path = store_path_line, .kubeconfig_path = kubeconfig_line});
  if (ctx.error) return;

  if (c.server.metrics_auth && !c.server.api_key) {
    ctx.warn(metrics_auth_line, "server.metrics_auth",
             "server.metrics_auth has no effect without server.api_key");
  }
}

Result<LoadedConfig> load_file(const std::string& path, std::string_view origin,
                               const EnvMap& env) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return fail(ErrorCode::kNotFound,
                path + ": config file not found (from " + std::string(origin) + ")");
  }
  if (std::filesystem::is_directory(status)) {
    return fail(ErrorCode::kInvalidArgument,
                path + ": is a directory, not a config file (from " + std::string(origin) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return fail(ErrorCode::kUnavailable,
                path + ": cannot read config file: " + std::strerror(errno));
  }
  return parse_config(text.str(), path, env);
}

}  // namespace

Result<LoadedConfig> parse_config(std::string_view toml_text, std::string_view source_name,
                                  const EnvMap& env) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return fail(ErrorCode::kInvalidArgument,
                std::string(source_name) + ":" + std::to_string(b.line) + ":" +
                    std::to_string(b.column) + ": " + std::string(e.description()));
  }
  LoadedConfig out;
  out.source = std::string(source_name);
  Ctx ctx{std::string(source_name), out.warnings, std::nullopt};
  build(ctx, &root, env, out.config);
  if (ctx.error) return std::unexpected(*ctx.error);
  return out;
}

Result<Config> default_config(const EnvMap& env) {
  std::vector<ConfigWarning> warnings;
  Ctx ctx{std::string(kBuiltinDefaultsSource), warnings, std::nullopt};
  Config c;
  build(ctx, nullptr, env, c);
  if (ctx.error) return std::unexpected(*ctx.error);
  return c;
}

Result<LoadedConfig> load_config(const LoadOptions& options) {
  const EnvMap& env = options.env;
  auto expanded = [&](const std::string& p) { return expand_home(p, env).value_or(p); };
  if (options.explicit_path) {
    return load_file(expanded(*options.explicit_path), "--config", env);
  }
  if (std::string p = env_value(env, "SANDBOX_CONFIG_PATH"); !p.empty()) {
    return load_file(expanded(p), "SANDBOX_CONFIG_PATH", env);
  }
  if (auto home = home_dir(env)) {
    std::string p = *home + "/.sandbox.toml";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return load_file(p, "~/.sandbox.toml", env);
  }
  auto c = default_config(env);
  if (!c) return std::unexpected(c.error());
  LoadedConfig out;
  out.config = std::move(*c);
  out.source = std::string(kBuiltinDefaultsSource);
  return out;
}

}  // namespace sbx
