// Config: the validated configuration of sandboxd, and how it is loaded from TOML.
//
// Every key of shared/design/CONFIG.md is a field below, with its default as the member
// initializer. Field names are the TOML key names (`server.port` -> `config.server.port`),
// except `docker.port_range` ("LOW-HIGH"), parsed into `port_range_low`/`port_range_high`,
// and `ingress.gateway.address` / `ingress.gateway.route.mode`, which are
// `ingress.gateway_address` / `ingress.gateway_route_mode`. Keys that are ours beyond
// CONFIG.md: `server.create_wait_ms` (how long POST /sandboxes waits for the outcome, 30000;
// `server.transition_wait_ms` is the wait of every other mutation), `docker.host` (the
// Docker endpoint, env DOCKER_HOST), `workers.pending_failure_ttl_seconds` (env
// PENDING_FAILURE_TTL). `server.threads = 0` means one per core. An empty string for an
// optional string key (api_key = "") means unset.
//
// Lookup order of load_config():
//   1. LoadOptions::explicit_path (`--config PATH`): must exist, else kNotFound.
//   2. env SANDBOX_CONFIG_PATH (when non-empty): must exist, else kNotFound.
//   3. $HOME/.sandbox.toml, if that file exists.
//   4. Built-in defaults (LoadedConfig::source == kBuiltinDefaultsSource).
// Then the environment overrides the file: OPENSANDBOX_SERVER_API_KEY -> server.api_key
// (when non-empty), DOCKER_HOST -> docker.host, PENDING_FAILURE_TTL ->
// workers.pending_failure_ttl_seconds. `~` at the start of store.path and
// kubernetes.kubeconfig_path is expanded with $HOME (from LoadOptions::env).
//
// Errors (ErrorCode::kInvalidArgument unless noted; Error::field names the key):
//   wrong type, out of range, bad enum value, inconsistent combination:
//     "/etc/x.toml:7: server.port: expected an integer in 1..65535, got \"abc\""
//   TOML syntax error (file:line:column, then toml++'s description):
//     "/etc/x.toml:3:8: Error while parsing key-value pair: expected value, saw '\n'"
//   a bad environment override:
//     "env PENDING_FAILURE_TTL: workers.pending_failure_ttl_seconds: expected an integer >= 0,
//     got \"soon\""
//   explicit or SANDBOX_CONFIG_PATH file missing (kNotFound) or unreadable (kUnavailable):
//     "/etc/x.toml: config file not found (from --config)"; a directory: kInvalidArgument.
// The reference server's files load too (issue 12): its names are read as ours
// (`log.level` = server.log_level, server's wins when both are set; `docker.publish_host` =
// port_bind_ip; `docker.port_range_min/max` = the ends of docker.port_range, one form
// only), `[renew_intent]` and `[proxy]` are ours too, and what has no counterpart here
// (`proxy.resolve_internal`, the reference's storage and Kubernetes tuning keys,
// `renew_intent.redis`) warns with the reason. Its `[store]` (`type = "sqlite"|"postgresql"`, `path` = its database file) is
// recognised by `store.type`: any type but "rocksdb" leaves store.path at our default and
// warns where our store is. (The store itself never opens an existing file as a store.)
// Unknown keys and unknown tables are not errors: each becomes a ConfigWarning
// ("/etc/x.toml:4: unknown key server.prot (ignored; did you mean server.port?)").
// load_config() does not log; the caller logs the source and the warnings.
//
// Thread-safety: everything here is a value or a pure function of its arguments (plus the
// file system); load_config() may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "events/result.h"

