#include "src/runtime/docker/container_body.h"

#include <fstream>
#include <sstream>

#include "events/quantity.h"
#include "src/runtime/docker/execd_archive.h"

namespace sbx {

using json = nlohmann::json;

Result<ContainerCreateBody> container_create_body(const ContainerSpec& spec,
                                                  const DockerOptions& options,
                                                  std::string_view seccomp_option,
                                                  std::string_view execd_volume) {
  ContainerCreateBody out;
  const bool with_execd = !options.execd_image.empty();
  json env = json::array();
  for (const auto& [k, v] : spec.env) {
    if (with_execd && k == "EXECD") continue;
    env.push_back(k + "=" + v);
  }
  // User labels never enter sandboxd's namespace (sandboxd.io/, *.sandboxd.io/): a user
  // label sandboxd.io/helper would make the sandbox look like a helper, one
  // sandboxd.io/instance would hand it to another sandboxd.
  json labels = json::object();
  for (const auto& [k, v] : spec.labels) {
    if (is_reserved_label(k)) {
      out.dropped_labels.push_back(k);
      continue;
    }
    labels[k] = v;
  }
  labels[std::string(kSandboxIdLabel)] = spec.sandbox_id;
  if (!options.instance_id.empty()) {
    labels[std::string(kInstanceLabel)] = options.instance_id;
  }

  json host = json::object();
  host["NetworkMode"] = spec.network_mode;
  if (!spec.limits.cpu.empty()) {
    auto cpu = parse_cpu_quantity(spec.limits.cpu);
    if (!cpu) return std::unexpected(cpu.error());
    host["NanoCpus"] = *cpu;
  }
  if (!spec.limits.memory.empty()) {
    auto memory = parse_memory_quantity(spec.limits.memory);
    if (!memory) return std::unexpected(memory.error());
    host["Memory"] = *memory;
  }
  if (options.pids_limit > 0) host["PidsLimit"] = options.pids_limit;
  if (!options.oci_runtime.empty()) host["Runtime"] = options.oci_runtime;
  if (!options.drop_capabilities.empty()) host["CapDrop"] = options.drop_capabilities;
  json security = json::array();
  if (options.no_new_privileges) security.push_back("no-new-privileges:true");
  if (!options.apparmor_profile.empty()) {
    security.push_back("apparmor=" + options.apparmor_profile);
  }
  if (!seccomp_option.empty()) security.push_back(std::string(seccomp_option));
  if (!security.empty()) host["SecurityOpt"] = security;

  json body = json::object();
  body["Image"] = spec.image_uri;
  body["Labels"] = labels;
  if (spec.network_mode != "host" && !spec.ports.empty()) {
    json exposed = json::object();
    json bindings = json::object();
    for (auto [container_port, host_port] : spec.ports) {
      std::string key = std::to_string(container_port) + "/tcp";
      exposed[key] = json::object();
      bindings[key] = json::array(
          {{{"HostIp", options.port_bind_ip}, {"HostPort", std::to_string(host_port)}}});
    }
    body["ExposedPorts"] = exposed;
    host["PortBindings"] = bindings;
  }
  if (with_execd) {
    env.push_back("EXECD=" + std::string(kExecdPath));
    body["Entrypoint"] = json::array({std::string(kBootstrapPath)});
    body["Cmd"] = spec.entrypoint;
  } else {
    body["Entrypoint"] = spec.entrypoint;
    body["Cmd"] = json::array();
  }
  if (!execd_volume.empty()) {
    host["Mounts"] = json::array({{{"Type", "volume"},
                                   {"Source", std::string(execd_volume)},
                                   {"Target", std::string(kExecdDir)},
                                   {"ReadOnly", true}}});
  }
  body["Env"] = env;
  body["HostConfig"] = host;
  out.body = std::move(body);
  return out;
}

ContainerSpec with_sandbox_env(const ContainerSpec& spec, const DockerOptions& options) {
  ContainerSpec out = spec;
  for (const auto& [k, v] : options.sandbox_env) out.env[k] = v;
  return out;
}

Result<void> add_volumes_and_devices(json& body, const ContainerSpec& spec,
                                     const DockerOptions& options,
                                     const std::vector<ResolvedMount>& mounts) {
  json& host = body["HostConfig"];
  if (!mounts.empty()) {
    json& list = host["Mounts"];
    if (!list.is_array()) list = json::array();
    for (const ResolvedMount& m : mounts) {
      json mount = {{"Type", m.type == ResolvedMount::Type::kBind ? "bind" : "volume"},
                    {"Source", m.source},
                    {"Target", m.target},
                    {"ReadOnly", m.read_only}};
      if (m.type == ResolvedMount::Type::kVolume && !m.sub_path.empty()) {
        mount["VolumeOptions"] = {{"Subpath", m.sub_path}};
      }
      list.push_back(std::move(mount));
    }
  }
  if (!options.sandbox_binds.empty()) host["Binds"] = options.sandbox_binds;
  if (!spec.gpu.empty()) {
    long long count = -1;
    if (spec.gpu != "all") {
      std::size_t used = 0;
      try {
        count = std::stoll(spec.gpu, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != spec.gpu.size() || count < 1) {
        return fail(ErrorCode::kInvalidArgument,
                    "resourceLimits.gpu must be \"all\" or a positive count, got \"" + spec.gpu +
                        "\"",
                    "resourceLimits.gpu");
      }
    }
    host["DeviceRequests"] = json::array(
        {{{"Driver", ""}, {"Count", count}, {"Capabilities", json::array({json::array({"gpu"})})}}});
  }
  return {};
}

Result<std::string> seccomp_security_option(const std::string& profile) {
  if (profile.empty()) return std::string();
  if (profile == "unconfined") return std::string("seccomp=unconfined");
  std::ifstream in(profile);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    return fail(ErrorCode::kInvalidArgument, "cannot read seccomp profile " + profile,
                "docker.seccomp_profile");
  }
  try {
    return "seccomp=" + json::parse(ss.str()).dump();
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInvalidArgument,
                "seccomp profile " + profile + " is not JSON: " + e.what(),
                "docker.seccomp_profile");
  }
}

}  // namespace sbx
