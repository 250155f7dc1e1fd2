// Fuzz target: the TOML configuration (src/config/config.h parse_config, the code behind
// load_config and `--config`). Any text either
//   - fails with a message that starts with the source name ("fuzz.toml:") and, when the
//     error names a key (Error::field), mentions that key; or
//   - yields a Config whose values lie in the documented ranges, and which survives a
//     round trip: written back as TOML (by write_toml below: there is no writer of
//     arbitrary configs in src/config, render_example_config only writes the defaults) and
//     parsed again it gives the same Config.
// Warnings name the source too.
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <toml++/toml.h>

#include "src/config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sbx;

const EnvMap& fuzz_env() {
  static const EnvMap env{{"HOME", "/home/fuzz"}};
  return env;
}

toml::array strings(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& s : v) a.push_back(s);
  return a;
}

std::string write_toml(const Config& c) {
  toml::table server{{"host", c.server.host},
                     {"port", c.server.port},
                     {"log_level", c.server.log_level},
                     {"timeout_keep_alive", c.server.timeout_keep_alive},
                     {"threads", c.server.threads},
                     {"max_body_bytes", c.server.max_body_bytes},
                     {"transition_wait_ms", c.server.transition_wait_ms},
                     {"create_wait_ms", c.server.create_wait_ms},
                     {"metrics_auth", c.server.metrics_auth},
                     {"insecure_server", c.server.insecure_server}};
  if (c.server.api_key) server.insert("api_key", *c.server.api_key);
  if (c.server.eip) server.insert("eip", *c.server.eip);
  if (c.server.max_sandbox_timeout_seconds)
    server.insert("max_sandbox_timeout_seconds", *c.server.max_sandbox_timeout_seconds);
  toml::table runtime{{"type", std::string(to_string(c.runtime.type))},
                      {"execd_image", c.runtime.execd_image}};
  toml::table docker{
      {"host", c.docker.host},
      {"network_mode", c.docker.network_mode},
      {"api_timeout", c.docker.api_timeout},
      {"drop_capabilities", strings(c.docker.drop_capabilities)},
      {"no_new_privileges", c.docker.no_new_privileges},
      {"pids_limit", c.docker.pids_limit},
      {"port_bind_ip", c.docker.port_bind_ip},
      {"port_range", std::to_string(c.docker.port_range_low) + "-" +
                         std::to_string(c.docker.port_range_high)}};
  if (c.docker.host_ip) docker.insert("host_ip", *c.docker.host_ip);
  if (c.docker.apparmor_profile) docker.insert("apparmor_profile", *c.docker.apparmor_profile);
  if (c.docker.seccomp_profile) docker.insert("seccomp_profile", *c.docker.seccomp_profile);
  toml::table kubernetes{
      {"namespace", c.kubernetes.namespace_},
      {"workload_provider", std::string(to_string(c.kubernetes.workload_provider))}};
  if (c.kubernetes.kubeconfig_path)
    kubernetes.insert("kubeconfig_path", *c.kubernetes.kubeconfig_path);
  toml::table gateway;
  if (!c.ingress.gateway_address.empty()) gateway.insert("address", c.ingress.gateway_address);
  if (c.ingress.gateway_route_mode) {
    gateway.insert("route",
                   toml::table{{"mode", std::string(to_string(*c.ingress.gateway_route_mode))}});
  }
  toml::table ingress{{"mode", std::string(to_string(c.ingress.mode))}};
  if (!c.ingress.gateway_address.empty() || c.ingress.gateway_route_mode)
    ingress.insert("gateway", std::move(gateway));
  toml::table egress;
  if (c.egress.image) egress.insert("image", *c.egress.image);
  toml::table storage{{"allowed_host_paths", strings(c.storage.allowed_host_paths)}};
  toml::table store{{"path", c.store.path},
                    {"sync", c.store.sync},
                    {"retention_days", c.store.retention_days}};
  toml::table workers{{"provisioners", c.workers.provisioners},
                      {"reconcile_interval_seconds", c.workers.reconcile_interval_seconds},
                      {"pending_failure_ttl_seconds", c.workers.pending_failure_ttl_seconds}};
  toml::table root{{"server", server},   {"runtime", runtime}, {"docker", docker},
                   {"kubernetes", kubernetes}, {"ingress", ingress}, {"egress", egress},
                   {"storage", storage}, {"store", store},     {"workers", workers}};
  std::ostringstream out;
  out << root;
  return out.str();
}

