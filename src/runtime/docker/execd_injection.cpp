#include "src/runtime/docker/execd_injection.h"

#include <cstdint>
#include <cstdio>
#include <utility>

#include "src/runtime/docker/execd_archive.h"
#include "src/runtime/docker/image_pull.h"
#include "src/runtime/runtime.h"

namespace sbx {

using json = nlohmann::json;

ExecdInjection::ExecdInjection(DockerEngine& engine, std::string execd_image,
                               std::string instance_id)
    : engine_(engine),
      image_(std::move(execd_image)),
      instance_id_(std::move(instance_id)),
      log_(logger("docker")) {}

// sandboxd.io/helper=execd and, when scoped, sandboxd.io/instance=<id>.
json ExecdInjection::helper_labels() const {
  json labels = {{std::string(kHelperLabel), "execd"}};
  if (!instance_id_.empty()) labels[std::string(kInstanceLabel)] = instance_id_;
  return labels;
}

// Whether labels (a JSON object, possibly null) say "made by this instance": the instance
// label equals instance_id_ (absent counts as "").
bool ExecdInjection::own_instance(const json& labels) const {
  std::string instance;
  if (labels.is_object()) instance = labels.value(std::string(kInstanceLabel), "");
  return instance == instance_id_;
}

void ExecdInjection::sweep_stale_helpers() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  json label_filter = json::array({std::string(kHelperLabel)});
  if (!instance_id_.empty()) {
    label_filter.push_back(std::string(kInstanceLabel) + "=" + instance_id_);
  }
  const std::string filters = json{{"label", label_filter}}.dump();
  auto r = engine_.call("GET", "/containers/json?all=1&filters=" + url_encode(filters));
  if (!r || r->status != 200) return;
  try {
    for (const json& c : json::parse(r->body)) {
      const std::string id = c.value("Id", "");
      if (id.empty()) continue;
      const json labels = c.contains("Labels") ? c["Labels"] : json();
      if (!labels.is_object() || labels.contains(std::string(kSandboxIdLabel))) continue;
      if (!own_instance(labels)) continue;
      if (auto rm = engine_.remove_container(id); rm) {
        log_->info("removed stale execd helper container {}", id.substr(0, 12));
      }
    }
  } catch (const json::exception&) {
  }
}

// Creates (never starts) a container of the execd image, labelled as a helper so that a
// crash between its create and removal is swept up; its id.
Result<std::string> ExecdInjection::create_helper(json host_config) {
  json body = {{"Image", image_},
               {"Entrypoint", json::array({"/execd"})},
               {"Labels", helper_labels()},
               {"NetworkDisabled", true}};
  if (!host_config.empty()) body["HostConfig"] = std::move(host_config);
  auto created = create_container_pulling(engine_, "", body, image_, std::nullopt, std::nullopt);
  if (!created) return std::unexpected(created.error());
  if (created->status != 201) {
    return std::unexpected(engine_error(*created, "create execd helper from " + image_));
  }
  try {
    return json::parse(created->body).at("Id").get<std::string>();
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInternal, std::string("malformed create answer: ") + e.what());
  }
}

Result<std::shared_ptr<const std::string>> ExecdInjection::payload_locked() {
  if (payload_) return payload_;
  auto created = create_helper(json::object());
  if (!created) return std::unexpected(created.error());
  const std::string helper = *created;
  auto fetch = [&](const char* path) -> Result<std::string> {
    auto r = engine_.call("GET", "/containers/" + helper + "/archive?path=" + url_encode(path));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) {
      return std::unexpected(engine_error(*r, std::string("copy ") + path + " out of " + image_));
    }
    return std::move(r->body);
  };
  auto execd_tar = fetch("/execd");
  auto bootstrap_tar = execd_tar ? fetch("/bootstrap.sh") : Result<std::string>("");
  if (auto rm = engine_.remove_container(helper); !rm) {
    log_->warn("could not remove execd helper container {}: {}", helper, rm.error().message);
  }
  if (!execd_tar) return std::unexpected(execd_tar.error());
  if (!bootstrap_tar) return std::unexpected(bootstrap_tar.error());
  auto payload = make_execd_payload(*execd_tar, *bootstrap_tar);
  if (!payload) {
    Error e = payload.error();
    e.message = "execd image " + image_ + ": " + e.message;
    return std::unexpected(std::move(e));
  }
  payload_ = std::make_shared<const std::string>(std::move(*payload));
  log_->info("execd from {} cached ({} bytes)", image_, payload_->size());
  return payload_;
}

