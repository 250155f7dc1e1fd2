// RuntimeFactory: which Runtime implementation serves `runtime.type`, chosen in the
// composition root. One registration per implementation: a constructor from the Config
// (plus what only the composition root knows, RuntimeDeps) and a description for log lines.
// builtin_runtime_factory() registers what this build has (Docker and Kubernetes).
//
// Errors: check()/create() of a type with no registration are kFailedPrecondition, field
// "runtime.type": `runtime.type = "kubernetes" is not supported by this build; set
// runtime.type = "docker"` (the registered types, joined by " or "). create() otherwise
// returns the constructor's error (kInvalidArgument naming the option for a bad setting).
//
// Thread-safety: register at start-up from one thread; afterwards const calls from any.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "events/result.h"
#include "src/config/config.h"
#include "src/runtime/runtime.h"

namespace sbx {

// What a runtime needs besides the Config.
struct RuntimeDeps {
  // The store's identity (EventStore::instance_id()): labels everything the runtime
  // creates, so several sandboxd on one engine or cluster each touch only their own.
  std::string instance_id;
};

struct RuntimeRegistration {
  std::function<Result<std::unique_ptr<Runtime>>(const Config&, const RuntimeDeps&)> create;
  // Where the runtime reaches its backend, for log lines: "Docker engine at unix://...".
  std::function<std::string(const Config&)> describe;
};

class RuntimeFactory {
 public:
  // Registering a type again replaces the earlier registration.
  void add(RuntimeType type, RuntimeRegistration registration);
  bool supports(RuntimeType type) const;

  // Whether config.runtime.type can be built, without building it (start-up refuses an
  // unsupported type before it touches the store).
  Result<void> check(const Config& config) const;
  Result<std::unique_ptr<Runtime>> create(const Config& config, const RuntimeDeps& deps) const;
  // The registration's description; "" for an unsupported type.
  std::string describe(const Config& config) const;

 private:
  std::map<RuntimeType, RuntimeRegistration> registrations_;
};

// The runtimes of this build: docker (DockerRuntime from docker_options_from()) and
// kubernetes (KubernetesRuntime from kubernetes_options_from(), credentials from the
// process environment when in-cluster).
RuntimeFactory builtin_runtime_factory();

}  // namespace sbx
