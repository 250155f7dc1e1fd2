// The egress sidecar of a Docker sandbox with a network policy (runtime.h EgressSpec):
// the container `sandbox-egress-<id>` that owns the sandbox's network namespace, publishes
// its ports and enforces the policy. DockerRuntime treats sidecar and sandbox container as
// one unit; this file holds the sidecar's part, kept apart from the sandbox container's.
//
//   egress_sidecar_body(spec, options, seccomp)  the create body (pure): Image egress.image;
//       Labels sandboxd.io/egress-of=<id> (+ sandboxd.io/instance when options.instance_id
//       is set; never sandboxd.io/id); Env OPENSANDBOX_EGRESS_RULES=<policy JSON>,
//       OPENSANDBOX_EGRESS_MODE=<mode>, OPENSANDBOX_EGRESS_TOKEN=<token>,
//       OPENSANDBOX_EGRESS_SANDBOX_ID=<id>; ExposedPorts + PortBindings (HostIp
//       options.port_bind_ip) for every spec.ports entry; HostConfig NetworkMode
//       spec.network_mode, CapAdd [NET_ADMIN], CapDrop options.drop_capabilities minus
//       NET_ADMIN, PidsLimit, SecurityOpt as for sandboxes, and, when disable_ipv6,
//       Sysctls net.ipv6.conf.{all,default,lo}.disable_ipv6 = "1".
//   join_egress_namespace(body, id)  turns a sandbox container's body (container_body.h)
//       into one that joins the sidecar: NetworkMode container:sandbox-egress-<id>, no
//       ExposedPorts, no PortBindings, NET_ADMIN never in CapAdd and always in CapDrop.
//   EgressSidecars  the engine calls: ensure_started (idempotent: a running or paused
//       sidecar is reused, a created/exited one started, a dead one replaced), wait_ready
//       (GET /healthz through the published 18080 port, bounded by the readiness timeout;
//       kFailedPrecondition "DOCKER::EGRESS_NOT_READY: ..." when it runs out or the sidecar
//       exits), remove / pause / resume (absent sidecar: success), status, and
//       sweep_orphans (sidecars of this instance whose sandbox container is gone and whose
//       create is not in flight in this process are removed).
//
// Thread-safe: EgressSidecars keeps its in-flight set behind a mutex.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "events/result.h"
#include "src/runtime/docker/docker_engine.h"
#include "src/runtime/docker/docker_options.h"
#include "src/runtime/runtime.h"

namespace sbx {

nlohmann::json egress_sidecar_body(const ContainerSpec& spec, const DockerOptions& options,
                                   std::string_view seccomp_option);

void join_egress_namespace(nlohmann::json& sandbox_body, std::string_view sandbox_id);

// Whether a sandbox container (its inspect or list entry) joins its egress sidecar's
// namespace: HostConfig.NetworkMode "container:..." (by name or by the id the engine
// resolved it to; sandboxd uses that mode for nothing else).
bool joins_egress_sidecar(const nlohmann::json& inspect_or_summary, std::string_view sandbox_id);

class EgressSidecars {
 public:
  EgressSidecars(DockerEngine& engine, const DockerOptions& options, std::string seccomp_option);

  struct Started {
    std::string id;
    bool paused = false;  // found paused (its sandbox is paused): no readiness wait
  };
  Result<Started> ensure_started(const ContainerSpec& spec);
  Result<void> wait_ready(const ContainerSpec& spec);
  Result<void> remove(const std::string& sandbox_id);
  Result<void> pause_or_resume(const std::string& sandbox_id, bool pause);
  // The sidecar's state, nullopt when absent.
  Result<std::optional<ContainerStatus>> status(const std::string& sandbox_id);

  // Marks a create of `sandbox_id` as running in this process (sweep_orphans leaves its
  // sidecar alone) until the guard dies.
  class InFlight {
   public:
    InFlight(EgressSidecars& owner, std::string id);
    ~InFlight();
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    EgressSidecars& owner_;
    std::string id_;
  };

  // Sidecars (by sandbox id) in the engine's listing `sidecars` (GET /containers/json
  // entries labelled sandboxd.io/egress-of) whose sandbox id is not in `sandboxes`: removed
  // when they belong to this instance and no create of theirs is in flight.
  void sweep_orphans(const nlohmann::json& sidecars, const std::set<std::string>& sandboxes);

 private:
  DockerEngine& engine_;
  const DockerOptions& options_;
  std::string seccomp_option_;
  std::mutex mu_;
  std::multiset<std::string> in_flight_;  // guarded by mu_
};

}  // namespace sbx
