#include "src/service/event_envelope.h"

#include "events/codec.h"

namespace sbx {

std::string event_envelope_json(const Event& event) {
  // Env values are shown as "***" (keys kept): they often hold tokens. Registry
  // credentials are not in the log at all (only `imageAuth.provided`).
  if (const auto* r = std::get_if<SandboxRequested>(&event.data); r && !r->spec.env.empty()) {
    Event copy = event;
    for (auto& [key, value] : std::get<SandboxRequested>(copy.data).spec.env) value = "***";
    return encode_event(copy);
  }
  return encode_event(event);
}

}  // namespace sbx
