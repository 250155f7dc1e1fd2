#include "src/common/env_redaction.h"

#include <nlohmann/json.hpp>
#include <variant>

namespace sbx {
namespace {

void redact_map(std::map<std::string, std::string>& env) {
  for (auto& [key, value] : env) value = std::string(kRedactedValue);
}

// The "env" object of a template as sent, its values replaced; the rest kept as it was.
std::string redact_template_json(const std::string& text) {
  using ojson = nlohmann::ordered_json;
  ojson doc = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::string(kRedactedValue);
  auto env = doc.find("env");
  if (env == doc.end()) return text;
  if (env->is_object()) {
    for (auto& [key, value] : env->items()) value = std::string(kRedactedValue);
  } else {
    *env = std::string(kRedactedValue);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

bool has_env_values(const Event& event) {
  if (const auto* r = std::get_if<SandboxRequested>(&event.data)) return !r->spec.env.empty();
  return std::holds_alternative<PoolCreated>(event.data);
}

Event redact_env_values(Event event) {
  if (auto* r = std::get_if<SandboxRequested>(&event.data)) {
    redact_map(r->spec.env);
  } else if (auto* p = std::get_if<PoolCreated>(&event.data)) {
    redact_map(p->template_spec.env);
    p->template_json = redact_template_json(p->template_json);
  }
  return event;
}

}  // namespace sbx
