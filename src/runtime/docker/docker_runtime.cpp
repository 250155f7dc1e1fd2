#include "src/runtime/docker/docker_runtime.h"

#include <atomic>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "events/snapshot.h"
#include "src/common/host_path.h"
#include "src/common/log.h"
#include "src/runtime/docker/container_body.h"
#include "src/runtime/docker/container_description.h"
#include "src/runtime/docker/container_logs.h"
#include "src/runtime/docker/egress_sidecar.h"
#include "src/runtime/docker/event_watch.h"
#include "src/runtime/docker/execd_injection.h"
#include "src/runtime/docker/image_pull.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::optional<Micros> docker_time(const json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.starts_with("0001-")) return std::nullopt;
  return parse_rfc3339(s);
}

std::optional<int> exit_code_from_status_text(std::string_view status) {
  // "Exited (137) 2 seconds ago"
  auto open = status.find('(');
  auto close = status.find(')');
  if (!status.starts_with("Exited") || open == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  try {
    return std::stoi(std::string(status.substr(open + 1, close - open - 1)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ContainerStatus status_from_inspect(const json& j, const std::string& sandbox_id) {
  ContainerStatus s;
  s.runtime_id = j.value("Id", "");
  s.sandbox_id = sandbox_id;
  if (j.contains("Config") && j["Config"].is_object() && j["Config"].contains("Labels") &&
      j["Config"]["Labels"].is_object()) {
    s.sandbox_id = j["Config"]["Labels"].value(std::string(kSandboxIdLabel), sandbox_id);
    s.instance_id = j["Config"]["Labels"].value(std::string(kInstanceLabel), "");
  }
  const json& st = j.contains("State") ? j["State"] : json::object();
  s.state = parse_container_state(st.value("Status", "")).value_or(ContainerState::kDead);
  if (s.state == ContainerState::kExited || s.state == ContainerState::kDead) {
    s.exit_code = st.value("ExitCode", 0);
  }
  s.oom_killed = st.value("OOMKilled", false);
  if (st.contains("StartedAt")) s.started_at = docker_time(st["StartedAt"]);
  if (st.contains("FinishedAt")) s.finished_at = docker_time(st["FinishedAt"]);
  if ((s.state == ContainerState::kRunning || s.state == ContainerState::kPaused) &&
      j.contains("NetworkSettings") && j["NetworkSettings"].is_object()) {
    const json& ns = j["NetworkSettings"];
    if (auto it = ns.find("SandboxKey"); it != ns.end() && it->is_string()) {
      s.network_namespace = it->get<std::string>();
    }
  }
  return s;
}

}  // namespace

struct DockerRuntime::Impl {
  DockerOptions options;
  std::string seccomp_option;  // "seccomp=..." or empty
  std::unique_ptr<DockerEngine> engine;
  std::unique_ptr<ExecdInjection> execd;  // also sweeps helpers when execd_image is empty
  std::unique_ptr<EgressSidecars> egress;
  std::shared_ptr<spdlog::logger> log = logger("docker");
  std::atomic<bool> oci_runtime_found{false};  // check_oci_runtime() succeeded once

  bool with_execd() const { return !options.execd_image.empty(); }

  Result<void> check_oci_runtime() {
    if (options.oci_runtime.empty() || oci_runtime_found.load()) return {};
    auto r = engine->call("GET", "/info");
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) return std::unexpected(engine_error(*r, "docker info"));
    std::string names;
    try {
      const json info = json::parse(r->body);
      if (info.contains("Runtimes") && info["Runtimes"].is_object()) {
        for (const auto& [name, runtime] : info["Runtimes"].items()) {
          if (name == options.oci_runtime) {
            oci_runtime_found.store(true);
            return {};
          }
          names += (names.empty() ? "" : ", ") + name;
        }
      }
    } catch (const json::exception& e) {
      return fail(ErrorCode::kInternal, std::string("docker info: malformed answer: ") + e.what());
    }
    return fail(ErrorCode::kFailedPrecondition,
                std::string(kRuntimeNotAvailableCode) + ": secure_runtime.docker_runtime = \"" +
                    options.oci_runtime + "\" is not a runtime of the Docker engine at " +
                    options.host + " (its runtimes: " + (names.empty() ? "none" : names) + ")",
                "secure_runtime.docker_runtime");
  }

  // --- volumes (issue 12) ---------------------------------------------------------------
  // The mounts of spec.volumes: host paths resolved against options.allowed_host_paths
  // right now (the service checked them at create; a link may have changed since: the
  // resolved path is what gets mounted), pvc volumes as named volumes.
  Result<std::vector<ResolvedMount>> mounts_for(const ContainerSpec& spec) {
    std::vector<ResolvedMount> out;
    for (std::size_t i = 0; i < spec.volumes.size(); ++i) {
      const VolumeSpec& v = spec.volumes[i];
      if (v.backend == VolumeBackend::kHost) {
        auto path = resolve_allowed_host_path(v.host_path, v.sub_path, options.allowed_host_paths,
                                              volume_field(i, ".host.path"));
        if (!path) return std::unexpected(path.error());
        out.push_back({ResolvedMount::Type::kBind, *path, v.mount_path, v.read_only, ""});
      } else if (v.backend == VolumeBackend::kPvc) {
        out.push_back(
            {ResolvedMount::Type::kVolume, v.claim_name, v.mount_path, v.read_only, v.sub_path});
      } else {
        return fail(ErrorCode::kInvalidArgument,
                    "VOLUME::UNSUPPORTED_BACKEND: " + volume_field(i, ".ossfs") +
                        ": ossfs volumes are not supported by this server",
                    volume_field(i, ".ossfs"));
      }
    }
    return out;
  }

  // Whether a volume's inspect JSON says this runtime created it for `sandbox_id`.
  bool created_for(const json& volume, const std::string& sandbox_id) const {
    const json* labels = volume.contains("Labels") && volume["Labels"].is_object()
                             ? &volume["Labels"]
                             : nullptr;
    if (labels == nullptr) return false;
    if (labels->value(std::string(kVolumeOfLabel), "") != sandbox_id) return false;
    return labels->value(std::string(kInstanceLabel), "") == options.instance_id;
  }

  // The pvc volumes of `spec` as named volumes: present, or created (createIfNotExists)
  // with the sandboxd.io/volume-of + sandboxd.io/instance labels. Appends to `created` the
  // names this runtime created for the sandbox (also by an earlier attempt of the same
  // create: the labels say so), as it goes, so a caller can undo them when a later volume
  // fails. Errors start with their OpenSandbox code: VOLUME::PVC_NOT_FOUND
  // (createIfNotExists false and absent), VOLUME::PVC_SUBPATH_UNSUPPORTED (subPath on an
  // engine older than API 1.45, checked before anything is made, or a driver other than
  // local), VOLUME::INVALID_PVC_NAME (one of sandboxd's own volumes).
  Result<void> ensure_volumes(const ContainerSpec& spec, std::vector<std::string>& created) {
    for (std::size_t i = 0; i < spec.volumes.size(); ++i) {
      const VolumeSpec& v = spec.volumes[i];
      if (v.backend != VolumeBackend::kPvc || v.sub_path.empty()) continue;
      auto version = engine->api_version();
      if (!version) return std::unexpected(version.error());
      if (docker_api_version_less(*version, "1.45")) {
        return fail(ErrorCode::kUnimplemented,
                    std::string(kPvcSubPathUnsupportedCode) + ": " + volume_field(i, ".subPath") +
                        ": a subPath of a named volume needs Docker Engine API 1.45 or newer; "
                        "this engine speaks " +
                        *version,
                    volume_field(i, ".subPath"));
      }
    }
    for (std::size_t i = 0; i < spec.volumes.size(); ++i) {
      const VolumeSpec& v = spec.volumes[i];
      if (v.backend != VolumeBackend::kPvc) continue;
      const std::string field = volume_field(i, ".pvc.claimName");
      const std::string path = "/volumes/" + url_encode(v.claim_name);
      auto found = engine->call("GET", path);
      if (!found) return std::unexpected(found.error());
      json info;
      if (found->status == 404) {
        if (!v.create_if_not_exists) {
          return fail(ErrorCode::kNotFound,
                      std::string(kPvcNotFoundCode) + ": " + field + ": the named volume \"" +
                          v.claim_name +
                          "\" does not exist and createIfNotExists is false",
                      field);
        }
        json labels = {{std::string(kVolumeOfLabel), spec.sandbox_id}};
        if (!options.instance_id.empty()) labels[std::string(kInstanceLabel)] = options.instance_id;
        auto made = engine->call("POST", "/volumes/create",
                                 json{{"Name", v.claim_name}, {"Labels", labels}}.dump());
        if (!made) return std::unexpected(made.error());
        if (made->status != 201 && made->status != 200) {
          return std::unexpected(engine_error(*made, "create volume " + v.claim_name));
        }
        log->info("sandbox {}: created named volume {}", spec.sandbox_id, v.claim_name);
        // Creating an existing name answers the existing volume: its labels tell whose it is.
        try {
          info = json::parse(made->body);
        } catch (const json::exception&) {
          info = json::object();
        }
      } else if (found->status == 200) {
        try {
          info = json::parse(found->body);
        } catch (const json::exception& e) {
          return fail(ErrorCode::kInternal, std::string("malformed volume answer: ") + e.what());
        }
      } else {
        return std::unexpected(engine_error(*found, "inspect volume " + v.claim_name));
      }
      // sandboxd's own volumes (the execd volume every sandbox runs from) are never a
      // sandbox's to mount: read-write, one sandbox could change every sandbox's execd.
      if (info.contains("Labels") && info["Labels"].is_object() &&
          info["Labels"].contains(std::string(kHelperLabel))) {
        return fail(ErrorCode::kInvalidArgument,
                    "VOLUME::INVALID_PVC_NAME: " + field + ": \"" + v.claim_name +
                        "\" is a volume of sandboxd itself",
                    field);
      }
      if (!v.sub_path.empty() && info.value("Driver", "local") != "local") {
        return fail(ErrorCode::kInvalidArgument,
                    std::string(kPvcSubPathUnsupportedCode) + ": " + volume_field(i, ".subPath") +
                        ": subPath needs a volume of the local driver; \"" + v.claim_name +
                        "\" uses \"" + info.value("Driver", "") + "\"",
                    volume_field(i, ".subPath"));
      }
      if (created_for(info, spec.sandbox_id) &&
          std::find(created.begin(), created.end(), v.claim_name) == created.end()) {
        created.push_back(v.claim_name);
      }
    }
    return {};
  }

  // Removes the volumes among `names` this runtime created for `sandbox_id`.
  Result<void> remove_volumes(const std::string& sandbox_id,
                              const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      const std::string path = "/volumes/" + url_encode(name);
      auto found = engine->call("GET", path);
      if (!found) return std::unexpected(found.error());
      if (found->status == 404) continue;
      if (found->status != 200) return std::unexpected(engine_error(*found, "inspect volume " + name));
      json info;
      try {
        info = json::parse(found->body);
      } catch (const json::exception& e) {
        return fail(ErrorCode::kInternal, std::string("malformed volume answer: ") + e.what());
      }
      if (!created_for(info, sandbox_id)) {
        log->warn("sandbox {}: volume {} is not labelled as created for it; left in place",
                  sandbox_id, name);
        continue;
      }
      auto r = engine->call("DELETE", path);
      if (!r) return std::unexpected(r.error());
      if (r->status == 204 || r->status == 404) {
        log->info("sandbox {}: removed named volume {}", sandbox_id, name);
        continue;
      }
      if (r->status == 409) {
        return fail(ErrorCode::kFailedPrecondition,
                    "volume " + name + " is still in use: " + engine_message(*r));
      }
      return std::unexpected(engine_error(*r, "remove volume " + name));
    }
    return {};
  }

  // The volumes among `created` whose pvc says deleteOnSandboxTermination.
  static std::vector<std::string> to_delete(const ContainerSpec& spec,
                                            const std::vector<std::string>& created) {
    std::vector<std::string> out;
    for (const VolumeSpec& v : spec.volumes) {
      if (v.backend == VolumeBackend::kPvc && v.delete_on_sandbox_termination &&
          std::find(created.begin(), created.end(), v.claim_name) != created.end()) {
        out.push_back(v.claim_name);
      }
    }
    return out;
  }

  // The body for `spec`, logging the reserved labels it leaves out.
  Result<json> create_body(const ContainerSpec& spec, const std::string& execd_volume,
                           const std::vector<ResolvedMount>& mounts) const {
    auto body = container_create_body(with_sandbox_env(spec, options), options, seccomp_option,
                                      execd_volume);
    if (!body) return std::unexpected(body.error());
    if (auto added = add_volumes_and_devices(body->body, spec, options, mounts); !added) {
      return std::unexpected(added.error());
    }
    for (const std::string& key : body->dropped_labels) {
      log->warn("sandbox {}: label {} is reserved for sandboxd; not set on the container",
                spec.sandbox_id, key);
    }
    return std::move(body->body);
  }

  // The volumes first (host paths resolved now, named volumes made), then the container;
  // named volumes made for a create that fails for good are removed again when their pvc
  // says deleteOnSandboxTermination (nothing will ever end that sandbox's use of them).
  Result<RuntimeInfo> create_and_start(const ContainerSpec& spec) {
    if (auto ok = validate_container_spec(spec); !ok) return std::unexpected(ok.error());
    if (!spec.pool_ref.empty()) {
      // Docker keeps no pools of its own (manages_pools() is false): sandboxd's pool keeper
      // makes the members, and a claim never reaches the runtime as a pool_ref.
      return fail(ErrorCode::kInvalidArgument,
                  "the docker runtime does not keep pools: a create cannot name pool \"" +
                      spec.pool_ref + "\" as its poolRef",
                  "extensions.poolRef");
    }
    auto mounts = mounts_for(spec);
    if (!mounts) return std::unexpected(mounts.error());
    std::vector<std::string> created;
    auto undo = [&](const Error& error) {
      if (retryable(error)) return;  // a retry picks the volumes up again (their labels)
      if (auto rm = remove_volumes(spec.sandbox_id, to_delete(spec, created)); !rm) {
        log->warn("sandbox {}: could not remove its volumes: {}", spec.sandbox_id,
                  rm.error().message);
      }
    };
    if (auto ensured = ensure_volumes(spec, created); !ensured) {
      undo(ensured.error());
      return std::unexpected(ensured.error());
    }
    auto info = create_with_egress(spec, *mounts);
    if (!info) {
      Error error = gpu_error(spec, info.error());
      undo(error);
      return std::unexpected(std::move(error));
    }
    info->created_volumes = std::move(created);
    return info;
  }

  // An engine that cannot satisfy a GPU request ("could not select device driver ...")
  // fails the create with DOCKER::GPU_UNAVAILABLE (not retried: the host has no GPU).
  static Error gpu_error(const ContainerSpec& spec, Error error) {
    if (spec.gpu.empty() || retryable(error)) return error;
    if (error.message.find("device driver") == std::string::npos &&
        error.message.find("gpu") == std::string::npos) {
      return error;
    }
    error.code = ErrorCode::kFailedPrecondition;
    error.message = std::string(kGpuUnavailableCode) + ": resourceLimits.gpu = \"" + spec.gpu +
                    "\" cannot be satisfied by this engine: " + error.message;
    error.field = "resourceLimits.gpu";
    return error;
  }

  // --- egress: the sidecar first, then the sandbox container in its namespace -----------
  // The two are one unit: a failure that is not the engine being away removes both.
  Result<RuntimeInfo> create_with_egress(const ContainerSpec& spec,
                                         const std::vector<ResolvedMount>& mounts) {
    if (!spec.egress) return create_and_start_container(spec, mounts);
    EgressSidecars::InFlight guard(*egress, spec.sandbox_id);
    auto undo = [&](const Error& e) -> Result<RuntimeInfo> {
      if (!retryable(e)) {
        if (auto rm = engine->remove_container(container_name(spec.sandbox_id)); !rm) {
          log->warn("sandbox {}: could not remove its container: {}", spec.sandbox_id,
                    rm.error().message);
        }
        if (auto rm = egress->remove(spec.sandbox_id); !rm) {
          log->warn("sandbox {}: could not remove its egress sidecar: {}", spec.sandbox_id,
                    rm.error().message);
        }
      }
      return std::unexpected(e);
    };
    auto sidecar = egress->ensure_started(spec);
    if (!sidecar) return undo(sidecar.error());
    if (!sidecar->paused) {
      if (auto ready = egress->wait_ready(spec); !ready) return undo(ready.error());
    }
    auto created = create_and_start_container(spec, mounts);
    if (!created) return undo(created.error());
    return created;
  }

  Result<RuntimeInfo> create_and_start_container(const ContainerSpec& spec,
                                                 const std::vector<ResolvedMount>& mounts) {
    const std::string name = container_name(spec.sandbox_id);
    // A concurrent create of the same name answers 409 before the engine lets the
    // container be inspected: look again after a short pause, a bounded number of times.
    constexpr int kAttempts = 40;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto existing = engine->inspect_container(name);
      if (!existing) return std::unexpected(existing.error());
      if (*existing) {
        ContainerStatus s = status_from_inspect(**existing, spec.sandbox_id);
        switch (s.state) {
          case ContainerState::kRunning:
          case ContainerState::kPaused:
          case ContainerState::kRestarting:
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kCreated:  // an earlier attempt stopped before start
            if (with_execd() && !ExecdInjection::has_execd_mount(**existing)) {
              if (auto in = execd->inject(s.runtime_id); !in) return std::unexpected(in.error());
            }
            [[fallthrough]];
          case ContainerState::kExited:
            if (auto st = engine->start_container(s.runtime_id); !st) {
              return std::unexpected(st.error());
            }
            return RuntimeInfo{s.runtime_id};
          case ContainerState::kDead:
          case ContainerState::kRemoving:
            if (auto rm = engine->remove_container(s.runtime_id); !rm) {
              return std::unexpected(rm.error());
            }
            continue;
        }
      }
      // execd by volume when it can be had; an engine that cannot give one (a volume
      // driver refusing, say) still gets sandboxes, with execd copied in.
      std::string volume;
      if (with_execd()) {
        auto v = execd->volume_name();
        if (v) {
          volume = *v;
        } else if (retryable(v.error())) {
          return std::unexpected(v.error());
        } else {
          log->warn("no execd volume ({}); copying execd into {} instead", v.error().message, name);
        }
      }
      if (auto rt = check_oci_runtime(); !rt) return std::unexpected(rt.error());
      auto body = create_body(spec, volume, mounts);
      if (!body) return std::unexpected(body.error());
      if (spec.egress) join_egress_namespace(*body, spec.sandbox_id);
      std::string query = "?name=" + url_encode(name);
      if (spec.platform) {
        query += "&platform=" + url_encode(spec.platform->os + "/" + spec.platform->arch);
      }
      // A snapshot image is local: it is never pulled (a missing one is IMAGE_NOT_FOUND).
      auto created = create_container_pulling(
          *engine, query, *body, spec.image_uri, spec.auth, spec.platform,
          is_snapshot_image_ref(spec.image_uri) ? PullPolicy::kNever : options.pull_policy);
      if (!created) return std::unexpected(created.error());
      if (created->status == 409) continue;  // created concurrently: look again
      if (created->status != 201) {
        return std::unexpected(engine_error(*created, "create container " + name));
      }
      std::string id;
      try {
        id = json::parse(created->body).at("Id").get<std::string>();
      } catch (const json::exception& e) {
        return fail(ErrorCode::kInternal, std::string("malformed create answer: ") + e.what());
      }
      Result<void> done;
      if (with_execd() && volume.empty()) done = execd->inject(id);
      if (done) done = engine->start_container(id);
      if (!done) {
        if (!retryable(done.error())) {
          if (auto rm = engine->remove_container(id); !rm) {
            log->warn("could not remove failed container {}: {}", name, rm.error().message);
          }
        }
        return std::unexpected(done.error());
      }
      return RuntimeInfo{id};
    }
    return fail(ErrorCode::kConflict, "container " + name + " keeps changing; try again");
  }

  // --- containers adopted from the reference server (reference_containers.h) -----------

  // Containers whose labels match `label_filter` ("key" or "key=value"), every state.
  Result<json> list_labelled(const std::string& label_filter) {
    const std::string filters = json{{"label", {label_filter}}}.dump();
    auto r = engine->call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) return std::unexpected(engine_error(*r, "list containers"));
    try {
      json list = json::parse(r->body);
      if (!list.is_array()) return fail(ErrorCode::kInternal, "list containers: not an array");
      return list;
    } catch (const json::exception& e) {
      return fail(ErrorCode::kInternal,
                  std::string("list containers: malformed answer: ") + e.what());
    }
  }

  // Ids of the reference sandbox containers of `sandbox_id` (normally none or one).
  Result<std::vector<std::string>> reference_containers_of(const std::string& sandbox_id) {
    auto list = list_labelled(std::string(kReferenceIdLabel) + "=" + sandbox_id);
    if (!list) return std::unexpected(list.error());
    std::vector<std::string> ids;
    for (const json& c : *list) {
      if (!c.is_object() || reference_sandbox_id(c.value("Labels", json::object())) != sandbox_id)
        continue;
      if (auto id = c.value("Id", ""); !id.empty()) ids.push_back(std::move(id));
    }
    return ids;
  }

  // The container of `sandbox_id` when it is not named `sandbox-<id>` (the caller tried
  // that name first and the engine did not know it): the one reference container labelled
  // `opensandbox.io/id=<id>`; nullopt when there is none (or, ambiguously, several).
  Result<std::optional<std::string>> resolve_container(const std::string& sandbox_id) {
    auto ids = reference_containers_of(sandbox_id);
    if (!ids) return std::unexpected(ids.error());
    if (ids->size() != 1) return std::optional<std::string>();
    return std::optional<std::string>(ids->front());
  }

  // The inspect document of the container of `sandbox_id` (by name, else resolve_container).
  Result<std::optional<json>> inspect_sandbox(const std::string& sandbox_id) {
    auto by_name = engine->inspect_container(container_name(sandbox_id));
    if (!by_name || *by_name) return by_name;
    auto resolved = resolve_container(sandbox_id);
    if (!resolved) return std::unexpected(resolved.error());
    if (!*resolved) return std::optional<json>();
    return engine->inspect_container(**resolved);
  }

  // After `sandbox-<id>` is removed: the reference containers of the id under another name,
  // and the reference's egress sidecar of the id.
  Result<void> remove_reference_leftovers(const std::string& sandbox_id) {
    auto ids = reference_containers_of(sandbox_id);
    if (!ids) return std::unexpected(ids.error());
    auto sidecars = list_labelled(std::string(kReferenceEgressSidecarLabel) + "=" + sandbox_id);
    if (!sidecars) return std::unexpected(sidecars.error());
    for (const json& c : *sidecars) {
      if (!c.is_object()) continue;
      const json labels = c.value("Labels", json::object());
      if (labels.is_object() && labels.contains(std::string(kSandboxIdLabel))) continue;
      if (auto id = c.value("Id", ""); !id.empty()) ids->push_back(std::move(id));
    }
    for (const std::string& id : *ids) {
      if (auto rm = engine->remove_container(id); !rm) return rm;
      log->info("sandbox {}: removed reference server container {}", sandbox_id, id);
    }
    return {};
  }

  // Reference sandbox containers as list() reports them.
  Result<std::vector<ContainerStatus>> list_reference() {
    auto list = list_labelled(std::string(kReferenceIdLabel));
    if (!list) return std::unexpected(list.error());
    std::vector<ContainerStatus> out;
    for (const json& c : *list) {
      if (!c.is_object()) continue;
      ContainerStatus s;
      s.sandbox_id = reference_sandbox_id(c.value("Labels", json::object()));
      if (s.sandbox_id.empty()) continue;
      s.runtime_id = c.value("Id", "");
      s.state = parse_container_state(c.value("State", "")).value_or(ContainerState::kDead);
      if (s.state == ContainerState::kExited) {
        s.exit_code = exit_code_from_status_text(c.value("Status", ""));
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<ReferenceCandidate>> reference_sandboxes() {
    auto list = list_labelled(std::string(kReferenceIdLabel));
    if (!list) return std::unexpected(list.error());
    std::vector<ReferenceCandidate> out;
    std::map<std::string, json> image_labels;  // image id -> its labels
    for (const json& c : *list) {
      if (!c.is_object()) continue;
      if (reference_sandbox_id(c.value("Labels", json::object())).empty()) continue;
      const std::string id = c.value("Id", "");
      if (id.empty()) continue;
      auto inspected = engine->inspect_container(id);
      if (!inspected) return std::unexpected(inspected.error());
      if (!*inspected) continue;  // removed meanwhile
      const std::string image = (*inspected)->value("Image", "");
      auto known = image_labels.find(image);
      if (known == image_labels.end()) {
        json labels = json::object();
        if (!image.empty()) {
          auto r = engine->call("GET", "/images/" + url_encode(image) + "/json");
          if (!r) return std::unexpected(r.error());
          if (r->status == 200) {
            try {
              json j = json::parse(r->body);
              if (j.contains("Config") && j["Config"].is_object() &&
                  j["Config"].contains("Labels") && j["Config"]["Labels"].is_object()) {
                labels = j["Config"]["Labels"];
              }
            } catch (const json::exception&) {
            }
          }
        }
        known = image_labels.emplace(image, std::move(labels)).first;
      }
      out.push_back(reference_candidate(**inspected, known->second));
    }
    return out;
  }

  Result<void> pause_or_resume(const std::string& sandbox_id, bool pause) {
    std::string name = container_name(sandbox_id);
    const char* verb = pause ? "pause" : "unpause";
    auto r = engine->call("POST", "/containers/" + name + "/" + verb);
    if (!r) return std::unexpected(r.error());
    if (r->status == 404) {  // an adopted container under another name?
      auto resolved = resolve_container(sandbox_id);
      if (!resolved) return std::unexpected(resolved.error());
      if (*resolved) {
        name = **resolved;
        r = engine->call("POST", "/containers/" + name + "/" + verb);
        if (!r) return std::unexpected(r.error());
      }
    }
    if (r->status == 204) return {};
    if (r->status == 404) {
      return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
    }
    // Already in the target state, or not running at all?
    auto now = engine->inspect_container(name);
    if (!now) return std::unexpected(now.error());
    if (!*now) return fail(ErrorCode::kNotFound, "no container for sandbox " + sandbox_id);
    ContainerState st = status_from_inspect(**now, sandbox_id).state;
    if (st == (pause ? ContainerState::kPaused : ContainerState::kRunning)) return {};
    return fail(ErrorCode::kFailedPrecondition, std::string(verb) + " sandbox " + sandbox_id +
                                                    ": container is " + std::string(to_string(st)) +
                                                    " (" + engine_message(*r) + ")");
  }
};

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(DockerOptions options) {
  auto http = HttpClient::create(HttpClientOptions{
      .endpoint = options.host,
      .tls = options.tls,
      .connect_timeout = options.connect_timeout,
      .request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.api_timeout),
  });
  if (!http) {
    Error e = http.error();
    e.field = "docker.host";
    return std::unexpected(std::move(e));
  }
  return create(std::move(options), std::move(*http));
}

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(
    DockerOptions options, std::unique_ptr<HttpTransport> transport) {
  if (options.api_timeout.count() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "docker.api_timeout must be positive",
                "docker.api_timeout");
  }
  auto seccomp = seccomp_security_option(options.seccomp_profile);
  if (!seccomp) return std::unexpected(seccomp.error());
  auto impl = std::make_unique<Impl>();
  impl->seccomp_option = std::move(*seccomp);
  impl->engine =
      std::make_unique<DockerEngine>(options.host, std::move(transport), options.api_timeout);
  impl->execd =
      std::make_unique<ExecdInjection>(*impl->engine, options.execd_image, options.instance_id);
  impl->options = std::move(options);
  impl->egress =
      std::make_unique<EgressSidecars>(*impl->engine, impl->options, impl->seccomp_option);
  return std::unique_ptr<DockerRuntime>(new DockerRuntime(std::move(impl)));
}

DockerRuntime::DockerRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DockerRuntime::~DockerRuntime() = default;

Result<std::string> DockerRuntime::api_version() { return impl_->engine->api_version(); }

Result<void> DockerRuntime::check_oci_runtime() { return impl_->check_oci_runtime(); }

Result<RuntimeInfo> DockerRuntime::create_and_start(const ContainerSpec& spec) {
  return impl_->create_and_start(spec);
}

// Pause freezes the sandbox, then its egress sidecar (absent: nothing to do); resume thaws
// the sidecar first, so the sandbox never runs without its network.
Result<void> DockerRuntime::pause(const std::string& sandbox_id) {
  if (auto r = impl_->pause_or_resume(sandbox_id, true); !r) return r;
  return impl_->egress->pause_or_resume(sandbox_id, true);
}

Result<void> DockerRuntime::resume(const std::string& sandbox_id) {
  if (auto r = impl_->egress->pause_or_resume(sandbox_id, false); !r) return r;
  return impl_->pause_or_resume(sandbox_id, false);
}

Result<void> DockerRuntime::remove(const std::string& sandbox_id) {
  if (auto rm = impl_->engine->remove_container(container_name(sandbox_id)); !rm) return rm;
  if (auto rm = impl_->egress->remove(sandbox_id); !rm) return rm;
  return impl_->remove_reference_leftovers(sandbox_id);
}

// --- diagnostics (issue 13) ----------------------------------------------------------------

Result<std::optional<ContainerLogs>> DockerRuntime::container_logs(const std::string& sandbox_id,
                                                                   const LogLimits& limits) {
  auto j = impl_->inspect_sandbox(sandbox_id);
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::nullopt;
  const json& doc = **j;
  std::string id = container_name(sandbox_id);
  if (auto it = doc.find("Id"); it != doc.end() && it->is_string()) id = it->get<std::string>();
  bool tty = false;
  if (auto c = doc.find("Config"); c != doc.end() && c->is_object()) {
    if (auto t = c->find("Tty"); t != c->end() && t->is_boolean()) tty = t->get<bool>();
  }
  LogDemuxer demux(limits.max_bytes,
                   tty ? LogDemuxer::Framing::kRaw : LogDemuxer::Framing::kMultiplexed);
  // The stream has no overall timeout of its own: a watchdog stops it at api_timeout.
  std::stop_source deadline;
  const auto timeout = impl_->options.api_timeout;
  std::jthread watchdog([&deadline, timeout](std::stop_token done) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, done, timeout, [] { return false; });
    if (!done.stop_requested()) deadline.request_stop();
  });
  auto r = impl_->engine->stream(
      docker_logs_path(id, limits), [&demux](std::string_view c) { return demux.feed(c); },
      deadline.get_token());
  watchdog.request_stop();
  watchdog.join();
  if (!r) return std::unexpected(r.error());
  if (deadline.stop_requested()) {
    return fail(ErrorCode::kDeadlineExceeded,
                std::string("logs of sandbox ") + sandbox_id +
                    ": the Docker engine did not finish within " +
                    std::to_string(timeout.count()) + " s (docker.api_timeout)",
                "runtime");
  }
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) return std::unexpected(engine_error(*r, std::string("logs of ") + id));
  if (demux.error()) return std::unexpected(*demux.error());
  return std::optional<ContainerLogs>(std::move(demux).finish());
}

