#include "src/config/example_config.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace sbx {
namespace {

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string toml_bool(bool b) { return b ? "true" : "false"; }

// The shortest text that reads back as `v`, always as a TOML float ("50.0", "0.5").
std::string toml_float(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (out.find_first_of(".eE") == std::string::npos) out += ".0";
  return out;
}

// One line when short, else one element per line.
std::string toml_strings(const std::vector<std::string>& v) {
  std::string one_line = "[";
  for (size_t i = 0; i < v.size(); ++i) one_line += (i == 0 ? "" : ", ") + toml_string(v[i]);
  one_line += "]";
  if (one_line.size() <= 60) return one_line;
  std::string out = "[\n";
  for (const std::string& e : v) out += "  " + toml_string(e) + ",\n";
  return out + "]";
}

// Appends "# <help>\n<line>\n".
class Writer {
 public:
  void raw(std::string_view text) { out_ += text; }
  void table(std::string_view name) { out_ += "\n[" + std::string(name) + "]\n"; }
  void key(std::string_view help, std::string_view name, const std::string& value) {
    out_ += "# " + std::string(help) + "\n" + std::string(name) + " = " + value + "\n";
  }
  // A key without a default: shown commented out with an example value.
  void unset_key(std::string_view help, std::string_view name, const std::string& example) {
    out_ += "# " + std::string(help) + "\n# " + std::string(name) + " = " + example + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

bool is_example_kind(std::string_view kind) { return kind == "docker" || kind == "kubernetes"; }

Config kubernetes_example_config(Config defaults) {
  defaults.runtime.type = RuntimeType::kKubernetes;
  defaults.kubernetes.namespace_ = "opensandbox";
  return defaults;
}

std::string render_example_config(std::string_view kind) {
  const bool k8s = kind == "kubernetes";
  const Config d;  // built-in defaults (store.path still unexpanded)
  const Config k = kubernetes_example_config(d);
  Writer w;
  w.raw(std::string("# sandboxd configuration (") + (k8s ? "kubernetes" : "docker") +
        " example), written by `sandboxd init-config`.\n"
        "#\n"
        "# Lookup: --config PATH, else $SANDBOX_CONFIG_PATH, else ~/.sandbox.toml; with no\n"
        "# file sandboxd runs on built-in defaults.\n");
  w.raw(k8s ? "# Every key below is set to its default, except runtime.type and\n"
              "# kubernetes.namespace. Keys that are commented out have no default.\n"
            : "# Every key below is set to its default. Keys that are commented out have no\n"
              "# default.\n");
  w.raw(
      "# Unknown keys are reported as warnings. Environment: OPENSANDBOX_SERVER_API_KEY\n"
      "# overrides server.api_key, DOCKER_HOST overrides docker.host, PENDING_FAILURE_TTL\n"
      "# overrides workers.pending_failure_ttl_seconds.\n");

  w.table("server");
  w.key("Address the HTTP API binds to.", "host", toml_string(d.server.host));
  w.key("Port of the HTTP API (0 = any free port, printed in the log).", "port", std::to_string(d.server.port));
  w.key("DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).", "log_level",
        toml_string(d.server.log_level));
  w.unset_key("API key expected in the OPEN-SANDBOX-API-KEY header; unset = auth off.", "api_key",
              toml_string("change-me"));
  w.unset_key("Host put in endpoint strings; unset = docker.host_ip, else the bind address.", "eip",
              toml_string("203.0.113.10"));
  w.unset_key("Largest sandbox timeout a client may ask for, seconds (>= 60); unset = no cap.",
              "max_sandbox_timeout_seconds", "86400");
  w.key("HTTP keep-alive timeout, seconds.", "timeout_keep_alive",
        std::to_string(d.server.timeout_keep_alive));
  w.key("HTTP worker threads; 0 = one per core.", "threads", "0");
  w.key("Largest accepted request body, bytes.", "max_body_bytes",
        std::to_string(d.server.max_body_bytes));
  w.key("How long a mutating request waits for its outcome, ms (0 = answer at once).",
        "transition_wait_ms", std::to_string(d.server.transition_wait_ms));
  w.key("How long POST /sandboxes waits for the sandbox to run, ms (0 = answer Pending).",
        "create_wait_ms", std::to_string(d.server.create_wait_ms));
  w.key("Whether /metrics also requires the API key.", "metrics_auth",
        toml_bool(d.server.metrics_auth));
  w.key("Without api_key the API listens on loopback only; true allows an unauthenticated\n"
        "# non-loopback bind (as env OPENSANDBOX_INSECURE_SERVER=YES does).",
        "insecure_server", toml_bool(d.server.insecure_server));
  w.key("Most open client connections; more are answered 503 and closed.", "max_connections",
        std::to_string(d.server.max_connections));
  w.key("Most requests waiting for an outcome; beyond it they are answered at once.",
        "max_parked_requests", std::to_string(d.server.max_parked_requests));
  w.key("Most GET /events subscribers; more get 503.", "max_event_streams",
        std::to_string(d.server.max_event_streams));
  w.key("Unsent bytes an event stream may hold before the slow client is cut (it resumes\n"
        "# with ?since=).",
        "event_stream_buffer_bytes", std::to_string(d.server.event_stream_buffer_bytes));
  w.key("Most mutations queued for a mutation thread; beyond it 503.", "max_queued_mutations",
        std::to_string(d.server.max_queued_mutations));
  w.key("Seconds for a request's line and headers to arrive (slow clients get 408).",
        "header_timeout_seconds", std::to_string(d.server.header_timeout_seconds));
  w.key("Seconds for a request's body to arrive once its headers are in.",
        "body_timeout_seconds", std::to_string(d.server.body_timeout_seconds));

  w.table("runtime");
  w.key("Where sandboxes run: \"docker\" or \"kubernetes\".", "type",
        toml_string(to_string(k8s ? k.runtime.type : d.runtime.type)));
  w.key("Image of execd, the in-sandbox agent.", "execd_image", toml_string(d.runtime.execd_image));

  w.raw("\n# Used when runtime.type = \"docker\".");
  w.table("docker");
  w.key("Docker endpoint (unix:///PATH or tcp://HOST:PORT); env DOCKER_HOST overrides.", "host",
        toml_string(d.docker.host));
  w.key("TLS to a tcp:// host, verifying it and presenting a client certificate (env\n"
        "# DOCKER_TLS_VERIFY, as the docker CLI).",
        "tls_verify", toml_bool(d.docker.tls_verify));
  w.key("Directory of ca.pem, cert.pem and key.pem (env DOCKER_CERT_PATH).", "cert_path",
        toml_string(d.docker.cert_path));
  w.key("\"host\", \"bridge\" or the name of a user network.", "network_mode",
        toml_string(d.docker.network_mode));
  w.unset_key("Host put in endpoint strings when server.eip is unset.", "host_ip",
              toml_string("192.0.2.7"));
  w.key("Timeout of one Docker API call, seconds.", "api_timeout",
        std::to_string(d.docker.api_timeout));
  w.key("Capabilities dropped from every sandbox container.", "drop_capabilities",
        toml_strings(d.docker.drop_capabilities));
  w.key("Set no-new-privileges on sandbox containers.", "no_new_privileges",
        toml_bool(d.docker.no_new_privileges));
  w.unset_key("AppArmor profile of sandbox containers; unset = Docker's default.",
              "apparmor_profile", toml_string("docker-default"));
  w.unset_key("Seccomp profile of sandbox containers; unset = Docker's default.", "seccomp_profile",
              toml_string("/etc/sandboxd/seccomp.json"));
  w.key("Process limit per sandbox container (0 or -1 = unlimited).", "pids_limit",
        std::to_string(d.docker.pids_limit));
  w.key("When sandbox images are pulled: \"IfNotPresent\" (only when missing; then anyone\n"
        "# may run it, whatever credentials they send), \"Always\" (every create checks the\n"
        "# request's credentials with the registry; pulls only a new digest) or \"Never\".",
        "image_pull_policy", toml_string(to_string(d.docker.image_pull_policy)));
  w.key("Host address that published sandbox ports bind to.", "port_bind_ip",
        toml_string(d.docker.port_bind_ip));
  w.key("Environment set in every sandbox, e.g. { HTTP_PROXY = \"http://proxy:3128\" };\n"
        "# operator policy: it wins over a create's env for the same name.",
        "sandbox_env", "{}");
  w.key("Docker binds \"SRC:DST[:ro|:rw]\" (absolute, no \"..\") given to every sandbox;\n"
        "# operator policy, not limited by storage.allowed_host_paths.",
        "sandbox_binds", toml_strings(d.docker.sandbox_binds));
  w.key("Host ports handed out to sandboxes, \"LOW-HIGH\".", "port_range",
        toml_string(std::to_string(d.docker.port_range_low) + "-" +
                    std::to_string(d.docker.port_range_high)));
  w.key("At startup, adopt the running and paused sandboxes of a reference server\n"
        "# (opensandbox-server) on this engine, so they keep working and expire on time.",
        "adopt_reference_sandboxes", toml_bool(d.docker.adopt_reference_sandboxes));
  w.raw("# The reference server's names are read too: publish_host (= port_bind_ip) and\n"
        "# port_range_min / port_range_max (= the two ends of port_range; one form only).\n");

  w.raw("\n# Used when runtime.type = \"kubernetes\".");
  w.table("kubernetes");
  w.unset_key("kubeconfig file; unset = in-cluster credentials.", "kubeconfig_path",
              toml_string("~/.kube/config"));
  w.key("Namespace sandboxes are created in.", "namespace",
        toml_string(k8s ? k.kubernetes.namespace_ : d.kubernetes.namespace_));
  w.key("\"pod\", \"batchsandbox\" or \"agent-sandbox\".", "workload_provider",
        toml_string(
            to_string(k8s ? k.kubernetes.workload_provider : d.kubernetes.workload_provider)));
  w.key("imagePullPolicy of sandbox containers: \"IfNotPresent\", \"Always\" or \"Never\".",
        "image_pull_policy", toml_string(to_string(d.kubernetes.image_pull_policy)));
  w.key("Client-side rate limit: API server requests per second, sustained (> 0).", "qps",
        toml_float(d.kubernetes.qps));
  w.key("Client-side rate limit: requests allowed in one burst above qps (>= 1).", "burst",
        std::to_string(d.kubernetes.burst));
  w.key("Timeout of one API server request, seconds (>= 1).", "request_timeout_seconds",
        std::to_string(d.kubernetes.request_timeout_seconds));
  w.key("A pod Pending longer than this (image pull errors, unschedulable) fails its\n"
        "# sandbox with the pod's reason, seconds (>= 10).",
        "pending_timeout_seconds", std::to_string(d.kubernetes.pending_timeout_seconds));
  w.key("Lease (coordination.k8s.io/v1) in the namespace that lets one sandboxd act at a\n"
        "# time; a DNS-1123 name.",
        "lease_name", toml_string(d.kubernetes.lease_name));
  w.key("Seconds a holder that stops renewing keeps the lease before another sandboxd\n"
        "# takes over (>= 3).",
        "lease_duration_seconds", std::to_string(d.kubernetes.lease_duration_seconds));

  w.table("ingress");
  w.key("\"direct\" (endpoints reach sandboxes directly) or \"gateway\".", "mode",
        toml_string(to_string(d.ingress.mode)));
  w.raw("# With mode = \"gateway\", both are required:\n");
  w.raw("# [ingress.gateway]\n# Address of the gateway.\n# address = \"gateway.example.test\"\n");
  w.raw(
      "# [ingress.gateway.route]\n# How the gateway routes: \"wildcard\", \"header\" or \"uri\".\n"
      "# mode = \"header\"\n");

  w.table("egress");
  w.unset_key("Egress sidecar image; unset = requests with a networkPolicy are rejected.", "image",
              toml_string("opensandbox/egress:v1.0.0"));
  w.key("How the sidecar enforces the policy: \"dns\" (DNS filtering) or \"dns+nft\" (also "
        "nftables rules on the resolved addresses).",
        "mode", toml_string(to_string(d.egress.mode)));
  w.key("Disable IPv6 in the sidecar's network namespace (shared by the sandbox).",
        "disable_ipv6", toml_bool(d.egress.disable_ipv6));
  w.key("Seconds a create waits for the sidecar's /healthz before it fails.",
        "readiness_timeout_seconds", toml_float(d.egress.readiness_timeout_seconds));

  w.raw("\n# A stronger isolation runtime for sandboxes (gVisor, Kata, ...).");
  w.table("secure_runtime");
  w.unset_key("Which secure runtime the cluster provides (informational), e.g. \"gvisor\".",
              "type", toml_string("gvisor"));
  w.unset_key("Docker OCI runtime of sandbox containers; the engine must list it (docker info\n"
              "# Runtimes) or sandboxd refuses to start. Unset = the engine's default.",
              "docker_runtime", toml_string("runsc"));
  w.unset_key("RuntimeClass of sandbox pods (runtimeClassName); unset = the cluster default.",
              "k8s_runtime_class", toml_string("gvisor"));

  w.table("storage");
  w.key("Absolute host paths sandboxes may mount; [] = no host mounts.", "allowed_host_paths",
        toml_strings(d.storage.allowed_host_paths));

  w.raw("\n# The server proxy: /sandboxes/{id}/proxy/{port}[/path] on the API's port (the API key\n"
        "# is required and never forwarded), and signed routes /proxy/{route} (endpoint ?expires=).");
  w.table("proxy");
  w.key("false: proxy routes answer 501 and use_server_proxy endpoints are refused.", "enabled",
        toml_bool(d.proxy.enabled));
  w.key("Threads relaying proxied connections (1..64).", "threads", std::to_string(d.proxy.threads));
  w.key("Proxied client connections at once (1..65536); beyond, 503.", "max_connections",
        std::to_string(d.proxy.max_connections));
  w.key("Seconds to connect to a sandbox's port (1..300); then 504.", "connect_timeout_seconds",
        std::to_string(d.proxy.connect_timeout_seconds));
  w.key("Seconds without a byte either way before a proxied connection is closed (1..86400).",
        "idle_timeout_seconds", std::to_string(d.proxy.idle_timeout_seconds));
  w.key("Bytes buffered per direction and connection (4096..16777216).", "buffer_bytes",
        std::to_string(d.proxy.buffer_bytes));
  w.key("Idle kept-alive connections to sandboxes (0..4096).", "max_idle_upstream",
        std::to_string(d.proxy.max_idle_upstream));
  w.key("Forward the client's Authorization and Cookie headers to the sandbox.",
        "forward_credentials", toml_bool(d.proxy.forward_credentials));
  w.key("Docker: reach a sandbox's port from inside its network namespace (127.0.0.1 there)\n"
        "# instead of through its published port: one TCP hop and the engine's userland proxy\n"
        "# less. Needs sandboxd on the engine's host with CAP_SYS_ADMIN and a unix:// engine\n"
        "# socket; otherwise, or when it fails, the published port is used.",
        "connect_in_netns", toml_bool(d.proxy.connect_in_netns));
  w.unset_key("HMAC key of signed routes (>= 16 bytes); unset = endpoint ?expires= is refused.\n"
              "# Env SANDBOXD_PROXY_SIGNING_SECRET overrides it. Changing it revokes every route.",
              "signing_secret", toml_string("0123456789abcdef0123456789abcdef"));

  w.table("renew_intent");
  w.key("Renew a sandbox's expiry when it is reached through the server proxy (sandboxes\n"
        "# created with extensions[\"access.renew.extend.seconds\"]: to max(now + that, expiry)).",
        "enabled", toml_bool(d.renew_intent.enabled));
  w.key("At most one renewal per sandbox in this many seconds (>= 1).", "min_interval_seconds",
        std::to_string(d.renew_intent.min_interval_seconds));

  w.raw("\n# Warm pools: POST /pools keeps sandboxes of one template Running ahead of time; a create\n"
        "# with extensions.poolRef = \"<name>\" takes one (Running at once) or starts cold.");
  w.table("pools");
  w.key("false: the pool routes and a create with poolRef answer 501.", "enabled",
        toml_bool(d.pools.enabled));
  w.key("The largest value a pool's capacitySpec may ask for (1..100000).", "max_members",
        std::to_string(d.pools.max_members));
  w.key("Pools that may exist at once (1..10000); one more is refused with 429.", "max_pools",
        std::to_string(d.pools.max_pools));
  w.key("Milliseconds between the pool keeper's passes (50..60000); it also runs after changes.",
        "keeper_interval_ms", std::to_string(d.pools.keeper_interval_ms));

  w.raw("\n# A reference server's [store] (type = \"sqlite\" or \"postgresql\") is recognised: its\n"
        "# path is never used for this store, which then stays at the default path.");
  w.table("store");
  w.key("Directory of the event store (RocksDB); ~ is $HOME. An existing file there is\n"
        "# refused, never opened.",
        "path", toml_string(d.store.path));
  w.key("fsync the write-ahead log before acknowledging.", "sync", toml_bool(d.store.sync));
  w.key("Days of events kept; only 0 (keep every event forever) in this version.", "retention_days",
        std::to_string(d.store.retention_days));

  w.table("workers");
  w.key("Runtime workers that create sandboxes in parallel (1..1024).", "provisioners",
        std::to_string(d.workers.provisioners));
  w.key("Seconds between two reconciliations of the runtime with the event log.",
        "reconcile_interval_seconds", std::to_string(d.workers.reconcile_interval_seconds));
  w.key("Seconds a sandbox that failed while Pending stays listed; env PENDING_FAILURE_TTL.",
        "pending_failure_ttl_seconds", std::to_string(d.workers.pending_failure_ttl_seconds));
  return w.take();
}

Result<void> write_example_config(const std::string& path, std::string_view kind, bool force) {
  if (!is_example_kind(kind)) {
    return fail(ErrorCode::kInvalidArgument,
                "unknown example \"" + std::string(kind) + "\" (expected docker or kubernetes)",
                "example");
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  if (fs::exists(target, ec) && !force) {
    return fail(ErrorCode::kAlreadyExists, path + " already exists (use --force to overwrite)");
  }
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      return fail(ErrorCode::kUnavailable,
                  "cannot create " + target.parent_path().string() + ": " + ec.message());
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << render_example_config(kind);
    out.flush();
    if (!out) {
      int err = errno;
      fs::remove(tmp, ec);
      return fail(ErrorCode::kUnavailable, "cannot write " + tmp + ": " + std::strerror(err));
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return fail(ErrorCode::kUnavailable,
                "cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
  return {};
}

}  // namespace sbx
