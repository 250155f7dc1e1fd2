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

bool is_docker_runtime_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
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
constexpr std::string_view kDockerRuntimeRequirement =
    "expected the name of an OCI runtime registered with the Docker engine (letters, digits, "
    "'.', '_' and '-', at most 128 characters), e.g. \"runsc\"";

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
  const bool server_log_level_set = server.has("log_level");
  server.finish();

  // [log] is the reference server's table: its `level` is our server.log_level. When both
  // are set and disagree, server.log_level wins and the warning says so.
  Section log = top.table("log");
  std::string log_level = c.server.log_level;
  log.log_level("level", log_level);
  if (log.has("level") && !ctx.error) {
    if (!server_log_level_set) {
      c.server.log_level = log_level;
    } else if (log_level != c.server.log_level) {
      ctx.warn(log.line_of_key("level"), "log.level",
               "log.level = " + quote(log_level) + " is overridden by server.log_level = " +
                   quote(c.server.log_level) + " (both set; remove one)");
    }
  }
  log.finish();

  // [proxy]: the server proxy (the reference's table has only resolve_internal).
  Section proxy = top.table("proxy");
  proxy.boolean("enabled", c.proxy.enabled);
  proxy.integer("threads", 1, 64, c.proxy.threads);
  proxy.integer("max_connections", 1, 65536, c.proxy.max_connections);
  proxy.integer("connect_timeout_seconds", 1, 300, c.proxy.connect_timeout_seconds);
  proxy.integer("idle_timeout_seconds", 1, 86400, c.proxy.idle_timeout_seconds);
  proxy.integer("buffer_bytes", 4096, 16 * 1024 * 1024, c.proxy.buffer_bytes);
  proxy.integer("max_idle_upstream", 0, 4096, c.proxy.max_idle_upstream);
  proxy.boolean("forward_credentials", c.proxy.forward_credentials);
  proxy.boolean("connect_in_netns", c.proxy.connect_in_netns);
  proxy.optional_checked_string("signing_secret", c.proxy.signing_secret, is_signing_secret,
                                kSigningSecretRequirement);
  proxy.not_honoured("resolve_internal",
                     "the proxy always connects to the sandbox's published host port on "
                     "loopback (Docker) or its pod address (Kubernetes)");
  proxy.finish();

  // [pools]: warm pools (ours).
  Section pools = top.table("pools");
  pools.boolean("enabled", c.pools.enabled);
  pools.integer("max_members", 1, 100000, c.pools.max_members);
  pools.integer("max_pools", 1, 10000, c.pools.max_pools);
  pools.integer("keeper_interval_ms", 50, 60000, c.pools.keeper_interval_ms);
  pools.finish();

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
  docker.boolean("adopt_reference_sandboxes", c.docker.adopt_reference_sandboxes);
  docker.optional_string("apparmor_profile", c.docker.apparmor_profile);
  docker.optional_string("seccomp_profile", c.docker.seccomp_profile);
  docker.integer("pids_limit", -1, kNoMax, c.docker.pids_limit);
  docker.choice("image_pull_policy",
                {{"IfNotPresent", ImagePullPolicy::kIfNotPresent},
                 {"Always", ImagePullPolicy::kAlways},
                 {"Never", ImagePullPolicy::kNever}},
                c.docker.image_pull_policy);
  docker.string_table("sandbox_env", c.docker.sandbox_env, is_env_name,
                      "expected an environment variable name (non-empty, without '=' or NUL)");
  docker.string_list("sandbox_binds", c.docker.sandbox_binds, is_docker_bind,
                     "expected Docker binds \"SRC:DST[:ro|:rw]\" with absolute paths without "
                     "'..'");
  docker.checked_string("port_bind_ip", c.docker.port_bind_ip, is_ip_address,
                        "expected an IPv4 or IPv6 address");
  // docker.publish_host is the reference server's name for port_bind_ip.
  std::string publish_host;
  docker.checked_string("publish_host", publish_host, is_ip_address,
                        "expected an IPv4 or IPv6 address");
  if (!publish_host.empty() && !ctx.error) {
    if (docker.has("port_bind_ip") && publish_host != c.docker.port_bind_ip) {
      ctx.fail(docker.line_of_key("publish_host"), "docker.publish_host",
               "docker.publish_host = " + quote(publish_host) +
                   " disagrees with docker.port_bind_ip = " + quote(c.docker.port_bind_ip) +
                   " (the same setting under two names; keep one)");
    } else {
      c.docker.port_bind_ip = publish_host;
    }
  }
  std::string port_range;
  docker.checked_string(
      "port_range", port_range, [](std::string_view s) { return parse_port_range(s).has_value(); },
      "expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535");
  if (auto range = parse_port_range(port_range)) {
    c.docker.port_range_low = range->first;
    c.docker.port_range_high = range->second;
  }
  // docker.port_range_min / port_range_max are the reference server's names for the two
  // ends of docker.port_range; one form only.
  int range_min = c.docker.port_range_low;
  int range_max = c.docker.port_range_high;
  docker.integer("port_range_min", 1, 65535, range_min);
  docker.integer("port_range_max", 1, 65535, range_max);
  if (!ctx.error && (docker.has("port_range_min") || docker.has("port_range_max"))) {
    const int line = docker.line_of_key(docker.has("port_range_min") ? "port_range_min"
                                                                     : "port_range_max");
    if (docker.has("port_range")) {
      ctx.fail(line, "docker.port_range_min",
               "set either docker.port_range or docker.port_range_min/port_range_max, not both");
    } else if (range_min > range_max) {
      ctx.fail(line, "docker.port_range_min",
               "docker.port_range_min (" + std::to_string(range_min) +
                   ") is above docker.port_range_max (" + std::to_string(range_max) + ")");
    } else {
      c.docker.port_range_low = range_min;
      c.docker.port_range_high = range_max;
    }
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
  // The reference server's Kubernetes keys that have no counterpart here, each with why.
  kubernetes.not_honoured("informer_resync_seconds",
                          "the informer never resyncs on a timer; it relists when a watch "
                          "expires (410) or breaks, and the reconciler passes every "
                          "workers.reconcile_interval_seconds");
  kubernetes.not_honoured("informer_watch_timeout_seconds",
                          "watches stay open with bookmarks until the API server ends them");
  kubernetes.not_honoured("batchsandbox_template_file",
                          "the BatchSandbox pod template is sandboxd's own (execd init "
                          "container, hardening, labels)");
  kubernetes.not_honoured("insecure_skip_tls_verify",
                          "the API server's certificate is always verified against the "
                          "kubeconfig's CA");
  for (const char* k : {"read_qps", "read_burst", "write_qps", "write_burst"}) {
    kubernetes.not_honoured(k, "one client-side limit covers reads and writes: kubernetes.qps "
                               "and kubernetes.burst");
  }
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
  // The reference server's other egress keys, each with why it has no effect here.
  egress.not_honoured("otlp_endpoint", "the sidecar's metrics are not exported by this version");
  egress.not_honoured("upstream_proxy",
                      "egress is not chained through an upstream proxy by this version");
  egress.not_honoured("requests", "the egress sidecar runs without resource requests");
  egress.not_honoured("limits", "the egress sidecar runs without resource limits");
  egress.finish();

  Section secure_runtime = top.table("secure_runtime");
  secure_runtime.optional_string("type", c.secure_runtime.type);
  secure_runtime.optional_checked_string("k8s_runtime_class", c.secure_runtime.k8s_runtime_class,
                                         is_dns1123_name, kDns1123Requirement);
  secure_runtime.optional_checked_string("docker_runtime", c.secure_runtime.docker_runtime,
                                         is_docker_runtime_name, kDockerRuntimeRequirement);
  secure_runtime.finish();

  Section storage = top.table("storage");
  storage.string_list("allowed_host_paths", c.storage.allowed_host_paths, is_absolute_path,
                      "expected an array of absolute paths");
  storage.not_honoured("volume_default_size",
                       "sandboxd never creates Kubernetes PersistentVolumeClaims; a pvc volume "
                       "names a claim that exists");
  storage.not_honoured("ossfs_mount_root", "ossfs volumes are not supported by this server");
  storage.finish();

  // [renew_intent]: renew a sandbox's expiry when it is accessed through the server proxy.
  Section renew_intent = top.table("renew_intent");
  renew_intent.boolean("enabled", c.renew_intent.enabled);
  renew_intent.integer("min_interval_seconds", 1, kNoMax, c.renew_intent.min_interval_seconds);
  renew_intent.not_honoured("redis", "renew intents are not queued; sandboxd has one process");
  if (!ctx.error && c.renew_intent.enabled && !c.proxy.enabled) {
    ctx.warn(renew_intent.line_of_key("enabled"), "renew_intent.enabled",
             "renew_intent.enabled has no effect with proxy.enabled = false: renewal on access "
             "happens through the server proxy");
  }
  renew_intent.finish();

  // [store] is also the reference server's table, for its SQLite or PostgreSQL database.
  // `type` tells the two apart: "rocksdb" (or absent) is ours; any other type is the
  // reference's, whose `path` names its database file and is never used for our store.
  Section store = top.table("store");
  std::string store_type = "rocksdb";
  store.string("type", store_type);
  const bool foreign_store = store.has("type") && store_type != "rocksdb";
  if (foreign_store && !ctx.error) {
    // Where the store will be: store.path is at its default here (env overrides come
    // later, and none of them moves the store).
    const std::string our_path = expand_home(c.store.path, env).value_or(c.store.path);
    ctx.warn(store.line_of_key("type"), "store.type",
             "store.type = " + quote(store_type) +
                 " is the reference server's database; sandboxd keeps its own event log "
                 "(RocksDB) at " + our_path +
                 (store.has("path") ? " and does not use store.path" : "") +
                 " (set store.type = \"rocksdb\" with store.path to choose where)");
    store.not_honoured("postgresql", "sandboxd keeps its log in RocksDB");
    std::string ignored_path;
    store.string("path", ignored_path);  // known, validated as a string, not used
  } else {
    store.string("path", c.store.path);
  }
  const int store_path_line = foreign_store ? 0 : store.line_of_key("path");
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
