#include "src/server/runtime_factory.h"

#include <utility>

#include "src/runtime/docker/docker_runtime.h"
#include "src/runtime/kubernetes/kubernetes_runtime.h"
#include "src/server/kubernetes_options.h"
#include "src/server/runtime_options.h"

namespace sbx {

void RuntimeFactory::add(RuntimeType type, RuntimeRegistration registration) {
  registrations_.insert_or_assign(type, std::move(registration));
}

bool RuntimeFactory::supports(RuntimeType type) const { return registrations_.contains(type); }

Result<void> RuntimeFactory::check(const Config& config) const {
  if (supports(config.runtime.type)) return {};
  std::string message = "runtime.type = \"" + std::string(to_string(config.runtime.type)) +
                        "\" is not supported by this build";
  const char* separator = "; set runtime.type = ";
  for (const auto& [type, registration] : registrations_) {
    message += separator + ("\"" + std::string(to_string(type)) + "\"");
    separator = " or ";
  }
  return fail(ErrorCode::kFailedPrecondition, message, "runtime.type");
}

Result<std::unique_ptr<Runtime>> RuntimeFactory::create(const Config& config,
                                                        const RuntimeDeps& deps) const {
  if (auto ok = check(config); !ok) return std::unexpected(ok.error());
  return registrations_.at(config.runtime.type).create(config, deps);
}

std::string RuntimeFactory::describe(const Config& config) const {
  auto it = registrations_.find(config.runtime.type);
  if (it == registrations_.end() || !it->second.describe) return {};
  return it->second.describe(config);
}

RuntimeFactory builtin_runtime_factory() {
  RuntimeFactory f;
  f.add(RuntimeType::kDocker,
        {.create = [](const Config& c,
                      const RuntimeDeps& deps) -> Result<std::unique_ptr<Runtime>> {
           auto docker = DockerRuntime::create(docker_options_from(c, deps.instance_id));
           if (!docker) return std::unexpected(docker.error());
           return std::unique_ptr<Runtime>(std::move(*docker));
         },
         .describe = [](const Config& c) { return "Docker engine at " + c.docker.host; }});
  f.add(RuntimeType::kKubernetes,
        {.create = [](const Config& c,
                      const RuntimeDeps& deps) -> Result<std::unique_ptr<Runtime>> {
           auto options = kubernetes_options_from(c, deps.instance_id, process_environment());
           if (!options) return std::unexpected(options.error());
           auto kube = KubernetesRuntime::create(std::move(*options));
           if (!kube) return std::unexpected(kube.error());
           return std::unique_ptr<Runtime>(std::move(*kube));
         },
         .describe = [](const Config& c) { return describe_kubernetes(c); }});
  return f;
}

}  // namespace sbx
