#include "src/runtime/docker/container_description.h"

#include <cstdio>
#include <string_view>

#include "src/runtime/description_text.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::string text(const json& v, std::string_view fallback = "N/A") {
  return json_text(v, fallback);
}

std::int64_t integer(const json& v) { return v.is_number_integer() ? v.get<std::int64_t>() : 0; }

void line(std::string& out, std::string_view key, const std::string& value) {
  std::string k(key);
  k += ':';
  out += k;
  out.append(k.size() < 16 ? 16 - k.size() : 1, ' ');
  out += value;
  out += '\n';
}

}  // namespace

std::string describe_container(const json& inspect) {
  const json& state = json_member(inspect, "State");
  const json& config = json_member(inspect, "Config");
  const json& host = json_member(inspect, "HostConfig");
  const json& net = json_member(inspect, "NetworkSettings");
  std::string out;
  std::string id = text(json_member(inspect, "Id"), "");
  std::string name = text(json_member(inspect, "Name"), "");
  if (name.starts_with('/')) name.erase(0, 1);
  line(out, "Container ID", id.empty() ? "N/A" : id.substr(0, 12));
  line(out, "Name", name.empty() ? "N/A" : name);
  line(out, "Image", text(json_member(config, "Image")));
  line(out, "Status", text(json_member(state, "Status"), "unknown"));
  line(out, "Running", text(json_member(state, "Running"), "False"));
  line(out, "Paused", text(json_member(state, "Paused"), "False"));
  line(out, "OOMKilled", text(json_member(state, "OOMKilled"), "False"));
  line(out, "Exit Code", text(json_member(state, "ExitCode")));
  line(out, "Started At", text(json_member(state, "StartedAt")));
  line(out, "Finished At", text(json_member(state, "FinishedAt")));
  if (const std::string err = text(json_member(state, "Error"), ""); !err.empty()) {
    line(out, "Error", err);
  }
  if (const json& health = json_member(state, "Health"); health.is_object()) {
    line(out, "Health", text(json_member(health, "Status")));
  }

  out += "\nResources:\n";
  if (const std::int64_t nano = integer(json_member(host, "NanoCpus")); nano > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f cores", static_cast<double>(nano) / 1e9);
    line(out, "  CPU", buf);
  }
  if (const std::int64_t mem = integer(json_member(host, "Memory")); mem > 0) {
    line(out, "  Memory", std::to_string(mem / (1024 * 1024)) + " MiB");
  }
  if (const std::int64_t pids = integer(json_member(host, "PidsLimit")); pids > 0) {
    line(out, "  PIDs Limit", std::to_string(pids));
  }

  out += "\nNetwork:\n";
  line(out, "  Mode", text(json_member(host, "NetworkMode")));
  if (const json& nets = json_member(net, "Networks"); nets.is_object()) {
    for (auto it = nets.begin(); it != nets.end(); ++it) {
      std::string ip = text(json_member(*it, "IPAddress"));
      out += std::string("  ") + text(json(it.key())) + ": " + (ip.empty() ? "N/A" : ip) + "\n";
    }
  }

  if (const json& ports = json_member(net, "Ports"); ports.is_object() && !ports.empty()) {
    out += "\nPorts:\n";
    for (auto it = ports.begin(); it != ports.end(); ++it) {
      const std::string port = text(json(it.key()));
      if (!it->is_array() || it->empty()) {
        out += std::string("  ") + port + " (not bound)\n";
        continue;
      }
      for (const json& b : *it) {
        out += std::string("  ") + port + " -> " + text(json_member(b, "HostIp"), "") + ":" +
               text(json_member(b, "HostPort"), "") + "\n";
      }
    }
  }

  if (const json& labels = json_member(config, "Labels"); labels.is_object() && !labels.empty()) {
    out += "\nLabels:\n";
    for (auto it = labels.begin(); it != labels.end(); ++it) {  // nlohmann keeps keys sorted
      out += std::string("  ") + text(json(it.key())) + "=" + text(*it, "") + "\n";
    }
  }

  if (const json& env = json_member(config, "Env"); env.is_array() && !env.empty()) {
    out += "\nEnvironment:\n";
    for (const json& e : env) {
      if (!e.is_string()) continue;
      const std::string& entry = e.get_ref<const std::string&>();
      out += std::string("  ") + text(json(entry.substr(0, entry.find('=')))) + "=***\n";
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace sbx
