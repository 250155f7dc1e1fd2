#include "src/common/env_redaction.h"

#include <nlohmann/json.hpp>
#include <variant>

namespace sbx {
namespace {

using ojson = nlohmann::ordered_json;

void redact_map(std::map<std::string, std::string>& env) {
  for (auto& [key, value] : env) value = std::string(kRedactedValue);
}

// The env entries of a pod spec's containers ([{name, value | valueFrom}]): every value
// replaced; an env that is not a list, or an entry that is not an object, replaced whole.
void redact_pod_spec(ojson& pod_spec) {
  for (const char* list : {"containers", "initContainers"}) {
    auto containers = pod_spec.find(list);
    if (containers == pod_spec.end() || !containers->is_array()) continue;
    for (auto& c : *containers) {
      if (!c.is_object()) continue;
      auto env = c.find("env");
      if (env == c.end()) continue;
      if (!env->is_array()) {
        *env = std::string(kRedactedValue);
        continue;
      }
      for (auto& entry : *env) {
        if (!entry.is_object()) {
          entry = std::string(kRedactedValue);
        } else if (entry.contains("value")) {
          entry["value"] = std::string(kRedactedValue);
        }
      }
    }
  }
}

}  // namespace

std::string redact_template_env_json(const std::string& text) {
  ojson doc = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::string(kRedactedValue);
  if (auto env = doc.find("env"); env != doc.end()) {
    if (env->is_object()) {
      for (auto& [key, value] : env->items()) value = std::string(kRedactedValue);
    } else {
      *env = std::string(kRedactedValue);
    }
  }
  if (auto spec = doc.find("spec"); spec != doc.end() && spec->is_object()) redact_pod_spec(*spec);
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool has_env_values(const Event& event) {
  if (const auto* r = std::get_if<SandboxRequested>(&event.data)) return !r->spec.env.empty();
  return std::holds_alternative<PoolCreated>(event.data);
}

Event redact_env_values(Event event) {
  if (auto* r = std::get_if<SandboxRequested>(&event.data)) {
    redact_map(r->spec.env);
  } else if (auto* p = std::get_if<PoolCreated>(&event.data)) {
    redact_map(p->template_spec.env);
    p->template_json = redact_template_env_json(p->template_json);
  }
  return event;
}

}  // namespace sbx