namespace sbx {

enum class RuntimeType { kDocker, kKubernetes };
enum class WorkloadProvider { kPod, kBatchSandbox, kAgentSandbox };
enum class IngressMode { kDirect, kGateway };
enum class GatewayRouteMode { kWildcard, kHeader, kUri };
enum class ImagePullPolicy { kIfNotPresent, kAlways, kNever };

// The TOML spelling: "docker", "kubernetes", "pod", "batchsandbox", "agent-sandbox",
// "direct", "gateway", "wildcard", "header", "uri", "IfNotPresent", "Always", "Never".
std::string_view to_string(RuntimeType v);
std::string_view to_string(WorkloadProvider v);
std::string_view to_string(IngressMode v);
std::string_view to_string(GatewayRouteMode v);
std::string_view to_string(ImagePullPolicy v);

// A DNS-1123 label-or-subdomain name as Kubernetes object names require: 1..253
// characters of lower-case alphanumerics, '-' and '.', starting and ending with an
// alphanumeric, each '.'-separated label 1..63 characters not starting or ending with '-'.
bool is_dns1123_name(std::string_view s);

// A name Docker could have registered an OCI runtime under (secure_runtime.docker_runtime):
// 1..128 characters of letters, digits, '.', '_' and '-' ("runsc", "io.containerd.runc.v2").
// Whether the engine has it is checked at startup (src/server), not here.
bool is_docker_runtime_name(std::string_view s);

// std::thread::hardware_concurrency(), at least 1.
int default_thread_count();

inline constexpr std::string_view kDefaultStorePath = "~/.sandboxd/data";
inline constexpr std::string_view kBuiltinDefaultsSource = "built-in defaults";

struct ServerConfig {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0..65535; 0 = any free port (the log line says which)
  // One of DEBUG, INFO, WARNING, ERROR, CRITICAL; read case-insensitively, stored upper case.
  std::string log_level = "INFO";
  std::optional<std::string> api_key;                  // unset (or "") = auth off
  std::optional<std::string> eip;                      // host used in endpoint strings
  std::optional<int64_t> max_sandbox_timeout_seconds;  // >= 60; unset = no cap
  int64_t timeout_keep_alive = 30;                     // seconds, >= 1
  int threads = default_thread_count();                // >= 1 (0 in the file = cores)
  int64_t max_body_bytes = 1048576;                    // >= 1
  int64_t transition_wait_ms = 10000;                  // 0..3600000; 0 = answer at once
  int64_t create_wait_ms = 30000;                      // 0..3600000
  bool metrics_auth = false;                           // true: /metrics needs the API key too
  // Without api_key the API listens on loopback only, whatever `host` says, unless this is
  // true (or env OPENSANDBOX_INSECURE_SERVER=YES, the reference server's switch).
  bool insecure_server = false;
  // Caps on what clients can hold (issue 10 item 7); beyond each, 503 SANDBOX::SERVER_BUSY
  // (or, for parked requests, an answer without waiting).
  int64_t max_connections = 1024;                 // open client connections
  int64_t max_parked_requests = 4096;             // requests waiting for an outcome
  int64_t max_event_streams = 256;                // GET /events subscribers
  int64_t event_stream_buffer_bytes = 1 << 20;    // unsent bytes before a slow stream is cut
  int64_t max_queued_mutations = 4096;            // mutations waiting for a thread
  int64_t header_timeout_seconds = 10;            // request line + headers must arrive within
  int64_t body_timeout_seconds = 30;              // the body, once the headers are in
  bool operator==(const ServerConfig&) const = default;
};

struct RuntimeConfig {
  RuntimeType type = RuntimeType::kDocker;
  std::string execd_image = "opensandbox/execd:v1.0.18";
  bool operator==(const RuntimeConfig&) const = default;
};

struct DockerConfig {
  std::string host = "unix:///var/run/docker.sock";  // unix://PATH or tcp://HOST:PORT
  std::string network_mode = "host";  // "host", "bridge" or a user network; non-empty
  std::optional<std::string> host_ip;
  int64_t api_timeout = 180;  // seconds, >= 1
  std::vector<std::string> drop_capabilities = {"AUDIT_WRITE", "MKNOD",     "NET_ADMIN",
                                                "NET_RAW",     "SYS_ADMIN", "SYS_MODULE",
                                                "SYS_PTRACE",  "SYS_TIME",  "SYS_TTY_CONFIG"};
  bool no_new_privileges = true;
  std::optional<std::string> apparmor_profile;
  std::optional<std::string> seccomp_profile;
  int64_t pids_limit = 4096;             // >= -1; 0 or -1 = unlimited
  std::string port_bind_ip = "0.0.0.0";  // an IPv4 or IPv6 address
  // When a sandbox's image is pulled (the Kubernetes names; the reference server has them
  // only for kubernetes.image_pull_policy). The image of execd is not affected.
  //   IfNotPresent  pull only when the engine lacks the image. Once any create has pulled
  //                 it, creates with wrong or no credentials run it too.
  //   Always        every create asks the registry for the image's manifest with the
  //                 request's credentials (the engine's distribution inspect): refused
  //                 credentials fail the create (DOCKER::IMAGE_PULL_UNAUTHORIZED) even when
  //                 the image is present; pulled only when the engine lacks that digest.
  //                 Every sandbox image must then come from a registry the engine reaches.
  //   Never         never pull; an absent image fails (DOCKER::IMAGE_NOT_FOUND).
  ImagePullPolicy image_pull_policy = ImagePullPolicy::kIfNotPresent;
  int port_range_low = 40000;            // from docker.port_range "LOW-HIGH",
  int port_range_high = 60000;           //   1 <= LOW <= HIGH <= 65535
  // A tcp:// host over TLS, as the docker CLI: env DOCKER_TLS_VERIFY (non-empty) and
  // DOCKER_CERT_PATH (default ~/.docker) override; ca.pem, cert.pem, key.pem in cert_path.
  bool tls_verify = false;
  std::string cert_path = "~/.docker";
  // At startup, record the reference server's running/paused sandbox containers on this
  // engine (labelled opensandbox.io/id) as adopted sandboxes (src/service/adoption.h).
  bool adopt_reference_sandboxes = true;
  // --- sandbox-wide env and binds (issue 12) ---
  // Set in every sandbox on Docker; operator policy: sandbox_env wins over the request's
  // env for the same name; sandbox_binds ("SRC:DST[:ro|:rw]", absolute, no "..") are not
  // subject to storage.allowed_host_paths.
  std::map<std::string, std::string> sandbox_env;
  std::vector<std::string> sandbox_binds;
  bool operator==(const DockerConfig&) const = default;
};

struct KubernetesConfig {
  std::optional<std::string> kubeconfig_path;  // unset = in-cluster credentials
  std::string namespace_ = "default";          // TOML key: kubernetes.namespace
  WorkloadProvider workload_provider = WorkloadProvider::kPod;
  // imagePullPolicy of sandbox containers (the reference's key).
  ImagePullPolicy image_pull_policy = ImagePullPolicy::kIfNotPresent;
  // Client-side rate limit of API server requests: `qps` sustained (> 0, an integer or a
  // float in the file), bursts of up to `burst` (>= 1).
  double qps = 50;
  int64_t burst = 100;
  int64_t request_timeout_seconds = 30;  // one API server request, >= 1
  // A pod Pending longer than this fails its sandbox with the pod's reason; >= 10.
  int64_t pending_timeout_seconds = 300;
  // The coordination.k8s.io/v1 Lease that fences a second sandboxd on the namespace:
  // a DNS-1123 name, and how long a holder that stops renewing keeps it (>= 3).
  std::string lease_name = "sandboxd";
  int64_t lease_duration_seconds = 15;
  bool operator==(const KubernetesConfig&) const = default;
};

struct IngressConfig {
  IngressMode mode = IngressMode::kDirect;
  // Required (non-empty / set) when mode == kGateway; ignored (with a warning) otherwise.
  std::string gateway_address;                         // ingress.gateway.address
  std::optional<GatewayRouteMode> gateway_route_mode;  // ingress.gateway.route.mode
  bool operator==(const IngressConfig&) const = default;
};

enum class EgressMode { kDns, kDnsNft };
std::string_view to_string(EgressMode mode);  // "dns", "dns+nft"

struct EgressConfig {
  std::optional<std::string> image;  // unset = networkPolicy rejected
  // egress.mode: how the sidecar enforces the policy (OPENSANDBOX_EGRESS_MODE): DNS
  // filtering only, or DNS plus nftables rules on the resolved addresses.
  EgressMode mode = EgressMode::kDns;
  // egress.disable_ipv6: the sidecar (and so the sandbox sharing its network namespace)
  // gets net.ipv6.conf.{all,default,lo}.disable_ipv6=1, so IPv6 cannot bypass the policy.
  bool disable_ipv6 = true;
  // egress.readiness_timeout_seconds (> 0, <= 3600): how long a create waits for the sidecar's
  // /healthz before it fails with DOCKER::EGRESS_NOT_READY.
  double readiness_timeout_seconds = 30;
  bool operator==(const EgressConfig&) const = default;
};

// secure_runtime: a stronger isolation runtime for sandboxes (gVisor, Kata, ...).
struct SecureRuntimeConfig {
  std::optional<std::string> type;  // e.g. "gvisor", "kata"; informational (logged at start)
  // The OCI runtime of every sandbox container on Docker (HostConfig.Runtime, e.g. "runsc");
  // unset = the engine's default runtime. The server refuses to start when the engine does
  // not list it in GET /info Runtimes (an engine unreachable at startup is checked when it
  // answers; until then creates fail as with any missing runtime). is_docker_runtime_name().
  // Unlike the reference server, no runtime is inferred from `type`.
  std::optional<std::string> docker_runtime;
  std::optional<std::string> k8s_runtime_class;  // runtimeClassName of sandbox pods (DNS-1123)
  bool operator==(const SecureRuntimeConfig&) const = default;
};

struct StorageConfig {
  std::vector<std::string> allowed_host_paths;  // absolute paths; empty = no host mounts
  bool operator==(const StorageConfig&) const = default;
};

// proxy: the server proxy at /sandboxes/{id}/proxy/{port}[/path] (and signed routes at
// /proxy/{route}) on the API's own port. Env SANDBOXD_PROXY_SIGNING_SECRET overrides
// signing_secret.
struct ProxyConfig {
  bool enabled = true;                    // false: proxy routes answer 501
  int threads = 2;                        // 1..64 threads relaying proxied connections
  int64_t max_connections = 256;          // 1..65536 proxied client connections at once
  int64_t connect_timeout_seconds = 5;    // 1..300 to connect to a sandbox's port
  int64_t idle_timeout_seconds = 300;     // 1..86400 without a byte either way closes
  int64_t buffer_bytes = 65536;           // 4096..16777216 per direction and connection
  int64_t max_idle_upstream = 64;         // 0..4096 kept-alive connections to sandboxes
  bool forward_credentials = false;       // pass the client's Authorization and Cookie on
  // Docker: connect to a sandbox's port from inside its network namespace (needs sandboxd
  // on the engine's host with CAP_SYS_ADMIN and a unix:// engine socket); the published
  // port is used when that is not possible.
  bool connect_in_netns = true;
  // HMAC key of signed routes (endpoint ?expires=); unset = signed routes refused (400).
  // At least 16 bytes.
  std::optional<std::string> signing_secret;
  bool operator==(const ProxyConfig&) const = default;
};

// renew_intent (the reference server's table): renew a sandbox's expiry when a request
// reaches it through the server proxy, for sandboxes created with
// extensions["access.renew.extend.seconds"] (the new expiry is max(now + that, current)).
struct RenewIntentConfig {
  bool enabled = false;
  int64_t min_interval_seconds = 60;  // >= 1: at most one renewal per sandbox per interval
  bool operator==(const RenewIntentConfig&) const = default;
};

// pools: warm pools (POST /pools, create with extensions.poolRef).
struct PoolsConfig {
  bool enabled = true;                   // false: pool routes and poolRef answer 501
  int64_t max_members = 256;             // 1..100000: the largest capacity value a pool may ask
  int64_t max_pools = 32;                // 1..10000: pools that may exist at once
  int64_t keeper_interval_ms = 1000;     // 50..60000: the pool keeper's pass period
  bool operator==(const PoolsConfig&) const = default;
};

struct StoreConfig {
  // load_config() always returns it with `~` expanded; a default-constructed Config holds
  // kDefaultStorePath unexpanded.
  std::string path = std::string(kDefaultStorePath);
  bool sync = true;            // fsync the WAL before acknowledging
  int64_t retention_days = 0;  // only 0 (keep every event forever) is accepted
  bool operator==(const StoreConfig&) const = default;
};

struct WorkersConfig {
  int provisioners = 8;                        // 1..1024
  int64_t reconcile_interval_seconds = 30;     // >= 1
  int64_t pending_failure_ttl_seconds = 3600;  // >= 0; env PENDING_FAILURE_TTL
  bool operator==(const WorkersConfig&) const = default;
};

struct Config {
  ServerConfig server;
  RuntimeConfig runtime;
  DockerConfig docker;
  KubernetesConfig kubernetes;
  IngressConfig ingress;
  EgressConfig egress;
  SecureRuntimeConfig secure_runtime;
  StorageConfig storage;
  ProxyConfig proxy;
  RenewIntentConfig renew_intent;
  PoolsConfig pools;
  StoreConfig store;
  WorkersConfig workers;
  bool operator==(const Config&) const = default;
};

using EnvMap = std::map<std::string, std::string>;

// A copy of the process environment (reads `environ`; do not call concurrently with
// setenv).
EnvMap process_environment();

struct LoadOptions {
  std::optional<std::string> explicit_path;  // `--config PATH`
  EnvMap env = process_environment();        // tests inject their own (HOME, overrides)
};

struct ConfigWarning {
  std::string file;
  int line = 0;         // 1-based; 0 when not tied to a line
  std::string key;      // dotted, e.g. "server.prot"
  std::string message;  // complete: "/etc/x.toml:4: unknown key server.prot (ignored)"
};

struct LoadedConfig {
  Config config;
  std::string source;  // the file read, or kBuiltinDefaultsSource
  std::vector<ConfigWarning> warnings;
  bool from_file() const { return source != kBuiltinDefaultsSource; }
};

// Finds, reads and validates the configuration (lookup order and errors: see above).
Result<LoadedConfig> load_config(const LoadOptions& options);

// Parses and validates `toml_text` as if read from `source_name` (used in messages), then
// applies the environment overrides of `env`. load_config() is this plus the lookup.
Result<LoadedConfig> parse_config(std::string_view toml_text, std::string_view source_name,
                                  const EnvMap& env);

// The built-in defaults with `~` expanded and environment overrides applied.
Result<Config> default_config(const EnvMap& env);

}  // namespace sbx
