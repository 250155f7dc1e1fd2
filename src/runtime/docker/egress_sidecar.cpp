#include "src/runtime/docker/egress_sidecar.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "src/common/log.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/image_pull.h"

namespace sbx {

using json = nlohmann::json;

namespace {

constexpr std::string_view kNetAdmin = "NET_ADMIN";
constexpr int kPolicyPort = 18080;

std::string sidecar_network_mode(std::string_view sandbox_id) {
  return "container:" + egress_container_name(sandbox_id);
}

ContainerState state_of(const json& inspect) {
  const json& st = inspect.contains("State") && inspect["State"].is_object() ? inspect["State"]
                                                                               : json::object();
  return parse_container_state(st.value("Status", "")).value_or(ContainerState::kDead);
}

// Where the sidecar's published ports are reached from this host: the bind address, or
// loopback when the ports are bound to every address.
std::string probe_host(const DockerOptions& options) {
  const std::string& ip = options.port_bind_ip;
  if (ip.empty() || ip == "0.0.0.0") return "127.0.0.1";
  if (ip == "::" || ip == "[::]") return "[::1]";
  if (ip.find(':') != std::string::npos && ip.front() != '[') return "[" + ip + "]";
  return ip;
}

}  // namespace

json egress_sidecar_body(const ContainerSpec& spec, const DockerOptions& options,
                         std::string_view seccomp_option) {
  const EgressSpec& egress = *spec.egress;
  json labels = json::object();
  labels[std::string(kEgressOfLabel)] = spec.sandbox_id;
  if (!options.instance_id.empty()) labels[std::string(kInstanceLabel)] = options.instance_id;

  json env = json::array({std::string(kEgressRulesEnv) + "=" + egress.policy_json,
                          std::string(kEgressModeEnv) + "=" + egress.mode,
                          std::string(kEgressTokenEnv) + "=" + egress.token,
                          std::string(kEgressSandboxIdEnv) + "=" + spec.sandbox_id});

  json host = json::object();
  host["NetworkMode"] = spec.network_mode;
  host["CapAdd"] = json::array({std::string(kNetAdmin)});
  json drop = json::array();
  for (const auto& cap : options.drop_capabilities) {
    if (cap != kNetAdmin && cap != "CAP_NET_ADMIN") drop.push_back(cap);
  }
  if (!drop.empty()) host["CapDrop"] = drop;
  if (options.pids_limit > 0) host["PidsLimit"] = options.pids_limit;
  json security = json::array();
  if (options.no_new_privileges) security.push_back("no-new-privileges:true");
  if (!options.apparmor_profile.empty()) security.push_back("apparmor=" + options.apparmor_profile);
  if (!seccomp_option.empty()) security.push_back(std::string(seccomp_option));
  if (!security.empty()) host["SecurityOpt"] = security;
  if (egress.disable_ipv6) {
    host["Sysctls"] = {{"net.ipv6.conf.all.disable_ipv6", "1"},
                       {"net.ipv6.conf.default.disable_ipv6", "1"},
                       {"net.ipv6.conf.lo.disable_ipv6", "1"}};
  }
  json exposed = json::object();
  json bindings = json::object();
  for (auto [container_port, host_port] : spec.ports) {
    const std::string key = std::to_string(container_port) + "/tcp";
    exposed[key] = json::object();
    bindings[key] =
        json::array({{{"HostIp", options.port_bind_ip}, {"HostPort", std::to_string(host_port)}}});
  }
  host["PortBindings"] = bindings;

  json body = json::object();
  body["Image"] = egress.image;
  body["Labels"] = labels;
  body["Env"] = env;
  body["ExposedPorts"] = exposed;
  body["HostConfig"] = host;
  return body;
}

void join_egress_namespace(json& body, std::string_view sandbox_id) {
  body.erase("ExposedPorts");
  json& host = body["HostConfig"];
  host["NetworkMode"] = sidecar_network_mode(sandbox_id);
  host.erase("PortBindings");
  host.erase("PublishAllPorts");
  if (host.contains("CapAdd") && host["CapAdd"].is_array()) {
    json kept = json::array();
    for (const auto& cap : host["CapAdd"]) {
      if (cap != kNetAdmin && cap != "CAP_NET_ADMIN") kept.push_back(cap);
    }
    host["CapAdd"] = kept;
  }
  if (!host.contains("CapDrop") || !host["CapDrop"].is_array()) host["CapDrop"] = json::array();
  json& drop = host["CapDrop"];
  if (std::find(drop.begin(), drop.end(), kNetAdmin) == drop.end()) drop.push_back(kNetAdmin);
}

bool joins_egress_sidecar(const json& j, std::string_view sandbox_id) {
  (void)sandbox_id;
  if (!j.contains("HostConfig") || !j["HostConfig"].is_object()) return false;
  // The engine may show the sidecar by name or resolved to its id; a sandbox container
  // shares another container's namespace only to join its egress sidecar.
  const auto& mode = j["HostConfig"]["NetworkMode"];
  return mode.is_string() && mode.get_ref<const std::string&>().starts_with("container:");
}

EgressSidecars::EgressSidecars(DockerEngine& engine, const DockerOptions& options,
                               std::string seccomp_option)
    : engine_(engine), options_(options), seccomp_option_(std::move(seccomp_option)) {}

EgressSidecars::InFlight::InFlight(EgressSidecars& owner, std::string id)
    : owner_(owner), id_(std::move(id)) {
  std::lock_guard lock(owner_.mu_);
  owner_.in_flight_.insert(id_);
}

EgressSidecars::InFlight::~InFlight() {
  std::lock_guard lock(owner_.mu_);
  if (auto it = owner_.in_flight_.find(id_); it != owner_.in_flight_.end()) {
    owner_.in_flight_.erase(it);
  }
}

Result<EgressSidecars::Started> EgressSidecars::ensure_started(const ContainerSpec& spec) {
  const std::string name = egress_container_name(spec.sandbox_id);
  constexpr int kAttempts = 40;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto existing = engine_.inspect_container(name);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) {
      const std::string id = (*existing)->value("Id", "");
      switch (state_of(**existing)) {
        case ContainerState::kRunning:
        case ContainerState::kRestarting:
          return Started{id, false};
        case ContainerState::kPaused:
          return Started{id, true};
        case ContainerState::kCreated:
        case ContainerState::kExited:
          if (auto st = engine_.start_container(id); !st) return std::unexpected(st.error());
          return Started{id, false};
        case ContainerState::kDead:
        case ContainerState::kRemoving:
          if (auto rm = engine_.remove_container(id); !rm) return std::unexpected(rm.error());
          continue;
      }
    }
    const json body = egress_sidecar_body(spec, options_, seccomp_option_);
    auto created = create_container_pulling(engine_, "?name=" + url_encode(name), body,
                                            spec.egress->image, std::nullopt, std::nullopt);
    if (!created) return std::unexpected(created.error());
    if (created->status == 409) continue;  // created concurrently: look again
    if (created->status != 201) {
      return std::unexpected(engine_error(*created, "create egress sidecar " + name));
    }
    std::string id;
    try {
      id = json::parse(created->body).at("Id").get<std::string>();
    } catch (const json::exception& e) {
      return fail(ErrorCode::kInternal, std::string("malformed create answer: ") + e.what());
    }
    if (auto st = engine_.start_container(id); !st) {
      if (!retryable(st.error())) (void)engine_.remove_container(id);
      return std::unexpected(st.error());
    }
    return Started{id, false};
  }
  return fail(ErrorCode::kConflict, "egress sidecar " + name + " keeps changing; try again");
}