// One named volume per execd payload, holding opt/opensandbox/{execd,bootstrap.sh}. It is
// filled through a created-never-started helper container that mounts it (the archive API
// writes into a stopped container's volumes), so a create costs a mount instead of a copy
// into the container's root file system (the copy mounts and unmounts that file system:
// ~80 ms per create, more for a real execd of tens of MB). Read-only, so one sandbox cannot
// change the execd another one runs. The volume outlives sandboxd (a cache: the next start
// finds it filled); a new execd image gets a new volume.
//
// Filled means: bootstrap.sh, the payload's last entry, is present (the engine writes the
// entries in order).
Result<std::string> ExecdInjection::volume_name() {
  std::lock_guard lock(mu_);
  if (!volume_.empty()) {
    auto r = engine_.call("GET", "/volumes/" + volume_);
    if (!r) return std::unexpected(r.error());
    if (r->status == 200) return volume_;
    log_->warn("execd volume {} is gone (answer {}); filling it again", volume_, r->status);
    volume_.clear();
  }
  auto payload = payload_locked();
  if (!payload) return std::unexpected(payload.error());
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 of the payload
  for (unsigned char c : **payload) h = (h ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  // One volume per instance: its labels say whose it is, and only its instance prunes it.
  std::string name = std::string("sandboxd-execd-") + hex;
  if (!instance_id_.empty()) name += "-" + instance_id_;

  json volume_labels = helper_labels();
  volume_labels["sandboxd.io/execd-image"] = image_;
  auto vol = engine_.call("POST", "/volumes/create",
                          json{{"Name", name}, {"Labels", volume_labels}}.dump());
  if (!vol) return std::unexpected(vol.error());
  if (vol->status != 201 && vol->status != 200) {
    return std::unexpected(engine_error(*vol, "create volume " + name));
  }
  auto created = create_helper(
      {{"Mounts",
        json::array(
            {{{"Type", "volume"}, {"Source", name}, {"Target", std::string(kExecdDir)}}})}});
  if (!created) return std::unexpected(created.error());
  const std::string helper = *created;
  Result<void> filled;
  auto probe = engine_.call("GET", "/containers/" + helper + "/archive?path=" +
                                       url_encode(std::string(kBootstrapPath)));
  if (!probe) {
    filled = std::unexpected(probe.error());
  } else if (probe->status != 200) {
    auto put = engine_.call("PUT", "/containers/" + helper + "/archive?path=%2F",
                            std::string(**payload), {{"Content-Type", "application/x-tar"}});
    if (!put) {
      filled = std::unexpected(put.error());
    } else if (put->status != 200) {
      filled = std::unexpected(engine_error(*put, "fill execd volume " + name));
    } else {
      log_->info("execd volume {} filled from {}", name, image_);
    }
  }
  if (auto rm = engine_.remove_container(helper); !rm) {  // v=1 removes anonymous volumes only
    log_->warn("could not remove execd helper container {}: {}", helper, rm.error().message);
  }
  if (!filled) return std::unexpected(filled.error());
  volume_ = name;
  remove_stale_volumes(name);
  return volume_;
}

// Execd volumes of this instance's earlier execd payloads (another execd_image, or the
// image updated) that no container mounts any more. One still mounted (a sandbox created
// before the change) answers 409 and is left for the next fill. Volumes of other instances
// are theirs to prune. Best effort: failures are logged.
void ExecdInjection::remove_stale_volumes(const std::string& current) {
  json label_filter = json::array({std::string(kHelperLabel) + "=execd"});
  if (!instance_id_.empty()) {
    label_filter.push_back(std::string(kInstanceLabel) + "=" + instance_id_);
  }
  const std::string filters = json{{"label", label_filter}}.dump();
  auto listed = engine_.call("GET", "/volumes?filters=" + url_encode(filters));
  if (!listed || listed->status != 200) {
    log_->warn("could not list old execd volumes: {}",
               listed ? engine_error(*listed, "list volumes").message : listed.error().message);
    return;
  }
  json body = json::parse(listed->body, nullptr, false);
  if (!body.is_object() || !body.contains("Volumes") || !body["Volumes"].is_array()) return;
  for (const auto& v : body["Volumes"]) {
    const std::string name = v.value("Name", "");
    if (name.empty() || name == current || !name.starts_with("sandboxd-execd-")) continue;
    if (!own_instance(v.contains("Labels") ? v["Labels"] : json())) continue;
    auto del = engine_.call("DELETE", "/volumes/" + url_encode(name));
    if (!del) {
      log_->warn("could not remove old execd volume {}: {}", name, del.error().message);
    } else if (del->status == 204 || del->status == 404) {
      log_->info("removed old execd volume {}", name);
    } else if (del->status != 409) {
      log_->warn("could not remove old execd volume {}: {}", name,
                 engine_error(*del, "remove volume").message);
    }
  }
}

bool ExecdInjection::has_execd_mount(const json& inspected) {
  if (!inspected.contains("Mounts") || !inspected["Mounts"].is_array()) return false;
  for (const json& m : inspected["Mounts"]) {
    if (m.is_object() && m.value("Destination", "") == kExecdDir) return true;
  }
  return false;
}

Result<void> ExecdInjection::inject(const std::string& id) {
  std::shared_ptr<const std::string> payload;
  {
    std::lock_guard lock(mu_);
    auto p = payload_locked();
    if (!p) return std::unexpected(p.error());
    payload = std::move(*p);
  }
  auto r = engine_.call("PUT", "/containers/" + id + "/archive?path=%2F", std::string(*payload),
                        {{"Content-Type", "application/x-tar"}});
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) return std::unexpected(engine_error(*r, "copy execd into " + id));
  return {};
}

}  // namespace sbx
