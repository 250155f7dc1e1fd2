// redact_env_values: an event as it may be shown outside the server (HTTP history and
// server-sent events, sandbox-events without --reveal): every env value the log keeps
// replaced by "***", the keys kept (values often hold tokens). The log keeps them because
// the provisioner passes them to containers. Where env values are:
//   - SandboxRequested: spec.env
//   - PoolCreated: templateSpec.env, and the "env" object of templateJson (the template as
//     the client sent it); a templateJson that is not a JSON object is replaced whole by
//     "***" (it cannot be shown safely).
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

// Whether `event` holds an env value redact_env_values would replace (a cheap check: most
// events hold none, and their copy can be skipped).
[[nodiscard]] bool has_env_values(const Event& event);

}  // namespace sbx