Result<std::optional<std::string>> DockerRuntime::describe(const std::string& sandbox_id) {
  auto j = impl_->inspect_sandbox(sandbox_id);
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::nullopt;
  return std::optional<std::string>(describe_container(**j));
}

Result<std::optional<ContainerStatus>> DockerRuntime::inspect(const std::string& sandbox_id) {
  auto j = impl_->inspect_sandbox(sandbox_id);
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::nullopt;
  ContainerStatus s = status_from_inspect(**j, sandbox_id);
  // A sandbox in an egress sidecar's namespace lives only as long as the sidecar does.
  const bool alive = s.state == ContainerState::kRunning || s.state == ContainerState::kPaused ||
                     s.state == ContainerState::kRestarting;
  if (alive && joins_egress_sidecar(**j, sandbox_id)) {
    auto sidecar = impl_->egress->status(sandbox_id);
    if (!sidecar) return std::unexpected(sidecar.error());
    const bool sidecar_alive = *sidecar && ((*sidecar)->state == ContainerState::kRunning ||
                                            (*sidecar)->state == ContainerState::kPaused ||
                                            (*sidecar)->state == ContainerState::kRestarting);
    if (!sidecar_alive) {
      s.state = ContainerState::kDead;
      s.exit_code.reset();
      s.reason = "EgressSidecarDied";
      s.message = "the egress sidecar " + egress_container_name(sandbox_id) +
                  (*sidecar ? " died (it is " + std::string(to_string((*sidecar)->state)) +
                                  ((*sidecar)->exit_code
                                       ? ", exit code " + std::to_string(*(*sidecar)->exit_code)
                                       : std::string()) +
                                  ")"
                            : std::string(" is gone")) +
                  "; the sandbox has no network";
    }
  }
  return s;
}