void check_ranges(const Config& c) {
  FUZZ_CHECK(c.server.port >= 0 && c.server.port <= 65535, "server.port %d", c.server.port);
  FUZZ_CHECK(c.server.threads >= 1, "server.threads %d", c.server.threads);
  FUZZ_CHECK(c.server.timeout_keep_alive >= 1, "timeout_keep_alive");
  FUZZ_CHECK(c.server.max_body_bytes >= 1, "max_body_bytes");
  FUZZ_CHECK(c.server.transition_wait_ms >= 0 && c.server.transition_wait_ms <= 3'600'000,
             "transition_wait_ms");
  FUZZ_CHECK(c.server.create_wait_ms >= 0 && c.server.create_wait_ms <= 3'600'000,
             "create_wait_ms");
  FUZZ_CHECK(!c.server.max_sandbox_timeout_seconds || *c.server.max_sandbox_timeout_seconds >= 60,
             "max_sandbox_timeout_seconds");
  FUZZ_CHECK(c.server.log_level == "DEBUG" || c.server.log_level == "INFO" ||
                 c.server.log_level == "WARNING" || c.server.log_level == "ERROR" ||
                 c.server.log_level == "CRITICAL",
             "log_level %s", c.server.log_level.c_str());
  FUZZ_CHECK(!c.server.api_key || !c.server.api_key->empty(), "api_key set but empty");
  FUZZ_CHECK(c.docker.api_timeout >= 1, "docker.api_timeout");
  FUZZ_CHECK(c.docker.pids_limit >= -1, "docker.pids_limit");
  FUZZ_CHECK(1 <= c.docker.port_range_low && c.docker.port_range_low <= c.docker.port_range_high &&
                 c.docker.port_range_high <= 65535,
             "docker.port_range %d-%d", c.docker.port_range_low, c.docker.port_range_high);
  FUZZ_CHECK(c.ingress.mode != IngressMode::kGateway ||
                 (!c.ingress.gateway_address.empty() && c.ingress.gateway_route_mode),
             "gateway mode without address or route mode");
  for (const auto& p : c.storage.allowed_host_paths)
    FUZZ_CHECK(p.starts_with('/'), "allowed_host_paths %s", p.c_str());
  FUZZ_CHECK(c.store.retention_days >= 0, "store.retention_days");
  // Only "~" and "~/..." are home-relative; "~x" or "~ /data" are (odd) relative names.
  FUZZ_CHECK(c.store.path != "~" && !c.store.path.starts_with("~/"), "store.path not expanded: %s",
             c.store.path.c_str());
  FUZZ_CHECK(c.workers.provisioners >= 1 && c.workers.provisioners <= 1024, "provisioners");
  FUZZ_CHECK(c.workers.reconcile_interval_seconds >= 1, "reconcile_interval_seconds");
  FUZZ_CHECK(c.workers.pending_failure_ttl_seconds >= 0, "pending_failure_ttl_seconds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parse_config(text, "fuzz.toml", fuzz_env());
  if (!r) {
    const Error& e = r.error();
    FUZZ_CHECK(e.message.starts_with("fuzz.toml"), "error without the source: %s",
               e.message.c_str());
    FUZZ_CHECK(e.field.empty() || e.message.find(e.field) != std::string::npos,
               "error names field %s but says: %s", e.field.c_str(), e.message.c_str());
    return 0;
  }
  FUZZ_CHECK(r->source == "fuzz.toml", "source %s", r->source.c_str());
  for (const auto& w : r->warnings)
    FUZZ_CHECK(w.message.starts_with("fuzz.toml"), "warning %s", w.message.c_str());
  check_ranges(r->config);
  const std::string again = write_toml(r->config);
  auto back = parse_config(again, "again.toml", fuzz_env());
  FUZZ_CHECK(back.has_value(), "the config written back does not load: %s\n%s",
             back ? "" : back.error().message.c_str(), again.c_str());
  FUZZ_CHECK(back->config == r->config, "the config changed in a round trip:\n%s",
             again.c_str());
  return 0;
}
