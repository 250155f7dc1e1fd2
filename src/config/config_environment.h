// The environment's part in the configuration (internal to src/config): the variables that
// override the file (OPENSANDBOX_SERVER_API_KEY, OPENSANDBOX_INSECURE_SERVER, DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, PENDING_FAILURE_TTL), `~` expansion with $HOME, and
// the checks that only make sense after both (docker.tls_verify on a unix socket).
//
// Pure functions of their arguments (plus getpwuid_r for a missing HOME); thread-safe.
#pragma once

#include <optional>
#include <string>

#include "src/config/config.h"
#include "src/config/config_reader.h"

namespace sbx::config_internal {

// env[name], "" when absent.
std::string env_value(const EnvMap& env, const std::string& name);

// $HOME when set and non-empty, else the user's home from the password database.
std::optional<std::string> home_dir(const EnvMap& env);

// Expands a leading "~" or "~/"; other paths are returned unchanged. nullopt when there is
// no home to expand to.
std::optional<std::string> expand_home(const std::string& path, const EnvMap& env);

// The file lines of keys whose errors are reported here (0 = not in the file).
struct EnvironmentKeyLines {
  int store_path = 0;
  int kubeconfig_path = 0;
};

// Applies the overrides of `env` to `c`, expands `~` in store.path, docker.cert_path and
// kubernetes.kubeconfig_path, and turns off docker.tls_verify (with a warning) for a
// non-tcp docker.host. The first failure is left in ctx.error ("env DOCKER_HOST:
// docker.host: expected ..., got \"...\"").
void apply_environment(Ctx& ctx, const EnvMap& env, Config& c, const EnvironmentKeyLines& lines);

}  // namespace sbx::config_internal
