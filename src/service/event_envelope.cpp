#include "src/service/event_envelope.h"

#include "events/codec.h"
#include "src/common/env_redaction.h"

namespace sbx {

std::string event_envelope_json(const Event& event) {
  // Env values are shown as "***" (keys kept): they often hold tokens. Registry
  // credentials are not in the log at all (only `imageAuth.provided`).
  if (has_env_values(event)) return encode_event(redact_env_values(event));
  return encode_event(event);
}

}  // namespace sbx
