// redact_env_values: an event as it may be shown outside the server (HTTP history and
// server-sent events, sandbox-events without --reveal): every env value the log keeps
// replaced by "***", the keys kept (values often hold tokens). The log keeps them because
// the provisioner passes them to containers. Where env values are:
//   - SandboxRequested: spec.env
//   - PoolCreated: templateSpec.env, and the env of templateJson (the template as the client
//     sent it: see redact_template_env_json).
// Registry credentials are not in the log at all (only `imageAuth.provided`).
//
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "events/event.h"

namespace sbx {

inline constexpr std::string_view kRedactedValue = "***";

[[nodiscard]] Event redact_env_values(Event event);

// A pool template as the client sent it (JSON text), its env values replaced by "***": the
// "env" object of the create-request shape, and every `value` of the env lists of
// spec.containers / spec.initContainers of the PodTemplateSpec shape (`valueFrom` kept: it
// names a source, not a value); the rest kept as it was. Text that is not a JSON object is
// replaced whole by "***" (it cannot be shown safely). Also what GET /pools serves.
[[nodiscard]] std::string redact_template_env_json(const std::string& text);

// Whether `event` holds an env value redact_env_values would replace (a cheap check: most
// events hold none, and their copy can be skipped).
[[nodiscard]] bool has_env_values(const Event& event);

}  // namespace sbx