Result<std::vector<ReferenceCandidate>> DockerRuntime::reference_sandboxes() {
  return impl_->reference_sandboxes();
}

Result<void> DockerRuntime::remove_volumes(const std::string& sandbox_id,
                                           const std::vector<std::string>& names) {
  return impl_->remove_volumes(sandbox_id, names);
}

Result<std::vector<ContainerStatus>> DockerRuntime::list() {
  const std::string filters = json{{"label", {std::string(kSandboxIdLabel)}}}.dump();
  auto r = impl_->engine->call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(engine_error(*r, "list containers"));
  // The egress sidecars, listed after the sandbox containers: a sidecar whose sandbox
  // container is not in that listing is an orphan candidate (sweep_orphans looks again,
  // under its lock, before removing it); a running sandbox container whose sidecar is not
  // alive is reported dead (inspect() says why).
  const std::string sidecar_filters = json{{"label", {std::string(kEgressOfLabel)}}}.dump();
  auto sr =
      impl_->engine->call("GET", "/containers/json?all=1&filters=" + url_encode(sidecar_filters));
  if (!sr) return std::unexpected(sr.error());
  if (sr->status != 200) return std::unexpected(engine_error(*sr, "list egress sidecars"));
  json sidecars;
  std::map<std::string, ContainerState> sidecar_state;
  try {
    sidecars = json::parse(sr->body);
    for (const json& c : sidecars) {
      if (!c.contains("Labels") || !c["Labels"].is_object()) continue;
      sidecar_state[c["Labels"].value(std::string(kEgressOfLabel), "")] =
          parse_container_state(c.value("State", "")).value_or(ContainerState::kDead);
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string("list egress sidecars: malformed answer: ") + e.what());
  }
  std::vector<ContainerStatus> out;
  try {
    for (const json& c : json::parse(r->body)) {
      ContainerStatus s;
      s.runtime_id = c.value("Id", "");
      if (c.contains("Labels") && c["Labels"].is_object()) {
        s.sandbox_id = c["Labels"].value(std::string(kSandboxIdLabel), "");
        s.instance_id = c["Labels"].value(std::string(kInstanceLabel), "");
      }
      s.state = parse_container_state(c.value("State", "")).value_or(ContainerState::kDead);
      if (s.state == ContainerState::kExited) {
        s.exit_code = exit_code_from_status_text(c.value("Status", ""));
      }
      if ((s.state == ContainerState::kRunning || s.state == ContainerState::kPaused) &&
          joins_egress_sidecar(c, s.sandbox_id)) {
        auto it = sidecar_state.find(s.sandbox_id);
        if (it == sidecar_state.end() ||
            (it->second != ContainerState::kRunning && it->second != ContainerState::kPaused &&
             it->second != ContainerState::kRestarting)) {
          s.state = ContainerState::kDead;  // inspect() says why
          s.reason = "EgressSidecarDied";
        }
      }
      out.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal,
                std::string("list containers: malformed answer: ") + e.what());
  }
  auto reference = impl_->list_reference();
  if (!reference) return std::unexpected(reference.error());
  for (auto& c : *reference) out.push_back(std::move(c));
  impl_->execd->sweep_stale_helpers();
  std::set<std::string> with_container;
  for (const auto& s : out) with_container.insert(s.sandbox_id);
  impl_->egress->sweep_orphans(sidecars, with_container);
  return out;
}

