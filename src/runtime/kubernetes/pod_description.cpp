#include "src/runtime/kubernetes/pod_description.h"

#include <string_view>

namespace sbx {
namespace {

using json = nlohmann::json;

const json& member(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string text(const json& v, std::string_view fallback = "N/A") {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_boolean()) {
    s = v.get<bool>() ? "True" : "False";
  } else if (v.is_number_integer()) {
    s = std::to_string(v.get<std::int64_t>());
  } else if (v.is_number()) {
    s = v.dump();
  } else {
    return std::string(fallback);
  }
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s.empty() ? std::string(fallback) : s;
}

void line(std::string& out, std::string_view indent, std::string_view key,
          const std::string& value) {
  std::string k(key);
  k += ':';
  out += indent;
  out += k;
  out.append(k.size() < 16 ? 16 - k.size() : 1, ' ');
  out += value;
  out += '\n';
}

// {"cpu":"500m","memory":"512Mi"} -> "cpu=500m, memory=512Mi".
std::string quantities(const json& q) {
  std::string out;
  if (!q.is_object()) return out;
  for (auto it = q.begin(); it != q.end(); ++it) {
    if (!out.empty()) out += ", ";
    out += text(json(it.key())) + "=" + text(*it, "");
  }
  return out;
}

// One container status's state ("Running (since ...)", "Waiting (reason)", ...), with the
// message line when there is one.
void container_state(std::string& out, const json& cs, bool init) {
  const json& state = member(cs, "state");
  if (const json& running = member(state, "running"); running.is_object() && !init) {
    line(out, "    ", "State",
         std::string("Running (since ") + text(member(running, "startedAt")) + ")");
  } else if (const json& waiting = member(state, "waiting"); waiting.is_object()) {
    line(out, "    ", "State", std::string("Waiting (") + text(member(waiting, "reason")) + ")");
    if (const std::string m = text(member(waiting, "message"), ""); !m.empty() && !init) {
      line(out, "    ", "Message", m);
    }
  } else if (const json& t = member(state, "terminated"); t.is_object()) {
    line(out, "    ", "State",
         std::string("Terminated (exit=") + text(member(t, "exitCode")) + ", reason=" +
             text(member(t, "reason")) + ")");
    if (const std::string m = text(member(t, "message"), ""); !m.empty() && !init) {
      line(out, "    ", "Message", m);
    }
  }
}

}  // namespace

std::string describe_pod(const json& pod) {
  const json& meta = member(pod, "metadata");
  const json& spec = member(pod, "spec");
  const json& status = member(pod, "status");
  std::string out;
  line(out, "", "Pod Name", text(member(meta, "name")));
  line(out, "", "Namespace", text(member(meta, "namespace")));
  line(out, "", "Node", text(member(spec, "nodeName")));
  line(out, "", "Phase", text(member(status, "phase"), "Unknown"));
  line(out, "", "Pod IP", text(member(status, "podIP")));
  line(out, "", "Host IP", text(member(status, "hostIP")));
  line(out, "", "Start Time", text(member(status, "startTime")));
  if (const std::string rc = text(member(spec, "runtimeClassName"), ""); !rc.empty()) {
    line(out, "", "Runtime Class", rc);
  }
  if (const std::string del = text(member(meta, "deletionTimestamp"), ""); !del.empty()) {
    line(out, "", "Deleting Since", del);
  }
  if (const std::string reason = text(member(status, "reason"), ""); !reason.empty()) {
    line(out, "", "Reason", reason);
  }

  if (const json& list = member(status, "containerStatuses"); list.is_array() && !list.empty()) {
    out += "\nContainers:\n";
    for (const json& cs : list) {
      out += std::string("  ") + text(member(cs, "name")) + ":\n";
      line(out, "    ", "Ready", text(member(cs, "ready"), "False"));
      line(out, "    ", "Restart Count", text(member(cs, "restartCount"), "0"));
      line(out, "    ", "Image", text(member(cs, "image")));
      container_state(out, cs, false);
      if (const json& last = member(member(cs, "lastState"), "terminated"); last.is_object()) {
        line(out, "    ", "Last State",
             std::string("Terminated (exit=") + text(member(last, "exitCode")) + ", reason=" +
                 text(member(last, "reason")) + ")");
      }
    }
  }
  if (const json& list = member(status, "initContainerStatuses");
      list.is_array() && !list.empty()) {
    out += "\nInit Containers:\n";
    for (const json& cs : list) {
      out += std::string("  ") + text(member(cs, "name")) + ":\n";
      line(out, "    ", "Ready", text(member(cs, "ready"), "False"));
      container_state(out, cs, true);
    }
  }
  if (const json& conds = member(status, "conditions"); conds.is_array() && !conds.empty()) {
    out += "\nConditions:\n";
    for (const json& c : conds) {
      out += std::string("  ") + text(member(c, "type")) + ": " + text(member(c, "status")) +
             std::string(" (reason=") + text(member(c, "reason")) + ")\n";
      if (const std::string m = text(member(c, "message"), ""); !m.empty()) {
        out += std::string("    Message: ") + m + "\n";
      }
    }
  }
  if (const json& labels = member(meta, "labels"); labels.is_object() && !labels.empty()) {
    out += "\nLabels:\n";
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      out += std::string("  ") + text(json(it.key())) + "=" + text(*it, "") + "\n";
    }
  }
  if (const json& containers = member(spec, "containers");
      containers.is_array() && !containers.empty()) {
    std::string section;
    for (const json& c : containers) {
      const json& res = member(c, "resources");
      const std::string requests = quantities(member(res, "requests"));
      const std::string limits = quantities(member(res, "limits"));
      if (requests.empty() && limits.empty()) continue;
      section += std::string("  ") + text(member(c, "name")) + ":\n";
      if (!requests.empty()) section += std::string("    Requests: ") + requests + "\n";
      if (!limits.empty()) section += std::string("    Limits:   ") + limits + "\n";
    }
    if (!section.empty()) out += std::string("\nResources:\n") + section;
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace sbx
