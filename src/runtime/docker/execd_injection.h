// ExecdInjection: how a Docker sandbox gets execd (/opt/opensandbox/{execd,bootstrap.sh}).
//
// /execd and /bootstrap.sh are copied once per ExecdInjection out of the execd image
// (through a created-never-started helper container, removed afterwards; the tar built by
// make_execd_payload() is cached in memory). Then, preferably, they are put into a named
// volume `sandboxd-execd-<hash of the payload>[-<instance id>]` (filled once per engine and
// instance, kept as a cache across restarts) that every sandbox mounts read-only at
// /opt/opensandbox (volume_name()); where the engine cannot give a volume, the payload is
// PUT into each container instead (inject()). Helpers and the volume are labelled
// sandboxd.io/helper=execd (+ sandboxd.io/instance=<instance id> when scoped).
//
// Ownership between several sandboxd on one engine: helpers and volumes carry the
// instance label of the runtime that made them; sweep_stale_helpers() and the pruning of
// old volumes touch only those of this instance (absent label = unscoped "").
//
// Errors: engine errors as DockerEngine; a helper that cannot be created from the image
// (it cannot be pulled) is kNotFound with kImageNotFoundCode; a malformed image (no
// regular /execd) as make_execd_payload(), the message naming the image.
//
// Thread-safe: the cache and the volume name are behind one mutex, held while fetching or
// filling, so concurrent creates fetch and fill once.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "events/result.h"
#include "src/common/log.h"
#include "src/runtime/docker/docker_engine.h"

namespace sbx {

class ExecdInjection {
 public:
  // `execd_image` non-empty; `instance_id` "" = unscoped. `engine` outlives this.
  ExecdInjection(DockerEngine& engine, std::string execd_image, std::string instance_id);

  // The name of the filled execd volume, creating and filling it when needed. The name is
  // checked on every call (GET /volumes/{name}, ~1 ms) so a volume pruned while sandboxd
  // runs is filled again instead of being recreated empty by the engine. After a fill,
  // volumes of this instance's earlier payloads that no container mounts are removed.
  Result<std::string> volume_name();

  // Copies the execd payload into the (created, not started) container `id`.
  Result<void> inject(const std::string& id);

  // Removes execd helper containers that a crashed process of this instance left behind
  // (labelled sandboxd.io/helper, with this instance's label, and never one carrying
  // sandboxd.io/id: that is a sandbox, whatever else it carries). Skipped while a helper
  // of this process is in flight. Best effort.
  void sweep_stale_helpers();

  // Whether an inspected container has a mount at /opt/opensandbox.
  static bool has_execd_mount(const nlohmann::json& inspected);

 private:
  nlohmann::json helper_labels() const;
  bool own_instance(const nlohmann::json& labels) const;
  Result<std::string> create_helper(nlohmann::json host_config);
  Result<std::shared_ptr<const std::string>> payload_locked();
  void remove_stale_volumes(const std::string& current);

  DockerEngine& engine_;
  const std::string image_;
  const std::string instance_id_;
  std::shared_ptr<spdlog::logger> log_;

  std::mutex mu_;  // held while fetching or filling
  std::shared_ptr<const std::string> payload_;  // guarded by mu_
  std::string volume_;                          // guarded by mu_; "" = not ready
};

}  // namespace sbx