Result<void> DockerRuntime::ping() { return impl_->engine->ping(); }

Result<void> DockerRuntime::watch(std::optional<Micros> since, const EventCallback& on_event,
                                  std::stop_token stop) {
  return watch_engine_events(*impl_->engine, since, on_event, std::move(stop));
}

// --- snapshots (issue 13) ----------------------------------------------------------------

namespace {

// "sandboxd-snapshot/<id>:latest" -> ("sandboxd-snapshot/<id>", "latest").
std::pair<std::string, std::string> split_ref(const std::string& ref) {
  const auto colon = ref.rfind(':');
  if (colon == std::string::npos || ref.find('/', colon) != std::string::npos) return {ref, "latest"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

}  // namespace

Result<std::string> DockerRuntime::commit_snapshot(const std::string& sandbox_id,
                                                   const std::string& snapshot_id,
                                                   const std::string& image_ref) {
  if (!is_snapshot_image_ref(image_ref)) {
    return fail(ErrorCode::kInvalidArgument,
                std::string("snapshot image reference must start with sandboxd-snapshot/: ") + image_ref,
                "imageRef");
  }
  const auto [repo, tag] = split_ref(image_ref);
  json labels = json::object();
  labels[std::string(kSnapshotLabel)] = snapshot_id;
  if (!impl_->options.instance_id.empty()) {
    labels[std::string(kInstanceLabel)] = impl_->options.instance_id;
  }
  // The body is the image's config override: only its labels (the rest is the container's).
  const json body = {{"Labels", labels}};
  const std::string name = container_name(sandbox_id);
  auto r = impl_->engine->call("POST", std::string("/commit?container=") + url_encode(name) +
                                           std::string("&repo=") + url_encode(repo) + std::string("&tag=") + url_encode(tag) +
                                           "&pause=true",
                               body.dump());
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) {
    return fail(ErrorCode::kNotFound, std::string("container ") + name + std::string(" does not exist: ") + engine_message(*r));
  }
  if (r->status != 201 && r->status != 200) {
    return std::unexpected(engine_error(*r, std::string("commit container ") + name));
  }
  try {
    const json j = json::parse(r->body);
    const std::string id = j.value("Id", std::string());
    if (id.empty()) return fail(ErrorCode::kInternal, std::string("commit of ") + name + " returned no image id");
    return id;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string("commit of ") + name + std::string(": bad answer: ") + e.what());
  }
}

