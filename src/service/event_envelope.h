// The event envelope as sandboxd shows it to clients (GET /sandboxes/{id}/events, the
// server-sent events of GET /events): the codec's JSON of the event on one line, with the
// env values of SandboxRequested and PoolCreated replaced by "***" (keys kept: they often
// hold tokens; src/common/env_redaction.h).
// Registry credentials are not in the log at all (only `imageAuth.provided`).
//
// Pure; thread-safe.
#pragma once

#include <string>

#include "events/event.h"

namespace sbx {

std::string event_envelope_json(const Event& event);

}  // namespace sbx
