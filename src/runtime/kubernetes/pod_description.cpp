#include "src/runtime/kubernetes/pod_description.h"

#include <string_view>

#include "src/runtime/description_text.h"

namespace sbx {
namespace {

using json = nlohmann::json;

std::string text(const json& v, std::string_view fallback = "N/A") {
  return json_text(v, fallback, /*empty_is_absent=*/true);
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
  const json& state = json_member(cs, "state");
  if (const json& running = json_member(state, "running"); running.is_object() && !init) {
    line(out, "    ", "State",
         std::string("Running (since ") + text(json_member(running, "startedAt")) + ")");
  } else if (const json& waiting = json_member(state, "waiting"); waiting.is_object()) {
    line(out, "    ", "State", std::string("Waiting (") + text(json_member(waiting, "reason")) + ")");
    if (const std::string m = text(json_member(waiting, "message"), ""); !m.empty() && !init) {
      line(out, "    ", "Message", m);
    }
  } else if (const json& t = json_member(state, "terminated"); t.is_object()) {
    line(out, "    ", "State",
         std::string("Terminated (exit=") + text(json_member(t, "exitCode")) + ", reason=" +
             text(json_member(t, "reason")) + ")");
    if (const std::string m = text(json_member(t, "message"), ""); !m.empty() && !init) {
      line(out, "    ", "Message", m);
    }
  }
}

}  // namespace

std::string describe_pod(const json& pod) {
  const json& meta = json_member(pod, "metadata");
  const json& spec = json_member(pod, "spec");
  const json& status = json_member(pod, "status");
  std::string out;
  line(out, "", "Pod Name", text(json_member(meta, "name")));
  line(out, "", "Namespace", text(json_member(meta, "namespace")));
  line(out, "", "Node", text(json_member(spec, "nodeName")));
  line(out, "", "Phase", text(json_member(status, "phase"), "Unknown"));
  line(out, "", "Pod IP", text(json_member(status, "podIP")));
  line(out, "", "Host IP", text(json_member(status, "hostIP")));
  line(out, "", "Start Time", text(json_member(status, "startTime")));
  if (const std::string rc = text(json_member(spec, "runtimeClassName"), ""); !rc.empty()) {
    line(out, "", "Runtime Class", rc);
  }
  if (const std::string del = text(json_member(meta, "deletionTimestamp"), ""); !del.empty()) {
    line(out, "", "Deleting Since", del);
  }
  if (const std::string reason = text(json_member(status, "reason"), ""); !reason.empty()) {
    line(out, "", "Reason", reason);
  }

  if (const json& list = json_member(status, "containerStatuses"); list.is_array() && !list.empty()) {
    out += "\nContainers:\n";
    for (const json& cs : list) {
      out += std::string("  ") + text(json_member(cs, "name")) + ":\n";
      line(out, "    ", "Ready", text(json_member(cs, "ready"), "False"));
      line(out, "    ", "Restart Count", text(json_member(cs, "restartCount"), "0"));
      line(out, "    ", "Image", text(json_member(cs, "image")));
      container_state(out, cs, false);
      if (const json& last = json_member(json_member(cs, "lastState"), "terminated"); last.is_object()) {
        line(out, "    ", "Last State",
             std::string("Terminated (exit=") + text(json_member(last, "exitCode")) + ", reason=" +
                 text(json_member(last, "reason")) + ")");
      }
    }
  }
  if (const json& list = json_member(status, "initContainerStatuses");
      list.is_array() && !list.empty()) {
    out += "\nInit Containers:\n";
    for (const json& cs : list) {
      out += std::string("  ") + text(json_member(cs, "name")) + ":\n";
      line(out, "    ", "Ready", text(json_member(cs, "ready"), "False"));
      container_state(out, cs, true);
    }
  }
  if (const json& conds = json_member(status, "conditions"); conds.is_array() && !conds.empty()) {
    out += "\nConditions:\n";
    for (const json& c : conds) {
      out += std::string("  ") + text(json_member(c, "type")) + ": " + text(json_member(c, "status")) +
             std::string(" (reason=") + text(json_member(c, "reason")) + ")\n";
      if (const std::string m = text(json_member(c, "message"), ""); !m.empty()) {
        out += std::string("    Message: ") + m + "\n";
      }
    }
  }
  if (const json& labels = json_member(meta, "labels"); labels.is_object() && !labels.empty()) {
    out += "\nLabels:\n";
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      out += std::string("  ") + text(json(it.key())) + "=" + text(*it, "") + "\n";
    }
  }
  if (const json& containers = json_member(spec, "containers");
      containers.is_array() && !containers.empty()) {
    std::string section;
    for (const json& c : containers) {
      const json& res = json_member(c, "resources");
      const std::string requests = quantities(json_member(res, "requests"));
      const std::string limits = quantities(json_member(res, "limits"));
      if (requests.empty() && limits.empty()) continue;
      section += std::string("  ") + text(json_member(c, "name")) + ":\n";
      if (!requests.empty()) section += std::string("    Requests: ") + requests + "\n";
      if (!limits.empty()) section += std::string("    Limits:   ") + limits + "\n";
    }
    if (!section.empty()) out += std::string("\nResources:\n") + section;
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace sbx