Result<std::optional<std::string>> DockerRuntime::snapshot_image(const std::string& snapshot_id,
                                                                 const std::string& image_ref) {
  auto r = impl_->engine->call("GET", std::string("/images/") + url_encode(image_ref, "/:@") + "/json");
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) return std::unexpected(engine_error(*r, std::string("inspect image ") + image_ref));
  try {
    const json j = json::parse(r->body);
    const json& labels = j["Config"]["Labels"];
    if (!labels.is_object() || labels.value(std::string(kSnapshotLabel), "") != snapshot_id) {
      return std::nullopt;  // some other image under that name: not this snapshot's
    }
    return j.value("Id", std::string());
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string("inspect image ") + image_ref + std::string(": bad answer: ") + e.what());
  }
}

Result<void> DockerRuntime::remove_snapshot_image(const std::string& snapshot_id,
                                                  const std::string& image_ref) {
  auto present = snapshot_image(snapshot_id, image_ref);
  if (!present) return std::unexpected(present.error());
  if (!*present) return {};
  // By id: removes the image and every tag it has (a retag elsewhere would be removed
  // too, which is what deleting a snapshot means); force=false keeps images in use.
  auto r = impl_->engine->call("DELETE", std::string("/images/") + url_encode(**present, ":") + "?noprune=false");
  if (!r) return std::unexpected(r.error());
  if (r->status == 200 || r->status == 404) return {};
  if (r->status == 409) {
    return fail(ErrorCode::kFailedPrecondition,
                std::string("snapshot image ") + image_ref + std::string(" is in use: ") + engine_message(*r));
  }
  return std::unexpected(engine_error(*r, std::string("remove image ") + image_ref));
}

