#include "src/config/config_environment.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

extern char** environ;

namespace sbx {

EnvMap process_environment() {
  EnvMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

namespace config_internal {

std::string env_value(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

std::optional<std::string> home_dir(const EnvMap& env) {
  if (auto it = env.find("HOME"); it != env.end() && !it->second.empty()) return it->second;
  struct passwd pw;
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr &&
      result->pw_dir != nullptr && result->pw_dir[0] != '\0') {
    return std::string(result->pw_dir);
  }
  return std::nullopt;
}

// Expands a leading "~" or "~/"; other paths are returned unchanged.
std::optional<std::string> expand_home(const std::string& path, const EnvMap& env) {
  if (path != "~" && !path.starts_with("~/")) return path;
  auto home = home_dir(env);
  if (!home) return std::nullopt;
  return *home + path.substr(1);
}

void apply_environment(Ctx& ctx, const EnvMap& env, Config& c, const EnvironmentKeyLines& lines) {
  // Environment overrides.
  if (std::string key = env_value(env, "OPENSANDBOX_SERVER_API_KEY"); !key.empty()) {
    c.server.api_key = key;
  }
  if (std::string secret = env_value(env, "SANDBOXD_PROXY_SIGNING_SECRET"); !secret.empty()) {
    if (!is_signing_secret(secret)) {
      ctx.error = Error(ErrorCode::kInvalidArgument,
                        "env SANDBOXD_PROXY_SIGNING_SECRET: proxy.signing_secret: " +
                            std::string(kSigningSecretRequirement),
                        "proxy.signing_secret");
      return;
    }
    c.proxy.signing_secret = secret;
  }
  if (std::string v = env_value(env, "OPENSANDBOX_INSECURE_SERVER"); !v.empty()) {
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    c.server.insecure_server = v == "yes" || v == "true" || v == "1";
  }
  if (std::string host = env_value(env, "DOCKER_HOST"); !host.empty()) {
    if (!is_docker_host(host)) {
      ctx.error = Error(ErrorCode::kInvalidArgument,
                        "env DOCKER_HOST: docker.host: " + std::string(kDockerHostRequirement) +
                            ", got " + quote(host),
                        "docker.host");
      return;
    }
    c.docker.host = host;
  }
  if (!env_value(env, "DOCKER_TLS_VERIFY").empty()) c.docker.tls_verify = true;
  if (std::string p = env_value(env, "DOCKER_CERT_PATH"); !p.empty()) c.docker.cert_path = p;
  if (std::string ttl = env_value(env, "PENDING_FAILURE_TTL"); !ttl.empty()) {
    auto v = parse_int(ttl);
    if (!v || *v < 0) {
      ctx.error = Error(ErrorCode::kInvalidArgument,
                        "env PENDING_FAILURE_TTL: workers.pending_failure_ttl_seconds: expected an "
                        "integer >= 0, got " +
                            quote(ttl),
                        "workers.pending_failure_ttl_seconds");
      return;
    }
    c.workers.pending_failure_ttl_seconds = *v;
  }

  // Home expansion.
  if (auto p = expand_home(c.store.path, env)) {
    c.store.path = *p;
  } else {
    ctx.fail(lines.store_path, "store.path", "cannot expand ~: HOME is not set");
    return;
  }
  if (auto p = expand_home(c.docker.cert_path, env)) {
    c.docker.cert_path = *p;
  } else if (c.docker.tls_verify) {
    ctx.fail(0, "docker.cert_path", "cannot expand ~: HOME is not set");
    return;
  }
  if (c.docker.tls_verify && !c.docker.host.starts_with("tcp://")) {
    // As the docker CLI: TLS settings mean nothing for a unix socket.
    ctx.warn(0, "docker.tls_verify",
             "ignored: TLS applies to a tcp:// docker.host, not " + quote(c.docker.host));
    c.docker.tls_verify = false;
  }
  if (c.kubernetes.kubeconfig_path) {
    if (auto p = expand_home(*c.kubernetes.kubeconfig_path, env)) {
      c.kubernetes.kubeconfig_path = *p;
    } else {
      ctx.fail(lines.kubeconfig_path, "kubernetes.kubeconfig_path",
               "cannot expand ~: HOME is not set");
      return;
    }
  }
}

}  // namespace config_internal
}  // namespace sbx