Result<void> EgressSidecars::wait_ready(const ContainerSpec& spec) {
  const std::string name = egress_container_name(spec.sandbox_id);
  const auto port = spec.ports.find(kPolicyPort);
  if (port == spec.ports.end()) {
    return fail(ErrorCode::kInvalidArgument, "no host port for the egress sidecar's 18080",
                "ports");
  }
  const auto timeout = spec.egress->readiness_timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto client = HttpClient::create(HttpClientOptions{
      .endpoint = "http://" + probe_host(options_) + ":" + std::to_string(port->second),
      .connect_timeout = std::chrono::milliseconds(1'000),
      .request_timeout = std::chrono::milliseconds(2'000),
  });
  if (!client) return std::unexpected(client.error());
  std::string last = "no answer yet";
  auto seconds = [](std::chrono::milliseconds ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(ms.count()) / 1000.0);
    return std::string(buf);
  };
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    HttpRequest req;
    req.target = "/healthz";
    req.headers.push_back({"OPENSANDBOX-EGRESS-AUTH", spec.egress->token});
    req.timeout = std::min(std::chrono::milliseconds(2'000),
                           std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                               std::chrono::milliseconds(1));
    auto r = (*client)->send(req);
    if (r && r->status >= 200 && r->status < 300) return {};
    last = r ? "HTTP " + std::to_string(r->status) : r.error().message;
    // A sidecar that exited will never answer.
    auto st = engine_.inspect_container(name);
    if (!st) return std::unexpected(st.error());
    if (!*st) {
      return fail(ErrorCode::kFailedPrecondition,
                  std::string(kEgressNotReadyCode) + ": egress sidecar " + name +
                      " disappeared before it was ready");
    }
    const ContainerState state = state_of(**st);
    if (state == ContainerState::kExited || state == ContainerState::kDead) {
      const int code = (**st)["State"].value("ExitCode", 0);
      return fail(ErrorCode::kFailedPrecondition,
                  std::string(kEgressNotReadyCode) + ": egress sidecar " + name +
                      " exited with code " + std::to_string(code) + " before it was ready");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fail(ErrorCode::kFailedPrecondition,
              std::string(kEgressNotReadyCode) + ": egress sidecar " + name +
                  " did not answer GET /healthz on 18080 (host port " +
                  std::to_string(port->second) + ") within egress.readiness_timeout_seconds = " +
                  seconds(timeout) + " s (last: " + last + ")");
}

Result<void> EgressSidecars::remove(const std::string& sandbox_id) {
  return engine_.remove_container(egress_container_name(sandbox_id));
}

Result<void> EgressSidecars::pause_or_resume(const std::string& sandbox_id, bool pause) {
  const std::string name = egress_container_name(sandbox_id);
  auto r = engine_.call("POST", "/containers/" + name + (pause ? "/pause" : "/unpause"));
  if (!r) return std::unexpected(r.error());
  if (r->status == 204 || r->status == 404) return {};
  auto now = engine_.inspect_container(name);
  if (!now) return std::unexpected(now.error());
  if (!*now) return {};
  const ContainerState st = state_of(**now);
  if (st == (pause ? ContainerState::kPaused : ContainerState::kRunning)) return {};
  return fail(ErrorCode::kFailedPrecondition,
              std::string(pause ? "pause" : "unpause") + " egress sidecar " + name + ": it is " +
                  std::string(to_string(st)) + " (" + engine_message(*r) + ")");
}

Result<std::optional<ContainerStatus>> EgressSidecars::status(const std::string& sandbox_id) {
  auto j = engine_.inspect_container(egress_container_name(sandbox_id));
  if (!j) return std::unexpected(j.error());
  if (!*j) return std::optional<ContainerStatus>();
  ContainerStatus s;
  s.runtime_id = (*j)->value("Id", "");
  s.sandbox_id = sandbox_id;
  s.state = state_of(**j);
  if (s.state == ContainerState::kExited || s.state == ContainerState::kDead) {
    s.exit_code = (**j)["State"].value("ExitCode", 0);
  }
  return std::optional<ContainerStatus>(std::move(s));
}

void EgressSidecars::sweep_orphans(const json& sidecars, const std::set<std::string>& sandboxes) {
  for (const json& c : sidecars) {
    if (!c.contains("Labels") || !c["Labels"].is_object()) continue;
    const json& labels = c["Labels"];
    const std::string id = labels.value(std::string(kEgressOfLabel), "");
    if (id.empty() || sandboxes.contains(id)) continue;
    if (labels.value(std::string(kInstanceLabel), "") != options_.instance_id) continue;
    const std::string runtime_id = c.value("Id", "");
    if (runtime_id.empty()) continue;
    // Under the lock a create of this sandbox cannot begin (InFlight waits for it) or be
    // running (then it is skipped), and the sandbox container is looked up again: the
    // listing may predate a create that has finished since.
    std::lock_guard lock(mu_);
    if (in_flight_.contains(id)) continue;
    auto main = engine_.inspect_container(container_name(id));
    if (!main || *main) continue;
    if (auto rm = engine_.remove_container(runtime_id); rm) {
      logger("docker")->warn("removed orphan egress sidecar {} of sandbox {}: its sandbox "
                             "container is gone",
                             egress_container_name(id), id);
    } else {
      logger("docker")->warn("could not remove orphan egress sidecar {}: {}",
                             egress_container_name(id), rm.error().message);
    }
  }
}

}  // namespace sbx