Result<std::vector<SnapshotImage>> DockerRuntime::list_snapshot_images() {
  json label_filter = json::array({std::string(kSnapshotLabel)});
  if (!impl_->options.instance_id.empty()) {
    label_filter.push_back(std::string(kInstanceLabel) + std::string("=") + impl_->options.instance_id);
  }
  const std::string filters = json{{"label", label_filter}}.dump();
  auto r = impl_->engine->call("GET", std::string("/images/json?filters=") + url_encode(filters));
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(engine_error(*r, "list snapshot images"));
  std::vector<SnapshotImage> out;
  try {
    for (const auto& img : json::parse(r->body)) {
      SnapshotImage s;
      s.image_id = img.value("Id", std::string());
      if (img.contains("Labels") && img["Labels"].is_object()) {
        s.snapshot_id = img["Labels"].value(std::string(kSnapshotLabel), "");
      }
      if (img.contains("RepoTags") && img["RepoTags"].is_array()) {
        for (const auto& t : img["RepoTags"]) {
          if (t.is_string() && t.get<std::string>() != "<none>:<none>") s.refs.push_back(t);
        }
      }
      if (!s.snapshot_id.empty()) out.push_back(std::move(s));
    }
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string("list snapshot images: bad answer: ") + e.what());
  }
  return out;
}

}  // namespace sbx
